"""Metrics: known answers, brute force, SpeechBrain agreement, bad input."""

import numpy as np
import pytest
import torch
from speechbrain.utils.metric_stats import (
    EER as sb_eer,
    minDCF as sb_min_dcf,
)

from speechbrain_emoinv.metrics import (
    compute_eer,
    compute_min_dcf,
    det_curve,
    operating_points,
    verification_metrics,
)


def brute_force(scores, labels, p_target=0.01, c_miss=1.0, c_fa=1.0):
    """Direct counting at every distinct threshold (O(N * U))."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    pos, neg = scores[labels], scores[~labels]
    thr = np.unique(scores)
    p_miss = np.array([(pos <= t).mean() for t in thr])
    p_fa = np.array([(neg > t).mean() for t in thr])
    # |P_fa - P_miss| in whole numbers: ties are exact, the first is taken.
    miss = np.array([(pos <= t).sum() for t in thr])
    fa = np.array([(neg > t).sum() for t in thr])
    i = np.argmin(np.abs(fa * len(pos) - miss * len(neg)))
    eer = (p_fa[i] + p_miss[i]) / 2
    # Every threshold, plus accepting everything (p_miss 0, p_fa 1).
    costs = np.append(
        c_miss * p_target * p_miss + c_fa * (1 - p_target) * p_fa,
        c_fa * (1 - p_target),
    )
    dcf = costs.min() / min(c_miss * p_target, c_fa * (1 - p_target))
    return eer, thr[i], dcf


def make_data(n_pos, n_neg, seed, decimals=None):
    rng = np.random.default_rng(seed)
    scores = np.concatenate(
        [rng.normal(1.0, 1.0, n_pos), rng.normal(-0.5, 1.0, n_neg)]
    )
    if decimals is not None:
        scores = scores.round(decimals)  # heavy ties
    labels = np.r_[np.ones(n_pos, bool), np.zeros(n_neg, bool)]
    perm = rng.permutation(scores.size)
    return scores[perm], labels[perm]


@pytest.mark.parametrize(
    "seed,decimals", [(0, None), (1, None), (2, 1), (3, 0), (4, 2)]
)
def test_against_brute_force(seed, decimals):
    scores, labels = make_data(150, 450, seed, decimals)
    eer, thr = compute_eer(scores, labels)
    ref_eer, ref_thr, _ = brute_force(scores, labels)
    assert eer == pytest.approx(ref_eer, abs=1e-12)
    assert thr == ref_thr
    for p in (0.01, 0.05, 0.3, 0.7):
        dcf, _ = compute_min_dcf(scores, labels, p_target=p)
        assert dcf == pytest.approx(
            brute_force(scores, labels, p)[2], abs=1e-12
        )


def test_exact_ties_of_the_gap_take_the_lowest_threshold():
    """Short lists often have two thresholds with the same |P_fa - P_miss|
    (as fractions) and different EERs; float rounding must not choose."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        n_pos, n_neg = rng.integers(1, 6, size=2)
        scores, labels = make_data(n_pos, n_neg, rng.integers(2**31), 1)
        eer, thr = compute_eer(scores, labels)
        ref_eer, ref_thr, _ = brute_force(scores, labels)
        assert (eer, thr) == pytest.approx((ref_eer, ref_thr), abs=1e-12)


@pytest.mark.parametrize(
    "p_target,c_miss,c_fa",
    [(0.01, 10.0, 1.0), (0.05, 2.0, 1.0), (0.3, 3.0, 0.5), (0.5, 1.0, 4.0)],
)
def test_min_dcf_costs_against_brute_force(p_target, c_miss, c_fa):
    scores, labels = make_data(120, 360, 5, decimals=1)
    dcf, _ = compute_min_dcf(scores, labels, p_target, c_miss, c_fa)
    ref = brute_force(scores, labels, p_target, c_miss, c_fa)[2]
    assert dcf == pytest.approx(ref, abs=1e-12)
    # The costs matter: unit costs give another value.
    assert dcf != pytest.approx(compute_min_dcf(scores, labels, p_target)[0])


@pytest.mark.parametrize("decimals", [None, 1])
def test_against_speechbrain(decimals):
    scores, labels = make_data(200, 500, 7, decimals)
    s = torch.tensor(scores, dtype=torch.float32)
    pos, neg = s[torch.tensor(labels)], s[~torch.tensor(labels)]
    ref_eer, ref_thr = sb_eer(pos, neg)
    eer, thr = compute_eer(s, labels)
    assert eer == pytest.approx(ref_eer, abs=1e-4)
    assert thr == pytest.approx(ref_thr, abs=1e-6)
    for p in (0.01, 0.05):
        raw, _ = sb_min_dcf(pos, neg, p_target=p)
        dcf, _ = compute_min_dcf(s, labels, p_target=p)
        assert dcf == pytest.approx(raw / min(p, 1 - p), abs=1e-4)


def test_tie_cannot_be_split():
    # One tie group holding 1 target and 3 non-targets: there is no
    # threshold with P_miss = P_fa = 0.25 (splitting the tie would fake it).
    scores = [0.0, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0]
    labels = [0, 1, 0, 0, 0, 1, 1, 1]
    t, pm, pf = operating_points(scores, labels)
    assert t.tolist() == [0.0, 0.5, 1.0]
    assert pm.tolist() == [0.0, 0.25, 1.0]
    assert pf.tolist() == [0.75, 0.0, 0.0]
    assert compute_eer(scores, labels) == (0.125, 0.5)


def test_perfect_inverted_constant():
    labels = np.r_[np.ones(5), np.zeros(20)]
    perfect = np.r_[np.linspace(1, 2, 5), np.linspace(-1, 0.5, 20)]
    assert compute_eer(perfect, labels) == (0.0, 0.5)
    assert compute_min_dcf(perfect, labels)[0] == 0.0
    eer, _ = compute_eer(-perfect, labels)
    assert eer == 1.0
    assert compute_min_dcf(-perfect, labels, p_target=0.05)[0] == 1.0
    const = np.zeros(25)
    assert compute_eer(const, labels) == (0.5, 0.0)
    for p in (0.01, 0.05, 0.9):
        assert compute_min_dcf(const, labels, p_target=p)[0] == 1.0
    # p > 0.5: accepting everything is the cheapest constant decision.
    assert compute_min_dcf(-perfect, labels, p_target=0.9) == (
        1.0,
        float("-inf"),
    )


def test_det_curve_and_summary():
    scores, labels = make_data(100, 300, 11, 1)
    pf, pm, thr = det_curve(scores, labels)
    assert pf[0] == 1.0 and pm[0] == 0.0 and pm[-1] == 1.0 and pf[-1] == 0.0
    assert np.all(np.diff(pf) <= 0) and np.all(np.diff(pm) >= 0)
    pf2, pm2, _ = det_curve(scores, labels, max_points=10)
    assert pf2.size <= 10 and pf2[0] == 1.0 and pm2[-1] == 1.0
    m = verification_metrics(scores, labels)
    assert m["eer"] == pytest.approx(100 * compute_eer(scores, labels)[0])
    assert m["min_dcf@0.05"] == compute_min_dcf(scores, labels, 0.05)[0]
    assert (m["n_target"], m["n_nontarget"]) == (100, 300)


def test_float32_large_ties_fast():
    rng = np.random.default_rng(0)
    labels = rng.random(200_000) < 0.1
    scores = (labels + rng.normal(0, 0.7, labels.size)).astype(np.float32)
    scores = (scores * 8).round() / 8  # ~40 distinct values
    eer, _ = compute_eer(scores, labels)
    ref = brute_force(scores, labels)[0]
    assert eer == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize(
    "scores,labels,match",
    [
        ([], [], "empty"),
        ([0.1, 0.2], [1, 1], "all 2 trials are target"),
        ([0.1, 0.2], [0, 0], "non-target"),
        ([0.1, np.inf], [0, 1], "trial 1 is not finite"),
        ([np.nan, 0.1], [0, 1], "trial 0 is not finite"),
        ([0.1, 0.2, 0.3], [0, 1], "3 scores but 2 labels"),
        ([0.1, 0.2], [0, 2], "0/1"),
    ],
)
def test_bad_input(scores, labels, match):
    with pytest.raises(ValueError, match=match):
        compute_eer(scores, labels)


@pytest.mark.parametrize("seed,decimals", [(5, None), (6, 1), (7, 0)])
def test_weighted_eer_counts_copies(seed, decimals):
    """Weight 1 everywhere is no weight; integer weights are copies of the
    trials (weight 0: the trial left out), tied scores included."""
    scores, labels = make_data(60, 140, seed, decimals)
    assert compute_eer(scores, labels, np.ones(scores.size)) == compute_eer(
        scores, labels
    )
    weights = np.random.default_rng(seed).integers(0, 4, size=scores.size)
    copies = compute_eer(np.repeat(scores, weights), np.repeat(labels, weights))
    assert compute_eer(scores, labels, weights) == pytest.approx(copies)
    assert compute_eer(scores, labels, weights)[1] == copies[1]


@pytest.mark.parametrize(
    "weights,match",
    [
        ([1, 1], "2 weights but 3 scores"),
        ([1, -1, 1], "non-negative"),
        ([1, np.nan, 1], "finite"),
        ([1, 0, 0], "all 1 trials are non-target"),
    ],
)
def test_bad_weights(weights, match):
    with pytest.raises(ValueError, match=match):
        compute_eer([0.1, 0.5, 0.9], [0, 1, 1], weights)
