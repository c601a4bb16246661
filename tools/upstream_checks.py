#!/usr/bin/env python3
"""Runs SpeechBrain's own checks on our patch series; writes the report.

The series of ``tools/upstream_patch.py`` is applied (``git am``) in a
scratch clone of a SpeechBrain checkout (its tests are not in the PyPI
sdist: use a clone of the repository), then, as upstream runs them:

* ruff format and ruff check, and yamllint, at the versions and with the
  configuration of upstream's ``pyproject.toml`` / ``.yamllint.yaml``
  (``tests/.run-linters.sh``), on the files the series adds;
* ``tests/consistency`` (docstrings, YAML/script consistency, the recipe
  CSVs: every YAML listed, recipe files and mandatory files exist, README
  links);
* the doctests of the added modules and the unit tests the series adds;
* upstream's YAML load test and recipe-test runner
  (``tests/utils/recipe_tests.py``: ``load_yaml_test`` and
  ``run_recipe_tests`` on CPU) on the rows of the YAMLs the series adds.

Python runs with the clone first on ``PYTHONPATH`` (its ``speechbrain``,
not the installed one). The report (``docs/upstream.md`` by default) names
SpeechBrain's commit and gives each check's summary line. Exit status 1
when a check fails. CI runs the patch generator, not this script (it needs
the fetched checkout and the linters' own versions from the index).

Usage::

    python -m tools.upstream_checks --speechbrain ~/speechbrain

Authors
 * speechbrain-emoinv contributors 2026
"""

import argparse
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

from tools.upstream_patch import (
    AUTHOR,
    FAILURES,
    failure_text,
    git,
    write_series,
)

ROOT = Path(__file__).resolve().parents[1]
# Linters at upstream's pins (its pyproject.toml, [dev] extra).
LINT_PINS = ["ruff==0.12.4", "yamllint==1.35.1"]
LINT_ENV = ROOT / ".upstream-lint"


def lint_env():
    """A virtual environment with upstream's linter versions (made once).

    Returns
    -------
    Path
        Its ``bin`` folder.
    """
    bin_dir = LINT_ENV / "bin"
    stamp = LINT_ENV / "pins.txt"
    if not stamp.is_file() or stamp.read_text().split() != LINT_PINS:
        venv.create(LINT_ENV, with_pip=True, clear=True)
        subprocess.run(
            [bin_dir / "pip", "install", "--quiet", *LINT_PINS], check=True
        )
        stamp.write_text("\n".join(LINT_PINS) + "\n")
    return bin_dir


def summary_line(output):
    """The last non-empty line of a tool's output (pytest's counts, ruff's
    verdict), or ``(no output)``."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def run_check(name, cmd, cwd, env=None, shown=None):
    """Runs one check (``shown``: the command as the report gives it,
    default ``cmd`` with absolute paths cut to their names).

    Returns
    -------
    dict
        ``name``, ``command`` (as shown in the report), ``ok``, ``summary``.
    """
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    shown = shown or " ".join(
        Path(c).name if os.path.isabs(str(c)) else str(c) for c in cmd
    )
    return {
        "name": name,
        "command": shown,
        "ok": proc.returncode == 0,
        # stdout's last line (pytest's counts, ruff's verdict, the
        # runners' own line), else stderr's (logs, a traceback)
        "summary": summary_line(proc.stdout.strip() or proc.stderr),
    }


# Upstream's own runners (tests/utils/recipe_tests.py) on the rows whose
# YAML the series adds ({yamls}), each ending in one summary line.
LOAD_YAML = """
import sys
from tests.utils.recipe_tests import load_yaml_test
ok = load_yaml_test(filters_fields=["Hparam_file"], filters=[{yamls}])
print("load_yaml_test:", "passed" if ok else "FAILED", {yamls})
sys.exit(0 if ok else 1)
"""
RECIPE_TESTS = """
import os, sys
from tests.utils.recipe_tests import run_recipe_tests
ok = run_recipe_tests(
    filters_fields=["Hparam_file"], filters=[{yamls}],
    run_opts="--device=cpu", output_folder="tests/tmp/")
rows = sorted(d for d in os.listdir("tests/tmp") if "_row_" in d)
print("TEST PASSED" if ok else "TEST FAILED!", "on CPU:", ", ".join(rows))
sys.exit(0 if ok else 1)
"""


def python_shim(folder, clone):
    """A ``python`` in ``folder`` that runs ours with ``clone`` first on the
    path: upstream's recipe runner starts ``PYTHONPATH=<recipe dir>
    python ...``, which a plain ``PYTHONPATH`` would not survive (upstream
    installs its checkout instead).

    Returns
    -------
    Path
        ``folder``.
    """
    shim = Path(folder) / "python"
    shim.write_text(
        "#!/bin/sh\n"
        f'PYTHONPATH="{clone}${{PYTHONPATH:+:$PYTHONPATH}}" '
        f'exec "{sys.executable}" "$@"\n'
    )
    shim.chmod(0o755)
    return Path(folder)


def checks(clone, added, lint_bin, shim_dir):
    """Upstream's checks on the clone with the series applied."""
    env = {**os.environ, "PYTHONPATH": str(clone), "OMP_NUM_THREADS": "1"}
    python = sys.executable
    py = [p for p in added if p.endswith(".py")]
    yaml = [p for p in added if p.endswith((".yaml", ".yml"))]
    modules = [p for p in py if p.startswith("speechbrain/")]
    tests = [p for p in py if p.startswith("tests/")]
    pytest = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    consistency = "tests/consistency/"
    results = [
        run_check(
            "ruff format", [lint_bin / "ruff", "format", "--check", *py], clone
        ),
        run_check("ruff check", [lint_bin / "ruff", "check", *py], clone),
    ]
    if yaml:
        results.append(
            run_check(
                "yamllint",
                [lint_bin / "yamllint", "--no-warnings", *yaml],
                clone,
            )
        )
    results += [
        run_check(
            "docstrings",
            [*pytest, consistency + "test_docstrings.py"],
            clone,
            env,
        ),
        run_check(
            "YAML/script consistency",
            [*pytest, consistency + "test_yaml.py"],
            clone,
            env,
        ),
        run_check(
            "recipe CSVs (list, files, mandatory files, README links)",
            [*pytest, consistency + "test_recipe.py"],
            clone,
            env,
        ),
        run_check(
            "doctests", [*pytest, "--doctest-modules", *modules], clone, env
        ),
        run_check("unit tests", [*pytest, *tests], clone, env),
    ]
    recipe_yaml = [p for p in yaml if p.startswith("recipes/")]
    if recipe_yaml:
        shim_env = {**env, "PATH": f"{shim_dir}{os.pathsep}{env['PATH']}"}
        for name, code, call in (
            ("YAML load test", LOAD_YAML, "load_yaml_test"),
            ("recipe tests (CPU)", RECIPE_TESTS, "run_recipe_tests"),
        ):
            code = code.format(yamls=repr(recipe_yaml))
            shown = f"{call}(filters_fields=['Hparam_file'], ...)"
            results.append(
                run_check(name, [python, "-c", code], clone, shim_env, shown)
            )
    return results


def render(commit, patches, added, results):
    """The report (Markdown)."""
    lines = [
        "# Upstream checks",
        "",
        "Made by `python -m tools.upstream_checks --speechbrain <checkout>`"
        " (do not edit): the series of `tools/upstream_patch.py` applied "
        f"to SpeechBrain `{commit}`, then SpeechBrain's own checks.",
        "",
        "Series:",
        "",
        *[f"- `{p.name}`" for p in patches],
        "",
        "Files added or changed:",
        "",
        *[f"- `{p}`" for p in added],
        "",
        "| check | command | result | summary line |",
        "| --- | --- | --- | --- |",
        *[
            f"| {r['name']} | `{r['command']}` | "
            f"{'pass' if r['ok'] else '**FAIL**'} | {r['summary']} |"
            for r in results
        ],
        "",
        "The recipe runners (`tests/utils/recipe_tests.py`) take the rows "
        "of the YAMLs the series adds, nothing else. Not run: the recipe "
        "tests on a GPU (upstream's `tests/.run-recipe-tests.sh` passes "
        "`--device=cuda`; these ran on CPU), the HF repo check (the rows "
        "name no HF repo) and the pre-release install of every recipe's "
        "`extra_requirements.txt` (the series adds none).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    """Command line: ``--speechbrain CHECKOUT [--report FILE]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speechbrain", required=True, type=Path)
    parser.add_argument(
        "--report", type=Path, default=ROOT / "docs" / "upstream.md"
    )
    args = parser.parse_args(argv)
    if not (args.speechbrain / "tests" / "consistency").is_dir():
        parser.error(
            f"{args.speechbrain} has no tests/consistency/ (a clone of "
            "SpeechBrain's repository is needed, not its sdist)"
        )
    lint_bin = lint_env()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            patches = write_series(args.speechbrain, Path(tmp) / "patches")
            clone = Path(tmp) / "speechbrain"
            git(tmp, "clone", "--quiet", "--shared", args.speechbrain, clone)
            commit = git(clone, "rev-parse", "HEAD").strip()
            git(clone, *AUTHOR, "am", "--quiet", *map(str, patches))
        except FAILURES as err:
            print(failure_text(err), file=sys.stderr)
            return 1
        added = git(clone, "diff", "--name-only", commit, "HEAD").split()
        if not added:
            print("error: the series adds no file", file=sys.stderr)
            return 1
        results = checks(clone, added, lint_bin, python_shim(tmp, clone))
    report = render(commit, patches, added, results)
    args.report.write_text(report)
    print(report)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
