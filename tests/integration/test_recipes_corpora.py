"""The upstream-shaped recipes of ``recipes/<Dataset>/SpeakerRec/`` run row
by row from ``tests/recipes/*.csv`` (SpeechBrain's recipe-test format) on
the fake corpora of ``tests/samples/`` (``tests/make_test_samples.py``):
preparation, a tiny training run, export and evaluation. The corpus is
never written to; one row also runs inside a scratch SpeechBrain-style tree
the way SpeechBrain's own recipe-test runner runs it.

Each row's ``test_debug_flags`` hold everything the run needs (tiny model,
speaker split and ``--out_n_neurons`` of the fake corpus); the checks are
the row's ``file_exists=[...]`` items.

The builders of ``fake_corpora.py`` write 4-6 speakers; a recipe run needs
at least two evaluation and two validation speakers (non-target trials) and
training speakers besides, and two sentences per emotion (neutral target
trials are text-independent), so a few speakers / takes are added here.
Their voices carry the speaker (pitch and timbre), so the evaluation EER of
every row must stay far below chance even after two training steps.
"""

import csv
import filecmp
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fake_corpora import BUILDERS, SAMPLES
from hyperpyyaml import load_hyperpyyaml
from recipe_utils import ROOT

from speechbrain_emoinv.config import load_config
from speechbrain_emoinv.data.trials import read_trials

CSV_DIR = ROOT / "tests" / "recipes"
LISTS = ("neutral", "cross", "emo_emo", "merged")
# Merged-list cosine EER (%) each row's tiny run must stay below.
EER_BOUND = {
    "ESD": 20.0,
    "CREMA-D": 20.0,
    "RAVDESS": 20.0,
    "Dusha": 20.0,
    "VoxCeleb": 20.0,
}


def _copy(src, dst):
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def recipe_rows():
    """Rows of every ``tests/recipes/*.csv`` with their upstream test id."""
    rows = []
    for path in sorted(CSV_DIR.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as f:
            for i, row in enumerate(csv.DictReader(f)):
                row["recipe_id"] = f"{path.stem}_row_{i + 2:02d}"
                rows.append(row)
    return rows


ROWS = recipe_rows()
IDS = [f"{r['Dataset']}-{Path(r['Hparam_file']).stem}" for r in ROWS]
PARAMS = [pytest.param(row, id=rid) for row, rid in zip(ROWS, IDS, strict=True)]


def flag_value(flags, key):
    """Value of ``--key=value`` in a list of flags."""
    values = [f.split("=", 1)[1] for f in flags if f.startswith(f"--{key}=")]
    assert len(values) == 1, f"need exactly one --{key}= in {flags}"
    return values[0]


def file_exists_items(checks):
    """Items of ``file_exists=[a,b,...]`` in ``test_debug_checks``."""
    match = re.search(r"file_exists=\[(.*?)\]", checks)
    assert match, f"no file_exists=[...] in {checks!r}"
    return [item.strip() for item in match.group(1).split(",")]


def tree_state(folder):
    """Relative path -> (size, mtime) of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(Path(folder).rglob("*"))
    }


def test_rows_complete():
    """Every recipe folder has a row; a row's files are the recipe folder's
    own, upstream-shaped: the script and the preparer are the repository's
    files (symlinks: one file, no fork), the YAML names the same preparer."""
    folders = sorted(p.parent for p in ROOT.glob("recipes/*/SpeakerRec/*.py"))
    configs = sorted(
        str(p.relative_to(ROOT))
        for p in ROOT.glob("recipes/*/SpeakerRec/hparams/*.yaml")
    )
    assert configs and sorted(r["Hparam_file"] for r in ROWS) == configs
    assert len(set(folders)) == len(ROWS)
    for row in ROWS:
        folder = ROOT / Path(row["Script_file"]).parent
        for key in ("Script_file", "Hparam_file", "Data_prep_file"):
            path = ROOT / row[key]
            assert path.is_file(), (row["Dataset"], key)
            assert path.is_relative_to(folder), (row["Dataset"], key)
        script = ROOT / row["Script_file"]
        assert script.is_symlink()
        assert script.resolve() == ROOT / "train_speaker_embeddings.py"
        readme = (ROOT / row["Readme_file"]).read_text()
        assert "## Results" in readme and "| System |" in readme
        extra = (folder / "extra_requirements.txt").read_text()
        assert "speechbrain-emoinv[" in extra, row["Dataset"]
        assert row["Dataset"] in BUILDERS, row["Dataset"]
        flags = shlex.split(row["test_debug_flags"])
        assert "--debug" in flags
        assert (
            flag_value(flags, "data_folder")
            == f"tests/samples/{row['Dataset']}"
        )
        # The self-contained YAML loads without our `base:` merge, and its
        # preparer is the row's file.
        with open(ROOT / row["Hparam_file"], encoding="utf-8") as fin:
            hparams = load_hyperpyyaml(fin, {"data_folder": "x"})
        prepare = hparams["prepare_data"].func
        module = Path(sys.modules[prepare.__module__].__file__)
        assert module == (ROOT / row["Data_prep_file"]).resolve(), module


# The default run's real-voice keys: its own preparation names them, a
# recipe's corpus preparation does not.
UNUSED_IN_RECIPES = {
    "real_folder",
    "real_sources",
    "real_valid_speakers",
    "real_eval_speakers",
}


def test_flattened_hparams_in_sync():
    """Each recipe YAML is what tools/flatten_hparams.py makes of its
    source, and loads to the same values as the source with its base."""
    from tools import flatten_hparams

    for source, target in flatten_hparams.RECIPES.items():
        text = (ROOT / target).read_text(encoding="utf-8")
        assert text == flatten_hparams.flatten(source), (
            f"{target} is stale: run python -m tools.flatten_hparams"
        )
        overrides = {"data_folder": "/corpus", "out_n_neurons": 3}
        want, _ = load_config(ROOT / source, overrides)
        got = load_hyperpyyaml(text, overrides)
        # Only keys nothing uses are left out (tests/consistency/
        # test_recipe_yaml_keys.py); every other value is the source's.
        dropped = set(want) - set(got)
        assert set(got) <= set(want) and dropped <= UNUSED_IN_RECIPES, dropped
        for key, value in want.items():
            if key in got and isinstance(
                value, str | int | float | bool | list | type(None)
            ):
                assert got[key] == value, (target, key)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_samples_match_their_builder(name, tmp_path):
    """The committed fake corpora are what their builders write."""
    BUILDERS[name](tmp_path / name)
    fresh, committed = tmp_path / name, SAMPLES / name
    assert sorted(tree_state(fresh)) == sorted(tree_state(committed))
    files = [p for p in tree_state(fresh) if (fresh / p).is_file()]
    _, mismatch, errors = filecmp.cmpfiles(
        fresh, committed, files, shallow=False
    )
    assert not mismatch and not errors, (mismatch, errors)


def row_command(row, output_folder, drop=()):
    """The row's command as SpeechBrain's recipe-test runner composes it
    (run from the tree's root, with the script folder on PYTHONPATH)."""
    flags = [
        f
        for f in shlex.split(row["test_debug_flags"])
        if f.split("=")[0] not in drop
    ]
    script_dir = os.path.dirname(row["Script_file"])
    return (
        f"PYTHONPATH={shlex.quote(os.getcwd() + '/' + script_dir)} python "
        f"{row['Script_file']} {row['Hparam_file']} {shlex.join(flags)} "
        f"--device=cpu --output_folder={output_folder}"
    )


def run_row(row, root, output_folder, drop=()):
    """Runs a row in the tree ``root`` with a ``python`` that is this
    interpreter and imports this checkout; returns the process and log."""
    bindir = (Path(root) / output_folder).parent / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    wrapper = bindir / "python"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'PYTHONPATH="$PYTHONPATH:{ROOT}" exec {sys.executable} "$@"\n'
    )
    wrapper.chmod(0o755)
    cwd = os.getcwd()
    try:
        os.chdir(root)
        cmd = row_command(row, output_folder, drop)
    finally:
        os.chdir(cwd)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PATH"] = f"{bindir}:{env['PATH']}"
    proc = subprocess.run(
        cmd,
        shell=True,
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = f"{cmd}\n{(proc.stdout + proc.stderr)[-6000:]}"
    return proc, log


@pytest.mark.parametrize("row", PARAMS)
def test_recipe_row(row, tmp_path):
    corpus = SAMPLES / row["Dataset"]
    before = tree_state(corpus)
    out = tmp_path / "out"
    proc, log = run_row(row, ROOT, out)
    assert proc.returncode == 0, log
    for name in file_exists_items(row["test_debug_checks"]):
        assert (out / name).is_file(), f"{name} missing:\n{log}"
    assert tree_state(corpus) == before, "the recipe wrote into the corpus"

    # The fake corpus is big enough for every list the corpus can have:
    # all four for emotional corpora, the official merged one for VoxCeleb.
    trials = out / "prepared" / "trials"
    lists = LISTS if row["Dataset"] != "VoxCeleb" else ("merged",)
    for split in ("valid", "eval"):
        for name in lists:
            labels = [t[0] for t in read_trials(trials / split / f"{name}.txt")]
            assert 1 in labels and 0 in labels, (split, name)
    results = json.loads((out / "eval" / "results.json").read_text())
    for name in lists:
        assert results["lists"][name]["n_trials"] > 0, name
    eer = results["lists"]["merged"]["cosine"]["eer"]
    print(f"{row['Dataset']}: merged EER {eer:.2f} %")
    assert eer < EER_BOUND[row["Dataset"]], log


def test_row_runs_in_a_speechbrain_tree(tmp_path):
    """The ESD recipe folder, its CSV and its samples copied into a scratch
    SpeechBrain-style tree (symlinks become files, as in a pull request);
    the row runs there as SpeechBrain's runner runs it, with generic
    augmentation on, against a read-only corpus: everything it writes
    (prepared/, augment/) lands in the output folder."""
    (row,) = [r for r in ROWS if r["Dataset"] == "ESD"]
    tree = tmp_path / "speechbrain"
    folder = Path(row["Script_file"]).parent
    shutil.copytree(ROOT / folder, tree / folder)  # follows symlinks
    assert not (tree / row["Script_file"]).is_symlink()
    _copy(CSV_DIR / "ESD.csv", tree / "tests" / "recipes" / "ESD.csv")
    corpus = tree / "tests" / "samples" / "ESD"
    shutil.copytree(SAMPLES / "ESD", corpus)
    for path in [corpus, *corpus.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    before = tree_state(corpus)
    out = f"tests/tmp/{row['recipe_id']}"
    proc, log = run_row(row, tree, out, drop=("--use_augment",))
    assert proc.returncode == 0, log
    for name in file_exists_items(row["test_debug_checks"]):
        assert (tree / out / name).is_file(), f"{name} missing:\n{log}"
    assert (tree / out / "augment" / "rirs.csv").is_file(), log
    # As root, the read-only bits do not stop a write: compare the tree.
    assert tree_state(corpus) == before, "the recipe wrote into the corpus"


def test_dusha_first_run_names_out_n_neurons(tmp_path):
    """Dusha's speaker count depends on the copy: with the YAML's
    ``out_n_neurons: 0`` the first run prepares and names the number."""
    (row,) = [r for r in ROWS if r["Dataset"] == "Dusha"]
    out = tmp_path / "out"
    proc, log = run_row(row, ROOT, out, drop=("--out_n_neurons",))
    assert proc.returncode != 0
    want = flag_value(shlex.split(row["test_debug_flags"]), "out_n_neurons")
    assert f"pass --out_n_neurons={want}" in log, log
    assert (out / "prepared" / "prepare_report.json").is_file()
    # Rerun with it, as the recipe's README says: nothing was trained in
    # the folder, so the first run's config does not hold it.
    proc, log = run_row(row, ROOT, out)
    assert proc.returncode == 0, log
    assert "already prepared, skipping" in log, log


def test_debug_run_validates_what_it_embeds(tmp_path):
    """``--debug`` embeds ``debug_batches`` validation batches, fewer clips
    than a copy of a corpus has (here 8 of the 20): the run validates on
    the trials among the clips it embeds instead of failing on the
    others ("unknown utterance")."""
    (row,) = [r for r in ROWS if r["Dataset"] == "ESD"]
    flags = f"{row['test_debug_flags']} '--valid_dataloader_options={{batch_size: 4, num_workers: 0}}'"
    out = tmp_path / "out"
    proc, log = run_row(dict(row, test_debug_flags=flags), ROOT, out)
    assert proc.returncode == 0, log
    kept = read_trials(out / "valid_trials_debug.txt")
    assert {t[0] for t in kept} == {0, 1}, kept
    assert len({u for t in kept for u in t[1:3]}) <= 8


def test_missing_split_speaker_is_one_line(tmp_path):
    """A listed evaluation speaker the corpus lacks (e.g. flags copied from
    another copy of the corpus): one line naming it and the flags to fix,
    no traceback."""
    (row,) = [r for r in ROWS if r["Dataset"] == "ESD"]
    flags = row["test_debug_flags"].replace("esd-0011", "esd-9999")
    proc, log = run_row(dict(row, test_debug_flags=flags), ROOT, tmp_path / "o")
    assert proc.returncode == 1, log
    assert "Traceback" not in proc.stderr, log
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("train_emoinv.py: error: "), line
    assert "'esd-9999' is not in the data" in line, line
    assert "--eval_speakers=[...]" in line and "--valid_speakers" in line, line
