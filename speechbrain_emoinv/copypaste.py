"""CopyPaste: parallel samples built from two utterances of one speaker.

A *parallel sample* keeps the speaker of an anchor but changes its emotional
make-up by splicing in a stretch of a partner utterance of the same speaker
with another emotion (Tian, Hu & Xu, arXiv 2505.18498, after Pappagari et
al., ICASSP 2021).

Authors
 * speechbrain-emoinv contributors
"""

import torch

from speechbrain_emoinv.stable_random import check_range, uniform_in

__all__ = ["CopyPaste"]

MODES = ("concat", "replace", "partner", "anchor")


def _randint_upto(high, u):
    """Integers uniform in ``[0, high]`` from uniforms ``u`` in [0, 1)."""
    return torch.floor(u * (high + 1)).long().clamp(max=high)


class CopyPaste(torch.nn.Module):
    """Pastes a stretch of a partner waveform into an anchor waveform.

    The partner's share of the anchor's valid length is drawn per sample
    uniformly from ``span_ratio``, then clamped so that the partner stretch
    lies inside the partner's valid samples and both stretches last at
    least ``min_samples`` (a pair too short for that is returned unchanged).

    * ``"concat"``: a random chunk of the anchor and a random chunk of the
      partner, in random order, together as long as the anchor.
    * ``"replace"``: a random span of the anchor is overwritten by an
      equally long random span of the partner.
    * ``"partner"``: the partner itself, whole (the parallel sample is
      all of the other emotion).
    * ``"anchor"``: the first input itself, unchanged (whatever the
      caller passes there, e.g. another utterance of the anchor's speaker
      and emotion; no parallel data: the equal-budget control, whose
      second half shares every draw with the method's).

    In ``concat`` and ``replace`` modes the output keeps the anchor's
    padded length, valid length and relative lengths; its padding is zeros
    and padding is never pasted. ``partner`` returns the partner's
    waveforms and lengths, ``anchor`` the anchor's.

    Arguments
    ---------
    mode : str
        ``"concat"``, ``"replace"``, ``"partner"`` or ``"anchor"``.
    span_ratio : tuple of float
        ``(low, high)`` range of the partner's share.
    min_samples : int
        Shortest partner stretch and shortest anchor remainder (1600 =
        0.1 s at 16 kHz).

    Example
    -------
    >>> cp = CopyPaste("replace", span_ratio=(0.4, 0.4), min_samples=2)
    >>> anchor = torch.arange(1.0, 11.0).unsqueeze(0)  # 10 samples
    >>> partner = -torch.arange(1.0, 9.0).unsqueeze(0)
    >>> out, out_lens = cp(anchor, torch.ones(1), partner, torch.ones(1))
    >>> int((out < 0).sum()), out_lens  # 4 partner samples pasted
    (4, tensor([1.]))
    """

    def __init__(self, mode="concat", span_ratio=(0.3, 0.7), min_samples=1600):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}: {mode!r}")
        self.mode = mode
        self.span_ratio = check_range("span_ratio", span_ratio)
        self.min_samples = int(min_samples)

    def forward(self, anchor, anchor_lens, partner, partner_lens):
        """Returns the parallel samples and their relative lengths.

        Arguments
        ---------
        anchor : torch.Tensor
            Anchor waveforms ``(B, T)``.
        anchor_lens : torch.Tensor
            Their relative lengths ``(B,)`` (SpeechBrain's convention).
        partner : torch.Tensor
            Partner waveforms ``(B, T2)`` of the same speakers.
        partner_lens : torch.Tensor
            The partners' relative lengths ``(B,)``.

        Returns
        -------
        out : torch.Tensor
            ``(B, T)`` parallel samples (``(B, T2)`` for ``"partner"``).
        out_lens : torch.Tensor
            ``(B,)``, the anchors' relative lengths (the partners' for
            ``"partner"``).
        """
        if self.mode == "anchor":
            return anchor.clone(), anchor_lens.clone()
        if self.mode == "partner":
            return partner.to(anchor.dtype).clone(), partner_lens.clone()
        batch, t_a = anchor.shape
        dev = anchor.device
        len_a = torch.round(anchor_lens.double() * t_a).long()
        len_p = torch.round(partner_lens.double() * partner.shape[1]).long()

        share = torch.round(uniform_in(self.span_ratio, batch, dev) * len_a)
        upper = torch.minimum(len_p, len_a - self.min_samples)
        share = torch.minimum(share.long().clamp(min=self.min_samples), upper)
        share = torch.where(upper >= self.min_samples, share, 0)
        u = torch.rand(3, batch, device=dev, dtype=torch.float64)
        p_start = _randint_upto(len_p - share, u[0])
        # partner stretch at [p_out, p_out + share) of the output, the
        # anchor read at t + a_off elsewhere
        if self.mode == "concat":
            a_off = _randint_upto(share, u[1])  # start of the anchor chunk
            partner_first = u[2] < 0.5
            p_out = torch.where(partner_first, 0, len_a - share)
            a_off = torch.where(partner_first, a_off - share, a_off)
        else:
            p_out = _randint_upto(len_a - share, u[1])
            a_off = torch.zeros_like(p_out)

        t = torch.arange(t_a, device=dev).unsqueeze(0)
        in_p = (t >= p_out[:, None]) & (t < (p_out + share)[:, None])
        p_off = (t_a + p_start - p_out)[:, None]  # partner follows anchor
        idx = t + torch.where(in_p, p_off, a_off[:, None])
        both = torch.cat([anchor, partner.to(anchor.dtype)], dim=1)
        out = both.gather(1, idx.clamp(0, both.shape[1] - 1))
        return out.masked_fill(t >= len_a[:, None], 0.0), anchor_lens.clone()
