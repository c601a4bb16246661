"""The corpus recipes of ``recipes/`` run row by row from
``tests/recipes/*.csv`` (SpeechBrain's recipe-test format) on fake corpus
layouts: preparation, a tiny training run, export and evaluation.

Each row's ``test_debug_flags`` hold everything the run needs (tiny model,
speaker split and ``--out_n_neurons`` of the fake corpus); the test only
builds the fake corpus where the row's ``--data_folder`` points (moved into
a temporary folder) and checks the row's ``file_exists=[...]`` items.

The builders of ``fake_corpora.py`` write 4-6 speakers; a recipe run needs
at least two evaluation and two validation speakers (non-target trials) and
training speakers besides, and two sentences per emotion (neutral target
trials are text-independent), so a few speakers / takes are copied here.
"""

import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fake_corpora import (
    make_cremad,
    make_dusha,
    make_esd,
    make_ravdess,
    make_voxceleb,
)
from recipe_utils import ROOT

from speechbrain_emoinv.config import load_config
from speechbrain_emoinv.data.trials import read_trials

CSV_DIR = ROOT / "tests" / "recipes"
LISTS = ("neutral", "cross", "emo_emo", "merged")


def _copy(src, dst):
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def build_esd(root):
    """ESD with 6 speakers: 0011 and 0012 copied as 0014 and 0015."""
    make_esd(root)
    for old, new in (("0011", "0014"), ("0012", "0015")):
        for wav in (root / old).rglob("*.wav"):
            rel = wav.relative_to(root / old).parent
            name = wav.name.replace(f"{old}_", f"{new}_")
            _copy(wav, root / new / rel / name)


def build_cremad(root):
    """CREMA-D with 6 actors: 1001 and 1002 copied as 1005 and 1006."""
    make_cremad(root)
    demo = root / "VideoDemographics.csv"
    lines = demo.read_text().splitlines()
    added = []
    for old, new in (("1001", "1005"), ("1002", "1006")):
        for wav in (root / "AudioWAV").glob(f"{old}_*.wav"):
            _copy(wav, wav.with_name(new + wav.name[len(old) :]))
        added += [new + ln[len(old) :] for ln in lines if ln[:5] == old + ","]
    demo.write_text("\n".join(lines + added) + "\n")


def build_ravdess(root):
    """RAVDESS with 6 actors: 01 and 02 copied as 05 and 06 (speech)."""
    make_ravdess(root)
    for old, new in (("01", "05"), ("02", "06")):
        for wav in (root / f"Actor_{old}").glob(f"03-01-*-{old}.wav"):
            _copy(wav, root / f"Actor_{new}" / f"{wav.name[:-6]}{new}.wav")


def build_dusha(root):
    """Dusha (JSONL markup) with a second take of every file, read with
    another sentence, and train speakers s1, s2 copied as s6, s7."""
    make_dusha(root, tsv_test=False)

    def derive(part, row, hash_id, **changes):
        wavs = root / part / "wavs"
        _copy(wavs / f"{row['hash_id']}.wav", wavs / f"{hash_id}.wav")
        return dict(row, hash_id=hash_id, audio_path=f"wavs/{hash_id}.wav",
                    **changes)  # fmt: skip

    for part in ("crowd_train", "crowd_test"):
        mark = root / part / f"raw_{part}.jsonl"
        rows = [json.loads(ln) for ln in mark.read_text().splitlines()]
        rows += [
            derive(part, r, r["hash_id"] + "b",
                   speaker_text=r["speaker_text"] + " again")
            for r in rows
        ]  # fmt: skip
        if part == "crowd_train":
            rows += [
                derive(part, r, r["hash_id"].replace(old, new),
                       source_id=new)
                for old, new in (("s1", "s6"), ("s2", "s7"))
                for r in rows
                if r["source_id"] == old
            ]  # fmt: skip
        mark.write_text("".join(json.dumps(r) + "\n" for r in rows))


BUILDERS = {
    "ESD": build_esd,
    "CREMA-D": build_cremad,
    "RAVDESS": build_ravdess,
    "Dusha": build_dusha,
    "VoxCeleb": make_voxceleb,
}


def recipe_rows():
    """Rows of every ``tests/recipes/*.csv``."""
    rows = []
    for path in sorted(CSV_DIR.glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as f:
            rows += list(csv.DictReader(f))
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


def test_rows_complete():
    """Every recipe config has a row; every row names existing files."""
    configs = sorted(
        str(p.relative_to(ROOT)) for p in ROOT.glob("recipes/*/hparams/*.yaml")
    )
    assert configs and sorted(r["Hparam_file"] for r in ROWS) == configs
    for row in ROWS:
        for key in ("Script_file", "Hparam_file", "Data_prep_file"):
            assert (ROOT / row[key]).is_file(), (row["Dataset"], key)
        assert (ROOT / row["Readme_file"]).is_file(), row["Dataset"]
        assert row["Dataset"] in BUILDERS, row["Dataset"]
        assert "--debug" in shlex.split(row["test_debug_flags"])
        # The real-size config loads; its preparer is the row's file.
        hparams, _ = load_config(ROOT / row["Hparam_file"], "data_folder: x")
        prepare = hparams["prepare_data"].func
        assert callable(prepare), row["Hparam_file"]
        module = Path(sys.modules[prepare.__module__].__file__)
        assert module == ROOT / row["Data_prep_file"], module


def run_row(row, tmp_path, drop=()):
    """Builds the row's fake corpus and runs its command; returns the
    process, its combined output and the data and output folders."""
    flags = shlex.split(row["test_debug_flags"])
    fake = flag_value(flags, "data_folder")
    data = tmp_path / "data"
    flags = [f.replace(fake, str(data)) for f in flags]
    flags = [f for f in flags if f.split("=")[0] not in drop]
    BUILDERS[row["Dataset"]](data)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        str(ROOT / row["Script_file"]),
        str(ROOT / row["Hparam_file"]),
        *flags,
        f"--output_folder={out}",
        "--device=cpu",
    ]
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = f"{shlex.join(cmd)}\n{(proc.stdout + proc.stderr)[-6000:]}"
    return proc, log, data, out


@pytest.mark.parametrize("row", PARAMS)
def test_recipe_row(row, tmp_path):
    proc, log, data, out = run_row(row, tmp_path)
    assert proc.returncode == 0, log
    for name in file_exists_items(row["test_debug_checks"]):
        assert (out / name).is_file(), f"{name} missing:\n{log}"

    # The fake corpus is big enough for every list the corpus can have:
    # all four for emotional corpora, the official merged one for VoxCeleb.
    trials = data / "prepared" / "trials"
    lists = LISTS if row["Dataset"] != "VoxCeleb" else ("merged",)
    for split in ("valid", "eval"):
        for name in lists:
            labels = [t[0] for t in read_trials(trials / split / f"{name}.txt")]
            assert 1 in labels and 0 in labels, (split, name)
    results = json.loads((out / "eval" / "results.json").read_text())
    for name in lists:
        assert results["lists"][name]["n_trials"] > 0, name


def test_dusha_first_run_names_out_n_neurons(tmp_path):
    """Dusha's speaker count depends on the copy: with the YAML's
    ``out_n_neurons: 0`` the first run prepares and names the number."""
    (row,) = [r for r in ROWS if r["Dataset"] == "Dusha"]
    proc, log, data, _ = run_row(row, tmp_path, drop=("--out_n_neurons",))
    assert proc.returncode != 0
    want = flag_value(shlex.split(row["test_debug_flags"]), "out_n_neurons")
    assert f"pass --out_n_neurons={want}" in log, log
    assert (data / "prepared" / "prepare_report.json").is_file()
