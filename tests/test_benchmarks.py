"""Smoke tests of the benchmark scripts on a fixture results folder.

``benchmarks/ablation.py`` and ``benchmarks/tuning.py`` run their real main
loops in a temporary root whose ``.venv/bin/python`` is a stand-in recipe
(``bench_fixture.py``: made-up numbers keyed by run and seed), so the
commands, the copying of outputs, resuming, retrying, aggregation and
tables are exercised without training; git commits are recorded instead of
made. ``make_results_section.py`` then writes README's Results section,
compared with ``tests/data/results_section.md`` (regenerate it with
``EMOINV_UPDATE_EXPECTED=1`` and read the diff).
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bench_fixture import LISTS, NORMS, fake_eer, fake_results
from recipe_utils import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import ablation  # noqa: E402
import make_results_section as section  # noqa: E402
import tuning  # noqa: E402

EXPECTED = ROOT / "tests" / "data" / "results_section.md"


@pytest.fixture
def bench(tmp_path, monkeypatch):
    """A temporary root with the stand-in recipe; the scripts point at it."""
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    fake = ROOT / "tests" / "bench_fixture.py"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{fake}" "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    for name in ("cost.json", "reference_resemblyzer.json"):
        shutil.copy(ROOT / "tests" / "data" / "bench" / name, results / name)
    monkeypatch.setattr(ablation, "ROOT", tmp_path)
    monkeypatch.setattr(ablation, "RESULTS", results / "ablation")
    monkeypatch.setattr(ablation, "RUNS", tmp_path / "results" / "ablation")
    monkeypatch.setattr(tuning, "ROOT", tmp_path)
    monkeypatch.setattr(tuning, "RESULTS", results / "tuning")
    monkeypatch.setattr(tuning, "RUNS", tmp_path / "results" / "tuning")
    monkeypatch.setattr(section, "RESULTS", results)
    monkeypatch.setattr(section, "README", tmp_path / "README.md")
    commits = []

    def record(paths, message, log=print):
        commits.append(message)
        return True

    monkeypatch.setattr(ablation, "git_commit_paths", record)
    monkeypatch.setattr(ablation, "hardware", lambda: "2 CPU cores (test)")
    monkeypatch.setattr(tuning, "git_commit_paths", record)
    return tmp_path, commits


def fake_evaluation(model_dir, data_dir, out_dir, split, **kwargs):
    """run_evaluation stand-in for tuning's re-scoring (valid split)."""
    assert split == "valid"
    run = model_dir.parent
    return fake_results(run.parent.name, int(run.name))


def test_ablation_tuning_and_results_section(bench, monkeypatch, capsys):
    root, commits = bench
    # Every row with seeds 1 and 2, but one row failing for seed 2: the
    # pass retries it once, reports it and returns 1.
    monkeypatch.setenv("FAKE_RECIPE_FAIL", "ablation_no_augment")
    assert ablation.main(["--seeds", "1"]) == 1
    monkeypatch.delenv("FAKE_RECIPE_FAIL")
    assert ablation.main(["--seeds", "1"]) == 0
    monkeypatch.setenv("FAKE_RECIPE_FAIL", "ablation_no_augment")
    assert ablation.main(["--seeds", "2"]) == 1
    out = capsys.readouterr().out
    assert "ablation_no_augment seed 2: retrying once" in out
    assert "1 failed [('ablation_no_augment', 2)]" in out
    assert len(commits) == 7 + 6
    run = json.loads(
        (root / "benchmarks/results/ablation/emoinv/seed2/run.json").read_text()
    )
    assert run["command"] == (
        ".venv/bin/python train_speaker_embeddings.py hparams/emoinv.yaml "
        "--seed=2 --output_folder=results/ablation/emoinv/2"
    )
    assert run["valid_eer_per_epoch"] == [27.0, 22.0]
    assert run["attempts"][0]["rc"] == 0
    # Finished runs are skipped on rerun.
    monkeypatch.delenv("FAKE_RECIPE_FAIL")
    assert ablation.main(["--seeds", "1,2", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "14 runs planned, 13 already finished, 1 to run" in out
    assert "hparams/ablation_no_augment.yaml --seed=2" in out

    summary, _ = ablation.aggregate()
    emoinv = summary["rows"]["emoinv"]
    assert emoinv["seeds"] == [1, 2]
    assert summary["rows"]["ablation_no_augment"]["seeds"] == [1]
    want = [
        100
        * (fake_eer("emoinv", s, "merged", "cosine")
           - fake_eer("baseline", s, "merged", "cosine"))
        / fake_eer("baseline", s, "merged", "cosine")
        for s in (1, 2)
    ]  # fmt: skip
    got = emoinv["relative_merged_eer_change"]["baseline"]["cosine"]
    assert got["values"] == pytest.approx(want)
    for lst in LISTS:
        for norm in NORMS:
            stat_ = emoinv["lists"][lst][norm]["eer"]
            assert stat_["mean"] == pytest.approx(
                sum(fake_eer("emoinv", s, lst, norm) for s in (1, 2)) / 2
            )
    # The lowest mean merged EER among s-norm and AS-norm is s-norm.
    assert summary["norms"] == ["cosine", "snorm"]

    # Tuning: re-scores the ablation's models, trains the variants.
    import speechbrain_emoinv.evaluation as evaluation

    monkeypatch.setattr(evaluation, "run_evaluation", fake_evaluation)
    assert tuning.main(["--variants", "pair_weight_0.5,em_spans"]) == 0
    tuned, _ = tuning.aggregate()
    assert tuned["rows"]["emoinv"]["seeds"] == [1, 2]
    assert tuned["rows"]["em_spans"]["seeds"] == [1]
    assert tuned["rows"]["em_always"]["n_seeds"] == 0
    change = tuned["rows"]["em_spans"]["merged_change_vs_reference"]
    ref = fake_eer("emoinv", 1, "merged", "cosine")
    assert change["values"] == pytest.approx(
        [100 * (fake_eer("em_spans", 1, "merged", "cosine") - ref) / ref]
    )

    body = section.section()
    if os.environ.get("EMOINV_UPDATE_EXPECTED"):
        EXPECTED.write_text(body)
    assert body == EXPECTED.read_text()

    # README: the section goes before the licence notes, and a rerun
    # replaces it without touching anything else.
    readme = root / "README.md"
    readme.write_text("# Title\n\nIntro.\n\n## Licence notes\n\nMIT.\n")
    section.main([])
    first = readme.read_text()
    assert first.startswith("# Title\n\nIntro.\n\n## Results\n\n")
    assert first.endswith("<!-- results:end -->\n\n## Licence notes\n\nMIT.\n")
    assert body in first
    section.main([])
    assert readme.read_text() == first


def test_bad_names_and_lock(bench, capsys):
    root, _ = bench
    with pytest.raises(SystemExit, match="^2$"):
        ablation.main(["--rows", "baseline,nosuchrow"])
    assert "unknown row nosuchrow" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="^2$"):
        tuning.main(["--variants", "nosuch"])
    assert "unknown variant nosuch" in capsys.readouterr().err
    # A live ablation.py holds the lock; once it is gone the lock is stale.
    lock = root / "results" / "ablation" / "ablation.pid"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "ablation.py"]
    )
    try:
        cmdline = Path(f"/proc/{holder.pid}/cmdline")
        while b"ablation.py" not in cmdline.read_bytes():  # until exec'd
            time.sleep(0.01)
        lock.write_text(str(holder.pid))
        assert not ablation.acquire_lock(lock, log=print)
        assert (
            f"another ablation.py (pid {holder.pid})" in capsys.readouterr().out
        )
    finally:
        holder.kill()
        holder.wait()
    assert ablation.acquire_lock(lock, log=print)
    assert lock.read_text() == str(os.getpid())
    assert ablation.main(["--seeds", "1", "--rows", "baseline"]) == 0
