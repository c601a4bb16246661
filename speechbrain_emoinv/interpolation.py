"""Weight-space interpolation of a fine-tuned model with its start.

WiSE-FT (Wortsman et al., "Robust fine-tuning of zero-shot models",
CVPR 2022): the average ``(1 - a) * w_start + a * w_tuned`` of a
pretrained model and its fine-tuned copy keeps much of what fine-tuning
forgot, at little cost to what it learnt. Stage 2 fine-tunes stage 1 on
simulated emotional speech and forgets real voices; ``a`` is chosen on
the validation voices of both corpora.

Authors
 * speechbrain-emoinv contributors 2026
"""

__all__ = ["mix_states", "choose_mix"]


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


def choose_mix(model, start, weights, validate):
    """Sets ``model`` to the mix with ``start`` that validates best.

    Arguments
    ---------
    model : torch.nn.Module
        The fine-tuned model (its current weights are the ``a = 1`` end).
    start : dict
        State dict it was fine-tuned from.
    weights : list of float
        Candidate ``a`` values (1: the fine-tuned model itself).
    validate : callable
        Scores the model's current weights: a validation EER (lower is
        better); called once per candidate.

    Returns
    -------
    best : float
        The chosen ``a`` (the model is left at it).
    eers : dict
        ``a`` -> validation EER.

    Example
    -------
    >>> import torch
    >>> net = torch.nn.Linear(1, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = net.weight.fill_(2.0)
    >>> start = {"weight": torch.zeros(1, 1)}
    >>> best, eers = choose_mix(
    ...     net, start, [0.5, 1.0], lambda: abs(float(net.weight) - 1.2)
    ... )
    >>> best, float(net.weight)
    (0.5, 1.0)
    """
    end = {k: v.detach().clone() for k, v in model.state_dict().items()}
    eers = {}
    for a in sorted(weights):
        model.load_state_dict(mix_states(start, end, a))
        eers[a] = validate()
    best = min(eers, key=lambda a: (eers[a], -a))  # ties: the tuned end
    model.load_state_dict(mix_states(start, end, best))
    return best, eers
