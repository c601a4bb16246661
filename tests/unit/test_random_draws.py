"""Distributions of the method's random draws that its unit tests pin only
at fixed values: EM's masked share must spread over ``mask_ratio``."""

import torch

from speechbrain_emoinv.emotion_masking import EmotionAwareMasking


def test_em_masked_share_covers_mask_ratio():
    torch.manual_seed(0)
    em = EmotionAwareMasking(mask_ratio=(0.1, 0.3), prob=1.0, mode="topk")
    n_rows = 400
    mask = em.compute_mask(0.1 * torch.randn(n_rows, 16000), torch.ones(n_rows))
    share = mask.double().mean(1)  # every frame of a full-length row is valid
    step = 1 / mask.shape[1]  # rounding to whole frames
    assert share.min() >= 0.1 - step and share.max() <= 0.3 + step
    # uniform over the range: each quarter holds about a quarter of the rows
    quarters = torch.histc(
        share.float(), bins=4, min=0.1 - step, max=0.3 + step
    )
    assert ((quarters > 0.15 * n_rows) & (quarters < 0.35 * n_rows)).all(), (
        quarters
    )
