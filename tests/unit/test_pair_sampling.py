"""Tests of speechbrain_emoinv.pair_sampling.PairSampler."""

import logging
import os
import pickle
import random
import subprocess
import sys
from collections import Counter

import pytest
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from speechbrain_emoinv.pair_sampling import PairSampler
from speechbrain_emoinv.stable_random import stable_uniform

EMOS = ["neutral", "angry", "happy", "sad"]


def _rows(seed=0, n_spk=12, single_emotion_spk=2, lone_spk=1):
    """Random manifest: mixed speakers, some with one emotion / one row."""
    rng = random.Random(seed)
    spk, emo = [], []
    for s in range(n_spk):
        n = rng.randint(3, 12)
        for _ in range(n):
            spk.append(f"spk{s}")
            emo.append(rng.choice(EMOS[: rng.randint(2, 4)]))
        # make sure at least two emotions
        emo[-1] = "neutral" if emo[-2] != "neutral" else "sad"
    for s in range(single_emotion_spk):
        for _ in range(4):
            spk.append(f"mono{s}")
            emo.append("neutral")
    for s in range(lone_spk):
        spk.append(f"lone{s}")
        emo.append("happy")
    order = list(range(len(spk)))
    rng.shuffle(order)
    return [spk[i] for i in order], [emo[i] for i in order]


def test_same_speaker_other_emotion_exactly():
    spk, emo = _rows()
    sampler = PairSampler(spk, emo, seed=1)
    speakers_emotions = {}
    for s, e in zip(spk, emo, strict=True):
        speakers_emotions.setdefault(s, set()).add(e)
    for epoch in range(30):
        for i in range(len(spk)):
            j = sampler.partner(i, epoch=epoch)
            assert spk[j] == spk[i], "never pairs two speakers"
            if len(speakers_emotions[spk[i]]) > 1:
                assert emo[j] != emo[i], "a different emotion when one exists"
            elif sum(s == spk[i] for s in spk) > 1:
                assert j != i  # fallback: another row of the speaker
            else:
                assert j == i  # the only row of its speaker


def test_fallback_counted_and_warned(caplog):
    spk, emo = _rows(single_emotion_spk=2, lone_spk=1)
    with caplog.at_level(logging.WARNING):
        sampler = PairSampler(spk, emo)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "9 of" in warnings[0]
    assert sampler.n_fallback == 2 * 4 + 1
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        PairSampler(["a", "a"], ["x", "y"])
    assert not caplog.records


# speaker a: 2 neutral, 2 angry, 1 sad; b: no neutral; c: neutral only;
# d: one row
TABLE = [
    ("a", "neutral"), ("a", "angry"), ("a", "neutral"), ("a", "sad"),
    ("a", "angry"), ("b", "happy"), ("b", "sad"), ("b", "sad"),
    ("c", "neutral"), ("c", "neutral"), ("d", "fear"),
]  # fmt: skip
# hand-computed partner candidates of each row, per partner_emotion
NEUTRAL_PARTNERS = [
    {1, 3, 4}, {0, 2}, {1, 3, 4}, {0, 2}, {0, 2},  # a: neutral <-> emotional
    {6, 7}, {5}, {5},  # b: no neutral, other emotion (fallback)
    {9}, {8},  # c: no emotional row, same emotion (fallback)
    {10},  # d: itself (fallback)
]  # fmt: skip
OTHER_PARTNERS = [
    {1, 3, 4}, {0, 2, 3}, {1, 3, 4}, {0, 1, 2, 4}, {0, 2, 3},
    {6, 7}, {5}, {5}, {9}, {8}, {10},
]  # fmt: skip
TWINS = [{2}, {4}, {0}, {3}, {1}, {5}, {7}, {6}, {9}, {8}, {10}]


@pytest.mark.parametrize(
    "mode, expect, n_fallback",
    [("neutral", NEUTRAL_PARTNERS, 6), ("other", OTHER_PARTNERS, 3)],
)
def test_partner_emotion_known_answers(mode, expect, n_fallback):
    spk, emo = zip(*TABLE, strict=True)
    sampler = PairSampler(spk, emo, partner_emotion=mode, seed=2)
    assert sampler.n_fallback == n_fallback
    for i, cands in enumerate(expect):
        drawn = {sampler.partner(i, epoch=e) for e in range(200)}
        assert drawn == cands, (i, drawn)  # every candidate, nothing else
    for i, cands in enumerate(TWINS):
        assert {
            sampler.partner(i, epoch=e, twin=True) for e in range(50)
        } == cands


def test_partners_and_twins_uniform():
    # a neutral anchor with 5 emotional rows, 4 other neutral rows
    spk = ["a"] * 10
    emo = ["neutral"] * 5 + ["angry", "sad", "sad", "happy", "angry"]
    sampler = PairSampler(spk, emo, partner_emotion="neutral", seed=3)
    n = 5000
    for draw, twin, cands in (
        (sampler.partner, False, 5),
        (sampler.partner, True, 4),
    ):
        counts = Counter(draw(0, epoch=e, twin=twin) for e in range(n))
        assert len(counts) == cands
        expect = n / cands
        chi2 = sum((c - expect) ** 2 / expect for c in counts.values())
        assert chi2 < 18.5  # <= 4 degrees of freedom, p ~ 0.001


def test_deterministic_across_instances_and_call_order():
    spk, emo = _rows()
    one = PairSampler(spk, emo, seed=7)
    two = pickle.loads(pickle.dumps(PairSampler(spk, emo, seed=7)))
    idx = list(range(len(spk)))
    forward = [one.partner(i, epoch=3) for i in idx]
    random.Random(0).shuffle(idx)
    shuffled = {i: two.partner(i, epoch=3) for i in idx}
    assert forward == [shuffled[i] for i in range(len(spk))]
    other_seed = PairSampler(spk, emo, seed=8)
    assert forward != [other_seed.partner(i, epoch=3) for i in range(len(spk))]


def test_differs_across_epochs_and_epoch_attribute():
    spk, emo = _rows()
    sampler = PairSampler(spk, emo)
    e0 = [sampler.partner(i, epoch=0) for i in range(len(spk))]
    e1 = [sampler.partner(i, epoch=1) for i in range(len(spk))]
    assert e0 != e1
    assert sum(a != b for a, b in zip(e0, e1, strict=True)) > len(spk) // 4
    sampler.epoch = 1
    assert [sampler.partner(i) for i in range(len(spk))] == e1


_SCRIPT = """
from speechbrain_emoinv.pair_sampling import PairSampler
from speechbrain_emoinv.stable_random import stable_uniform
spk = ["s%d" % (i % 5) for i in range(40)]
emo = ["e%d" % (i * 7 % 3) for i in range(40)]
s = PairSampler(spk, emo, seed=9)
print([s.partner(i, epoch=2) for i in range(40)])
"""


def test_stable_across_processes():
    # same partners whatever Python's per-process string-hash salt
    outs = {
        subprocess.run(
            [sys.executable, "-c", _SCRIPT],
            env={**os.environ, "PYTHONHASHSEED": str(salt)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for salt in (1, 2)
    }
    assert len(outs) == 1


def test_ddp_sharding_and_rank_independence():
    spk, emo = _rows(seed=5)
    n = len(spk) - len(spk) % 2  # even: DistributedSampler adds no padding
    spk, emo = spk[:n], emo[:n]
    reference = PairSampler(spk, emo, seed=11)
    shards = []
    for rank in range(2):
        dist = DistributedSampler(
            range(n), num_replicas=2, rank=rank, shuffle=True, seed=11
        )
        dist.set_epoch(2)
        sampler = PairSampler(spk, emo, seed=11)  # one per rank process
        sampler.epoch = 2
        anchors = list(dist)
        shards.append(set(anchors))
        for i in anchors:
            assert sampler.partner(i) == reference.partner(i, epoch=2)
    assert not shards[0] & shards[1]
    assert shards[0] | shards[1] == set(range(n))


class _Pairs(Dataset):
    def __init__(self, sampler, n):
        self.sampler, self.n = sampler, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i, self.sampler.partner(i)


def test_dataloader_workers_draw_the_same_partners():
    spk, emo = _rows(seed=2)
    sampler = PairSampler(spk, emo, seed=5)
    sampler.epoch = 4
    loader = DataLoader(_Pairs(sampler, len(spk)), batch_size=4, num_workers=2)
    got = {}
    for idx, part in loader:
        got.update(zip(idx.tolist(), part.tolist(), strict=True))
    assert got == {i: sampler.partner(i, epoch=4) for i in range(len(spk))}


def test_bad_input():
    with pytest.raises(ValueError, match="speaker ids"):
        PairSampler(["a"], ["x", "y"])
    with pytest.raises(ValueError, match="speaker ids"):
        PairSampler([], [])
    with pytest.raises(ValueError, match="partner_emotion"):
        PairSampler(["a"], ["x"], partner_emotion="happy")
    with pytest.raises(IndexError, match="out of range"):
        PairSampler(["a"], ["x"]).partner(1)


def test_emotional_partners_join_two_different_emotions():
    spk = ["a"] * 6 + ["b"] * 2
    emo = ["neutral", "angry", "angry", "sad", "happy", "neutral"]
    emo += ["angry", "neutral"]  # b: one emotion only -> falls back
    sampler = PairSampler(spk, emo, partner_emotion="emotional", seed=3)
    for row in range(6):
        for epoch in range(20):
            other = sampler.partner(row, epoch=epoch)
            assert spk[other] == "a" and emo[other] not in ("neutral", emo[row])
    assert emo[sampler.partner(6)] == "neutral"  # b's next best row
    assert sampler.n_fallback == 1


def test_partner_does_not_fix_where_the_anchor_is_cropped():
    """A pipeline that draws its anchor crop from the sampler's seed, epoch
    and row (salt 0, as the recipe's crops do): over 300 epochs, each of an
    anchor's 3 partners comes with crops across most of the utterance (a
    shared draw gives each a third of it)."""
    sampler = PairSampler(["a"] * 4, ["angry"] + ["neutral"] * 3, "neutral", 5)
    offsets = {}
    for sampler.epoch in range(300):
        crop = int(stable_uniform(5, sampler.epoch, 0, 0) * 9001)
        offsets.setdefault(sampler.partner(0), []).append(crop)
    assert sorted(offsets) == [1, 2, 3]
    for partner, seen in offsets.items():
        assert max(seen) - min(seen) > 0.8 * 9000, (
            partner,
            min(seen),
            max(seen),
        )
