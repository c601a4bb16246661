"""Weight-space interpolation of a fine-tuned model with its start.

WiSE-FT (Wortsman et al., "Robust fine-tuning of zero-shot models",
CVPR 2022): the average ``(1 - a) * w_start + a * w_tuned`` of a
pretrained model and its fine-tuned copy keeps much of what fine-tuning
forgot, at little cost to what it learnt. Stage 2 fine-tunes stage 1 on
simulated emotional speech and forgets real voices; ``a`` is chosen on
the validation voices of both corpora (``pick_mix``).

Authors
 * speechbrain-emoinv contributors 2026
"""

__all__ = ["mix_states", "pick_mix", "choose_mix"]


def mix_states(start, end, a):
    """``(1 - a) * start + a * end`` of two state dicts (floats only; the
    other entries, e.g. BatchNorm's batch counter, are ``end``'s).

    Example
    -------
    >>> import torch
    >>> s = {"w": torch.zeros(2), "n": torch.tensor(3)}
    >>> e = {"w": torch.ones(2), "n": torch.tensor(7)}
    >>> m = mix_states(s, e, 0.25)
    >>> m["w"].tolist(), int(m["n"])
    ([0.25, 0.25], 7)
    """
    return {
        k: (1 - a) * start[k] + a * v if v.is_floating_point() else v
        for k, v in end.items()
    }


def pick_mix(stats):
    """The mix to export (``benchmarks/tuning.md`` §4, rules 5 and 6).

    Among the fine-tuned mixes (``a > 0``) the lowest joint validation EER
    (ties: the larger ``a``); the start itself (``a = 0``) instead when its
    ``score``, the mean of the real and simulated validation EERs, is
    lower than that mix's: the export is never worse than the model it
    was fine-tuned from by the measure that weighs real voices alike.

    Arguments
    ---------
    stats : dict
        ``a`` -> validation statistics: ``EER`` (joint list, %) and
        ``score`` (absent with a single corpus: the EER stands in).

    Returns
    -------
    float
        The chosen ``a``.

    Example
    -------
    >>> stats = {
    ...     0.0: {"EER": 21, "score": 19.5},
    ...     0.5: {"EER": 18, "score": 18.6},
    ...     1.0: {"EER": 19, "score": 18.4},
    ... }
    >>> pick_mix(stats)
    0.5
    >>> stats[0.5]["score"] = 19.9  # worse than the start
    >>> pick_mix(stats)
    0.0
    """
    tuned = [a for a in stats if a > 0] or list(stats)
    best = min(tuned, key=lambda a: (stats[a]["EER"], -a))
    score = {a: s.get("score", s["EER"]) for a, s in stats.items()}
    if 0 in score and score[0] < score[best]:
        return 0.0
    return best


def choose_mix(model, start, weights, validate):
    """Sets ``model`` to the mix with ``start`` that ``pick_mix`` chooses.

    Arguments
    ---------
    model : torch.nn.Module
        The fine-tuned model (its current weights are the ``a = 1`` end).
    start : dict
        State dict it was fine-tuned from.
    weights : list of float
        Candidate ``a`` values (0: the start, 1: the fine-tuned model).
    validate : callable
        Scores the model's current weights: a dict of validation
        statistics (``EER``, optionally ``score``); called once per
        candidate.

    Returns
    -------
    best : float
        The chosen ``a`` (the model is left at it).
    stats : dict
        ``a`` -> what ``validate`` returned.

    Example
    -------
    >>> import torch
    >>> net = torch.nn.Linear(1, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = net.weight.fill_(2.0)
    >>> start = {"weight": torch.zeros(1, 1)}
    >>> best, stats = choose_mix(
    ...     net,
    ...     start,
    ...     [0.5, 1.0],
    ...     lambda: {"EER": abs(float(net.weight) - 1.2)},
    ... )
    >>> best, float(net.weight)
    (0.5, 1.0)
    """
    end = {k: v.detach().clone() for k, v in model.state_dict().items()}
    stats = {}
    for a in sorted(weights):
        model.load_state_dict(mix_states(start, end, a))
        stats[a] = validate()
    best = pick_mix(stats)
    model.load_state_dict(mix_states(start, end, best))
    return best, stats
