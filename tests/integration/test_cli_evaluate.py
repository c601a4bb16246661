"""emoinv-eval: command line to results.json, table and plots."""

import json

import pytest
import torch
from toy import make_toy_data, make_toy_model

from speechbrain_emoinv.cli import evaluate
from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.evaluation.run import read_lists
from speechbrain_emoinv.metrics import verification_metrics
from speechbrain_emoinv.scoring import manifest_key, score_all


def _run(model, data, out, options):
    evaluate.run(
        ["--model", str(model), "--data", str(data), "--out", str(out)]
        + options
    )


def test_evaluate_cli(tmp_path, capsys):
    data = make_toy_data(tmp_path / "d", n_train=2, n_eval=3, n_sentences=2)
    model = make_toy_model(tmp_path / "m")
    out = tmp_path / "o"
    _run(
        model,
        data,
        out,
        [
            "--exclude-speakers",
            f"@{data / 'train_speakers.txt'}",
            "--cohort-size",
            "10",
            "--topk",
            "4",
            "--projection",
            "pca",
        ],
    )
    printed = capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())
    assert res["cohort"] == {"split": "train", "n_utterances": 10, "topk": 4}
    # Train speakers never appear in eval lists: nothing to drop, counted.
    assert res["excluded"] == {"n_speakers": 2, "n_trials": 0}
    assert "excluded 0 trials touching 2 listed speakers" in printed
    assert "minDCF@0.01" in printed and "EER % by" in printed
    # --topk 4 of the 10 cohort utterances reaches AS-norm (not s-norm)
    emb, cohort = (
        torch.load(path, weights_only=True)["emb"]
        for p in (data / "eval.csv", out / "cohort.csv")
        for path in out.glob(f"embedding_cache/*/{manifest_key(p)}.pt")
    )
    trials, _ = read_lists(data, "eval", read_manifest(data / "eval.csv"))
    for name, t in trials.items():
        want = score_all(emb, t.enrol, t.test, cohort, 4)
        for norm in ("snorm", "asnorm"):
            m = verification_metrics(want[norm], t.labels)
            got = res["lists"][name][norm]
            assert got["eer"] == pytest.approx(m["eer"]), (name, norm)
            assert got["eer_threshold"] == pytest.approx(m["eer_threshold"])
    lists = res["lists"]
    assert set(res["emotion_gap"]) == {"cosine", "snorm", "asnorm"}
    for norm, gap in res["emotion_gap"].items():
        want = lists["cross"][norm]["eer"] - lists["neutral"][norm]["eer"]
        assert gap == pytest.approx(want), norm
    merged = res["lists"]["merged"]
    assert merged["asnorm"]["eer_threshold"] != pytest.approx(
        merged["snorm"]["eer_threshold"]
    )
    for name in (
        "det.png",
        "score_hist.png",
        "eer_matrix.png",
        "embeddings_2d.png",
        "results.md",
    ):
        assert (out / name).stat().st_size > 1000, name
    _run(
        model,
        data,
        out / "raw",
        ["--cohort", "none", "--no-plots", "--no-probe"],
    )
    raw = json.loads((out / "raw" / "results.json").read_text())
    assert set(raw["lists"]["merged"]) == {"n_trials", "n_excluded", "cosine"}
    assert raw["leakage_probe"] is None


def test_cohort_named_must_exist_default_may_not(tmp_path, capsys):
    """A mistyped ``--cohort`` is a one-line error naming the file (was a
    silent fall-back to cosine scores); the default ``train`` cohort of a
    folder without one scores cosine only, with a note on stderr."""
    data = make_toy_data(tmp_path / "d", n_train=2, n_eval=3, n_sentences=2)
    model = make_toy_model(tmp_path / "m")
    args = ["--model", str(model), "--data", str(data), "--no-plots"]
    args += ["--no-probe", "--out", str(tmp_path / "o")]
    assert evaluate.main([*args, "--cohort", "trian"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and f"{data / 'trian.csv'}: no such cohort" in err
    # The split evaluated as its own cohort: each trial's clips would be in
    # their own top-k (an optimistic AS-norm).
    assert evaluate.main([*args, "--cohort", "eval"]) == 1
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and "--cohort eval is the split evaluated" in err
    )
    # AS-norm over one score has no spread: a usage error, before any work.
    with pytest.raises(SystemExit, match="^2$"):
        evaluate.main([*args, "--topk", "1"])
    assert "--topk must be 2 or more" in capsys.readouterr().err
    # An evaluation-only folder: its train.csv a header alone, or none.
    train = data / "train.csv"
    train.write_text(train.read_text().splitlines()[0] + "\n")
    for _ in range(2):
        assert evaluate.main(args) == 0
        out, err = capsys.readouterr()
        assert "no usable cohort" in err and "no usable cohort" not in out
        train.unlink(missing_ok=True)
