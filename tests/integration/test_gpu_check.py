"""benchmarks/gpu_pack.py and the CPU smoke mode of benchmarks/gpu_check.py
(what CI runs of the GPU check): a toy corpus packed as for the GPU
machine, then every run of the check on it, with the recipe's objects."""

import csv
import doctest
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from toy import make_toy_data

from benchmarks import gpu_check, gpu_pack


def _material(folder):
    """Two noise and two impulse-response files, as the augmentation
    preparer lists them."""
    rng = np.random.default_rng(0)
    for name in ("noises", "rirs"):
        (folder / name).mkdir(parents=True)
        rows = []
        for i in range(2):
            wav = 0.1 * rng.standard_normal(8000)
            if name == "rirs":
                wav = np.exp(-np.arange(800) / 100.0) * (wav[:800] > 0.1)
                wav[0] = 1.0
            path = folder / name / f"{name}_{i}.wav"
            sf.write(path, wav.astype("float32"), 16000)
            rows.append(
                {"ID": f"{name}_{i}", "duration": len(wav) / 16000,
                 "wav": str(path), "wav_format": "wav", "wav_opts": ""}
            )  # fmt: skip
        with open(folder / f"{name}.csv", "w", newline="") as fout:
            writer = csv.DictWriter(fout, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu")
    data = make_toy_data(root / "d", n_train=3, n_eval=0, n_sentences=3)
    _material(root / "aug")
    info = gpu_pack.pack(data, root / "aug", root / "carry", n=24)
    return root / "carry" / "data", info


def test_pack_is_relative_and_balanced(pack, tmp_path):
    data, info = pack
    assert (info["n_utterances"], info["n_speakers"], info["n_emotions"]) == (
        24,
        3,
        3,
    )
    with open(data / "train.csv", newline="") as fin:
        rows = list(csv.DictReader(fin))
    # Paths relative to the pack (it travels), every file there.
    assert all(not r["wav"].startswith("/") for r in rows)
    assert all((data / r["wav"]).is_file() for r in rows)
    # Each (speaker, emotion) group gave its longest utterances first.
    counts = {}
    for r in rows:
        counts[r["spk_id"], r["emotion"]] = (
            counts.get((r["spk_id"], r["emotion"]), 0) + 1
        )
    assert sorted(set(counts.values())) == [2, 3]
    train, noises, rirs, n_spk = gpu_check.resolve_pack(data, tmp_path)
    with open(noises, newline="") as fin:
        for row in csv.DictReader(fin):
            assert Path(row["wav"]).is_absolute()
            assert Path(row["wav"]).parent.samefile(data / "augment/noises")
    assert n_spk == 3


def test_smoke_mode(pack, tmp_path, capsys):
    data, _ = pack
    out = tmp_path / "gpu.json"
    result = gpu_check.main(["--smoke", "--data", str(data), "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    runs = {r["name"]: r for r in result["runs"]}
    assert not [r for r in runs.values() if "error" in r], runs
    assert not result["skipped"]
    sweep = {c: runs[f"{c}/w1/fp32"] for c in gpu_check.CONFIGS}
    # The three configs of the recipe: the method and the equal-budget
    # baseline take as many samples per step, twice the baseline's.
    per_step = {c: r["samples_per_step"] for c, r in sweep.items()}
    assert per_step["emoinv"] == per_step["baseline_equal_budget"]
    assert per_step["emoinv"] == 2 * per_step["baseline"]
    assert (
        sweep["baseline_equal_budget"]["anchors_per_step"]
        == 2 * (sweep["emoinv"]["anchors_per_step"])
    )
    for r in sweep.values():  # a step = waiting for data + fit_batch
        parts = r["wait_s_per_step"] + r["fit_s_per_step"]
        assert parts == pytest.approx(r["s_per_step"], rel=0.1)
    # Same seed, same data: float32 twice gives the same loss curve.
    summary = result["summary"]
    parity = summary["loss_parity"]["bf16"]
    assert parity["steps"] == 3 and parity["fp32_repeat_max_abs_diff"] == 0
    ratio = summary["ratio_at_chosen"][0]
    assert ratio["step_time_ratio"] == pytest.approx(
        sweep["emoinv"]["s_per_step"]
        / sweep["baseline_equal_budget"]["s_per_step"],
        abs=1e-3,
    )
    assert [c["batch"] for c in runs["embedding/fp32"]["cases"]] == [1, 4]
    assert runs["emoinv/w1/fp32/no_augment"]["tag"] == "no_augment"
    text = gpu_check.render(result)
    assert "method / equal-budget baseline step time, 1 workers" in text
    assert "loss parity bf16 vs fp32 over 3 steps" in text


def test_doctests():
    # pytest collects doctests under speechbrain_emoinv/ only.
    for module in (gpu_pack, gpu_check):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0
