"""tools/upstream_patch.py: the series applies to a SpeechBrain tree and
its modules work there without our package."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import speechbrain

from tools import upstream_patch
from tools.upstream_patch import PatchError, rewrite, write_series


@pytest.fixture
def checkout(tmp_path):
    """A git repository holding the installed SpeechBrain package (its
    PyPI release stands in for a clone of the repository)."""
    tree = tmp_path / "speechbrain-checkout"
    shutil.copytree(
        Path(speechbrain.__file__).parent,
        tree / "speechbrain",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for args in (["init", "-q"], ["add", "."]):
        subprocess.run(["git", *args], cwd=tree, check=True)
    subprocess.run(
        ["git", *upstream_patch.AUTHOR, "commit", "-qm", "base"],
        cwd=tree,
        check=True,
    )
    return tree


def test_series_applies_and_runs_without_our_package(checkout, tmp_path):
    patches = write_series(checkout, tmp_path / "patches")
    assert [p.name[:5] for p in patches] == ["0001-", "0002-", "0003-"]
    text = "".join(p.read_text() for p in patches)
    assert "speechbrain_emoinv" not in text
    for path in upstream_patch.PLACES.values():
        assert f"+++ b/{path}" in text
    # The checkout itself is only read.
    status = subprocess.run(
        ["git", "status", "--porcelain"],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == ""
    subprocess.run(
        ["git", *upstream_patch.AUTHOR, "am", "-q", *map(str, patches)],
        cwd=checkout,
        check=True,
    )
    # The doctests of every placed module pass with the patched tree first
    # on the path (the patches hold no import of our package: above).
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--doctest-modules",
            *upstream_patch.PLACES.values(),
        ],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_an_import_without_upstream_place_is_refused():
    with pytest.raises(PatchError, match="x.py: no upstream place for"):
        rewrite("from speechbrain_emoinv.metrics import compute_eer\n", "x.py")


def test_a_changed_import_is_refused():
    with pytest.raises(PatchError, match="'old' not found"):
        rewrite("import torch\n", "y.py", [("old\n", "")])


def test_cli_error_names_the_folder(tmp_path, capsys):
    assert upstream_patch.main(["--speechbrain", str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err
