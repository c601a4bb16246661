"""Result tables: per-list metrics, emotion gap, emotion x emotion EER.

Authors
 * speechbrain-emoinv contributors 2025
"""

import numpy as np

from speechbrain_emoinv.metrics import (
    actual_dcf,
    cllr,
    compute_eer,
    verification_metrics,
)

LIST_ORDER = ("neutral", "cross", "emo_emo", "merged")
NORM_NAMES = {"cosine": "cosine", "snorm": "s-norm", "asnorm": "AS-norm"}


def list_order(names):
    """Known lists first in the canonical order, others after, sorted.

    Example
    -------
    >>> list_order(["merged", "zz", "neutral"])
    ['neutral', 'merged', 'zz']
    """
    known = [n for n in LIST_ORDER if n in names]
    return known + sorted(n for n in names if n not in LIST_ORDER)


def emotion_matrix(trials, scores, min_trials=2):
    """EER of every (enrolment emotion, test emotion) cell.

    Arguments
    ---------
    trials : TrialList
        Usually the merged list.
    scores : numpy.ndarray
        Scores of those trials.
    min_trials : int
        Cells with fewer trials, or with one class only, are None.

    Returns
    -------
    dict
        ``emotions`` (row/column labels), ``eer`` (percent, nested
        lists, None where undefined), ``n_trials``.

    Example
    -------
    >>> from speechbrain_emoinv.evaluation.lists import TrialList
    >>> t = TrialList(
    ...     "m",
    ...     np.array([1, 0, 1, 0], bool),
    ...     np.zeros(4, int),
    ...     np.zeros(4, int),
    ...     np.array(["n", "n", "a", "a"]),
    ...     np.array(["n", "n", "n", "n"]),
    ... )
    >>> m = emotion_matrix(t, np.array([0.9, 0.1, 0.2, 0.8]))
    >>> m["emotions"], m["eer"]
    (['a', 'n'], [[None, 100.0], [None, 0.0]])
    """
    emos = sorted(
        {str(e) for e in (*trials.enrol_emotion, *trials.test_emotion)}
    )
    code = {e: i for i, e in enumerate(emos)}
    row = np.array([code[e] for e in trials.enrol_emotion])
    col = np.array([code[e] for e in trials.test_emotion])
    cell = row * len(emos) + col
    eer = [[None] * len(emos) for _ in emos]
    count = np.bincount(cell, minlength=len(emos) ** 2).reshape(len(emos), -1)
    order = np.argsort(cell, kind="stable")
    bounds = np.searchsorted(cell[order], np.arange(len(emos) ** 2 + 1))
    for c in range(len(emos) ** 2):
        idx = order[bounds[c] : bounds[c + 1]]
        lab = trials.labels[idx]
        if idx.size >= min_trials and 0 < lab.sum() < idx.size:
            eer[c // len(emos)][c % len(emos)] = (
                100 * compute_eer(scores[idx], lab)[0]
            )
    return {"emotions": emos, "eer": eer, "n_trials": count.tolist()}


def metrics_table(lists_results):
    """Fixed-width text table of EER / minDCF per list and normalisation.

    The decision columns (actual DCF at the model's stored threshold, Cllr
    of its calibrated scores) exist for cosine scoring only, where the
    threshold and the calibration were chosen; elsewhere they show ``-``.

    Arguments
    ---------
    lists_results : dict
        ``{list: {"n_trials": int, "<norm>": metrics dict}}``.

    Returns
    -------
    str
        The table.

    Example
    -------
    >>> r = {
    ...     "neutral": {
    ...         "n_trials": 4,
    ...         "cosine": {
    ...             "eer": 1.0,
    ...             "min_dcf@0.01": 0.1,
    ...             "min_dcf@0.05": 0.05,
    ...             "act_dcf@0.01": 0.2,
    ...             "cllr": 0.5,
    ...         },
    ...     }
    ... }
    >>> print(metrics_table(r))  # doctest: +NORMALIZE_WHITESPACE
    list     norm     trials  EER %  minDCF@0.01  minDCF@0.05  actDCF@0.01    Cllr
    neutral  cosine        4  1.00       0.1000       0.0500       0.2000  0.5000
    """

    def opt(m, key, width):
        return f"{m[key]:>{width}.4f}" if key in m else f"{'-':>{width}}"

    lines = [
        f"{'list':<8} {'norm':<8} {'trials':>7} {'EER %':>6} "
        f"{'minDCF@0.01':>12} {'minDCF@0.05':>12} {'actDCF@0.01':>12} "
        f"{'Cllr':>7}"
    ]
    for name in list_order(lists_results):
        res = lists_results[name]
        for norm in NORM_NAMES:
            if norm not in res:
                continue
            m = res[norm]
            lines.append(
                f"{name:<8} {NORM_NAMES[norm]:<8} {res['n_trials']:>7} "
                f"{m['eer']:>6.2f} {m['min_dcf@0.01']:>12.4f} "
                f"{m['min_dcf@0.05']:>12.4f} {opt(m, 'act_dcf@0.01', 12)} "
                f"{opt(m, 'cllr', 7)}"
            )
    return "\n".join(lines)


def matrix_table(matrix):
    """Markdown table of an ``emotion_matrix`` result.

    Example
    -------
    >>> print(matrix_table({"emotions": ["a"], "eer": [[1.5]]}))
    | enrol \\ test | a |
    | --- | --- |
    | a | 1.50 |
    """
    emos = matrix["emotions"]
    lines = [
        "| enrol \\ test | " + " | ".join(emos) + " |",
        "| --- |" + " --- |" * len(emos),
    ]
    for e, row in zip(emos, matrix["eer"], strict=True):
        cells = ["-" if v is None else f"{v:.2f}" for v in row]
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fit_llr_calibration(scores, labels):
    """Affine map from scores to log-likelihood ratios (logistic
    regression with balanced classes, so the log-odds it learns are LLRs).

    Fitted on the validation speakers' trials at export and stored in the
    model folder, so the evaluation report can measure Cllr of the scores
    a user would get.

    Arguments
    ---------
    scores : array-like
        Cosine scores of labelled trials.
    labels : array-like
        1 for target, 0 for non-target trials.

    Returns
    -------
    dict
        ``{"scale": a, "offset": b}``: ``llr = a * score + b``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> s = np.r_[rng.normal(0.6, 0.1, 500), rng.normal(0.2, 0.1, 500)]
    >>> cal = fit_llr_calibration(s, np.r_[np.ones(500), np.zeros(500)])
    >>> cal["scale"] > 0 and abs(cal["offset"] / cal["scale"] + 0.4) < 0.05
    True
    """
    from sklearn.linear_model import LogisticRegression

    from speechbrain_emoinv.metrics import check_trials

    scores, labels = check_trials(scores, labels)
    model = LogisticRegression(C=1e6, class_weight="balanced")
    model.fit(scores.reshape(-1, 1).astype(np.float64), labels)
    return {
        "scale": float(model.coef_[0, 0]),
        "offset": float(model.intercept_[0]),
    }


def decision_metrics(scores, labels, threshold=None, calibration=None):
    """Metrics of a shipped system: actual DCF at its threshold and Cllr
    of its calibrated scores (each only when given).

    Arguments
    ---------
    scores : array-like
        Scores of the trials.
    labels : array-like
        1 for target, 0 for non-target trials.
    threshold : float or None
        The model's stored decision threshold.
    calibration : dict or None
        ``{"scale", "offset"}`` from ``fit_llr_calibration``.

    Returns
    -------
    dict
        ``threshold``, ``act_dcf@0.01``, ``act_dcf@0.05``, ``p_fa`` and
        ``p_miss`` at the threshold; ``cllr`` and ``act_dcf_bayes@0.01``,
        ``act_dcf_bayes@0.05``: the actual DCF of the calibrated scores at
        the Bayes threshold of each prior.

    Example
    -------
    >>> m = decision_metrics([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0], 0.5)
    >>> m["act_dcf@0.01"], m["p_miss"], "cllr" in m
    (0.0, 0.0, False)
    >>> cal = {"scale": 10.0, "offset": -5.0}  # llr 4, 3, -4, -3
    >>> m = decision_metrics([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0], None, cal)
    >>> m["act_dcf_bayes@0.01"]  # log(99) = 4.6: every target is missed
    1.0
    >>> m["act_dcf_bayes@0.05"]  # log(19) = 2.9: all right
    0.0
    """
    out = {}
    scores, labels = np.asarray(scores), np.asarray(labels, dtype=bool)
    if threshold is not None:
        accept = scores > threshold
        out["threshold"] = float(threshold)
        out["p_fa"] = float(np.mean(accept[~labels]))
        out["p_miss"] = float(np.mean(~accept[labels]))
        for p in (0.01, 0.05):
            out[f"act_dcf@{p:g}"] = actual_dcf(scores, labels, threshold, p)
    if calibration:
        llr = calibration["scale"] * scores + calibration["offset"]
        out["cllr"] = cllr(llr, labels)
        # The calibrated system decides at the Bayes threshold of its LLRs:
        # accept when llr > log((1 - p) / p), the cost it is built for.
        for p in (0.01, 0.05):
            bayes = np.log((1 - p) / p)
            out[f"act_dcf_bayes@{p:g}"] = actual_dcf(llr, labels, bayes, p)
    return out


def score_list(trials, scores_by_norm, threshold=None, calibration=None):
    """Metrics of one list for every normalisation.

    Arguments
    ---------
    trials : TrialList
        The list.
    scores_by_norm : dict
        ``{norm: scores}``.
    threshold : float or None
        The model's stored cosine threshold (actual DCF, cosine only).
    calibration : dict or None
        The model's stored cosine-score calibration (Cllr, cosine only).

    Returns
    -------
    dict
        ``n_trials``, ``n_excluded``, and one metrics dict per norm.
    """
    out = {"n_trials": len(trials), "n_excluded": trials.n_excluded}
    for norm, scores in scores_by_norm.items():
        out[norm] = verification_metrics(scores, trials.labels)
        if norm == "cosine":
            out[norm].update(
                decision_metrics(scores, trials.labels, threshold, calibration)
            )
    return out


def render_markdown(results):
    """``results.md`` text from the ``results.json`` dict.

    Arguments
    ---------
    results : dict
        Output of ``run_evaluation``.

    Returns
    -------
    str
        Markdown.
    """
    out = [
        f"# Evaluation: {results['split']} split",
        "",
        f"- model: `{results['model']['dir']}` "
        f"(fingerprint {results['model']['fingerprint']})",
        f"- data: `{results['data_dir']}`",
        f"- cohort: {results['cohort']['n_utterances']} utterances, "
        f"AS-norm top-k {results['cohort']['topk']}",
    ]
    ex = results["excluded"]
    if ex["n_speakers"]:
        out.append(
            f"- excluded {ex['n_trials']} trials touching "
            f"{ex['n_speakers']} listed speakers"
        )
    out += ["", "## Verification", "", "```", results["table"], "```", ""]
    out += ["## Emotion gap (EER cross - EER neutral, points)", ""]
    for norm, gap in results["emotion_gap"].items():
        val = "n/a" if gap is None else f"{gap:+.2f}"
        out.append(f"- {NORM_NAMES.get(norm, norm)}: {val}")
    out += ["", "## EER % by enrolment x test emotion (cosine)", ""]
    out += [matrix_table(results["eer_matrix"]), ""]
    probe = results.get("leakage_probe")
    if probe:
        out += ["## Emotion leakage", ""]
        if probe.get("accuracy") is not None:
            out.append(
                f"- linear probe (speaker-disjoint {probe['n_folds']}-fold): "
                f"accuracy {probe['accuracy']:.3f} vs chance "
                f"{probe['chance_accuracy']:.3f}; balanced "
                f"{probe['balanced_accuracy']:.3f} vs "
                f"{probe['chance_balanced_accuracy']:.3f}"
            )
        cos = probe["within_speaker_cosine"]
        if cos["same_emotion"] is not None and cos["cross_emotion"] is not None:
            out.append(
                f"- within-speaker cosine: same emotion "
                f"{cos['same_emotion']:.3f}, across emotions "
                f"{cos['cross_emotion']:.3f} (gap {cos['gap']:+.3f})"
            )
        out.append("")
    if results.get("plots"):
        out += ["## Plots", ""]
        out += [f"![{p}]({p})" for p in results["plots"]]
        out.append("")
    return "\n".join(out)
