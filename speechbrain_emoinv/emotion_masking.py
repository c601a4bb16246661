"""Emotion-aware masking (EM): mask the highest-energy feature frames.

Emotional arousal shows mostly in loud, high-energy stretches of speech;
masking them pushes the speaker encoder to rely on the rest of the signal
(Tian, Hu & Xu, arXiv 2505.18498). The energy is the RMS of the waveform on
exactly the frames of :class:`speechbrain.lobes.features.Fbank`, so RMS
frame ``i`` is filterbank frame ``i``.

Authors
 * speechbrain-emoinv contributors
"""

import math

import torch

__all__ = ["EmotionAwareMasking", "frame_rms", "valid_frames"]


def _to_samples(ms, sample_rate):
    """Converts milliseconds to samples like ``speechbrain``'s STFT does.

    Arguments
    ---------
    ms : float
        Duration in milliseconds.
    sample_rate : int
        Sample rate in Hz.

    Returns
    -------
    int
    """
    return int(round((sample_rate / 1000.0) * ms))


def _uniform(shape, generator, device):
    """Uniform numbers in [0, 1) drawn on the generator's device.

    Arguments
    ---------
    shape : tuple
        Output shape.
    generator : torch.Generator or None
        Source of randomness (``None``: torch's default generator).
    device : torch.device
        Device of the returned tensor.

    Returns
    -------
    torch.Tensor
    """
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device).to(device)


def valid_frames(lengths, n_frames, n_samples, hop_samples):
    """Number of non-padding frames of each utterance.

    A frame counts as valid when SpeechBrain's own padding mask
    (``speechbrain.processing.features.make_padding_mask``, used by the
    sentence mean normalisation) keeps it *and* the unpadded utterance of
    ``round(length * n_samples)`` samples has it
    (``valid_samples // hop + 1`` frames with ``center=True``).

    Arguments
    ---------
    lengths : torch.Tensor or None
        Relative lengths ``(B,)`` (``None``: all 1).
    n_frames : int
        Padded number of frames.
    n_samples : int
        Padded number of samples.
    hop_samples : int
        Frame hop in samples.

    Returns
    -------
    torch.Tensor
        Long tensor ``(B,)`` in ``[0, n_frames]``.

    Example
    -------
    >>> valid_frames(torch.tensor([1.0, 0.5]), 201, 32000, 160)
    tensor([201, 101])
    """
    lengths = lengths.double()
    by_mask = torch.ceil(lengths * n_frames - 1e-6).long()
    samples = torch.round(lengths * n_samples).long()
    by_samples = torch.div(samples, hop_samples, rounding_mode="floor") + 1
    by_samples = torch.where(samples > 0, by_samples, torch.zeros_like(samples))
    return torch.minimum(by_mask, by_samples).clamp(0, n_frames)


def frame_rms(
    wavs,
    lengths=None,
    sample_rate=16000,
    win_length=25,
    hop_length=10,
    n_fft=400,
):
    """RMS energy on the frames of SpeechBrain's default ``Fbank``.

    ``speechbrain.processing.features.STFT`` calls ``torch.stft`` with
    ``center=True`` and ``pad_mode="constant"``: the signal is zero-padded
    by ``n_fft // 2`` samples on each side and frame ``i`` covers padded
    samples ``[i * hop, i * hop + n_fft)``, i.e. it is centred on original
    sample ``i * hop``; there are ``T // hop + 1`` frames. The analysis
    window (``win_length`` samples, centred in the ``n_fft`` frame like
    ``torch.stft`` does) is used here as a rectangular window, so the value
    is ``sqrt(mean(x ** 2))`` over those samples. Samples beyond ``lengths``
    are treated as zeros.

    Arguments
    ---------
    wavs : torch.Tensor
        Waveforms ``(B, T)``.
    lengths : torch.Tensor, optional
        Relative lengths ``(B,)``.
    sample_rate : int
        Sample rate in Hz.
    win_length : float
        Window length in ms (Fbank default 25).
    hop_length : float
        Hop length in ms (Fbank default 10).
    n_fft : int
        FFT size of the STFT (Fbank default 400).

    Returns
    -------
    torch.Tensor
        ``(B, n_frames)`` RMS values, ``n_frames = T // hop + 1``.

    Example
    -------
    >>> from speechbrain.lobes.features import Fbank
    >>> wavs = torch.randn(2, 16000)
    >>> frame_rms(wavs).shape == Fbank(n_mels=80)(wavs).shape[:2]
    True
    """
    if wavs.dim() != 2:
        raise ValueError(f"frame_rms expects (B, T), got {tuple(wavs.shape)}")
    batch, n_samples = wavs.shape
    hop = _to_samples(hop_length, sample_rate)
    win = _to_samples(win_length, sample_rate)
    if win > n_fft:
        raise ValueError(f"win_length ({win} samples) exceeds n_fft {n_fft}")
    x = wavs.float()
    if lengths is not None:
        samples = torch.round(lengths.to(x.device).double() * n_samples)
        keep = torch.arange(n_samples, device=x.device) < samples.unsqueeze(1)
        x = x * keep
    # zero padding of torch.stft(center=True, pad_mode="constant"), then the
    # window's own offset inside the n_fft frame
    pad = n_fft // 2
    offset = (n_fft - win) // 2
    power = torch.nn.functional.pad(x.square(), (pad, pad))
    power = power[:, offset:]
    mean_pow = torch.nn.functional.avg_pool1d(
        power.unsqueeze(1), kernel_size=win, stride=hop
    ).squeeze(1)
    n_frames = (n_samples + 2 * pad - n_fft) // hop + 1
    return mean_pow[:, :n_frames].clamp(min=0.0).sqrt()


class EmotionAwareMasking(torch.nn.Module):
    """Masks the highest-RMS-energy frames of a feature sequence.

    Per utterance a ratio is drawn uniformly from ``mask_ratio`` and
    ``round(ratio * valid_frames)`` frames are masked, with probability
    ``prob`` (otherwise nothing is masked):

    * ``mode="topk"``: the frames with the highest RMS energy;
    * ``mode="spans"``: spans of ``span_frames`` frames centred on energy
      peaks, chosen greedily (loudest remaining frame first, spans never
      overlap) until at least the target number of frames is covered. The
      greedy steps are batched: each step picks one peak per utterance.

    Padding frames are never chosen. Ties (e.g. silence) are broken
    randomly, so an all-zero input still gets a valid random mask.

    In the recipe it runs after ``Fbank`` and sentence mean normalisation on
    the parallel samples, during training only.

    Arguments
    ---------
    sample_rate : int
        Sample rate in Hz.
    win_length : float
        Frame window in ms (must match the ``Fbank``).
    hop_length : float
        Frame hop in ms (must match the ``Fbank``).
    mask_ratio : tuple of float
        ``(low, high)`` range of the masked share of the valid frames.
    mode : str
        ``"topk"`` or ``"spans"``.
    span_frames : int
        Span length in frames for ``mode="spans"``.
    prob : float
        Probability that an utterance is masked at all.
    fill_value : float or str
        Value written into masked frames, or ``"mean"`` for the
        utterance's mean feature vector over its valid frames.
    n_fft : int
        FFT size of the ``Fbank`` (default 400).

    Example
    -------
    >>> import torch
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
        sample_rate=16000,
        win_length=25,
        hop_length=10,
        mask_ratio=(0.1, 0.3),
        mode="topk",
        span_frames=5,
        prob=0.5,
        fill_value=0.0,
        n_fft=400,
    ):
        super().__init__()
        if mode not in ("topk", "spans"):
            raise ValueError(f"mode must be 'topk' or 'spans', got {mode!r}")
        low, high = (float(r) for r in mask_ratio)
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(
                f"mask_ratio must satisfy 0 <= low <= high <= 1, got "
                f"{mask_ratio}"
            )
        if not 0.0 <= float(prob) <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        if int(span_frames) < 1:
            raise ValueError("span_frames must be >= 1")
        if isinstance(fill_value, str) and fill_value != "mean":
            raise ValueError("fill_value must be a float or 'mean'")
        self.sample_rate = sample_rate
        self.win_length = win_length
        self.hop_length = hop_length
        self.n_fft = n_fft
        self.hop_samples = _to_samples(hop_length, sample_rate)
        self.mask_ratio = (low, high)
        self.mode = mode
        self.span_frames = int(span_frames)
        self.prob = float(prob)
        self.fill_value = (
            fill_value if isinstance(fill_value, str) else float(fill_value)
        )

    def compute_mask(self, wavs, lengths, n_frames=None, generator=None):
        """Chooses the frames to mask.

        Arguments
        ---------
        wavs : torch.Tensor
            Waveforms ``(B, T)`` the features were computed from.
        lengths : torch.Tensor
            Relative lengths ``(B,)``.
        n_frames : int, optional
            Number of feature frames; must equal ``T // hop + 1``.
        generator : torch.Generator, optional
            Source of randomness.

        Returns
        -------
        torch.Tensor
            Bool mask ``(B, n_frames)``, True = masked.

        Example
        -------
        >>> em = EmotionAwareMasking(mask_ratio=(0.5, 0.5), prob=1.0)
        >>> em.compute_mask(torch.zeros(2, 800), torch.ones(2)).sum(1)
        tensor([3, 3])
        """
        batch, n_samples = wavs.shape
        device = wavs.device
        if lengths is None:
            lengths = torch.ones(batch, device=device)
        lengths = lengths.to(device)
        energy = frame_rms(
            wavs,
            lengths,
            sample_rate=self.sample_rate,
            win_length=self.win_length,
            hop_length=self.hop_length,
            n_fft=self.n_fft,
        )
        n = energy.shape[1]
        if n_frames is not None and int(n_frames) != n:
            raise ValueError(
                f"EmotionAwareMasking: features have {n_frames} frames but "
                f"the Fbank framing of {n_samples} samples gives {n}; use the "
                "same sample_rate / win_length / hop_length / n_fft"
            )
        n_valid = valid_frames(lengths, n, n_samples, self.hop_samples)
        frame = torch.arange(n, device=device).unsqueeze(0)
        is_valid = frame < n_valid.unsqueeze(1)

        u = _uniform((batch, n + 2), generator, device)
        low, high = self.mask_ratio
        ratio = low + (high - low) * u[:, 0].double()
        target = torch.round(ratio * n_valid.double()).long()
        apply = u[:, 1] < self.prob
        target = torch.where(apply, target, torch.zeros_like(target))

        # rank frames by (energy, random tie-break), loudest first; padding
        # frames last
        tie = u[:, 2:]
        by_tie = torch.argsort(tie, dim=1)
        energy_t = energy.gather(1, by_tie)
        energy_t = energy_t.masked_fill(~is_valid.gather(1, by_tie), -1.0)
        order = by_tie.gather(
            1, torch.sort(energy_t, dim=1, descending=True, stable=True)[1]
        )
        rank = torch.empty_like(order)
        rank.scatter_(1, order, frame.expand_as(order).contiguous())

        if self.mode == "topk":
            return (rank < target.unsqueeze(1)) & is_valid
        return self._spans(rank, is_valid, target)

    def _spans(self, rank, is_valid, target):
        """Greedy non-overlapping spans around the loudest frames.

        Arguments
        ---------
        rank : torch.Tensor
            ``(B, N)`` loudness rank of each frame (0 = loudest).
        is_valid : torch.Tensor
            ``(B, N)`` non-padding frames.
        target : torch.Tensor
            ``(B,)`` number of frames to cover.

        Returns
        -------
        torch.Tensor
            Bool mask ``(B, N)``.
        """
        batch, n = rank.shape
        width = self.span_frames
        left = width // 2
        frame = torch.arange(n, device=rank.device).unsqueeze(0)
        mask = torch.zeros_like(is_valid)
        candidate = is_valid.clone()
        big = n + 1
        # chosen peaks are >= width frames apart: at most ceil(N / width)
        # steps can add a span
        for _ in range(math.ceil(n / width) + 1):
            active = (mask.sum(1) < target) & candidate.any(1)
            if not bool(active.any()):
                break
            score = torch.where(candidate, rank, torch.full_like(rank, big))
            peak = score.argmin(1, keepdim=True)  # (B, 1)
            start = peak - left
            span = (frame >= start) & (frame < start + width) & is_valid
            mask = mask | (span & active.unsqueeze(1))
            # suppress peaks whose span would overlap this one
            near = (frame - peak).abs() < width
            candidate = candidate & ~(near & active.unsqueeze(1))
        return mask

    def forward(self, feats, wavs, lengths, generator=None, return_mask=False):
        """Masks the loudest frames of ``feats``.

        Arguments
        ---------
        feats : torch.Tensor
            Features ``(B, n_frames, F)`` computed from ``wavs`` with the
            default ``Fbank`` framing.
        wavs : torch.Tensor
            Waveforms ``(B, T)``.
        lengths : torch.Tensor
            Relative lengths ``(B,)``.
        generator : torch.Generator, optional
            Source of randomness.
        return_mask : bool
            Also return the ``(B, n_frames)`` bool mask.

        Returns
        -------
        torch.Tensor
            Masked features (a new tensor), and the mask if asked for.
        """
        mask = self.compute_mask(
            wavs, lengths, n_frames=feats.shape[1], generator=generator
        )
        if self.fill_value == "mean":
            n_valid = valid_frames(
                lengths.to(feats.device),
                feats.shape[1],
                wavs.shape[1],
                self.hop_samples,
            )
            keep = (
                torch.arange(feats.shape[1], device=feats.device).unsqueeze(0)
                < n_valid.unsqueeze(1)
            ).unsqueeze(-1)
            fill = (feats * keep).sum(1, keepdim=True) / keep.sum(
                1, keepdim=True
            ).clamp(min=1)
            fill = fill.to(feats.dtype)
        else:
            fill = torch.full_like(feats[:, :1], self.fill_value)
        out = torch.where(mask.unsqueeze(-1), fill, feats)
        return (out, mask) if return_mask else out
