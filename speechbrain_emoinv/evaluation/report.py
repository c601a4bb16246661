"""Result tables: per-list metrics, emotion gap, emotion x emotion EER.

Authors
 * speechbrain-emoinv contributors 2025
"""

import numpy as np

from speechbrain_emoinv.metrics import compute_eer, verification_metrics

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
    ...         },
    ...     }
    ... }
    >>> print(metrics_table(r))  # doctest: +NORMALIZE_WHITESPACE
    list     norm     trials  EER %  minDCF@0.01  minDCF@0.05
    neutral  cosine        4  1.00       0.1000       0.0500
    """
    lines = [
        f"{'list':<8} {'norm':<8} {'trials':>7} {'EER %':>6} "
        f"{'minDCF@0.01':>12} {'minDCF@0.05':>12}"
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
                f"{m['min_dcf@0.05']:>12.4f}"
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


def score_list(trials, scores_by_norm):
    """Metrics of one list for every normalisation.

    Arguments
    ---------
    trials : TrialList
        The list.
    scores_by_norm : dict
        ``{norm: scores}``.

    Returns
    -------
    dict
        ``n_trials``, ``n_excluded``, and one metrics dict per norm.
    """
    out = {"n_trials": len(trials), "n_excluded": trials.n_excluded}
    for norm, scores in scores_by_norm.items():
        out[norm] = verification_metrics(scores, trials.labels)
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
