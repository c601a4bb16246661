"""Smoke and known-answer tests of the benchmark scripts.

``benchmarks.ablation`` and ``benchmarks.tuning`` run their real main
loops in a temporary root whose ``.venv/bin/python`` is a stand-in recipe
(``bench_fixture.py``: made-up numbers and trials keyed by run and seed), so
the commands, the copying of outputs, resuming, retrying, aggregation, the
paired bootstrap and the tables are exercised without training; git
commits are recorded instead of made. ``benchmarks.make_results_section`` then
writes README's summary and docs/results.md, compared with
``tests/data/results_section.md`` and ``tests/data/results_page.md``
(regenerate them with ``EMOINV_UPDATE_EXPECTED=1`` and read the diff).
"""

import doctest
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from bench_fixture import fake_eer, fake_trials
from recipe_utils import ROOT

from benchmarks import (
    ablation,
    keep_voices,
    make_results_section as section,
    report,
    runner,
    stats,
    tuning,
)

EXPECTED = ROOT / "tests" / "data"


@pytest.fixture
def bench(tmp_path, monkeypatch):
    """A temporary root with the stand-in recipe; the scripts point at it."""
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    fake = ROOT / "tests" / "bench_fixture.py"
    # bench_fixture imports ``benchmarks`` from the repository root.
    python.write_text(
        f'#!/bin/sh\nPYTHONPATH="{ROOT}${{PYTHONPATH:+:$PYTHONPATH}}" '
        f'exec "{sys.executable}" "{fake}" "$@"\n'
    )
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (tmp_path / "docs").mkdir()
    for name in ("cost.json", "reference_resemblyzer.json"):
        shutil.copy(ROOT / "tests" / "data" / "bench" / name, results / name)
    monkeypatch.setattr(ablation, "ROOT", tmp_path)
    monkeypatch.setattr(runner, "ROOT", tmp_path)  # the recipe's cwd
    monkeypatch.setattr(ablation, "RESULTS", results / "ablation")
    monkeypatch.setattr(ablation, "RUNS", tmp_path / "results" / "ablation")
    monkeypatch.setattr(ablation, "N_BOOT", 200)  # 2000 in the benchmark
    monkeypatch.setattr(tuning, "ROOT", tmp_path)
    monkeypatch.setattr(tuning, "RESULTS", results / "tuning")
    monkeypatch.setattr(tuning, "RUNS", tmp_path / "results" / "tuning")
    monkeypatch.setattr(section, "ROOT", tmp_path)
    monkeypatch.setattr(section, "RESULTS", results)
    monkeypatch.setattr(section, "README", tmp_path / "README.md")
    monkeypatch.setattr(section, "PAGE", tmp_path / "docs" / "results.md")
    commits = []

    def record(paths, message, log=print):
        commits.append(message)
        return True

    monkeypatch.setattr(ablation, "git_commit_paths", record)
    monkeypatch.setattr(runner, "hardware", lambda: "2 CPU cores (test)")
    monkeypatch.setattr(runner, "git_commit_paths", record)  # tuning
    return tmp_path, commits


def fake_evaluation(model_dir, data_dir, out_dir, split, **kwargs):
    """run_evaluation stand-in for tuning's re-scoring (valid split of
    the simulated or the real corpus)."""
    from bench_fixture import fake_real_results, fake_results

    assert split == "valid"
    run = model_dir.parent
    fake = fake_real_results if data_dir == tuning.REAL else fake_results
    return fake(run.parent.name, int(run.name))


def relative(row, base, lst, seeds):
    """Mean over seeds of the fixture's relative EER change (%)."""
    return np.mean(
        [
            100
            * (fake_eer(row, s, lst) - fake_eer(base, s, lst))
            / fake_eer(base, s, lst)
            for s in seeds
        ]
    )


def compare(text, name):
    """``text`` equals the expected file (rewritten on request)."""
    if os.environ.get("EMOINV_UPDATE_EXPECTED"):
        (EXPECTED / name).write_text(text)
    assert text == (EXPECTED / name).read_text()


def test_ablation_tuning_and_results_section(bench, monkeypatch, capsys):
    root, commits = bench
    results = root / "benchmarks" / "results" / "ablation"
    # Before any run: every row empty, nothing settled.
    summary, markdown = ablation.aggregate()
    assert summary["verdict"]["status"] == "pending"
    assert "+CopyPaste: none" in markdown
    assert "0 seed(s)" in section.section(summary)
    # Seed 1: one row fails; the pass retries it once, reports it, returns 1.
    monkeypatch.setenv("FAKE_RECIPE_FAIL", "ablation_copypaste")
    assert ablation.main(["--seeds", "1"]) == 1
    out = capsys.readouterr().out
    assert "ablation_copypaste seed 1: retrying once" in out
    assert "1 failed [('ablation_copypaste', 1)]" in out
    monkeypatch.delenv("FAKE_RECIPE_FAIL")
    assert ablation.main(["--seeds", "1"]) == 0
    assert "1 to run" in capsys.readouterr().out
    # Seed 2: a run without the real voices' evaluation is not finished.
    monkeypatch.setenv("FAKE_RECIPE_NO_REAL", "emoinv")
    assert ablation.main(["--seeds", "2"]) == 1
    assert "emoinv seed 2: FAILED (rc 0, missing " in capsys.readouterr().out
    assert len(commits) == 5 + 4
    run = json.loads(
        (results / "baseline_equal_budget/seed2/run.json").read_text()
    )
    assert run["command"] == (
        ".venv/bin/python train_speaker_embeddings.py "
        "hparams/baseline_equal_budget.yaml --seed=2 "
        "--output_folder=results/ablation/baseline_equal_budget/2 "
        "--interpolate=null"
    )
    assert run["valid_eer_per_epoch"] == [27.0, 22.0]
    assert run["attempts"][0]["rc"] == 0 and run["cpu_s"] >= 0
    # Stage 1 is trained by the first run and reused by every other one.
    assert run["stage1"] == "results/pretrain/fakekey/pretrained"
    first = json.loads((results / "baseline/seed1/run.json").read_text())
    assert first["trained_stage1"] and not run["trained_stage1"]
    # Only the bootstrap's lists are kept, each in its own file.
    with np.load(results / "emoinv/seed1/scores.npz") as kept:
        assert sorted(kept.files) == [
            f"merged/{k}" for k in ("enrol_spk", "label", "score", "test_spk")
        ]
    with np.load(results / "emoinv/seed1/real_scores.npz") as kept:
        assert {k.split("/")[0] for k in kept.files} == {
            "real_read",
            "real_acted",
        }
    # Finished runs are skipped on rerun.
    assert ablation.main(["--seeds", "1,2", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "10 runs planned, 9 already finished, 1 to run" in out
    assert "hparams/emoinv.yaml --seed=2" in out

    # Partial benchmark: emoinv has seed 1 only.
    summary, markdown = ablation.aggregate()
    rows = summary["rows"]
    assert rows["emoinv"]["seeds"] == [1]
    assert rows["baseline"]["seeds"] == [1, 2]
    # One stage 1, named with the fingerprint of its weights.
    (model,) = summary["stage1_models"]
    assert re.fullmatch(
        r"results/pretrain/fakekey/pretrained \(weights [0-9a-f]{16}\)", model
    )
    for lst in ablation.LISTS:
        for norm in ablation.NORMS:
            got = rows["baseline"]["lists"][lst][norm]["eer"]["mean"]
            want = np.mean([fake_eer("baseline", s, lst, norm) for s in (1, 2)])
            assert got == pytest.approx(want)
    # The trials' EER (bootstrap) agrees with results.json (tables).
    for lst in ablation.BOOT_LISTS:
        change = rows["ablation_copypaste"]["paired_change"]["baseline"][lst]
        assert change["seeds"] == [1, 2]
        assert change["point"] == pytest.approx(
            relative("ablation_copypaste", "baseline", lst, (1, 2))
        )
        assert change["lo"] <= change["point"] <= change["hi"]
        assert change["lo"] < change["hi"]
    alone = rows["emoinv"]["paired_change"]["baseline_equal_budget"]["merged"]
    assert alone["n"] == 1 and "lo" not in alone  # no interval from 1 seed
    assert "baseline" not in rows["baseline"]["paired_change"]
    assert summary["verdict"]["status"] == "pending"
    assert "**partial benchmark**" in markdown
    assert "+CopyPaste+ERL+EM (full): 1. " in markdown
    # Deterministic: the same inputs give the same summary.
    assert ablation.aggregate()[0] == summary
    # Wall and CPU times are the machine's: zeroed for the expected texts.
    for path in results.glob("*/seed*/run.json"):
        info = json.loads(path.read_text())
        info.update(wall_s=0.0, cpu_s=0.0)
        path.write_text(json.dumps(info))
    summary = ablation.aggregate()[0]
    compare(section.section(summary), "results_section.md")
    compare(section.page(summary), "results_page.md")

    # The last run; now every comparison has 2 seeds.
    monkeypatch.delenv("FAKE_RECIPE_NO_REAL")
    assert ablation.main(["--seeds", "2"]) == 0
    summary, markdown = ablation.aggregate()
    change = summary["rows"]["emoinv"]["paired_change"]["baseline_equal_budget"]
    assert change["merged"]["point"] == pytest.approx(
        relative("emoinv", "baseline_equal_budget", "merged", (1, 2))
    )
    assert summary["verdict"]["status"] == "null"
    assert summary["verdict"]["text"] in markdown

    # Tuning: re-scores the ablation's models, trains the variants.
    import speechbrain_emoinv.evaluation as evaluation

    monkeypatch.setattr(evaluation, "run_evaluation", fake_evaluation)
    variants = "valid_eval,pair_weight_0.5,em_spans"
    stage1 = "--pretrained_path=results/pretrain/KEY/pretrained"
    assert tuning.main(["--variants", variants, stage1]) == 0
    tuned, _ = tuning.aggregate()
    assert tuned["rows"]["emoinv"]["seeds"] == [1, 2]
    assert tuned["rows"]["em_spans"]["seeds"] == [1]
    assert tuned["rows"]["em_always"]["n_seeds"] == 0
    for lst in tuning.CHANGE_LISTS:
        change = tuned["rows"]["em_spans"]["change_vs_reference"][lst]
        assert change["values"] == pytest.approx(
            [relative("em_spans", "valid_eval", lst, [1])]
        )
    # Variants fine-tune the given stage 1; real validation lists shown.
    run = results.parent / "tuning" / "em_spans" / "seed1" / "run.json"
    info = json.loads(run.read_text())
    assert info["command"].endswith(stage1)
    assert info["stage1"] == "results/pretrain/KEY/pretrained"
    assert info["trained_stage1"] is False
    assert tuned["rows"]["em_spans"]["eer"]["real_acted"]["n"] == 1
    # The re-scored ablation models are scored on them too.
    assert tuned["rows"]["emoinv"]["eer"]["real_acted"]["n"] == 2

    # README: the section goes before the licence notes, and a rerun
    # replaces it without touching anything else; docs/results.md is
    # written by the same run.
    readme = root / "README.md"
    readme.write_text("# Title\n\nIntro.\n\n## Licence notes\n\nMIT.\n")
    section.main([])
    first = readme.read_text()
    assert first.startswith("# Title\n\nIntro.\n\n## Results\n\n")
    assert first.endswith("<!-- results:end -->\n\n## Licence notes\n\nMIT.\n")
    body = first.split("<!-- results:start -->\n")[1].split("<!--")[0]
    assert len(body.strip().splitlines()) == 5
    assert summary["verdict"]["text"] in body
    page = (root / "docs" / "results.md").read_text()
    assert "## Tuning on the validation speakers" in page
    assert "![DET](../benchmarks/results/ablation/emoinv/seed1/det.png)" in page
    section.main([])
    assert readme.read_text() == first
    # --print writes nothing.
    readme.write_text("# Title\n")
    section.main(["--print"])
    assert readme.read_text() == "# Title\n"


def test_bad_names_and_lock(bench, capsys):
    root, _ = bench
    with pytest.raises(SystemExit, match="^2$"):
        ablation.main(["--rows", "baseline,nosuchrow"])
    assert "unknown row nosuchrow" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="^2$"):
        ablation.main(["--seeds", "1,x"])
    assert "--seeds 1,x: comma-separated integers" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="^2$"):
        tuning.main(["--variants", "nosuch"])
    assert "unknown variant nosuch" in capsys.readouterr().err
    # A live pass holds the lock, run as a module or (older checkouts) as
    # a script; once it is gone the lock is stale.
    lock = root / "results" / "ablation" / "ablation.pid"
    lock.parent.mkdir(parents=True)
    for how in ("benchmarks.ablation", "benchmarks/ablation.py"):
        holder = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)", how]
        )
        try:
            cmdline = Path(f"/proc/{holder.pid}/cmdline")
            while how.encode() not in cmdline.read_bytes():  # until exec'd
                time.sleep(0.01)
            lock.write_text(str(holder.pid))
            assert not ablation.acquire_lock(lock, log=print)
            out = capsys.readouterr().out
            assert f"another ablation.py (pid {holder.pid})" in out
        finally:
            holder.kill()
            holder.wait()
    assert ablation.acquire_lock(lock, log=print)
    assert lock.read_text() == str(os.getpid())
    assert ablation.main(["--seeds", "1", "--rows", "baseline"]) == 0


def test_benchmark_doctests():
    # pytest collects doctests under speechbrain_emoinv/ and tools/ only.
    for module in (ablation, keep_voices, report, runner, stats):
        assert doctest.testmod(module).failed == 0, module.__name__


def write_runs(results, row, trials_by_seed):
    for seed, (eer, spread) in trials_by_seed.items():
        folder = results / row / f"seed{seed}"
        folder.mkdir(parents=True)
        trials = fake_trials(eer, spread)
        np.savez_compressed(
            folder / "scores.npz",
            **{f"merged/{k}": v for k, v in trials.items()},
        )


def test_paired_bootstrap_known_answers(tmp_path, monkeypatch):
    monkeypatch.setattr(ablation, "RESULTS", tmp_path)
    monkeypatch.setattr(ablation, "N_BOOT", 200)
    # Errors per speaker of the base (eer, spread) -> 0.8 x as many in the
    # row, seed by seed (25, 5): 35 45 55 65 -> (20, 4): 28 36 44 52.
    write_runs(tmp_path, "base", {1: (25, 5), 2: (12.5, 5), 3: (30, 5)})
    write_runs(tmp_path, "better", {1: (20, 4), 2: (10, 4), 3: (24, 4)})
    write_runs(tmp_path, "same", {1: (25, 5), 2: (12.5, 5), 3: (30, 5)})
    # A draw weights each trial by its ENROLMENT speaker's count, so the
    # EER is the count-weighted mean of the speakers' error fractions.
    eers, _ = stats.run_eers(
        tmp_path / "base/seed1/scores.npz", "merged", 200, ablation.BOOT_SEED
    )
    draws = np.random.default_rng(ablation.BOOT_SEED).integers(4, size=(200, 4))
    counts = np.array([np.bincount(d, minlength=4) for d in draws])
    errors = np.array([35, 45, 55, 65]) / 200
    assert eers[0] == 25.0
    assert eers[1:] == pytest.approx(100 * counts @ errors / counts.sum(1))
    seeds = [1, 2, 3]
    same = ablation.paired_change("same", "base", "merged", seeds)
    assert same == {
        "seeds": seeds,
        "n": 3,
        "point": 0.0,
        "lo": 0.0,
        "hi": 0.0,
        "n_undefined": 0,
    }
    better = ablation.paired_change("better", "base", "merged", seeds)
    for key in ("point", "lo", "hi"):
        assert better[key] == pytest.approx(-20.0)
    # Speakers matter: a row better on one speaker only has an interval.
    write_runs(tmp_path, "mixed", {1: (25, 6), 2: (12.5, 6), 3: (30, 6)})
    mixed = ablation.paired_change("mixed", "base", "merged", seeds)
    assert mixed["point"] == pytest.approx(0.0)
    assert mixed["lo"] < -1 and mixed["hi"] > 1
    assert ablation.paired_change("mixed", "base", "merged", seeds) == mixed
    # A base with no errors: the change is undefined, no interval.
    write_runs(tmp_path, "perfect", {1: (0, 0), 2: (0, 0), 3: (0, 0)})
    none = ablation.paired_change("better", "perfect", "merged", seeds)
    assert np.isnan(none["point"]) and "lo" not in none
    assert none["n_undefined"] == 200
    with pytest.raises(ValueError, match="merged has other trials"):
        write_runs(tmp_path, "other", {1: (25, 5)})
        np.savez_compressed(
            tmp_path / "other" / "seed1" / "scores.npz",
            **{f"merged/{k}": v[::-1] for k, v in fake_trials(25, 5).items()},
        )
        ablation.paired_change("other", "base", "merged", [1])


def rows_for_verdict(lo, gap, penalty_hi, real_lo):
    merged = {"point": lo + 10, "lo": lo, "hi": lo + 20, "n": 5}
    real = {"point": real_lo + 5, "lo": real_lo, "hi": real_lo + 10, "n": 5}
    penalty = {"point": penalty_hi - 1, "lo": penalty_hi - 2, "hi": penalty_hi}
    penalty.update(row_mean=gap, base_mean=4.0)  # over the paired seeds
    return {
        "emoinv": {
            "paired_change": {
                "baseline_equal_budget": {
                    "merged": merged,
                    "real_acted": real,
                    "real_read": {**real, "lo": -1.0},
                }
            },
            "gap_change": {"baseline_equal_budget": {**penalty, "n": 5}},
            # over each row's own seeds: not what the verdict compares
            "emotion_gap": {"cosine": {"mean": 99.0}},
        },
        "baseline_equal_budget": {"emotion_gap": {"cosine": {"mean": 99.0}}},
    }


@pytest.mark.parametrize(
    "lo, gap, penalty_hi, real_lo, status",
    [
        (-12.0, 2.0, -0.5, -3.0, "met"),
        (-12.0, 2.1, -0.5, -3.0, "null"),  # penalty not halved
        (-12.0, 2.0, 0.2, -3.0, "null"),  # penalty interval reaches 0
        (-12.0, 2.0, -0.5, 0.5, "null"),  # a real list worse
        (-19.29, 3.9, 0.2, -3.0, "inconclusive"),  # merged reaches the paper
    ],
)
def test_verdict_branches(lo, gap, penalty_hi, real_lo, status):
    found = ablation.verdict(rows_for_verdict(lo, gap, penalty_hi, real_lo))
    assert found["status"] == status
    assert f"{lo + 10:+.1f} % [{lo:+.1f}, {lo + 20:+.1f}]" in found["text"]
    assert f"{gap:+.2f} vs +4.00" in found["text"]
    if status != "met":  # the checks that failed are said to have failed
        assert "(failed: " in found["text"]
        assert ("emotion penalty halved" in found["text"]) == (gap > 2.0)


def test_verdict_pending_with_one_seed():
    rows = rows_for_verdict(-12.0, 1.0, -0.5, -3.0)
    rows["emoinv"]["gap_change"]["baseline_equal_budget"] = {"n": 1}
    found = ablation.verdict(rows)
    assert found["status"] == "pending"
    assert "1 seed(s)" in found["text"]


def test_two_stage_untrained_floor(tmp_path, monkeypatch):
    """The floor row: same architecture, fresh random weights (not the
    trained ones), seeded, scored on both corpora, computed once."""
    from toy import make_toy_data, make_toy_model

    from benchmarks import two_stage
    from speechbrain_emoinv.pretrained import CKPT_FILE as CKPT

    data = make_toy_data(tmp_path / "data", n_train=3, n_eval=4)
    trained = make_toy_model(tmp_path / "trained", threshold=0.5)
    monkeypatch.setattr(two_stage, "SIM_DATA", data)
    monkeypatch.setattr(two_stage, "REAL_DATA", data)
    floors = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        two_stage.untrained(tmp_path / name, trained, seed)
        floors.append(torch.load(tmp_path / name / "pretrained" / CKPT))
        assert two_stage.eers(tmp_path / name).keys() >= {"merged"}
    ref = torch.load(trained / CKPT)
    assert floors[0].keys() == ref.keys()
    # Random, not a copy: every weight matrix is drawn anew (norm-layer
    # buffers and zero biases start equal in any initialisation).
    drawn = [k for k, v in ref.items() if v.dim() >= 2]
    assert all(not torch.equal(floors[0][k], ref[k]) for k in drawn)
    assert all(torch.equal(floors[0][k], floors[1][k]) for k in ref)
    assert all(not torch.equal(floors[0][k], floors[2][k]) for k in drawn)
    # Done once: a second call keeps the folder as it is.
    stamp = (tmp_path / "a" / "eval" / "real" / "results.json").stat()
    two_stage.untrained(tmp_path / "a", trained, 9)
    after = (tmp_path / "a" / "eval" / "real" / "results.json").stat()
    assert stamp.st_mtime_ns == after.st_mtime_ns


def test_recipe_reruns_all_but_a_finished_run(tmp_path, monkeypatch):
    """benchmarks.runner.recipe skips a folder only when its completion
    record names the export that is there (an interrupted run resumes)."""
    from speechbrain_emoinv.run_guard import mark_complete

    calls = []
    monkeypatch.setattr(
        runner.subprocess, "run", lambda cmd, **kw: calls.append(cmd[2:])
    )
    folder = tmp_path / "run"
    export = folder / "pretrained"
    export.mkdir(parents=True)
    (export / "hyperparams.yaml").write_text("a: 1\n")
    (export / "embedding_model.ckpt").write_text("x")
    runner.recipe("hparams/emoinv.yaml", folder, "--seed=3")  # no record
    mark_complete(folder, export)
    runner.recipe("hparams/emoinv.yaml", folder, "--seed=3")  # finished
    (export / "embedding_model.ckpt").write_text("y")  # another export
    runner.recipe("hparams/emoinv.yaml", folder, "--seed=3")
    want = ["hparams/emoinv.yaml", f"--output_folder={folder}", "--seed=3"]
    assert calls == [want, want]


def test_export_validation_pairs_the_chosen_mixes(
    tmp_path, monkeypatch, capsys
):
    """benchmarks.export_validation reads each run's chosen mix and prints
    the validation EERs at that mix, and the paired change by seed."""
    from benchmarks import export_validation

    def run(variant, seed, a, real, sim):
        folder = tmp_path / variant / seed / "pretrained"
        folder.mkdir(parents=True)
        stats = {"valid_eer_real": {0.0: 20.0, a: real},
                 "valid_eer_simulated": {0.0: 15.0, a: sim},
                 "valid_score": {0.0: 17.5, a: (real + sim) / 2}}  # fmt: skip
        meta = {"interpolation": {"weight": a, **stats}}
        (folder / "hyperparams.yaml").write_text(yaml.safe_dump(meta))

    run("base", "1", 0.0, 20.0, 15.0)
    run("base", "2", 0.5, 21.0, 13.0)
    run("var", "1", 0.25, 20.2, 12.0)
    run("var", "2", 0.0, 20.0, 15.0)
    argv = ["x", "--seeds", "1,2", "--variant", f"base={tmp_path / 'base'}"]
    argv += ["--variant", f"var={tmp_path / 'var'}"]
    monkeypatch.setattr(sys, "argv", argv)
    export_validation.main()
    out = capsys.readouterr().out
    assert "| var | 1 | 0.25 | 20.20 | 12.00 | 16.10 |" in out
    # simulated: base (15 + 13) / 2 = 14, var (12 + 15) / 2 = 13.5
    assert (
        "var: valid_eer_real 20.10 (-0.40), valid_eer_simulated 13.50 (-0.50)"
        in out
    )


def test_gap_change_means_over_the_paired_seeds():
    """A row ahead of its baseline by a seed: the penalties compared are
    both means over the seeds both rows finished."""

    def run(gap):
        return [{"emotion_gap": {"cosine": gap}}]

    done = {"a": {1: run(1.0), 2: run(3.0), 3: run(100.0)},
            "b": {1: run(2.0), 2: run(2.0)}}  # fmt: skip
    out = ablation.gap_change("a", "b", done)
    assert (out["n"], out["row_mean"], out["base_mean"]) == (2, 2.0, 2.0)
    assert out["point"] == 0.0
