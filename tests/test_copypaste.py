"""Tests of speechbrain_emoinv.copypaste.CopyPaste."""

import pytest
import torch

from speechbrain_emoinv.copypaste import CopyPaste

PAD = 1.0e6  # sentinel written into padding: must never reach the output


def _batch(batch=16, t_anchor=4000, t_partner=5000, seed=0, min_len=0.5):
    """Random anchors/partners with random lengths and sentinel padding."""
    gen = torch.Generator().manual_seed(seed)
    anchor = torch.randn(batch, t_anchor, generator=gen)
    partner = torch.randn(batch, t_partner, generator=gen) + 10.0
    a_lens = min_len + (1 - min_len) * torch.rand(batch, generator=gen)
    p_lens = min_len + (1 - min_len) * torch.rand(batch, generator=gen)
    a_lens[0] = 1.0
    p_lens[1] = 1.0
    la = torch.round(a_lens * t_anchor).long()
    lp = torch.round(p_lens * t_partner).long()
    for b in range(batch):
        anchor[b, la[b] :] = PAD
        partner[b, lp[b] :] = PAD
    return anchor, a_lens, partner, p_lens, la, lp


def _check_provenance(out, prov, anchor, partner, la, lp):
    """Every row is an exact copy of valid source samples, rows tile [0, La)."""
    for b in range(out.shape[0]):
        pos = 0
        for src, s_start, o_start, length in prov[b].tolist():
            assert length >= 0
            if length == 0:
                continue
            assert o_start == pos, "rows must be contiguous, in output order"
            source = anchor if src == 0 else partner
            valid = la[b] if src == 0 else lp[b]
            assert 0 <= s_start and s_start + length <= valid, "padding pasted"
            torch.testing.assert_close(
                out[b, o_start : o_start + length],
                source[b, s_start : s_start + length],
                rtol=0,
                atol=0,
            )
            pos += length
        assert pos == la[b], "stretches must cover the anchor's valid length"
        assert torch.all(out[b, la[b] :] == 0), "output padding must be zeros"
    assert not torch.any(out == PAD)


@pytest.mark.parametrize("mode", ["concat", "replace"])
@pytest.mark.parametrize("t_partner", [3000, 4000, 6000])
def test_provenance_exact(mode, t_partner):
    anchor, a_lens, partner, p_lens, la, lp = _batch(t_partner=t_partner)
    cp = CopyPaste(mode=mode, span_ratio=(0.3, 0.7), min_samples=160)
    gen = torch.Generator().manual_seed(1)
    out, out_lens, prov = cp(anchor, a_lens, partner, p_lens, generator=gen)
    assert out.shape == anchor.shape
    assert out.dtype == anchor.dtype
    assert prov.dtype == torch.long
    assert prov.shape == (anchor.shape[0], 2 if mode == "concat" else 3, 4)
    # valid length = the anchor's, in SpeechBrain's relative convention
    assert torch.equal(torch.round(out_lens * anchor.shape[1]).long(), la)
    assert torch.equal(out_lens, a_lens)
    _check_provenance(out, prov, anchor, partner, la, lp)
    # the recipe concatenates originals and parallel samples
    assert torch.cat([anchor, out]).shape == (2 * anchor.shape[0], 4000)


def test_concat_shares_and_order():
    anchor, a_lens, partner, p_lens, la, lp = _batch(batch=64, seed=3)
    cp = CopyPaste(mode="concat", span_ratio=(0.3, 0.7), min_samples=160)
    _, _, prov = cp(
        anchor, a_lens, partner, p_lens, generator=torch.Generator()
    )
    src, length = prov[..., 0], prov[..., 3]
    # exactly one anchor and one partner stretch per sample
    assert torch.all(src.sum(1) == 1)
    p_len = (length * (src == 1)).sum(1)
    expect_max = torch.minimum(torch.round(0.7 * la), lp.double()).long()
    assert torch.all(p_len >= torch.round(0.3 * la).long().clamp(max=lp))
    assert torch.all(p_len <= expect_max)
    # both orders occur
    assert 0 < int((src[:, 0] == 1).sum()) < 64


def test_replace_keeps_anchor_in_place():
    anchor, a_lens, partner, p_lens, la, lp = _batch(batch=64, seed=4)
    cp = CopyPaste(mode="replace", span_ratio=(0.2, 0.5), min_samples=160)
    out, _, prov = cp(
        anchor, a_lens, partner, p_lens, generator=torch.Generator()
    )
    assert torch.equal(prov[:, :, 0], torch.tensor([[0, 1, 0]] * 64))
    # anchor stretches stay where they were in the anchor
    assert torch.equal(prov[:, 0, 1], prov[:, 0, 2])
    assert torch.equal(prov[:, 2, 1], prov[:, 2, 2])
    span = prov[:, 1, 3]
    assert torch.all(span >= torch.round(0.2 * la).long())
    assert torch.all(span <= torch.round(0.5 * la).long())


def test_partner_limited_by_its_length():
    # partner far shorter than the anchor: its share is clamped to it
    anchor = torch.randn(4, 8000)
    partner = torch.randn(4, 8000) + 10.0
    p_lens = torch.full((4,), 0.1)  # 800 valid samples
    partner[:, 800:] = PAD
    for mode in ("concat", "replace"):
        cp = CopyPaste(mode=mode, span_ratio=(0.5, 0.7), min_samples=100)
        out, out_lens, prov = cp(anchor, torch.ones(4), partner, p_lens)
        p_rows = prov[..., 0] == 1
        assert torch.all((prov[..., 3] * p_rows).sum(1) == 800)
        assert torch.all(out_lens == 1.0)
        la, lp = torch.full((4,), 8000), torch.full((4,), 800)
        _check_provenance(out, prov, anchor, partner, la, lp)


@pytest.mark.parametrize("mode", ["concat", "replace"])
def test_too_short_passes_through(mode):
    cp = CopyPaste(mode=mode, min_samples=1600)
    anchor = torch.randn(3, 4000)
    partner = torch.randn(3, 4000)
    # anchor < 2 * min_samples / partner < min_samples / both fine
    a_lens = torch.tensor([0.75, 1.0, 1.0])  # 3000 samples < 3200
    p_lens = torch.tensor([1.0, 0.3, 1.0])  # 1200 samples < 1600
    out, out_lens, prov = cp(anchor, a_lens, partner, p_lens)
    la = torch.tensor([3000, 4000, 4000])
    for b in (0, 1):
        torch.testing.assert_close(out[b, : la[b]], anchor[b, : la[b]])
        assert int(prov[b, 0, 3]) == la[b]
        assert int(prov[b, 1:, 3].sum()) == 0
    assert int((prov[2, :, 3] * (prov[2, :, 0] == 1)).sum()) >= 1600
    assert torch.equal(torch.round(out_lens * 4000).long(), la)


@pytest.mark.parametrize("mode", ["concat", "replace"])
def test_deterministic_under_generator(mode):
    anchor, a_lens, partner, p_lens, _, _ = _batch(seed=5)
    cp = CopyPaste(mode=mode, min_samples=160, crossfade=32)
    runs = [
        cp(
            anchor,
            a_lens,
            partner,
            p_lens,
            generator=torch.Generator().manual_seed(seed),
        )
        for seed in (7, 7, 8)
    ]
    assert torch.equal(runs[0][0], runs[1][0])
    assert torch.equal(runs[0][2], runs[1][2])
    assert not torch.equal(runs[0][2], runs[2][2])


def test_speaker_mismatch_raises():
    cp = CopyPaste(min_samples=10)
    x = torch.randn(3, 1000)
    lens = torch.ones(3)
    with pytest.raises(ValueError, match=r"1: 'b' != 'c'"):
        cp(x, lens, x, lens, anchor_spk=["a", "b", "d"], partner_spk="acd")
    with pytest.raises(ValueError, match=r"positions \[0: 5 != 6, 2: 7 != 9\]"):
        cp(
            x,
            lens,
            x,
            lens,
            anchor_spk=torch.tensor([5, 1, 7]),
            partner_spk=torch.tensor([6, 1, 9]),
        )
    with pytest.raises(ValueError, match="both"):
        cp(x, lens, x, lens, anchor_spk=["a", "b", "c"])
    # matching speakers are fine
    cp(
        x,
        lens,
        x,
        lens,
        anchor_spk=[1, 2, 3],
        partner_spk=torch.tensor([1, 2, 3]),
    )


def test_crossfade_cores_exact_and_fade_linear():
    t = 4000
    anchor = torch.ones(8, t, dtype=torch.float64)
    partner = -torch.ones(8, t, dtype=torch.float64)
    anchor[:, 3000:] = 0.0
    partner[:, 3500:] = 0.0
    a_lens = torch.full((8,), 0.75)
    p_lens = torch.full((8,), 0.875)
    for mode in ("concat", "replace"):
        width = 64
        cp = CopyPaste(
            mode=mode, span_ratio=(0.3, 0.6), crossfade=width, min_samples=400
        )
        gen = torch.Generator().manual_seed(0)
        out, _, prov = cp(anchor, a_lens, partner, p_lens, generator=gen)
        la = torch.full((8,), 3000)
        lp = torch.full((8,), 3500)
        # un-faded cores: exact copies (rows no longer tile the output)
        for b in range(8):
            rows = [r for r in prov[b].tolist() if r[3] > 0]
            for src, s0, o0, n in rows:
                source = anchor if src == 0 else partner
                assert s0 + n <= (la if src == 0 else lp)[b]
                assert torch.equal(out[b, o0 : o0 + n], source[b, s0 : s0 + n])
            # gaps between cores are the crossfades, `width` samples each
            for (_, _, o0, n), (_, _, o1, _) in zip(
                rows, rows[1:], strict=False
            ):
                gap = out[b, o0 + n : o1]
                assert len(gap) == width
                # +1 -> -1 or -1 -> +1, linear: (1 - w) * a + w * b
                w = (torch.arange(width, dtype=torch.float64) + 0.5) / width
                first = out[b, o0 + n - 1]
                expect = (1 - w) * first + w * (-first)
                torch.testing.assert_close(gap, expect)
            assert rows[0][2] == 0
            assert rows[-1][2] + rows[-1][3] == 3000
            assert torch.all(out[b, 3000:] == 0)


def test_crossfade_missing_samples_fall_back_to_one_source():
    # partner of 100 valid samples, all pasted first: past its end there is
    # no partner sample, so the second half of the fade is the anchor alone
    anchor = torch.arange(1.0, 2001.0, dtype=torch.float64).unsqueeze(0)
    partner = -torch.arange(1.0, 2001.0, dtype=torch.float64).unsqueeze(0)
    partner[:, 100:] = PAD
    cp = CopyPaste(
        mode="concat", span_ratio=(1.0, 1.0), crossfade=10, min_samples=100
    )
    for seed in range(20):
        gen = torch.Generator().manual_seed(seed)
        out, _, prov = cp(
            anchor,
            torch.ones(1),
            partner,
            torch.full((1,), 0.05),
            generator=gen,
        )
        if int(prov[0, 0, 0]) == 1:  # partner first
            break
    else:
        pytest.fail("partner never came first")
    assert not torch.any(out == PAD)
    (_, p_s, p_o, p_n), (_, a_s, a_o, a_n) = prov[0].tolist()
    assert (p_s, p_o, p_n) == (0, 0, 95)  # core: fade takes 5 at the end
    assert a_o == 105 and a_o + a_n == 2000
    # output 100..104: partner index 100..104 is padding -> anchor alone
    expect = anchor[0, a_s - 5 : a_s]
    torch.testing.assert_close(out[0, 100:105], expect, rtol=0, atol=0)
    # output 95..99: a genuine mix of both, between the two values
    lo = torch.minimum(partner[0, 95:100], anchor[0, a_s - 10 : a_s - 5])
    if a_s - 10 >= 0:
        assert torch.all(out[0, 95:100] >= lo)


def test_runs_on_other_dtype_and_empty_lengths():
    cp = CopyPaste(min_samples=10)
    x = torch.randn(2, 500, dtype=torch.float64)
    out, lens, prov = cp(x, torch.tensor([0.0, 1.0]), x, torch.ones(2))
    assert out.dtype == torch.float64
    assert torch.all(out[0] == 0) and float(lens[0]) == 0.0
    assert int(prov[0, :, 3].sum()) == 0
