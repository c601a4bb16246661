"""Result tables and figures: the emotion matrix against a direct count per
cell, the text and Markdown tables, and the four figures as real images."""

import matplotlib.image as mpimg
import numpy as np
import pytest

from speechbrain_emoinv.evaluation.lists import TrialList
from speechbrain_emoinv.evaluation.plots import (
    plot_det,
    project_2d,
    write_plots,
)
from speechbrain_emoinv.evaluation.report import (
    emotion_matrix,
    matrix_table,
    metrics_table,
    render_markdown,
    score_list,
)
from speechbrain_emoinv.metrics import compute_eer, verification_metrics

EMOS = np.array(["angry", "neutral", "sad"])


def random_trials(n=400, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.3
    trials = TrialList(
        "merged",
        labels,
        rng.integers(0, 20, n),
        rng.integers(0, 20, n),
        EMOS[rng.integers(0, 3, n)],
        EMOS[rng.integers(0, 3, n)],
    )
    # One cell with non-targets only, one with a single trial.
    only = (trials.enrol_emotion == "sad") & (trials.test_emotion == "angry")
    trials.labels[only] = False
    one = np.flatnonzero(
        (trials.enrol_emotion == "angry") & (trials.test_emotion == "sad")
    )
    keep = np.ones(n, bool)
    keep[one[1:]] = False
    trials = trials.subset(keep)
    scores = trials.labels + rng.normal(0, 0.8, len(trials))
    return trials, scores


def test_emotion_matrix_against_direct_count():
    trials, scores = random_trials()
    m = emotion_matrix(trials, scores)
    assert m["emotions"] == list(EMOS)
    for i, enrol in enumerate(EMOS):
        for j, test in enumerate(EMOS):
            sel = (trials.enrol_emotion == enrol) & (
                trials.test_emotion == test
            )
            assert m["n_trials"][i][j] == sel.sum()
            lab = trials.labels[sel]
            if sel.sum() < 2 or lab.all() or not lab.any():
                assert m["eer"][i][j] is None, (enrol, test)
            else:
                want = 100 * compute_eer(scores[sel], lab)[0]
                assert m["eer"][i][j] == pytest.approx(want)
    assert m["eer"][2][0] is None and m["eer"][0][2] is None
    table = matrix_table(m).splitlines()
    assert table[0] == "| enrol \\ test | angry | neutral | sad |"
    assert table[4].startswith("| sad | - |")


def test_score_list_and_tables():
    trials, scores = random_trials(seed=1)
    res = score_list(trials, {"cosine": scores, "snorm": 2 * scores - 1})
    assert res["n_trials"] == len(trials)
    assert res["n_excluded"] == trials.n_excluded > 0
    assert res["cosine"] == verification_metrics(scores, trials.labels)
    # each norm from its own scores: same EER, thresholds moved by 2 s - 1
    snorm = verification_metrics(2 * scores - 1, trials.labels)
    assert res["snorm"] == snorm
    assert snorm["eer_threshold"] != res["cosine"]["eer_threshold"]
    # Lists in the canonical order, then the others; norms in fixed order.
    table = metrics_table({"zz": res, "merged": res, "neutral": res})
    rows = [ln.split()[:2] for ln in table.splitlines()[1:]]
    assert rows == [
        ["neutral", "cosine"],
        ["neutral", "s-norm"],
        ["merged", "cosine"],
        ["merged", "s-norm"],
        ["zz", "cosine"],
        ["zz", "s-norm"],
    ]
    eer = f"{res['cosine']['eer']:.2f}"
    assert table.splitlines()[1].split()[3] == eer


def results_dict(**changes):
    results = {
        "split": "eval",
        "model": {"dir": "m", "fingerprint": "abc"},
        "data_dir": "d",
        "cohort": {"n_utterances": 12, "topk": 5},
        "excluded": {"n_speakers": 0, "n_trials": 0},
        "table": "TABLE",
        "emotion_gap": {"cosine": 2.5, "asnorm": None},
        "eer_matrix": {"emotions": ["a"], "eer": [[1.0]]},
        "leakage_probe": {
            "n_folds": 3,
            "accuracy": 0.5,
            "chance_accuracy": 0.25,
            "balanced_accuracy": 0.4,
            "chance_balanced_accuracy": 0.2,
            "within_speaker_cosine": {
                "same_emotion": 0.9,
                "cross_emotion": 0.8,
                "gap": 0.1,
            },
        },
        "plots": ["det.png"],
    }
    results.update(changes)
    return results


def test_render_markdown():
    text = render_markdown(results_dict())
    assert text.startswith("# Evaluation: eval split\n")
    assert "- cosine: +2.50\n- AS-norm: n/a\n" in text
    assert "excluded" not in text
    assert "accuracy 0.500 vs chance 0.250; balanced 0.400 vs 0.200" in text
    assert "same emotion 0.900, across emotions 0.800 (gap +0.100)" in text
    assert "| a | 1.00 |" in text and "![det.png](det.png)" in text
    text = render_markdown(
        results_dict(
            excluded={"n_speakers": 2, "n_trials": 30},
            leakage_probe=None,
            plots=[],
        )
    )
    assert "- excluded 30 trials touching 2 listed speakers" in text
    assert "Emotion leakage" not in text and "## Plots" not in text


def test_figures_are_images(tmp_path):
    trials, scores = random_trials(seed=2)
    rng = np.random.default_rng(0)
    rows = [{"spk_id": f"s{i % 5}", "emotion": EMOS[i % 3]} for i in range(20)]
    emb = rng.normal(size=(20, 8))
    names = write_plots(
        tmp_path,
        {"merged": trials, "neutral": trials.subset(trials.enrol < 10)},
        {"merged": scores, "neutral": scores[trials.enrol < 10]},
        "merged",
        emotion_matrix(trials, scores),
        emb,
        rows,
        method="tsne",
    )
    assert names == [
        "det.png",
        "score_hist.png",
        "eer_matrix.png",
        "embeddings_2d.png",
    ]
    for name in names:
        image = mpimg.imread(tmp_path / name)
        assert image.ndim == 3 and min(image.shape[:2]) > 200, name
        assert image.std() > 0.01, f"{name} is blank"
    # A poor model (EER near 50 %) still gets a DET plot.
    labels = np.r_[np.ones(50), np.zeros(50)].astype(bool)
    plot_det({"chance": (rng.normal(size=100), labels)}, tmp_path / "p.png")
    assert mpimg.imread(tmp_path / "p.png").std() > 0.01


def test_projection_keeps_neighbours():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 16)) * 5
    emb = np.repeat(centres, 8, axis=0) + rng.normal(size=(24, 16)) * 0.1
    for method in ("tsne", "pca"):
        xy = project_2d(emb, method=method)
        assert xy.shape == (24, 2)
        # Each point's nearest neighbour is in its own cluster.
        d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
        np.fill_diagonal(d, np.inf)
        assert (d.argmin(1) // 8 == np.arange(24) // 8).all(), method
