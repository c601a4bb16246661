"""Every ``!name:``/``!new:``/``!apply:`` target of the shipped YAML resolves.

HyperPyYAML resolves these tags with ``pydoc.locate``; a package that
re-exports a function under its module's name makes the full dotted path
unresolvable, and a typo only shows when a recipe runs.
"""

import pydoc
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
YAML_FILES = sorted(
    p
    for pattern in (
        "hparams/*.yaml",
        "recipes/**/*.yaml",
        "tests/hparams/*.yaml",
    )
    for p in ROOT.glob(pattern)
)
TAG = re.compile(r"!(?:name|new|apply):([A-Za-z_][\w.]*)")


def _targets():
    for path in YAML_FILES:
        for line_no, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            for target in TAG.findall(line):
                yield f"{path.relative_to(ROOT)}:{line_no}", target


TARGETS = list(_targets())


def test_files_and_tags_found():
    names = {str(p.relative_to(ROOT)) for p in YAML_FILES}
    assert {"hparams/emoinv.yaml", "tests/hparams/tiny.yaml"} <= names
    assert any(p.startswith("recipes/") for p in names)
    assert len(TARGETS) > len(YAML_FILES)


@pytest.mark.parametrize(
    "where,target", TARGETS, ids=[f"{w}:{t}" for w, t in TARGETS]
)
def test_target_resolves_to_a_callable(where, target):
    obj = pydoc.locate(target)
    assert obj is not None, f"{where}: {target} does not resolve"
    assert callable(obj), (
        f"{where}: {target} is {type(obj).__name__}, not callable"
    )
