"""The package's import graph: no circles, and ``pretrained`` at the bottom.

Every module of ``speechbrain_emoinv`` is parsed with ``ast`` (imports
inside functions count too: they are the usual way to hide a circle), and
an edge ``a -> b`` is drawn for each module ``b`` of ours that ``a``
imports, plus the packages above ``b`` that ``a`` is not inside (their
``__init__.py`` runs on import).
"""

import ast
from pathlib import Path

PACKAGE = "speechbrain_emoinv"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE
# What the model-folder contract may import of ours (directly): small
# library modules below export, evaluation and the command-line tools.
PRETRAINED_MAY_IMPORT = {
    f"{PACKAGE}.atomic_files",
    f"{PACKAGE}.data",
    f"{PACKAGE}.data.audio_checks",
    f"{PACKAGE}.finetune",
    f"{PACKAGE}.scoring",
}
# ... and never, directly or not, these (they import it).
PRETRAINED_USERS = (
    f"{PACKAGE}.export",
    f"{PACKAGE}.evaluation",
    f"{PACKAGE}.cli",
)


def module_names(root=ROOT):
    """Dotted name -> file of every module of the package."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imported(name, path, modules):
    """Our modules that module ``name`` (file ``path``) imports."""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[
                    : len(here.split(".")) - node.level + 1
                ]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    out = set()
    for target in found:
        if target not in modules:
            continue
        parts = target.split(".")
        for i in range(1, len(parts) + 1):
            parent = ".".join(parts[:i])
            inside = name == parent or name.startswith(parent + ".")
            if parent in modules and parent != name and not inside:
                out.add(parent)
    return out


def import_graph(root=ROOT):
    """Module -> set of our modules it imports."""
    modules = module_names(root)
    return {n: imported(n, p, modules) for n, p in modules.items()}


def find_cycles(graph):
    """Each strongly connected component of more than one module (or a
    module importing itself), as a sorted list."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def reachable(graph, start):
    """Every module ``start`` imports, directly or not."""
    seen, todo = set(), [start]
    while todo:
        for w in graph.get(todo.pop(), ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def test_find_cycles_sees_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert find_cycles(graph) == [["a", "b", "c"], ["e"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_function_level_and_relative_imports_count(tmp_path):
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text(
        "def f():\n    from speechbrain_emoinv.sub import b\n"
    )
    (pkg / "sub" / "b.py").write_text("from .. import a\n")
    graph = import_graph(pkg)
    assert graph[f"{PACKAGE}.a"] == {f"{PACKAGE}.sub", f"{PACKAGE}.sub.b"}
    assert graph[f"{PACKAGE}.sub.b"] == {f"{PACKAGE}.a"}
    assert find_cycles(graph) == [[f"{PACKAGE}.a", f"{PACKAGE}.sub.b"]]


def test_no_import_cycles():
    cycles = find_cycles(import_graph())
    assert not cycles, f"import circles: {cycles}"


def test_pretrained_imports_only_leaves():
    graph = import_graph()
    name = f"{PACKAGE}.pretrained"
    extra = graph[name] - PRETRAINED_MAY_IMPORT
    assert not extra, f"{name} imports {sorted(extra)}"
    users = [
        m
        for m in reachable(graph, name)
        if any(m == u or m.startswith(u + ".") for u in PRETRAINED_USERS)
    ]
    assert not users, f"{name} imports {sorted(users)}, directly or not"
