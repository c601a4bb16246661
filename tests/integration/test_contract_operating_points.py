"""Contract of operating points: every ``--operating_point`` value (and
every minDCF prior and cost) gives the threshold its definition names.

The expectation is found by brute force: the miss and false-accept rates
are counted at every candidate threshold (each distinct score; for minDCF
also accepting everything), with ``score > threshold`` accepted, as
``speechbrain_emoinv.metrics`` documents; the definition then picks one.
"""

import numpy as np
import pytest

from speechbrain_emoinv.metrics import actual_dcf, compute_min_dcf, threshold_at


def _trials(seed, n_target, n_nontarget, decimals):
    """Scores of overlapping classes, rounded (ties) or not."""
    rng = np.random.default_rng(seed)
    scores = np.r_[
        rng.normal(0.6, 0.2, n_target), rng.normal(0.2, 0.2, n_nontarget)
    ]
    if decimals is not None:
        scores = scores.round(decimals)
    labels = np.r_[np.ones(n_target, bool), np.zeros(n_nontarget, bool)]
    perm = rng.permutation(scores.size)
    return scores[perm], labels[perm]


TRIALS = {
    "balanced": _trials(0, 200, 200, None),
    "few_targets_ties": _trials(1, 37, 413, 2),
    "many_targets_ties": _trials(2, 300, 100, 1),
}


def _rates(scores, labels, t):
    """(P_miss, P_fa) when accepting ``score > t``, by counting."""
    accept = scores > t
    return (~accept[labels]).mean(), accept[~labels].mean()


def _cost(scores, labels, t, p, c_miss=1.0, c_fa=1.0):
    """Normalised detection cost at threshold ``t``, by counting."""
    p_miss, p_fa = _rates(scores, labels, t)
    norm = min(c_miss * p, c_fa * (1 - p))
    return (c_miss * p * p_miss + c_fa * (1 - p) * p_fa) / norm


@pytest.mark.parametrize("name", TRIALS)
def test_eer_threshold_balances_the_two_errors(name):
    scores, labels = TRIALS[name]
    gaps = {t: abs(np.subtract(*_rates(scores, labels, t))) for t in scores}
    t = threshold_at(scores, labels, "eer")
    assert t in gaps and gaps[t] == min(gaps.values())


@pytest.mark.parametrize("name", TRIALS)
@pytest.mark.parametrize("rate", [0.0, 0.01, 0.05, 0.1, 0.25, 0.5])
@pytest.mark.parametrize("spelling", ["far={}", "far {}"])
def test_far_threshold_is_the_lowest_within_the_rate(name, rate, spelling):
    scores, labels = TRIALS[name]
    within = [
        t for t in np.unique(scores) if _rates(scores, labels, t)[1] <= rate
    ]
    assert threshold_at(scores, labels, spelling.format(rate)) == min(within)


@pytest.mark.parametrize("name", TRIALS)
@pytest.mark.parametrize(
    "point, p_target",
    [
        ("mindcf", 0.01),
        ("mindcf=0.05", 0.05),
        ("mindcf 0.2", 0.2),
        ("mindcf=0.5", 0.5),
        ("mindcf=0.9", 0.9),
    ],
)
def test_mindcf_threshold_has_the_least_cost_at_its_prior(
    name, point, p_target
):
    scores, labels = TRIALS[name]
    candidates = [-np.inf, *np.unique(scores)]
    costs = {t: _cost(scores, labels, t, p_target) for t in candidates}
    t = threshold_at(scores, labels, point)
    assert t in costs
    assert costs[t] == pytest.approx(min(costs.values()), abs=1e-12)


@pytest.mark.parametrize("name", TRIALS)
@pytest.mark.parametrize(
    "p_target, c_miss, c_fa",
    [(0.01, 10.0, 1.0), (0.05, 1.0, 3.0), (0.3, 2.0, 0.5), (0.8, 1.0, 1.0)],
)
def test_min_dcf_with_costs_and_its_threshold(name, p_target, c_miss, c_fa):
    scores, labels = TRIALS[name]
    candidates = [-np.inf, *np.unique(scores)]
    costs = [
        _cost(scores, labels, t, p_target, c_miss, c_fa) for t in candidates
    ]
    dcf, t = compute_min_dcf(scores, labels, p_target, c_miss, c_fa)
    assert dcf == pytest.approx(min(costs), abs=1e-12)
    assert _cost(scores, labels, t, p_target, c_miss, c_fa) == pytest.approx(
        dcf, abs=1e-12
    )
    # the shipped decision at that threshold costs exactly the minimum
    assert actual_dcf(scores, labels, t, p_target, c_miss, c_fa) == (
        pytest.approx(dcf, abs=1e-12)
    )
