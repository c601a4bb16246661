"""Emotion-aware masking (EM): mask the highest-energy feature frames.

Emotional arousal shows mostly in loud stretches of speech; masking them
pushes the speaker encoder to rely on the rest of the signal (Tian, Hu & Xu,
arXiv 2505.18498). The energy is the RMS of the *clean* waveform on the
frames of :class:`speechbrain.lobes.features.Fbank`, so noise or reverb
added later by augmentation cannot decide what is masked.

Authors
 * speechbrain-emoinv contributors
"""

import math

import torch

from speechbrain_emoinv.stable_random import check_range, uniform_in

__all__ = ["EmotionAwareMasking", "frame_rms"]


def frame_rms(wavs, sample_rate=16000, win_length=25, hop_length=10, n_fft=400):
    """RMS energy on the frames of SpeechBrain's default ``Fbank``.

    Like ``torch.stft(center=True, pad_mode="constant")``, frame ``i`` is
    centred on sample ``i * hop`` of the zero-padded signal and there are
    ``T // hop + 1`` frames; the ``win_length`` window (centred in the
    ``n_fft`` frame) is used as a rectangular window.

    Arguments
    ---------
    wavs : torch.Tensor
        Waveforms ``(B, T)``, padding zeroed.
    sample_rate : int
        Sample rate in Hz.
    win_length : float
        Window length in ms.
    hop_length : float
        Hop length in ms.
    n_fft : int
        FFT size of the STFT.

    Returns
    -------
    torch.Tensor
        ``(B, T // hop + 1)`` RMS values.

    Example
    -------
    >>> from speechbrain.lobes.features import Fbank
    >>> wavs = torch.randn(2, 16000)
    >>> frame_rms(wavs).shape == Fbank(n_mels=80)(wavs).shape[:2]
    True
    """
    hop = round(sample_rate * hop_length / 1000)
    win = round(sample_rate * win_length / 1000)
    pad = n_fft // 2
    power = torch.nn.functional.pad(wavs.float().square(), (pad, pad))
    power = power[:, (n_fft - win) // 2 :].unsqueeze(1)
    mean = torch.nn.functional.avg_pool1d(power, win, stride=hop).squeeze(1)
    return mean[:, : wavs.shape[1] // hop + 1].clamp(min=0.0).sqrt()


class EmotionAwareMasking(torch.nn.Module):
    """Zeroes the feature frames where the clean waveform is loudest.

    With probability ``prob`` per utterance, a ratio is drawn from
    ``mask_ratio`` and ``round(ratio * valid frames)`` frames are masked:

    * ``mode="topk"``: the highest-RMS frames;
    * ``mode="spans"``: ``span_frames``-long spans centred on energy peaks
      (loudest remaining frame first, spans never overlap) until the
      target is covered.

    Ties (silence) are broken at random; frames beyond those of the
    unpadded waveform are never chosen.
    The mask is chosen on the clean waveform and stretched, row by row,
    from its valid frames onto the valid frames of the features, which
    speed perturbation may have stretched and a wider batch (the anchors
    the parallels are concatenated with) may have padded further. The map
    is exact when the clean waveforms are padded as the features' were
    (the recipe passes them so); otherwise frame counts stand in for
    sample counts and a frame may shift by one.
    Masked frames get 0, the sentence mean after mean normalisation.

    Arguments
    ---------
    mask_ratio : tuple of float
        ``(low, high)`` range of the masked share of the valid frames.
    mode : str
        ``"topk"`` or ``"spans"``.
    span_frames : int
        Span length for ``mode="spans"``.
    prob : float
        Probability that an utterance is masked at all.
    sample_rate : int
        Sample rate in Hz.
    win_length : float
        Frame window in ms, as in the ``Fbank``.
    hop_length : float
        Frame hop in ms, as in the ``Fbank``.

    Example
    -------
    >>> em = EmotionAwareMasking(mask_ratio=(0.1, 0.1), prob=1.0)
    >>> _ = torch.manual_seed(0)
    >>> wavs = 0.01 * torch.randn(1, 16000)
    >>> wavs[0, 7800:9640] *= 100  # loud: frames 50-59 entirely
    >>> feats = torch.ones(1, 101, 80)  # 101 frames: 10 % = 10 masked
    >>> out = em(feats, wavs, torch.ones(1))
    >>> (out[0, :, 0] == 0).nonzero().squeeze(1).tolist()
    [50, 51, 52, 53, 54, 55, 56, 57, 58, 59]
    """

    def __init__(
        self,
        mask_ratio=(0.1, 0.3),
        mode="topk",
        span_frames=5,
        prob=0.5,
        sample_rate=16000,
        win_length=25,
        hop_length=10,
    ):
        super().__init__()
        if mode not in ("topk", "spans"):
            raise ValueError(f"mode must be 'topk' or 'spans': {mode!r}")
        self.mask_ratio = check_range("mask_ratio", mask_ratio)
        self.prob = check_range("prob", (prob, prob))[0]
        self.mode = mode
        self.span_frames = int(span_frames)
        self.rms = dict(
            sample_rate=sample_rate,
            win_length=win_length,
            hop_length=hop_length,
        )
        self.hop = round(sample_rate * hop_length / 1000)

    def compute_mask(self, wavs, lengths):
        """Frames of ``wavs`` to mask.

        Arguments
        ---------
        wavs : torch.Tensor
            Clean waveforms ``(B, T)``.
        lengths : torch.Tensor
            Relative lengths ``(B,)``.

        Returns
        -------
        torch.Tensor
            Bool ``(B, T // hop + 1)``, True = masked.

        Example
        -------
        >>> em = EmotionAwareMasking(mask_ratio=(0.5, 0.5), prob=1.0)
        >>> em.compute_mask(torch.zeros(2, 800), torch.ones(2)).sum(1)
        tensor([3, 3])
        """
        batch, n_samples = wavs.shape
        samples = torch.round(lengths.double() * n_samples).long()
        t = torch.arange(n_samples, device=wavs.device)
        energy = frame_rms(wavs * (t < samples[:, None]), **self.rms)
        n = energy.shape[1]
        # the valid frames: as many as the Fbank of the unpadded waveform
        # has (its last one may be centred on the end of the waveform)
        n_valid = torch.where(samples > 0, samples // self.hop + 1, 0)
        n_valid = n_valid.clamp(max=n)
        valid = torch.arange(n, device=wavs.device)[None] < n_valid[:, None]
        ratio = uniform_in(self.mask_ratio, batch, wavs.device)
        target = torch.round(ratio * n_valid).long()
        target = target * (torch.rand(batch, device=wavs.device) < self.prob)

        # loudness rank of each frame (0 = loudest), random among ties,
        # padding last: a random permutation, then a stable sort
        perm = torch.rand(batch, n, device=wavs.device).argsort(1)
        key = energy.gather(1, perm).masked_fill(~valid.gather(1, perm), -1)
        order = perm.gather(1, key.argsort(dim=1, descending=True, stable=True))
        rank = order.argsort(1)
        if self.mode == "topk":
            return (rank < target[:, None]) & valid
        return self._spans(rank, valid, target)

    def _spans(self, rank, valid, target):
        """Greedy non-overlapping spans around the loudest frames.

        Arguments
        ---------
        rank : torch.Tensor
            ``(B, N)`` loudness rank of each frame.
        valid : torch.Tensor
            ``(B, N)`` non-padding frames.
        target : torch.Tensor
            ``(B,)`` number of frames to cover.

        Returns
        -------
        torch.Tensor
            Bool ``(B, N)``.
        """
        width = self.span_frames
        frame = torch.arange(rank.shape[1], device=rank.device)[None]
        mask = torch.zeros_like(valid)
        candidate = valid.clone()
        # peaks are >= width frames apart: ceil(N / width) steps at most
        for _ in range(math.ceil(rank.shape[1] / width) + 1):
            active = ((mask.sum(1) < target) & candidate.any(1))[:, None]
            if not active.any():
                break
            peak = rank.masked_fill(~candidate, rank.shape[1]).argmin(1)
            start = peak[:, None] - width // 2
            span = (frame >= start) & (frame < start + width) & valid
            mask |= span & active
            near = (frame - peak[:, None]).abs() < width
            candidate &= ~(near & active)
        return mask

    def forward(self, feats, wavs, lengths, feat_lengths=None):
        """Masks ``feats`` where the clean ``wavs`` are loudest.

        Arguments
        ---------
        feats : torch.Tensor
            Features ``(B, N, F)`` of ``wavs`` (possibly augmented, e.g.
            speed-perturbed to another ``N``, or padded in a wider batch).
        wavs : torch.Tensor
            The clean waveforms ``(B, T)``.
        lengths : torch.Tensor
            Relative lengths ``(B,)`` of ``wavs``.
        feat_lengths : torch.Tensor, optional
            Relative lengths ``(B,)`` of ``feats`` (default ``lengths``:
            features of ``wavs`` as they are padded).

        Returns
        -------
        torch.Tensor
            Masked copy of ``feats``.

        Example
        -------
        >>> em = EmotionAwareMasking(mask_ratio=(0.1, 0.1), prob=1.0)
        >>> wavs = torch.zeros(1, 16000)
        >>> wavs[0, 7800:9640] = 1.0  # loud: frames 50-59
        >>> feats = torch.ones(1, 201, 80)  # the same, padded to 2 s
        >>> out = em(feats, wavs, torch.ones(1), torch.tensor([0.5]))
        >>> (out[0, :, 0] == 0).nonzero().squeeze(1).tolist()
        [50, 51, 52, 53, 54, 55, 56, 57, 58, 59]
        """
        if feat_lengths is None:
            feat_lengths = lengths
        mask = self.compute_mask(wavs, lengths)
        # Row b's valid frames are stretched onto its valid feature frames:
        # feature frame j shows the content of clean frame j * scale[b]
        # (speed changes stretch the time axis, padding does not).
        n_in, n_out = mask.shape[1], feats.shape[1]
        scale = (n_in - 1) / max(n_out - 1, 1) * lengths.double()
        scale = scale / feat_lengths.double().clamp(min=1e-9)
        pos = torch.arange(n_out, device=feats.device, dtype=torch.float64)
        idx = torch.round(pos[None] * scale[:, None].to(pos.device)).long()
        picked = mask.gather(1, idx.clamp(max=n_in - 1)) & (idx < n_in)
        return feats.masked_fill(picked.unsqueeze(-1), 0.0)
