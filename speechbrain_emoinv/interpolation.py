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

__all__ = ["REAL_TOLERANCE", "mix_states", "pick_mix", "choose_mix"]


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


# EER points the export may lose on real validation voices against the
# start (benchmarks/tuning.md section 4, rule 7, as rule 6's tolerance).
REAL_TOLERANCE = 0.5


def pick_mix(stats):
    """The mix to export, real speech first (``benchmarks/tuning.md`` §4,
    rule 7).

    With both corpora scored: among the mixes whose real validation EER is
    at most ``REAL_TOLERANCE`` points above the start's (``a = 0``, always
    one of them), the lowest ``score``, the mean of the real and simulated
    validation EERs. Otherwise (one corpus, or no ``a = 0``): the lowest
    EER. Ties: the larger ``a``.

    Arguments
    ---------
    stats : dict
        ``a`` -> validation statistics: ``EER`` (joint list, %) and, with
        both corpora, ``EER real`` and ``score``.

    Returns
    -------
    float
        The chosen ``a``.

    Example
    -------
    >>> stats = {
    ...     0.0: {"EER": 21, "EER real": 20.0, "score": 19.5},
    ...     0.5: {"EER": 18, "EER real": 20.4, "score": 18.6},
    ...     1.0: {"EER": 17, "EER real": 23.0, "score": 18.4},
    ... }
    >>> pick_mix(stats)  # 1.0 scores best but loses 3 points on real voices
    0.5
    >>> stats[0.5]["EER real"] = 21.0
    >>> pick_mix(stats)
    0.0
    >>> pick_mix({0.5: {"EER": 18}, 1.0: {"EER": 18}})
    1.0
    """
    if 0 in stats and "EER real" in stats[0]:
        limit = stats[0]["EER real"] + REAL_TOLERANCE
        keep = [a for a, s in stats.items() if s["EER real"] <= limit]
        return max(keep, key=lambda a: (-stats[a]["score"], a))
    return max(stats, key=lambda a: (-stats[a]["EER"], a))


def choose_mix(model, start, weights, validate, fitted=None):
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
    fitted : dict, optional
        What ``validate`` returns for ``model`` as given: ``a = 1`` is then
        not scored again (its mix is those very weights).

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
    >>> choose_mix(net, start, [0.0, 1.0], lambda: {"EER": 5}, {"EER": 1})
    (1.0, {0.0: {'EER': 5}, 1.0: {'EER': 1}})
    """
    end = {k: v.detach().clone() for k, v in model.state_dict().items()}
    stats = {}
    for a in sorted(weights):
        if a == 1 and fitted is not None:
            stats[a] = fitted
            continue
        model.load_state_dict(mix_states(start, end, a))
        stats[a] = validate()
    best = pick_mix(stats)
    model.load_state_dict(mix_states(start, end, best))
    return best, stats
