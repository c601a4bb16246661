"""CopyPaste: parallel samples built from two utterances of one speaker.

A *parallel sample* keeps the speaker of an anchor utterance but changes its
emotional make-up by splicing in a stretch of another utterance of the same
speaker spoken with a different emotion (Tian, Hu & Xu, arXiv 2505.18498).

The module works on padded waveform batches in SpeechBrain's convention
(relative lengths in ``[0, 1]``) and is fully batched: every output sample is
gathered from the anchor or the partner with index tensors, there is no
Python loop over the batch.

Authors
 * speechbrain-emoinv contributors
"""

import torch

__all__ = ["CopyPaste"]


def _uniform(shape, generator, device):
    """Uniform numbers in [0, 1) drawn on the generator's device.

    Arguments
    ---------
    shape : tuple
        Shape of the output.
    generator : torch.Generator or None
        Source of randomness (``None``: torch's default generator).
    device : torch.device
        Device of the returned tensor.

    Returns
    -------
    torch.Tensor
        Float32 tensor on ``device``.
    """
    gen_device = generator.device if generator is not None else device
    u = torch.rand(shape, generator=generator, device=gen_device)
    return u.to(device)


def _randint_upto(high, u):
    """Integer uniformly drawn in ``[0, high]`` (inclusive) from ``u``.

    Arguments
    ---------
    high : torch.Tensor
        Long tensor of (non-negative) inclusive upper bounds.
    u : torch.Tensor
        Uniform numbers in [0, 1), same shape.

    Returns
    -------
    torch.Tensor
        Long tensor.
    """
    high = high.clamp(min=0)
    draw = torch.floor(u.double() * (high + 1).double()).long()
    return torch.minimum(draw, high)


def _check_speakers(anchor_spk, partner_spk, batch):
    """Raises ``ValueError`` if any anchor/partner speaker ids differ.

    Arguments
    ---------
    anchor_spk : list or torch.Tensor or None
        Speaker ids of the anchors.
    partner_spk : list or torch.Tensor or None
        Speaker ids of the partners.
    batch : int
        Batch size the ids must match.
    """
    if anchor_spk is None and partner_spk is None:
        return
    if anchor_spk is None or partner_spk is None:
        raise ValueError(
            "CopyPaste: give both anchor_spk and partner_spk, or neither"
        )

    def _as_list(ids):
        if isinstance(ids, torch.Tensor):
            return ids.reshape(-1).tolist()
        return list(ids)

    a_ids, p_ids = _as_list(anchor_spk), _as_list(partner_spk)
    if len(a_ids) != batch or len(p_ids) != batch:
        raise ValueError(
            f"CopyPaste: got {len(a_ids)} anchor and {len(p_ids)} partner "
            f"speaker ids for a batch of {batch}"
        )
    bad = [
        i for i, (a, p) in enumerate(zip(a_ids, p_ids, strict=True)) if a != p
    ]
    if bad:
        pairs = ", ".join(f"{i}: {a_ids[i]!r} != {p_ids[i]!r}" for i in bad)
        raise ValueError(
            "CopyPaste: anchor and partner speakers differ at batch "
            f"positions [{pairs}]; parallel samples must never mix speakers"
        )


class CopyPaste(torch.nn.Module):
    """Builds parallel samples by pasting a partner stretch into an anchor.

    The anchor and its partner must come from the same speaker (pass their
    ids to have it checked). Two modes are available:

    * ``"concat"``: a random chunk of the anchor and a random chunk of the
      partner, in random order. Together they last exactly the anchor's
      valid length; the partner's share is drawn from ``span_ratio`` (and
      limited by the partner's valid length).
    * ``"replace"``: a random span of the anchor (its share drawn from
      ``span_ratio``) is overwritten by an equally long span of the partner,
      drawn inside the partner's valid samples.

    Each chunk/span lasts at least ``min_samples`` samples and at least
    ``min_samples`` anchor samples are kept; the partner share is clamped to
    ``[min_samples, min(partner_len, anchor_len - min_samples)]``. A pair too
    short for that (anchor shorter than ``2 * min_samples`` or partner
    shorter than ``min_samples``) is passed through unchanged (a copy of the
    anchor; its partner rows in ``provenance`` have length 0).

    Padding is never pasted, the output keeps the anchor's padded length
    ``T`` (so the recipe can ``torch.cat([x, out])``), its valid length is
    the anchor's valid length and its padding is zeros.

    With ``crossfade = c > 0`` each join between two stretches becomes a
    linear crossfade over ``c`` output samples centred on the join (fewer
    when a neighbouring stretch is shorter than ``c``): in that window the
    outgoing source is read past its stretch end and the incoming one
    before its stretch start, weighted ``1 - w`` and ``w`` with ``w`` rising
    linearly from ~0 to ~1. Where one of them has no valid sample there the
    other one is used alone. ``provenance`` then describes the un-faded
    *cores* of the stretches: every output sample inside a row equals the
    source sample exactly, the faded windows lie between the rows.

    Arguments
    ---------
    mode : str
        ``"concat"`` or ``"replace"``.
    span_ratio : tuple of float
        ``(low, high)``: the partner's share of the anchor's valid length is
        drawn uniformly in this range, per sample.
    crossfade : int
        Crossfade length in samples at each join (0 disables it).
    min_samples : int
        Minimum length in samples of the partner stretch and of the kept
        anchor samples (1600 = 0.1 s at 16 kHz).

    Example
    -------
    >>> import torch
    >>> cp = CopyPaste(mode="concat", span_ratio=(0.5, 0.5), min_samples=2)
    >>> anchor = torch.arange(1.0, 11.0).unsqueeze(0)  # 10 samples
    >>> partner = -torch.arange(1.0, 9.0).unsqueeze(0)  # 8 samples
    >>> gen = torch.Generator().manual_seed(0)
    >>> out, out_lens, prov = cp(
    ...     anchor,
    ...     torch.ones(1),
    ...     partner,
    ...     torch.ones(1),
    ...     anchor_spk=["spk1"],
    ...     partner_spk=["spk1"],
    ...     generator=gen,
    ... )
    >>> out.shape, out_lens
    (torch.Size([1, 10]), tensor([1.]))
    >>> int((out < 0).sum()), int((out > 0).sum())  # 5 partner + 5 anchor
    (5, 5)
    >>> prov.shape  # (batch, stretches, [source, src_start, out_start, len])
    torch.Size([1, 2, 4])
    """

    def __init__(
        self,
        mode="concat",
        span_ratio=(0.3, 0.7),
        crossfade=0,
        min_samples=1600,
    ):
        super().__init__()
        if mode not in ("concat", "replace"):
            raise ValueError(
                f"CopyPaste mode must be 'concat' or 'replace', got {mode!r}"
            )
        low, high = (float(r) for r in span_ratio)
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(
                f"span_ratio must satisfy 0 <= low <= high <= 1, got "
                f"{span_ratio}"
            )
        if int(crossfade) < 0 or int(min_samples) < 1:
            raise ValueError("crossfade must be >= 0 and min_samples >= 1")
        self.mode = mode
        self.span_ratio = (low, high)
        self.crossfade = int(crossfade)
        self.min_samples = int(min_samples)

    def forward(
        self,
        anchor,
        anchor_lens,
        partner,
        partner_lens,
        anchor_spk=None,
        partner_spk=None,
        generator=None,
    ):
        """Returns parallel samples of ``anchor`` with ``partner`` pasted in.

        Arguments
        ---------
        anchor : torch.Tensor
            Anchor waveforms, ``(B, T)``.
        anchor_lens : torch.Tensor
            Relative valid lengths of the anchors, ``(B,)`` in ``[0, 1]``.
        partner : torch.Tensor
            Partner waveforms (same speakers), ``(B, T2)``.
        partner_lens : torch.Tensor
            Relative valid lengths of the partners, ``(B,)``.
        anchor_spk : list or torch.Tensor, optional
            Speaker ids of the anchors; with ``partner_spk``, checked equal.
        partner_spk : list or torch.Tensor, optional
            Speaker ids of the partners.
        generator : torch.Generator, optional
            Source of randomness, for reproducible draws.

        Returns
        -------
        out : torch.Tensor
            Parallel samples, ``(B, T)``, zero beyond the valid length.
        out_lens : torch.Tensor
            Relative valid lengths of ``out``: the anchors' (clamped to
            ``[0, 1]``), as the output lasts exactly the anchor's valid
            length.
        provenance : torch.Tensor
            Long tensor ``(B, S, 4)`` (``S`` = 2 for concat, 3 for replace),
            one row per stretch in output order: ``(source, src_start,
            out_start, length)`` in samples, ``source`` 0 = anchor,
            1 = partner. Unused rows have length 0.
        """
        if anchor.dim() != 2 or partner.dim() != 2:
            raise ValueError(
                "CopyPaste expects (B, T) waveforms, got anchor "
                f"{tuple(anchor.shape)} and partner {tuple(partner.shape)}"
            )
        batch, t_anchor = anchor.shape
        t_partner = partner.shape[1]
        if partner.shape[0] != batch:
            raise ValueError(
                f"CopyPaste: {batch} anchors but {partner.shape[0]} partners"
            )
        _check_speakers(anchor_spk, partner_spk, batch)
        device = anchor.device
        partner = partner.to(device=device, dtype=anchor.dtype)

        # Valid lengths in samples (SpeechBrain: round(rel_len * T)).
        len_a = torch.round(anchor_lens.to(device).double() * t_anchor).long()
        len_a = len_a.clamp(0, t_anchor)
        len_p = torch.round(partner_lens.to(device).double() * t_partner)
        len_p = len_p.long().clamp(0, t_partner)

        # Random draws: ratio, partner start, anchor start, order.
        u = _uniform((4, batch), generator, device)
        low, high = self.span_ratio
        ratio = low + (high - low) * u[0].double()
        share = torch.round(ratio * len_a.double()).long()
        upper = torch.minimum(len_p, len_a - self.min_samples)
        ok = upper >= self.min_samples
        share = torch.minimum(share.clamp(min=self.min_samples), upper)
        share = torch.where(ok, share, torch.zeros_like(share))
        p_start = _randint_upto(len_p - share, u[1])
        p_start = torch.where(ok, p_start, torch.zeros_like(p_start))
        keep = len_a - share  # anchor samples kept

        zeros = torch.zeros_like(len_a)
        if self.mode == "concat":
            a_start = _randint_upto(len_a - keep, u[2])
            a_start = torch.where(ok, a_start, zeros)
            partner_first = (u[3] < 0.5) & ok
            # rows in output order
            src0 = partner_first.long()
            src1 = 1 - src0
            start0 = torch.where(partner_first, p_start, a_start)
            start1 = torch.where(partner_first, a_start, p_start)
            len0 = torch.where(partner_first, share, keep)
            len1 = torch.where(partner_first, keep, share)
            rows = [
                (src0, start0, zeros, len0),
                (src1, start1, len0, len1),
            ]
        else:
            # position of the replaced span inside the anchor
            a_pos = _randint_upto(keep, u[2])
            a_pos = torch.where(ok, a_pos, keep)
            rows = [
                (zeros, zeros, zeros, a_pos),
                (zeros + 1, p_start, a_pos, share),
                (zeros, a_pos + share, a_pos + share, len_a - a_pos - share),
            ]
        src = torch.stack([r[0] for r in rows], dim=1)  # (B, S)
        s_start = torch.stack([r[1] for r in rows], dim=1)
        o_start = torch.stack([r[2] for r in rows], dim=1)
        length = torch.stack([r[3] for r in rows], dim=1)

        out = self._gather(
            anchor, partner, src, s_start, o_start, length, len_a
        )
        if self.crossfade > 0:
            out, s_start, o_start, length = self._crossfade(
                out,
                anchor,
                partner,
                len_a,
                len_p,
                src,
                s_start,
                o_start,
                length,
            )
        provenance = torch.stack([src, s_start, o_start, length], dim=-1)
        # same valid length as the anchor: its relative length, unchanged
        out_lens = anchor_lens.to(device).clamp(0.0, 1.0).clone()
        return out, out_lens, provenance

    @staticmethod
    def _read(anchor, partner, src, idx):
        """Reads ``anchor[b, idx]`` or ``partner[b, idx]`` depending on ``src``.

        Arguments
        ---------
        anchor : torch.Tensor
            ``(B, T)`` anchors.
        partner : torch.Tensor
            ``(B, T2)`` partners.
        src : torch.Tensor
            ``(B, K)`` source per position (0 anchor, 1 partner).
        idx : torch.Tensor
            ``(B, K)`` sample indices (clamped into range here).

        Returns
        -------
        torch.Tensor
            ``(B, K)`` samples.
        """
        a_val = anchor.gather(1, idx.clamp(0, anchor.shape[1] - 1))
        p_val = partner.gather(1, idx.clamp(0, max(partner.shape[1] - 1, 0)))
        return torch.where(src == 1, p_val, a_val)

    def _gather(self, anchor, partner, src, s_start, o_start, length, len_a):
        """Assembles the output from the stretch table.

        Arguments
        ---------
        anchor, partner : torch.Tensor
            Source waveforms.
        src, s_start, o_start, length : torch.Tensor
            ``(B, S)`` stretch table (contiguous in output order).
        len_a : torch.Tensor
            ``(B,)`` output valid lengths.

        Returns
        -------
        torch.Tensor
            ``(B, T)`` output, zero beyond ``len_a``.
        """
        batch, t_anchor = anchor.shape
        n_rows = src.shape[1]
        # one gather from [anchor | partner]: partner sample s sits at T + s
        both = torch.cat([anchor, partner], dim=1)
        offset = s_start - o_start + src * t_anchor  # (B, S)
        ends = o_start + length
        t = torch.arange(t_anchor, device=anchor.device).unsqueeze(0)
        # offset of the stretch holding each output sample; walking back
        # from the last stretch, earlier ones win (zero-length ones never)
        off_t = offset[:, n_rows - 1 :].expand(batch, t_anchor)
        for k in range(n_rows - 2, -1, -1):  # stretches, not batch items
            off_t = torch.where(
                t < ends[:, k : k + 1], offset[:, k : k + 1], off_t
            )
        idx = (t + off_t).clamp_(0, both.shape[1] - 1)
        out = both.gather(1, idx)
        valid = t < len_a.unsqueeze(1)
        return out.masked_fill_(~valid, 0.0)

    def _crossfade(
        self,
        out,
        anchor,
        partner,
        len_a,
        len_p,
        src,
        s_start,
        o_start,
        length,
    ):
        """Crossfades every join and shrinks the rows to the un-faded cores.

        Arguments
        ---------
        out : torch.Tensor
            ``(B, T)`` hard-spliced output.
        anchor, partner : torch.Tensor
            Source waveforms.
        len_a, len_p : torch.Tensor
            ``(B,)`` valid lengths of the sources in samples.
        src, s_start, o_start, length : torch.Tensor
            ``(B, S)`` stretch table.

        Returns
        -------
        tuple
            The faded output and the updated ``s_start, o_start, length``.
        """
        batch, t_anchor = out.shape
        if partner.shape[1] == 0:
            partner = anchor.new_zeros(batch, 1)
        half = self.crossfade // 2
        width = self.crossfade
        n_rows = src.shape[1]
        # padded copy: column t_anchor is a write sink for unused positions
        faded = torch.cat([out, out.new_zeros(batch, 1)], dim=1)
        trim_left = torch.zeros_like(length)
        trim_right = torch.zeros_like(length)
        r = torch.arange(width, device=out.device).unsqueeze(0)  # (1, W)
        src_len = torch.stack([len_a, len_p], dim=1)  # (B, 2)
        for k in range(n_rows - 1):  # joins, not batch items
            l_len, r_len = length[:, k], length[:, k + 1]
            joined = (l_len > 0) & (r_len > 0)  # two non-empty stretches
            # c // 2 faded samples before the join, the rest after it
            h = torch.minimum(l_len // 2, torch.full_like(l_len, half))
            h_r = torch.minimum(
                r_len // 2, torch.full_like(r_len, width - half)
            )
            h = torch.where(joined, h, torch.zeros_like(h))
            h_r = torch.where(joined, h_r, torch.zeros_like(h_r))
            total = (h + h_r).unsqueeze(1)  # (B, 1)
            join = (o_start[:, k] + l_len).unsqueeze(1)
            pos = join - h.unsqueeze(1) + r  # (B, W)
            used = r < total
            w = (r.double() + 0.5) / total.clamp(min=1).double()
            a_src = src[:, k : k + 1].expand_as(pos)
            b_src = src[:, k + 1 : k + 2].expand_as(pos)
            a_idx = s_start[:, k : k + 1] + (pos - o_start[:, k : k + 1])
            b_idx = s_start[:, k + 1 : k + 2] + (
                pos - o_start[:, k + 1 : k + 2]
            )
            a_ok = (a_idx >= 0) & (a_idx < src_len.gather(1, a_src))
            b_ok = (b_idx >= 0) & (b_idx < src_len.gather(1, b_src))
            a_val = self._read(anchor, partner, a_src, a_idx).double()
            b_val = self._read(anchor, partner, b_src, b_idx).double()
            wa = (1.0 - w) * a_ok
            wb = w * b_ok
            mixed = (wa * a_val + wb * b_val) / (wa + wb).clamp(min=1e-12)
            sink = torch.full_like(pos, t_anchor)
            faded.scatter_(1, torch.where(used, pos, sink), mixed.to(out.dtype))
            trim_right[:, k] += h
            trim_left[:, k + 1] += h_r
        faded = faded[:, :t_anchor]
        s_start = s_start + trim_left
        o_start = o_start + trim_left
        length = length - trim_left - trim_right
        return faded, s_start, o_start, length
