"""Tests of speechbrain_emoinv.emotion_masking."""

import pytest
import torch
from speechbrain.augment.time_domain import SpeedPerturb
from speechbrain.lobes.features import Fbank
from speechbrain.processing.features import (
    STFT,
    InputNormalization,
    make_padding_mask,
)

from speechbrain_emoinv.emotion_masking import EmotionAwareMasking, frame_rms

HOP = 160


@pytest.mark.parametrize("n_samples", [1, 159, 160, 400, 16000, 16001, 32159])
def test_frame_count_matches_fbank(n_samples):
    wavs = torch.randn(2, n_samples)
    feats = Fbank(n_mels=80)(wavs)
    rms = frame_rms(wavs)
    assert rms.shape == feats.shape[:2] == (2, n_samples // HOP + 1)


def test_rms_equals_stft_energy_rectangular_window():
    # Parseval on SpeechBrain's own STFT (same framing, rectangular window)
    wavs = torch.randn(3, 8123, dtype=torch.float64)
    stft = STFT(
        sample_rate=16000, n_fft=400, window_fn=torch.ones
    )  # center=True, constant padding: the Fbank defaults
    spec = stft(wavs)  # (B, frames, 201, 2)
    power = spec.pow(2).sum(-1)
    full = power[..., 0] + power[..., -1] + 2 * power[..., 1:-1].sum(-1)
    expect = (full / 400**2).sqrt()
    torch.testing.assert_close(
        frame_rms(wavs).double(), expect, rtol=1e-4, atol=1e-6
    )


def test_impulse_lands_in_the_same_frames_as_fbank():
    wavs = torch.zeros(1, 16000)
    wavs[0, 1600] = 1.0  # centre of frame 10; windows of frames 9..11
    rms = frame_rms(wavs)[0]
    assert (rms > 0).nonzero().squeeze(1).tolist() == [9, 10, 11]
    fb = Fbank(n_mels=80)(wavs)[0].max(-1).values
    assert (fb > fb.min() + 1.0).nonzero().squeeze(1).tolist() == [9, 10, 11]


def test_padding_is_ignored():
    wavs, _ = _bursts([1.0, 0.5], loud_frames=((20, 30),))
    loud_pad = wavs.clone()
    loud_pad[1, 8000:] = 100.0
    lens = torch.tensor([1.0, 0.5])
    em = EmotionAwareMasking(mask_ratio=(0.1, 0.1), prob=1.0)
    torch.manual_seed(0)
    a = em.compute_mask(wavs, lens)
    torch.manual_seed(0)
    assert torch.equal(em.compute_mask(loud_pad, lens), a)


@pytest.mark.parametrize("mode", ["topk", "spans"])
def test_masked_frames_within_speechbrain_padding_mask(mode):
    lens = torch.tensor([1.0, 0.5, 0.73, 0.01, 0.0, 0.999])
    wavs = torch.randn(len(lens), 32000)
    em = EmotionAwareMasking(mask_ratio=(1.0, 1.0), prob=1.0, mode=mode)
    mask = em.compute_mask(wavs, lens)
    sb = make_padding_mask(torch.zeros(mask.shape), lens).bool()
    assert not (mask & ~sb).any()
    # top-k: every frame whose centre is a valid sample, when asked for all
    samples = torch.round(lens * 32000).long()
    expect = torch.where(samples > 0, samples // HOP + 1, 0)
    assert torch.equal(mask.sum(1), expect) or mode == "spans"


def _bursts(batch_lens, n_samples=16000, loud_frames=((20, 30), (60, 66))):
    """Quiet noise with loud bursts covering exactly the given frames.

    A frame i is "loud" when its whole 400-sample window lies inside a
    burst: burst samples [a * 160 - 200, (b - 1) * 160 + 200) make frames
    a..b-1 loud; the partial frames around are far quieter.
    """
    gen = torch.Generator().manual_seed(0)
    wavs = 0.001 * torch.randn(len(batch_lens), n_samples, generator=gen)
    loud = set()
    for a, b in loud_frames:
        s0, s1 = a * HOP - 200, (b - 1) * HOP + 200
        wavs[:, s0:s1] = torch.randn(len(batch_lens), s1 - s0, generator=gen)
        loud |= set(range(a, b))
    return wavs, sorted(loud)


def test_topk_masks_exactly_the_loud_frames():
    wavs, loud = _bursts([1.0, 1.0])
    n_frames = 101
    ratio = len(loud) / n_frames  # 16 frames
    em = EmotionAwareMasking(mask_ratio=(ratio, ratio), prob=1.0, mode="topk")
    mask = em.compute_mask(wavs, torch.ones(2))
    assert mask.shape == (2, n_frames)
    for b in range(2):
        assert mask[b].nonzero().squeeze(1).tolist() == loud


def test_padding_frames_never_masked():
    wavs, loud = _bursts([1.0, 0.5], loud_frames=((20, 30),))
    wavs[1, 8000:] = 50.0  # very loud padding
    lens = torch.tensor([1.0, 0.5])
    for mode in ("topk", "spans"):
        em = EmotionAwareMasking(mask_ratio=(0.9, 0.9), prob=1.0, mode=mode)
        mask = em.compute_mask(wavs, lens)
        # 0.5 * 16000 samples -> 51 frames
        assert not mask[1, 51:].any()
        if mode == "topk":
            assert int(mask[1].sum()) == round(0.9 * 51)
    em = EmotionAwareMasking(mask_ratio=(0.1, 0.1), prob=1.0)
    mask = em.compute_mask(wavs, lens)
    assert set(mask[1].nonzero().squeeze(1).tolist()) <= set(loud)
    assert int(mask[1].sum()) == 5  # round(0.1 * 51)


def test_spans_centred_on_peaks_non_overlapping():
    # two isolated loud frames (an impulse-like burst each), span of 5
    wavs, _ = _bursts([1.0], loud_frames=())
    # a 400-sample burst lies entirely in one frame's window only
    wavs[0, 30 * HOP - 200 : 30 * HOP + 200] = 1.0  # peak at frame 30
    wavs[0, 70 * HOP - 200 : 70 * HOP + 200] = 0.8  # peak at frame 70
    em = EmotionAwareMasking(
        mask_ratio=(0.099, 0.099), prob=1.0, mode="spans", span_frames=5
    )
    mask = em.compute_mask(wavs, torch.ones(1))  # target round(10) frames
    idx = mask[0].nonzero().squeeze(1).tolist()
    assert idx == list(range(28, 33)) + list(range(68, 73))


def test_spans_cover_target_without_overlap():
    gen = torch.Generator().manual_seed(3)
    wavs = torch.randn(8, 24000, generator=gen) * torch.rand(
        8, 1, generator=gen
    )
    lens = torch.rand(8, generator=gen) * 0.5 + 0.5
    width = 7
    em = EmotionAwareMasking(
        mask_ratio=(0.1, 0.3), prob=1.0, mode="spans", span_frames=width
    )
    mask = em.compute_mask(wavs, lens)
    nv = torch.round(lens * 24000).long() // HOP + 1
    for b in range(8):
        idx = mask[b].nonzero().squeeze(1)
        assert int(idx.max()) < nv[b]
        # runs of masked frames are unions of touching whole spans, except
        # where a span is clipped at the utterance edges
        flags = torch.cat([torch.zeros(1), mask[b].float(), torch.zeros(1)])
        edges = torch.diff(flags)
        starts = (edges == 1).nonzero().squeeze(1)
        stops = (edges == -1).nonzero().squeeze(1)
        for a, z in zip(starts.tolist(), stops.tolist(), strict=True):
            if a > 0 and z < int(nv[b]):
                assert (z - a) % width == 0, (a, z)
        assert (
            round(0.1 * int(nv[b]))
            <= len(idx)
            <= round(0.3 * int(nv[b])) + width
        )


def test_prob_and_ratio():
    wavs = torch.randn(64, 8000)
    lens = torch.ones(64)
    em0 = EmotionAwareMasking(prob=0.0)
    assert not em0.compute_mask(wavs, lens).any()
    em1 = EmotionAwareMasking(mask_ratio=(0.2, 0.2), prob=1.0)
    assert torch.all(em1.compute_mask(wavs, lens).sum(1) == round(0.2 * 51))
    emh = EmotionAwareMasking(mask_ratio=(0.2, 0.2), prob=0.5)
    torch.manual_seed(0)
    applied = emh.compute_mask(wavs, lens).any(1)
    assert 16 <= int(applied.sum()) <= 48


@pytest.mark.parametrize("mode", ["topk", "spans"])
def test_silent_input(mode):
    wavs = torch.zeros(3, 8000)
    lens = torch.tensor([1.0, 0.5, 0.0])
    feats = Fbank(n_mels=80)(wavs)
    feats[:2] = InputNormalization(norm_type="sentence")(feats[:2], lens[:2])
    em = EmotionAwareMasking(mask_ratio=(0.3, 0.3), prob=1.0, mode=mode)
    torch.manual_seed(0)
    out = em(feats, wavs, lens)
    torch.manual_seed(0)
    mask = em.compute_mask(wavs, lens)
    assert torch.isfinite(out).all()
    assert mask.dtype == torch.bool and mask.shape == (3, 51)
    assert int(mask[0].sum()) >= round(0.3 * 51)
    assert not mask[1, 26:].any()
    assert not mask[2].any()
    # masked frames are zero (the sentence mean), the others untouched
    assert torch.all(out[mask] == 0)
    assert torch.equal(out[~mask], feats[~mask])


def test_deterministic_under_torch_seed():
    wavs = torch.zeros(4, 8000)  # ties everywhere: random tie-break
    lens = torch.ones(4)
    em = EmotionAwareMasking(mask_ratio=(0.1, 0.3), prob=0.7)
    masks = []
    for seed in (1, 1, 2):
        torch.manual_seed(seed)
        masks.append(em.compute_mask(wavs, lens))
    assert torch.equal(masks[0], masks[1])
    assert not torch.equal(masks[0], masks[2])


def test_mask_follows_the_clean_signal_not_the_noise():
    """Noise added after CopyPaste is loud where the speech is quiet: the
    mask, chosen on the clean waveform, still lands on the speech peak."""
    clean, loud = _bursts([1.0], loud_frames=((40, 50),))
    noisy = clean.clone()
    noisy[0, 75 * HOP - 200 : 90 * HOP + 200] += 5.0 * torch.randn(2800)
    feats = Fbank(n_mels=80)(noisy)
    em = EmotionAwareMasking(mask_ratio=(0.099, 0.099), prob=1.0)
    out = em(feats, clean, torch.ones(1))
    masked = (out[0] != feats[0]).any(-1).nonzero().squeeze(1).tolist()
    assert masked == loud
    # on the noisy waveform it would have masked the noise instead
    on_noisy = em.compute_mask(noisy, torch.ones(1))[0]
    assert not set(on_noisy.nonzero().squeeze(1).tolist()) & set(loud)


@pytest.mark.parametrize("speed", [90, 95, 105, 110])
def test_mask_stretched_onto_speed_perturbed_frames(speed):
    """SpeedPerturb changes the frame count; the mask, chosen on the clean
    waveform, lands on the frames where the burst is after resampling."""
    clean, _ = _bursts([1.0], n_samples=32000, loud_frames=((60, 80),))
    fast = SpeedPerturb(orig_freq=16000, speeds=[speed])(clean)
    feats = Fbank(n_mels=80)(fast)
    assert feats.shape[1] != 201  # the frame count did change
    em = EmotionAwareMasking(mask_ratio=(0.1, 0.1), prob=1.0)  # 20 frames
    out = em(feats, clean, torch.ones(1))
    masked = set((out[0] != feats[0]).any(-1).nonzero().squeeze(1).tolist())
    # loud frames of the perturbed signal: top energy, as computed on it
    rms = frame_rms(fast)[0]
    loud_fast = set(rms.topk(len(masked)).indices.tolist())
    assert len(masked & loud_fast) >= len(masked) - 2, (masked, loud_fast)
    # without stretching, a plain crop of the clean mask would miss by
    # several frames at 90 / 110 % speed
    assert abs(min(masked) - min(loud_fast)) <= 1
    assert abs(max(masked) - max(loud_fast)) <= 1


def test_in_fbank_pipeline():
    wavs = torch.randn(4, 16000)
    lens = torch.tensor([1.0, 0.8, 0.6, 0.4])
    feats = Fbank(n_mels=80)(wavs)
    feats = InputNormalization(norm_type="sentence")(feats, lens)
    em = EmotionAwareMasking(prob=1.0)
    out = em(feats, wavs, lens)
    assert out.shape == feats.shape
    assert (out != feats).any()
