"""Known answers: calibration, Cllr, actual DCF, s-norm and AS-norm on
small cases computed by hand (each expected value is written out as the
arithmetic that gives it), with an offset and with non-default priors and
costs."""

import math

import numpy as np
import pytest
import torch

from speechbrain_emoinv.evaluation.report import (
    decision_metrics,
    fit_llr_calibration,
)
from speechbrain_emoinv.metrics import actual_dcf, cllr
from speechbrain_emoinv.scoring import score_all


def _trials(cells):
    """Scores and labels from ``{score: (n_target, n_nontarget)}``."""
    scores, labels = [], []
    for score, (n_tar, n_non) in cells.items():
        scores += [score] * (n_tar + n_non)
        labels += [1] * n_tar + [0] * n_non
    return np.array(scores), np.array(labels)


@pytest.mark.parametrize(
    "cells, scale, offset",
    [
        # 1 target + 3 non-targets at 0, 3 + 1 at 1 (balanced classes):
        # log-odds log(1/3) at 0 and log(3) at 1
        ({0.0: (1, 3), 1.0: (3, 1)}, math.log(9), math.log(1 / 3)),
        # 3 targets, 5 non-targets: class weights 8/6 and 8/10, so the
        # log-odds at a score are log((8/6 n_tar) / (8/10 n_non)):
        # log(5/12) at 0.2 (1 + 4), log(10/3) at 0.6 (2 + 1)
        (
            {0.2: (1, 4), 0.6: (2, 1)},
            (math.log(10 / 3) - math.log(5 / 12)) / 0.4,
            math.log(5 / 12)
            - 0.2 * (math.log(10 / 3) - math.log(5 / 12)) / 0.4,
        ),
    ],
)
def test_calibration_recovers_the_log_likelihood_ratios(cells, scale, offset):
    """With two distinct scores the balanced logistic fit is saturated:
    it meets each score's class-balanced log-odds, the LLR, exactly."""
    cal = fit_llr_calibration(*_trials(cells))
    # to the solver's tolerance (the fit is within 1e-3 of the optimum)
    got = (cal["scale"], cal["offset"])
    assert got == pytest.approx((scale, offset), abs=5e-3)


def test_cllr_known_answers():
    # no information: 1 bit
    assert cllr([0.0, 0.0, 0.0], [1, 0, 1]) == pytest.approx(1.0)
    # targets at +log 3, non-targets at -log 3: each costs log2(1 + 1/3)
    llr = [math.log(3), math.log(3), -math.log(3)]
    assert cllr(llr, [1, 1, 0]) == pytest.approx(math.log2(4 / 3))
    # targets [2, -1], non-target [0.5]: classes averaged separately
    tar = (math.log2(1 + math.exp(-2)) + math.log2(1 + math.exp(1))) / 2
    non = math.log2(1 + math.exp(0.5))
    assert cllr([2.0, -1.0, 0.5], [1, 1, 0]) == pytest.approx((tar + non) / 2)


def test_cllr_of_calibrated_scores_applies_scale_and_offset():
    """``decision_metrics`` maps scores with the stored calibration
    (llr = 4 * score - 2) before Cllr."""
    scores, labels = np.array([0.75, 0.25, 0.5]), np.array([1, 1, 0])
    got = decision_metrics(
        scores, labels, calibration={"scale": 4.0, "offset": -2.0}
    )
    # llrs: 1, -1 (targets), 0 (non-target)
    tar = (math.log2(1 + math.exp(-1)) + math.log2(1 + math.exp(1))) / 2
    assert got["cllr"] == pytest.approx((tar + 1.0) / 2)


# 4 targets, 5 non-targets; at threshold 0.5 the target at 0.5 is
# rejected (accept score > 0.5) and the non-targets at 0.9 and 0.7 are
# accepted: P_miss = 1/4, P_fa = 2/5
SCORES = [0.9, 0.8, 0.6, 0.5, 0.9, 0.7, 0.5, 0.2, 0.1]
LABELS = [1, 1, 1, 1, 0, 0, 0, 0, 0]


@pytest.mark.parametrize(
    "p_target, c_miss, c_fa, expected",
    [
        (0.01, 1.0, 1.0, (0.01 * 0.25 + 0.99 * 0.4) / 0.01),
        (0.3, 2.0, 1.0, (2 * 0.3 * 0.25 + 0.7 * 0.4) / 0.6),
        (0.5, 1.0, 4.0, (0.5 * 0.25 + 4 * 0.5 * 0.4) / 0.5),
        (0.9, 1.0, 1.0, (0.9 * 0.25 + 0.1 * 0.4) / 0.1),
    ],
)
def test_actual_dcf_known_answers(p_target, c_miss, c_fa, expected):
    got = actual_dcf(SCORES, LABELS, 0.5, p_target, c_miss, c_fa)
    assert got == pytest.approx(expected)


def test_decision_metrics_at_the_stored_threshold():
    m = decision_metrics(SCORES, LABELS, threshold=0.5)
    assert (m["p_miss"], m["p_fa"]) == (0.25, 0.4)
    assert m["act_dcf@0.01"] == pytest.approx((0.01 * 0.25 + 0.99 * 0.4) / 0.01)
    assert m["act_dcf@0.05"] == pytest.approx((0.05 * 0.25 + 0.95 * 0.4) / 0.05)


# Unit embeddings at angles (degrees) in the plane: the cosine of two is
# the cosine of their angle difference.
def _at(*degrees):
    rad = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return torch.stack([torch.cos(rad), torch.sin(rad)], 1)


def _cos(degrees):
    return math.cos(math.radians(degrees))


def _norm(score, cohort_scores):
    """(score - mean) / population std."""
    mean = sum(cohort_scores) / len(cohort_scores)
    var = sum((v - mean) ** 2 for v in cohort_scores) / len(cohort_scores)
    return (score - mean) / math.sqrt(var)


@pytest.mark.parametrize("test_angle", [60, 150])
def test_snorm_and_asnorm_known_answers(test_angle):
    """Enrolment at 0 deg, test at 60 or 150 deg; cohort at 0, 100, 180
    and 30 deg with unequal norms (norms must not matter); AS-norm keeps
    each side's 2 best cohort scores."""
    emb = _at(0, test_angle)
    cohort = _at(0, 100, 180, 30) * torch.tensor([[2.0], [1.0], [0.5], [3.0]])
    s = _cos(test_angle)
    e_scores = [_cos(0), _cos(100), _cos(180), _cos(30)]
    t_scores = [_cos(test_angle - a) for a in (0, 100, 180, 30)]
    snorm = (_norm(s, e_scores) + _norm(s, t_scores)) / 2
    e_top = [_cos(0), _cos(30)]
    t_top = sorted(t_scores)[-2:]
    asnorm = (_norm(s, e_top) + _norm(s, t_top)) / 2
    out = score_all(emb, [0], [1], cohort=cohort, topk=2)
    assert out["cosine"][0] == pytest.approx(s, abs=1e-6)
    assert out["snorm"][0] == pytest.approx(snorm, abs=1e-5)
    assert out["asnorm"][0] == pytest.approx(asnorm, abs=1e-5)


def test_actual_dcf_at_the_bayes_threshold_of_the_calibration():
    """The calibrated LLRs (llr = 10 * score - 5: 4, 3, 1, 0 | 4, 2, 0,
    -3, -4) decide at log((1 - p) / p): 4.60 for p = 0.01 rejects every
    trial (P_miss = 1), 2.94 for p = 0.05 accepts the targets at 4, 3 and
    the non-target at 4 (P_miss = 1/2, P_fa = 1/5)."""
    cal = {"scale": 10.0, "offset": -5.0}
    m = decision_metrics(SCORES, LABELS, calibration=cal)
    assert m["act_dcf_bayes@0.01"] == pytest.approx(1.0)
    assert m["act_dcf_bayes@0.05"] == pytest.approx(
        (0.05 * 0.5 + 0.95 * 0.2) / 0.05
    )
