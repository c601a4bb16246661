"""Speaker-verification metrics: EER, normalised minDCF and DET points.

Why not ``speechbrain.utils.metric_stats.EER/minDCF``: ``EER`` loops in
Python over ~2N thresholds (O(N^2)), and ``minDCF`` builds a thresholds x
trials matrix (terabytes for 10^6 trials) and returns the un-normalised
cost. Here one sort gives every operating point in O(N log N) time and
O(N) memory, so 10^7 trials take seconds.

Conventions (the same as SpeechBrain's, so the numbers agree):

- a trial is accepted when ``score > threshold``;
- the candidate thresholds are the distinct scores: trials with equal
  scores are always on the same side, a tie cannot be split;
- the EER is taken at the threshold minimising ``|P_fa - P_miss|`` and
  reported as ``(P_fa + P_miss) / 2``; of thresholds that tie exactly,
  the lowest (SpeechBrain's float32 rounding picks among them, so on
  small lists its EER can be another of the tied values);
- minDCF is normalised by ``min(c_miss * p, c_fa * (1 - p))``, so a system
  that always accepts or always rejects scores 1.

Why one file over 500 lines: every metric shares the sorted-score sweep
(``operating_points``) and its tie rules; split, the exactness argument
would be spread over files. Most of the length is docstrings and doctests.

Authors
 * speechbrain-emoinv contributors 2025
"""

import numpy as np
import torch


def _as_numpy(x, name):
    """Flat numpy view of a tensor, list or array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 1:
        x = x.reshape(-1)
    return x


def check_trials(scores, labels):
    """Validates scores and labels; returns them as numpy arrays.

    Arguments
    ---------
    scores : array-like
        Scores, one per trial (higher = more likely the same speaker).
    labels : array-like
        1/True for target trials, 0/False for non-target trials.

    Returns
    -------
    scores : numpy.ndarray
        Float scores (float32 kept, anything else as float64).
    labels : numpy.ndarray
        Boolean labels.

    Example
    -------
    >>> s, l = check_trials([0.1, 0.9], [0, 1])
    >>> l.tolist()
    [False, True]
    >>> check_trials([0.1, float("nan")], [0, 1])
    Traceback (most recent call last):
    ...
    ValueError: score of trial 1 is not finite (nan); 1 non-finite ...in all
    """
    scores = _as_numpy(scores, "scores")
    labels = _as_numpy(labels, "labels")
    if scores.shape != labels.shape:
        raise ValueError(
            f"{scores.size} scores but {labels.size} labels: one per trial"
        )
    if scores.size == 0:
        raise ValueError("empty trial list: no scores to evaluate")
    if scores.dtype != np.float32:
        scores = scores.astype(np.float64)
    finite = np.isfinite(scores)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise ValueError(
            f"score of trial {bad} is not finite ({scores[bad]}); "
            f"{int((~finite).sum())} non-finite scores in all"
        )
    if labels.dtype != np.bool_:
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("labels must be 0/1 or boolean")
        labels = labels.astype(np.bool_)
    n_pos = int(labels.sum())
    if n_pos == 0 or n_pos == labels.size:
        kind = "target" if n_pos else "non-target"
        raise ValueError(
            f"all {labels.size} trials are {kind}: EER/minDCF need both "
            "target and non-target trials"
        )
    return scores, labels


def operating_points(scores, labels, weights=None):
    """All operating points that a threshold on the scores can reach.

    One sort, then cumulative counts at the end of each group of equal
    scores. Point ``k`` rejects every trial with a score ``<= t[k]``.

    Arguments
    ---------
    scores : array-like
        Scores, one per trial.
    labels : array-like
        1 for target, 0 for non-target trials.
    weights : array-like or None
        Non-negative weight of each trial: a trial of weight ``w`` counts
        as ``w`` copies of it (weight 0: left out). None: all 1.

    Returns
    -------
    thresholds : numpy.ndarray
        The distinct scores, ascending (U values).
    p_miss : numpy.ndarray
        Fraction of target trials rejected at each threshold.
    p_fa : numpy.ndarray
        Fraction of non-target trials accepted at each threshold.

    Example
    -------
    >>> t, pm, pf = operating_points([0.1, 0.5, 0.5, 0.9], [0, 1, 0, 1])
    >>> t.tolist(), pm.tolist(), pf.tolist()
    ([0.1, 0.5, 0.9], [0.0, 0.5, 1.0], [0.5, 0.0, 0.0])
    >>> t, pm, pf = operating_points([0.1, 0.5, 0.9], [0, 1, 1], [2, 3, 0])
    >>> t.tolist(), pm.tolist(), pf.tolist()
    ([0.1, 0.5], [0.0, 1.0], [0.0, 0.0])
    """
    if weights is None:
        return _sorted_points(*check_trials(scores, labels))
    weights = _as_numpy(weights, "weights").astype(np.float64)
    scores, labels = _as_numpy(scores, "scores"), _as_numpy(labels, "labels")
    if weights.shape != scores.shape:
        raise ValueError(
            f"{weights.size} weights but {scores.size} scores: one per trial"
        )
    if not (np.isfinite(weights).all() and (weights >= 0).all()):
        raise ValueError("weights must be finite and non-negative")
    keep = weights > 0
    scores, labels = check_trials(scores[keep], labels[keep])
    return _sorted_points(scores, labels, weights[keep])


def _sorted_points(scores, labels, weights=None):
    """``operating_points`` on already validated numpy arrays."""
    order = np.argsort(scores)
    sorted_scores = scores[order]
    if weights is None:
        # int32 counts halve the memory; fine below 2^31 trials.
        count_dtype = np.int32 if scores.size < 2**31 else np.int64
        cum_pos = np.cumsum(labels[order], dtype=count_dtype)
    else:
        cum_weight = np.cumsum(weights[order])
        cum_pos = np.cumsum(np.where(labels[order], weights[order], 0.0))
    del order
    # Last index of each run of equal scores: a threshold cannot split it.
    last = np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1])
    last = np.append(last, scores.size - 1)
    thresholds = sorted_scores[last]
    del sorted_scores
    if weights is None:
        n_pos, n_all, rejected = int(cum_pos[-1]), scores.size, last + 1
    else:
        n_pos, n_all, rejected = cum_pos[-1], cum_weight[-1], cum_weight[last]
    n_neg = n_all - n_pos
    pos_rejected = cum_pos[last]
    neg_rejected = rejected - pos_rejected
    p_miss = pos_rejected / n_pos
    p_fa = (n_neg - neg_rejected) / n_neg
    return thresholds, p_miss, p_fa


def eer_from_points(thresholds, p_miss, p_fa):
    """EER and its threshold from ``operating_points`` output.

    Arguments
    ---------
    thresholds, p_miss, p_fa : numpy.ndarray
        The output of ``operating_points``.

    Returns
    -------
    eer : float
        ``(P_fa + P_miss) / 2`` where ``|P_fa - P_miss|`` is smallest.
    threshold : float
        That threshold (accept when ``score > threshold``).

    Example
    -------
    >>> eer_from_points(*operating_points([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1]))
    (0.5, 0.2)
    >>> pts = operating_points([1.1, 1.4, 0.9, 0.4, 1.2], [1, 1, 0, 1, 0])
    >>> eer, thr = eer_from_points(*pts)  # 0.9 and 1.1 both leave 1/6
    >>> round(eer, 4), thr
    (0.4167, 0.9)
    """
    # Of thresholds whose gaps are equal (as fractions), the lowest: float
    # rounding of the fractions must not choose (it chose 1.1 above).
    gap = np.abs(p_fa - p_miss)
    idx = int(np.flatnonzero(gap <= gap.min() + 1e-12)[0])
    return float((p_fa[idx] + p_miss[idx]) / 2), float(thresholds[idx])


def min_dcf_from_points(
    thresholds, p_miss, p_fa, p_target=0.01, c_miss=1.0, c_fa=1.0
):
    """Normalised minDCF and its threshold from ``operating_points``.

    The accept-all point (threshold -inf), which no finite threshold in
    ``thresholds`` reaches, is also considered.

    Arguments
    ---------
    thresholds, p_miss, p_fa : numpy.ndarray
        The output of ``operating_points``.
    p_target : float
        Prior of a target trial.
    c_miss : float
        Cost of a miss.
    c_fa : float
        Cost of a false alarm.

    Returns
    -------
    min_dcf : float
        ``min C_det / min(c_miss * p_target, c_fa * (1 - p_target))``.
    threshold : float
        Threshold reaching it (accept when ``score > threshold``).

    Example
    -------
    >>> pts = operating_points([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1])
    >>> min_dcf_from_points(*pts, p_target=0.5)
    (0.5, 0.1)
    """
    c_det = _normalised_cost(p_miss, p_fa, p_target, c_miss, c_fa)
    idx = int(np.argmin(c_det))
    best, thr = float(c_det[idx]), float(thresholds[idx])
    accept_all = _normalised_cost(0.0, 1.0, p_target, c_miss, c_fa)
    if accept_all < best:
        best, thr = accept_all, float("-inf")
    return best, thr


def _normalised_cost(p_miss, p_fa, p_target, c_miss, c_fa):
    """``C_det / min(c_miss * p_target, c_fa * (1 - p_target))``."""
    if not 0.0 < p_target < 1.0:
        raise ValueError(f"p_target must be in (0, 1), got {p_target}")
    c_det = c_miss * p_target * p_miss + c_fa * (1 - p_target) * p_fa
    return c_det / min(c_miss * p_target, c_fa * (1 - p_target))


def compute_eer(scores, labels, weights=None):
    """Equal error rate, O(N log N), exact with tied scores.

    Arguments
    ---------
    scores, labels : array-like
        Trials, as in ``check_trials``.
    weights : array-like or None
        Non-negative weight of each trial, as in ``operating_points``: a
        trial of weight ``w`` counts as ``w`` copies (the paired
        bootstrap's speaker draws). None: all 1.

    Returns
    -------
    eer : float
        Equal error rate (a fraction, not a percentage).
    threshold : float
        Threshold at the EER (accept when ``score > threshold``).

    Example
    -------
    >>> compute_eer([0.6, 0.7, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1], [1] * 4 + [0] * 4)
    (0.0, 0.4)
    >>> compute_eer([0.5] * 4, [1, 0, 1, 0])[0]
    0.5
    >>> compute_eer([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    (0.5, 0.35)
    >>> compute_eer([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], [1, 0, 1, 1])
    (0.0, 0.1)
    """
    return eer_from_points(*operating_points(scores, labels, weights))


def compute_min_dcf(scores, labels, p_target=0.01, c_miss=1.0, c_fa=1.0):
    """Normalised minimum detection cost, O(N log N).

    Arguments
    ---------
    scores, labels : array-like
        Trials, as in ``check_trials``.
    p_target, c_miss, c_fa : float
        As in ``min_dcf_from_points``.

    Returns
    -------
    min_dcf : float
        Normalised minDCF (1.0 = no better than a constant decision).
    threshold : float
        Threshold reaching it.

    Example
    -------
    >>> compute_min_dcf([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0])
    (0.0, 0.2)
    """
    pts = operating_points(scores, labels)
    return min_dcf_from_points(*pts, p_target, c_miss, c_fa)


def det_curve(scores, labels, max_points=None):
    """DET points (P_fa, P_miss), with the accept-all point first.

    Arguments
    ---------
    scores, labels : array-like
        Trials, as in ``check_trials``.
    max_points : int or None
        Thin the curve to about this many points for plotting (the ends
        are kept).

    Returns
    -------
    p_fa : numpy.ndarray
        False-alarm rate, non-increasing.
    p_miss : numpy.ndarray
        Miss rate, non-decreasing.
    thresholds : numpy.ndarray
        Threshold of each point (-inf for accept-all).

    Example
    -------
    >>> pf, pm, t = det_curve([0.1, 0.5, 0.9], [0, 1, 1])
    >>> pf.tolist(), pm.tolist()
    ([1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.5, 1.0])
    """
    thr, p_miss, p_fa = operating_points(scores, labels)
    p_fa = np.concatenate([[1.0], p_fa])
    p_miss = np.concatenate([[0.0], p_miss])
    thr = np.concatenate([[-np.inf], thr.astype(np.float64)])
    if max_points is not None and p_fa.size > max_points:
        keep = np.unique(np.linspace(0, p_fa.size - 1, max_points).round())
        keep = keep.astype(np.int64)
        p_fa, p_miss, thr = p_fa[keep], p_miss[keep], thr[keep]
    return p_fa, p_miss, thr


def verification_metrics(scores, labels, p_targets=(0.01, 0.05)):
    """EER and normalised minDCF at several priors from one sort.

    Arguments
    ---------
    scores, labels : array-like
        Trials, as in ``check_trials``.
    p_targets : sequence of float
        Priors for minDCF (C_miss = C_fa = 1).

    Returns
    -------
    dict
        ``eer`` (percent), ``eer_threshold``, ``min_dcf@<p>`` and
        ``min_dcf@<p>_threshold``, ``n_target``, ``n_nontarget``.

    Example
    -------
    >>> m = verification_metrics([0.9, 0.8, 0.1, 0.85], [1, 1, 0, 0])
    >>> m["eer"], m["min_dcf@0.01"], m["n_target"]
    (50.0, 0.5, 2)
    """
    scores, labels = check_trials(scores, labels)
    n_target = int(labels.sum())
    pts = _sorted_points(scores, labels)
    eer, eer_thr = eer_from_points(*pts)
    out = {
        "eer": 100.0 * eer,
        "eer_threshold": eer_thr,
        "n_target": n_target,
        "n_nontarget": int(labels.size - n_target),
    }
    for p in p_targets:
        dcf, thr = min_dcf_from_points(*pts, p_target=p)
        out[f"min_dcf@{p:g}"] = dcf
        out[f"min_dcf@{p:g}_threshold"] = thr
    return out


def threshold_at(scores, labels, operating_point="eer"):
    """Decision threshold at an operating point, chosen on labelled trials.

    Arguments
    ---------
    scores : array-like
        Scores, one per trial (usually the validation speakers' trials).
    labels : array-like
        1 for target, 0 for non-target trials.
    operating_point : str
        ``eer`` (equal error rate), ``far=<rate>`` (the lowest threshold
        whose false-accept rate is at most ``rate``, so the fewest misses
        at that FAR) or ``mindcf`` / ``mindcf=<p_target>`` (the minDCF
        point, ``p_target`` 0.01 unless given).

    Returns
    -------
    float
        Threshold (accept when ``score > threshold``).

    Example
    -------
    >>> s, lab = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0, 0, 1, 0, 1, 1]
    >>> threshold_at(s, lab, "eer"), threshold_at(s, lab, "far=0")
    (0.3, 0.4)
    >>> threshold_at(s, lab, "far=0.5"), threshold_at(s, lab, "far 0.5")
    (0.2, 0.2)
    >>> threshold_at(s, lab, "far=1")  # accept every trial: no miss
    -inf
    """
    name, number = parse_operating_point(operating_point)
    pts = operating_points(scores, labels)
    if name == "eer":
        return eer_from_points(*pts)[1]
    if name == "far":
        if number >= 1:  # accepting every trial misses none
            return float("-inf")
        thresholds, _, p_fa = pts
        # p_fa falls as the threshold rises; the last point accepts no
        # non-target at all, so some point always qualifies.
        return float(thresholds[np.flatnonzero(p_fa <= number)[0]])
    return min_dcf_from_points(*pts, p_target=number)[1]


def parse_operating_point(operating_point):
    """``(name, number)`` of an operating point (see :func:`threshold_at`).

    Example
    -------
    >>> parse_operating_point("eer"), parse_operating_point("far 0.01")
    (('eer', None), ('far', 0.01))
    >>> parse_operating_point("mindcf"), parse_operating_point("mindcf=0.05")
    (('mindcf', 0.01), ('mindcf', 0.05))
    >>> parse_operating_point("far")
    Traceback (most recent call last):
    ...
    ValueError: unknown operating point 'far': use eer, far=<rate in [0, 1]> or mindcf[=<p_target in (0, 1)>]
    """
    # SpeechBrain's command line turns --operating_point=far=0.01 into
    # "far 0.01": a space separates the value as well.
    name, _, value = str(operating_point).replace("=", " ").partition(" ")
    value = value.strip()
    try:
        number = float(value) if value else None
    except ValueError:
        name = ""
    if name == "eer" and not value:
        return name, None
    if name == "far" and number is not None and 0 <= number <= 1:
        return name, number
    if name == "mindcf" and (number is None or 0 < number < 1):
        return name, 0.01 if number is None else number
    raise ValueError(
        f"unknown operating point {operating_point!r}: use eer, "
        "far=<rate in [0, 1]> or mindcf[=<p_target in (0, 1)>]"
    )


def actual_dcf(scores, labels, threshold, p_target=0.01, c_miss=1.0, c_fa=1.0):
    """Normalised detection cost of the decisions at a fixed threshold.

    Unlike minDCF, the threshold is the one the system ships with (e.g.
    chosen on validation speakers), so a threshold that does not transfer
    to the evaluation data costs here.

    Arguments
    ---------
    scores, labels : array-like
        Trials, as in ``check_trials``.
    threshold : float
        Accept when ``score > threshold``.
    p_target, c_miss, c_fa : float
        As in ``min_dcf_from_points``.

    Returns
    -------
    float
        ``C_det / min(c_miss * p_target, c_fa * (1 - p_target))``.

    Example
    -------
    >>> s, lab = [0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0]
    >>> actual_dcf(s, lab, 0.5)
    0.0
    >>> actual_dcf(s, lab, 0.85, p_target=0.5)  # one miss in two targets
    0.5
    """
    scores, labels = check_trials(scores, labels)
    accept = scores > threshold
    p_miss = float(np.mean(~accept[labels]))
    p_fa = float(np.mean(accept[~labels]))
    return _normalised_cost(p_miss, p_fa, p_target, c_miss, c_fa)


def cllr(llrs, labels):
    """Log-likelihood-ratio cost (Brümmer), in bits.

    ``Cllr = (mean_tar log2(1 + e^-llr) + mean_non log2(1 + e^llr)) / 2``:
    1 for a system that always outputs 0 (no information), 0 for a perfect
    and well-calibrated one; values above 1 mean harmful miscalibration.

    Arguments
    ---------
    llrs : array-like
        Natural-log likelihood ratios, one per trial (calibrated scores).
    labels : array-like
        1 for target, 0 for non-target trials.

    Returns
    -------
    float
        Cllr.

    Example
    -------
    >>> cllr([0.0, 0.0], [1, 0])
    1.0
    >>> round(cllr([20.0, -20.0], [1, 0]), 6)
    0.0
    >>> round(cllr([-20.0, 20.0], [1, 0]), 1)  # confidently wrong
    28.9
    """
    llrs, labels = check_trials(llrs, labels)
    llrs = llrs.astype(np.float64)
    tar = np.mean(np.logaddexp(0.0, -llrs[labels]))
    non = np.mean(np.logaddexp(0.0, llrs[~labels]))
    return float((tar + non) / (2 * np.log(2)))
