"""HyperPyYAML configs that start from another config.

An ablation row or a corpus recipe should differ from the full method only
in what it changes, so its file names a ``base:`` config and lists only the
keys it changes::

    base: emoinv.yaml  # path relative to this file
    experiment: baseline
    use_pairs: False

Merging rule: a plain mapping merges key by key; anything else -- a scalar,
a list, or an object node (``!new:`` / ``!name:``) -- replaces the base's
value whole, so a recipe can swap, e.g., the prepare function together with
its arguments. (HyperPyYAML's own overrides merge object nodes key by key,
which would leave the base's arguments behind.) Command-line overrides then
apply as usual, and a misspelt key in them is an error.

Authors
 * speechbrain-emoinv contributors 2026
"""

import hashlib
import io
import json
import os

from hyperpyyaml import load_hyperpyyaml, resolve_references
from ruamel.yaml import YAML

from speechbrain_emoinv.atomic_files import write_text


def _yaml():
    return YAML()  # round-trip: keeps tags, comments and key order


def _is_plain_mapping(node):
    tag = getattr(node, "tag", None)
    return isinstance(node, dict) and getattr(tag, "value", None) is None


def _merge(dst, src):
    prev = None
    for key, value in src.items():
        if _is_plain_mapping(value) and _is_plain_mapping(dst.get(key)):
            _merge(dst[key], value)
        elif key in dst or prev not in dst:
            dst[key] = value
        else:  # a new key goes after its neighbour, with its comments
            dst.insert(list(dst).index(prev) + 1, key, value)
            if key in src.ca.items:
                dst.ca.items[key] = src.ca.items[key]
        prev = key
    return dst


def base_chain(hparams_file):
    """The config and the configs its ``base:`` links name, nearest first.

    Arguments
    ---------
    hparams_file : str or Path
        The config given on the command line.

    Returns
    -------
    list of (str, ruamel.yaml.comments.CommentedMap)
        Each file's absolute path and its tree (``base:`` removed).

    Example
    -------
    >>> import pathlib, tempfile
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> for name, text in [("full", "a: 1"), ("row", "base: full.yaml\\na: 2")]:
    ...     _ = (tmp / f"{name}.yaml").write_text(text)
    >>> [
    ...     (pathlib.Path(p).stem, dict(t))
    ...     for p, t in base_chain(tmp / "row.yaml")
    ... ]
    [('row', {'a': 2}), ('full', {'a': 1})]
    """
    chain = []
    path = os.path.abspath(hparams_file)
    while True:
        if path in dict(chain):
            raise ValueError(f"Circular 'base:' chain at {path}")
        with open(path, encoding="utf-8") as fin:
            tree = _yaml().load(fin) or {}
        chain.append((path, tree))
        if "base" not in tree:
            return chain
        base = tree.pop("base")
        path = os.path.join(os.path.dirname(path), str(base))
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{hparams_file}: base config '{base}' not found ({path})"
            )


def merged_tree(hparams_file):
    """Follows ``base:`` links and returns the merged YAML tree.

    Arguments
    ---------
    hparams_file : str or Path
        The config; the files of its :func:`base_chain` merge into the
        farthest, the nearest last (it wins).

    Returns
    -------
    ruamel.yaml.comments.CommentedMap
        The merged config (round-trip tree: tags, comments, key order).
    """
    trees = [tree for _, tree in base_chain(hparams_file)]
    merged = trees.pop()
    for tree in reversed(trees):
        _merge(merged, tree)
    return merged


def resolve_config(hparams_file):
    """Follows ``base:`` links and returns the merged config as YAML text.

    Arguments
    ---------
    hparams_file : str or Path
        As for :func:`merged_tree`.

    Returns
    -------
    str
        The full config (HyperPyYAML text, tags and ``!ref`` kept).

    Example
    -------
    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (tmp / "full.yaml").write_text(
    ...     "a: 1\\nf: !name:math.pow\\n    y: 2\\n"
    ... )
    >>> _ = (tmp / "row.yaml").write_text(
    ...     "base: full.yaml\\na: 2\\nf: !name:math.fsum\\n"
    ... )
    >>> print(resolve_config(str(tmp / "row.yaml")).strip())
    a: 2
    f: !name:math.fsum
    """
    stream = io.StringIO()
    _yaml().dump(merged_tree(hparams_file), stream)
    return stream.getvalue()


def config_key(hparams_file):
    """SHA-1 of what a config says: the merged keys, values and tags, in
    order, without comments or layout (a comment edit is the same config).

    Arguments
    ---------
    hparams_file : str or Path
        The config; its ``base:`` chain is merged first.

    Returns
    -------
    str
        Hex digest.

    Example
    -------
    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (tmp / "a.yaml").write_text("lr: 1  # fast\\nf: !ref <lr>\\n")
    >>> _ = (tmp / "b.yaml").write_text("# slow?\\nlr: 1\\nf: !ref <lr>\\n")
    >>> _ = (tmp / "c.yaml").write_text("lr: 1\\nf: <lr>\\n")
    >>> keys = [config_key(str(tmp / f"{n}.yaml")) for n in "abc"]
    >>> keys[0] == keys[1], keys[0] == keys[2]
    (True, False)
    """

    def content(node):
        tag = getattr(getattr(node, "tag", None), "value", None)
        if isinstance(node, dict):
            body = [[str(k), content(v)] for k, v in node.items()]
        elif isinstance(node, list):
            body = [content(v) for v in node]
        else:
            body = getattr(node, "value", node)  # a tagged scalar's text
        return [tag, body] if tag else body

    text = json.dumps(content(merged_tree(hparams_file)), default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def load_config(hparams_file, overrides=None):
    """Loads a HyperPyYAML config, following ``base:`` links.

    Arguments
    ---------
    hparams_file : str
        Path of the config.
    overrides : str or dict, optional
        Command-line overrides (as ``speechbrain.parse_arguments`` gives).

    Returns
    -------
    hparams : dict
        The loaded hyperparameters.
    text : str
        The resolved config (before the command-line overrides), to save
        next to the experiment.

    Example
    -------
    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (tmp / "full.yaml").write_text("a: 1\\nb: !ref <a> + 1\\n")
    >>> _ = (tmp / "row.yaml").write_text("base: full.yaml\\na: 5\\n")
    >>> load_config(str(tmp / "row.yaml"), "a: 7")[0]["b"]
    8
    """
    text = resolve_config(hparams_file)
    return load_hyperpyyaml(text, overrides or None), text


def save_resolved_config(text, overrides, folder):
    """Writes ``hyperparams.yaml`` -- the resolved config with the
    command-line overrides applied -- into the experiment folder.

    Arguments
    ---------
    text : str
        Resolved config from :func:`load_config`.
    overrides : str or dict or None
        Command-line overrides.
    folder : str
        Experiment folder.

    Returns
    -------
    str
        Path of the written file.

    Example
    -------
    >>> import tempfile
    >>> text = "a: 1\\nb: !ref <a>\\n"
    >>> out = save_resolved_config(text, "a: 2", tempfile.mkdtemp())
    >>> print(open(out).read().strip())
    a: 2
    b: 2
    """
    path = os.path.join(folder, "hyperparams.yaml")
    write_text(path, resolved_config(text, overrides))
    return path


def resolved_config(text, overrides=None):
    """The resolved config with the command-line overrides applied (the
    text :func:`save_resolved_config` writes).

    Example
    -------
    >>> print(resolved_config("a: 1\\nb: !ref <a>\\n", {"a": 3}).strip())
    a: 3
    b: 3
    """
    return resolve_references(text, overrides or None).getvalue()


def with_override(overrides, key, value):
    """Command-line overrides (YAML text or dict) plus ``key: value``.

    Example
    -------
    >>> with_override("lr: 0.5\\n", "seed", 3)
    {'lr': 0.5, 'seed': 3}
    """
    if isinstance(overrides, str):
        overrides = YAML().load(overrides)
    return {**(overrides or {}), key: value}
