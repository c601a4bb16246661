"""Tests of speechbrain_emoinv.copypaste.CopyPaste."""

from collections import Counter

import pytest
import torch

from speechbrain_emoinv.copypaste import CopyPaste

PAD = 1.0e6  # sentinel written into padding: must never reach the output


def _draw(cp, anchor, partner, seeds, a_lens=None, p_lens=None):
    """Outputs (as tuples of rows) of ``cp`` under torch seeds."""
    a_lens = torch.ones(anchor.shape[0]) if a_lens is None else a_lens
    p_lens = torch.ones(partner.shape[0]) if p_lens is None else p_lens
    outs = []
    for seed in seeds:
        torch.manual_seed(seed)
        out, out_lens = cp(anchor, a_lens, partner, p_lens)
        assert torch.equal(out_lens, a_lens)
        outs += [tuple(row) for row in out.tolist()]
    return outs


def test_concat_known_answers_all_reached():
    # 4 anchor samples, 2 partner samples, share 0.5: the partner's 2
    # samples and 2 consecutive anchor samples, in either order
    cp = CopyPaste("concat", span_ratio=(0.5, 0.5), min_samples=2)
    anchor = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    partner = torch.tensor([[-1.0, -2.0]])
    expect = set()
    for k in range(3):
        chunk = (1.0 + k, 2.0 + k)
        expect |= {(-1.0, -2.0) + chunk, chunk + (-1.0, -2.0)}
    counts = Counter(_draw(cp, anchor, partner, range(600)))
    assert set(counts) == expect  # all 6, nothing else
    assert min(counts.values()) > 600 / 6 / 2


def test_replace_known_answers_every_position():
    # a 2-sample partner span replaces anchor samples at any of 5 positions
    cp = CopyPaste("replace", span_ratio=(1 / 3, 1 / 3), min_samples=1)
    anchor = torch.arange(1.0, 7.0).unsqueeze(0)
    partner = torch.tensor([[-1.0, -2.0]])
    expect = set()
    for pos in range(5):
        row = list(range(1, 7))
        row[pos : pos + 2] = [-1, -2]
        expect.add(tuple(float(v) for v in row))
    counts = Counter(_draw(cp, anchor, partner, range(500)))
    assert set(counts) == expect
    assert min(counts.values()) > 500 / 5 / 2  # a span stuck at 0 fails


def _structure(out, anchor, partner, la, lp):
    """(partner start in output, partner length, partner start in partner)
    of each row, checking the rest is anchor audio as the mode says."""
    rows = []
    for b in range(out.shape[0]):
        o = out[b, : la[b]]
        assert torch.all(out[b, la[b] :] == 0), "output padding is zeros"
        is_p = o < 0  # partner samples are negative, anchor ones positive
        idx = is_p.nonzero().squeeze(1)
        n_p = len(idx)
        p0 = int(idx[0]) if n_p else 0
        assert n_p == 0 or int(idx[-1]) - p0 + 1 == n_p, "one partner run"
        src = int(-o[p0] - 1) if n_p else 0  # partner[b, j] = -(j + 1)
        if n_p:
            want = partner[b, src : src + n_p]
            assert src + n_p <= lp[b] and torch.equal(o[is_p], want)
        rows.append((p0, n_p, src, o[~is_p]))
    return rows


def _batch(batch, t_a, t_p, gen):
    """Anchors a[b, t] = t + 1, partners p[b, j] = -(j + 1), random valid
    lengths, sentinel padding."""
    anchor = torch.arange(1.0, t_a + 1).repeat(batch, 1)
    partner = -torch.arange(1.0, t_p + 1).repeat(batch, 1)
    a_lens = 0.5 + 0.5 * torch.rand(batch, generator=gen)
    p_lens = 0.5 + 0.5 * torch.rand(batch, generator=gen)
    la = torch.round(a_lens.double() * t_a).long()
    lp = torch.round(p_lens.double() * t_p).long()
    for b in range(batch):
        anchor[b, la[b] :] = PAD
        partner[b, lp[b] :] = PAD
    return anchor, a_lens, partner, p_lens, la, lp


@pytest.mark.parametrize("mode", ["concat", "replace"])
@pytest.mark.parametrize("t_p", [3000, 4000, 6000])
def test_random_batches_are_exact_splices(mode, t_p):
    gen = torch.Generator().manual_seed(t_p)
    anchor, a_lens, partner, p_lens, la, lp = _batch(32, 4000, t_p, gen)
    cp = CopyPaste(mode, span_ratio=(0.3, 0.7), min_samples=160)
    out, out_lens = cp(anchor, a_lens, partner, p_lens)
    assert out.shape == anchor.shape and torch.equal(out_lens, a_lens)
    assert not torch.any(out == PAD), "padding pasted"
    for b, (p0, n_p, _, rest) in enumerate(
        _structure(out, anchor, partner, la, lp)
    ):
        share = min(max(round(0.3 * la[b].item()), 160), lp[b].item())
        assert share <= n_p <= min(round(0.7 * la[b].item()), lp[b].item())
        if mode == "replace":  # the anchor keeps its own time positions
            kept = torch.cat([torch.arange(p0), torch.arange(p0 + n_p, la[b])])
            assert torch.equal(rest, kept.float() + 1)
        else:  # one run of consecutive anchor samples, before or after
            assert p0 in (0, la[b] - n_p)
            assert torch.equal(torch.diff(rest), torch.ones(len(rest) - 1))


@pytest.mark.parametrize("mode", ["concat", "replace"])
def test_shares_and_positions_cover_their_ranges(mode):
    """Partner share uniform over span_ratio, partner start uniform over the
    partner, replace position uniform over the anchor."""
    batch, t_a = 4000, 1000
    anchor = torch.arange(1.0, t_a + 1).repeat(batch, 1)
    partner = -torch.arange(1.0, 2 * t_a + 1).repeat(batch, 1)
    cp = CopyPaste(mode, span_ratio=(0.2, 0.8), min_samples=10)
    torch.manual_seed(0)
    out, _ = cp(anchor, torch.ones(batch), partner, torch.ones(batch))
    la, lp = [t_a] * batch, [2 * t_a] * batch
    rows = _structure(out, anchor, partner, la, lp)
    share = torch.tensor([n for _, n, _, _ in rows], dtype=torch.float64)
    assert share.min() >= 200 and share.max() <= 800
    # uniform on [200, 800]: quartiles at 350, 500, 650 (+- 3 %)
    q = torch.quantile(
        share, torch.tensor([0.25, 0.5, 0.75], dtype=share.dtype)
    )
    assert torch.allclose(q, torch.tensor([350.0, 500, 650]).double(), atol=20)
    # partner start / room left in the partner, uniform on [0, 1]
    rel = torch.tensor([s / (2 * t_a - n) for _, n, s, _ in rows])
    q = torch.quantile(rel, torch.tensor([0.05, 0.5, 0.95]))
    assert torch.allclose(q, torch.tensor([0.05, 0.5, 0.95]), atol=0.03)
    p0 = torch.tensor([p for p, n, _, _ in rows], dtype=torch.float64)
    if mode == "replace":  # position / room left in the anchor
        rel = p0 / (t_a - share)
        q = torch.quantile(rel, torch.tensor([0.05, 0.5, 0.95]).double())
        assert torch.allclose(
            q, torch.tensor([0.05, 0.5, 0.95]).double(), atol=0.03
        )
    else:  # both orders, about equally often
        assert abs(float((p0 == 0).double().mean()) - 0.5) < 0.03


def test_partner_limited_by_its_length():
    # partner far shorter than the anchor: the share is clamped to it
    anchor = torch.arange(1.0, 8001).repeat(4, 1)
    partner = -torch.arange(1.0, 8001).repeat(4, 1)
    p_lens = torch.full((4,), 0.1)  # 800 valid samples
    partner[:, 800:] = PAD
    for mode in ("concat", "replace"):
        cp = CopyPaste(mode, span_ratio=(0.5, 0.7), min_samples=100)
        out, _ = cp(anchor, torch.ones(4), partner, p_lens)
        assert torch.all((out < 0).sum(1) == 800)
        assert not torch.any(out == PAD)


@pytest.mark.parametrize("mode", ["concat", "replace"])
def test_too_short_passes_through(mode):
    cp = CopyPaste(mode, min_samples=1600)
    anchor = torch.arange(1.0, 4001).repeat(3, 1)
    partner = -torch.arange(1.0, 4001).repeat(3, 1)
    # anchor < 2 * min_samples / partner < min_samples / both long enough
    a_lens = torch.tensor([0.75, 1.0, 1.0])
    p_lens = torch.tensor([1.0, 0.3, 1.0])
    out, out_lens = cp(anchor, a_lens, partner, p_lens)
    assert torch.equal(out[0, :3000], anchor[0, :3000])
    assert torch.all(out[0, 3000:] == 0)
    assert torch.equal(out[1], anchor[1])
    assert int((out[2] < 0).sum()) >= 1600
    assert torch.equal(out_lens, a_lens)


def test_other_dtype_and_bad_arguments():
    cp = CopyPaste("replace", span_ratio=(0.5, 0.5), min_samples=1)
    out, _ = cp(
        torch.ones(2, 10, dtype=torch.float64),
        torch.ones(2),
        torch.zeros(2, 10),
        torch.ones(2),
    )
    assert out.dtype == torch.float64 and int((out == 0).sum()) == 10
    with pytest.raises(ValueError, match="mode"):
        CopyPaste("splice")
    with pytest.raises(ValueError, match="span_ratio"):
        CopyPaste(span_ratio=(0.7, 0.3))


@pytest.mark.parametrize("mode", ["anchor", "partner"])
def test_whole_utterance_modes_return_one_input_untouched(mode):
    anchor = torch.randn(2, 100)
    anchor_lens = torch.tensor([1.0, 0.6])
    partner = torch.randn(2, 80)
    partner_lens = torch.tensor([0.5, 1.0])
    out, out_lens = CopyPaste(mode)(anchor, anchor_lens, partner, partner_lens)
    want, want_lens = (
        (anchor, anchor_lens) if mode == "anchor" else (partner, partner_lens)
    )
    assert torch.equal(out, want) and torch.equal(out_lens, want_lens)
    assert out.data_ptr() != want.data_ptr()  # a copy, never the input
