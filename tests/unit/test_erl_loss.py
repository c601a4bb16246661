"""Tests of speechbrain_emoinv.erl_loss.ERLLoss."""

import math

import numpy as np
import pytest
import torch
from speechbrain.lobes.models.ECAPA_TDNN import Classifier

from speechbrain_emoinv.erl_loss import ERLLoss

MARGIN, SCALE = 0.2, 30.0


def _aam_by_hand(cosines, targets, margin=MARGIN, scale=SCALE):
    """AAM-softmax cross-entropy from its formula (numpy, float64).

    logit_j = s * cos(theta_j) for j != y and s * cos(theta_y + m) for the
    target (with SpeechBrain's fallback cos(theta_y) - sin(pi - m) * m when
    theta_y + m > pi); loss = mean_i -log softmax(logits_i)[y_i].
    """
    cosines = np.clip(
        np.asarray(cosines, dtype=np.float64), -1 + 1e-7, 1 - 1e-7
    )
    losses = []
    for row, y in zip(cosines, targets, strict=True):
        logits = scale * row.copy()
        theta = math.acos(row[y])
        if row[y] > math.cos(math.pi - margin):
            target = math.cos(theta + margin)
        else:
            target = row[y] - math.sin(math.pi - margin) * margin
        logits[y] = scale * target
        log_z = np.log(np.exp(logits - logits.max()).sum()) + logits.max()
        losses.append(log_z - logits[y])
    return float(np.mean(losses))


def _fixed():
    cos = torch.tensor(
        [
            [0.8, 0.1, -0.3],
            [0.2, 0.5, 0.4],
            [-0.1, 0.3, 0.9],
            [0.6, -0.2, 0.1],
        ]
    )
    targets = torch.tensor([0, 1, 2, 1])
    e_a = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    e_p = torch.tensor([[0.0, 1.0, 0.0], [2.0, 2.0, 0.0]])
    return cos, targets, e_a, e_p


def test_hand_computed_value():
    cos, targets, e_a, e_p = _fixed()
    loss_fn = ERLLoss(margin=MARGIN, scale=SCALE, pair_weight=0.5)
    total, parts = loss_fn(cos, targets, e_a, e_p)
    aam = _aam_by_hand(cos.numpy(), targets.tolist())
    # pair: cos = 0 for the first pair, 1 for the second -> mean(1, 0) = 0.5
    assert float(parts["pair"]) == pytest.approx(0.5, abs=1e-6)
    assert float(parts["aam"]) == pytest.approx(aam, rel=1e-5)
    assert float(total) == pytest.approx(aam + 0.5 * 0.5, rel=1e-5)
    assert float(parts["pair_weight"]) == 0.5
    assert all(not p.requires_grad for p in parts.values())


def test_margin_fallback_branch_by_hand():
    # target cosine below cos(pi - m): the "cos - mm" branch
    cos = torch.tensor([[-0.99, 0.5], [0.3, -0.995]])
    targets = torch.tensor([0, 1])
    total, parts = ERLLoss(pair_weight=0.0)(cos, targets, None, None)
    assert float(total) == pytest.approx(
        _aam_by_hand(cos.numpy(), [0, 1]), rel=1e-5
    )


def test_zero_weight_and_no_parallel_are_plain_aam():
    cos, targets, e_a, e_p = _fixed()
    plain = _aam_by_hand(cos.numpy(), targets.tolist())
    total0, parts0 = ERLLoss(pair_weight=0.0)(cos, targets, e_a, e_p)
    total_none, parts_none = ERLLoss(pair_weight=1.0)(cos, targets, e_a, None)
    assert float(total0) == pytest.approx(plain, rel=1e-5)
    assert float(total_none) == pytest.approx(plain, rel=1e-5)
    assert float(parts_none["pair"]) == 0.0
    assert float(parts_none["pair_weight"]) == 0.0


def test_accepts_speechbrain_shapes():
    cos, targets, e_a, e_p = _fixed()
    loss_fn = ERLLoss()
    ref, _ = loss_fn(cos, targets, e_a, e_p)
    alt, _ = loss_fn(
        cos.unsqueeze(1),
        targets.unsqueeze(1),
        e_a.unsqueeze(1),
        e_p.unsqueeze(1),
    )
    torch.testing.assert_close(ref, alt)


def test_gradients_reach_embeddings_and_classifier():
    torch.manual_seed(0)
    classifier = Classifier(input_size=8, out_neurons=5)
    e_a = torch.randn(3, 1, 8, requires_grad=True)
    e_p = torch.randn(3, 1, 8, requires_grad=True)
    outputs = classifier(torch.cat([e_a, e_p]))  # (6, 1, 5) cosine scores
    targets = torch.tensor([0, 1, 2, 0, 1, 2]).unsqueeze(1)
    total, _ = ERLLoss(pair_weight=1.0)(outputs, targets, e_a, e_p)
    total.backward()
    assert e_a.grad is not None and e_a.grad.abs().sum() > 0
    assert e_p.grad is not None and e_p.grad.abs().sum() > 0
    assert classifier.weight.grad.abs().sum() > 0
    # the pair term alone pulls the two embeddings together
    e_a2 = e_a.detach().clone().requires_grad_(True)
    outputs2 = classifier(torch.cat([e_a2, e_p.detach()])).detach()
    t2, _ = ERLLoss(pair_weight=1.0)(outputs2, targets, e_a2, e_p.detach())
    t2.backward()
    step = e_a2 - 0.1 * e_a2.grad
    cos_before = torch.cosine_similarity(e_a2, e_p, dim=-1)
    cos_after = torch.cosine_similarity(step, e_p, dim=-1)
    assert torch.all(cos_after > cos_before)


def test_warmup_schedule():
    cos, targets, e_a, e_p = _fixed()
    loss_fn = ERLLoss(pair_weight=2.0, warmup_steps=100)
    expected = {0: 0.0, 40: 0.8, 100: 2.0, 1000: 2.0, None: 2.0}
    aam = _aam_by_hand(cos.numpy(), targets.tolist())
    for step, weight in expected.items():
        total, parts = loss_fn(cos, targets, e_a, e_p, step=step)
        assert float(parts["pair_weight"]) == pytest.approx(weight)
        assert float(total) == pytest.approx(aam + weight * 0.5, rel=1e-5)
    _, parts = ERLLoss(pair_weight=3.0)(cos, targets, e_a, e_p, step=0)
    assert float(parts["pair_weight"]) == 3.0  # no warm-up
