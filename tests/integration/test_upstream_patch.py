"""tools/upstream_patch.py: the series applies to a SpeechBrain tree and
its modules and recipe work there without our package."""

import ast
import csv
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import speechbrain
from fake_corpora import make_esd
from recipe_utils import ROOT

from tools import upstream_patch
from tools.upstream_patch import PatchError, rewrite, write_series

# Upstream's recipe-test CSV header (tests/recipes/*.csv of develop).
CSV_HEADER = (
    "Task,Dataset,Script_file,Hparam_file,Data_prep_file,Readme_file,"
    "Result_url,HF_repo,test_debug_flags,test_debug_checks,performance\n"
)
RECIPE = "recipes/ESD/SpeakerRec"


@pytest.fixture
def checkout(tmp_path):
    """A git repository holding the installed SpeechBrain package (its
    PyPI release stands in for a clone of the repository), with stand-ins
    for the repository files the recipe patch adds to."""
    tree = tmp_path / "speechbrain-checkout"
    shutil.copytree(
        Path(speechbrain.__file__).parent,
        tree / "speechbrain",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    stand_ins = {
        "recipes/VoxCeleb/SpeakerRec/README.md": (
            "# VoxCeleb\n\n# **About SpeechBrain**\n"
        ),
        "tests/recipes/VoxCeleb.csv": CSV_HEADER,
    }
    for path, text in stand_ins.items():
        (tree / path).parent.mkdir(parents=True)
        (tree / path).write_text(text)
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
    assert [p.name[:5] for p in patches] == ["0001-", "0002-", "0003-", "0004-"]
    text = "".join(p.read_text() for p in patches)
    assert "speechbrain_emoinv" not in text
    for path in [*upstream_patch.PLACES.values(), f"{RECIPE}/train_emoinv.py"]:
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
    # The VoxCeleb part is a section of upstream's README, not a new one.
    readme = (checkout / "recipes/VoxCeleb/SpeakerRec/README.md").read_text()
    assert readme.startswith("# VoxCeleb\n")
    assert readme.index("recipes/ESD/SpeakerRec") < readme.index("About")


@pytest.fixture
def patched(checkout, tmp_path):
    """``checkout`` with the series applied."""
    patches = write_series(checkout, tmp_path / "patches")
    subprocess.run(
        ["git", *upstream_patch.AUTHOR, "am", "-q", *map(str, patches)],
        cwd=checkout,
        check=True,
    )
    return checkout


def test_recipe_imports_only_speechbrain(patched):
    allowed = {"speechbrain", "torch", "hyperpyyaml", "esd_prepare"}
    allowed |= sys.stdlib_module_names
    for script in sorted((patched / RECIPE).glob("*.py")):
        tree = ast.parse(script.read_text(), str(script))  # compiles
        roots = {
            (alias.name if isinstance(node, ast.Import) else node.module)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        }
        assert {r.split(".")[0] for r in roots} <= allowed, script


def test_recipe_yaml_keys_are_all_used(patched):
    """Upstream's rule (tests/consistency/test_yaml.py, not in the sdist):
    each top-level key is referenced after it, or read by the script."""
    yaml = (patched / RECIPE / "hparams/train_ecapa_emoinv.yaml").read_text()
    script = (patched / RECIPE / "train_emoinv.py").read_text()
    unused = []
    for match in re.finditer(r"^([A-Za-z]\w*):", yaml, re.MULTILINE):
        key, later = match.group(1), yaml[match.end() :]
        if not re.search(
            rf"<{key}[>\[]|hparams(\[\"|\.){key}\b", later + script
        ):
            unused.append(key)
    assert unused == []


def test_recipe_row_runs_on_the_sample_corpus(patched, tmp_path):
    """The recipe-test row, as upstream's runner runs it on CPU (with
    ``--debug``), on the generated sample corpus: the script, its YAML
    with the placed modules, the data preparation and the files checked."""
    with open(patched / "tests/recipes/ESD.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows
    for i, row in enumerate(rows):
        out = tmp_path / f"row_{i}"
        script = row["Script_file"]
        env = {
            **os.environ,
            "PYTHONPATH": f"{patched}:{patched / os.path.dirname(script)}",
            "OMP_NUM_THREADS": "1",
        }
        cmd = [sys.executable, script, row["Hparam_file"]]
        cmd += row["test_debug_flags"].split()
        cmd += ["--device=cpu", f"--output_folder={out}", "--debug"]
        proc = subprocess.run(
            cmd, cwd=patched, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        checks = re.search(r"file_exists=\[(.*?)\]", row["test_debug_checks"])
        for name in checks.group(1).split(","):
            assert (out / name).exists(), name


def test_an_import_without_upstream_place_is_refused():
    with pytest.raises(PatchError, match="x.py: no upstream place for"):
        rewrite("from speechbrain_emoinv.metrics import compute_eer\n", "x.py")


def test_a_changed_import_is_refused():
    with pytest.raises(PatchError, match="'old' not found"):
        rewrite("import torch\n", "y.py", [("old\n", "")])


def test_cli_error_names_the_folder(tmp_path, capsys):
    assert upstream_patch.main(["--speechbrain", str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err


def test_esd_prepare_redoes_a_split_made_with_other_arguments(
    tmp_path, monkeypatch, caplog
):
    """Upstream's ESD preparation keeps its CSVs only for the same
    arguments: other test speakers write them anew."""
    spec = importlib.util.spec_from_file_location(
        "esd_prepare", ROOT / "upstream" / RECIPE / "esd_prepare.py"
    )
    esd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(esd)
    make_esd(tmp_path / "ESD")
    (tmp_path / "ESD" / "ReadMe.txt").write_text("ESD\n")
    save = tmp_path / "save"

    def test_speakers():
        with open(save / "test.csv", encoding="utf-8") as f:
            return {row["spk_id"] for row in csv.DictReader(f)}

    with caplog.at_level("WARNING"):
        esd.prepare_esd(
            str(tmp_path / "ESD"), str(save), test_speakers=["0011"]
        )
    assert test_speakers() == {"0011"}
    # nothing left out silently: the folder's other entries are named
    assert (
        "1 entries are not speaker folders (4 digits), skipped: ReadMe.txt"
        in (caplog.text)
    )
    esd.prepare_esd(str(tmp_path / "ESD"), str(save), test_speakers=["0012"])
    assert test_speakers() == {"0012"}
    # A preparation cut short after its CSVs: the earlier options no longer
    # describe them, so the same call as before writes them again.
    monkeypatch.setattr(esd, "save_pkl", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        esd.prepare_esd(
            str(tmp_path / "ESD"), str(save), test_speakers=["0011"]
        )
    monkeypatch.undo()
    esd.prepare_esd(str(tmp_path / "ESD"), str(save), test_speakers=["0012"])
    assert test_speakers() == {"0012"}


def test_patches_name_the_users_git_identity(checkout, tmp_path, monkeypatch):
    config = tmp_path / "gitconfig"
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    config.write_text("[user]\n\tname = Ada L\n\temail = ada@example.org\n")
    first = write_series(checkout, tmp_path / "a")[0].read_text()
    assert "\nFrom: Ada L <ada@example.org>\n" in first
    config.write_text("")  # no identity: the project's
    first = write_series(checkout, tmp_path / "b")[0].read_text()
    assert "\nFrom: speechbrain-emoinv <>\n" in first
