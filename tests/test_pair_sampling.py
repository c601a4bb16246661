"""Tests of speechbrain_emoinv.pair_sampling.PairSampler."""

import logging
import os
import pickle
import random
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from speechbrain_emoinv.pair_sampling import PairSampler
from speechbrain_emoinv.stable_random import splitmix64

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
    warnings = [r for r in caplog.records if "single emotion" in r.message]
    assert len(warnings) == 1 and "9 of" in warnings[0].getMessage()
    assert sampler.n_fallback_anchors == 2 * 4 + 1
    fallback_rows = [i for i, s in enumerate(spk) if s[:4] in ("mono", "lone")]
    for i in range(len(spk)):
        sampler.partner(i)
    stats = sampler.stats()
    assert stats["anchors"] == len(spk)
    assert stats["speakers"] == 12 + 2 + 1
    assert stats["fallback_anchors"] == len(fallback_rows) == 9
    assert stats["fallback_speakers"] == 3
    assert stats["draws"] == len(spk)
    assert stats["fallback_draws"] == 9
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        PairSampler(["a", "a"], ["x", "y"])
    assert not caplog.records


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


def test_differs_across_epochs_and_set_epoch():
    spk, emo = _rows()
    sampler = PairSampler(spk, emo)
    e0 = [sampler.partner(i, epoch=0) for i in range(len(spk))]
    e1 = [sampler.partner(i, epoch=1) for i in range(len(spk))]
    assert e0 != e1
    assert sum(a != b for a, b in zip(e0, e1, strict=True)) > len(spk) // 4
    sampler.set_epoch(1)
    assert [sampler.partner(i) for i in range(len(spk))] == e1


def test_roughly_uniform():
    # anchor 0 (neutral) has 5 other-emotion rows of its speaker
    spk = ["a"] * 8 + ["b"] * 3
    emo = ["neutral", "neutral", "angry", "sad", "sad", "happy", "angry",
           "neutral", "neutral", "sad", "sad"]  # fmt: skip
    sampler = PairSampler(spk, emo, seed=3)
    n = 5000
    counts = Counter(sampler.partner(0, epoch=e) for e in range(n))
    assert set(counts) == {2, 3, 4, 5, 6}
    expect = n / 5
    chi2 = sum((c - expect) ** 2 / expect for c in counts.values())
    assert chi2 < 18.5  # 4 degrees of freedom, p ~ 0.001


_SCRIPT = """
from speechbrain_emoinv.pair_sampling import PairSampler
spk = ["s%d" % (i % 5) for i in range(40)]
emo = ["e%d" % (i * 7 % 3) for i in range(40)]
s = PairSampler(spk, emo, seed=9)
print([s.partner(i, epoch=2) for i in range(40)])
"""


def test_stable_across_processes():
    # splitmix64 reference value (state 0 -> first output)
    assert int(splitmix64(np.uint64(0))) == 0xE220A8397B1DCDAF
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
        sampler.set_epoch(2)
        anchors = list(dist)
        shards.append(set(anchors))
        for i in anchors:
            assert sampler.partner(i) == reference.partner(i, epoch=2)
    assert not shards[0] & shards[1]
    assert shards[0] | shards[1] == set(range(n))


class _Pairs(Dataset):
    def __init__(self, sampler):
        self.sampler = sampler

    def __len__(self):
        return self.sampler.n_anchors

    def __getitem__(self, i):
        return i, self.sampler.partner(i)


def test_dataloader_workers_draw_the_same_partners():
    spk, emo = _rows(seed=2)
    sampler = PairSampler(spk, emo, seed=5)
    sampler.set_epoch(4)
    loader = DataLoader(_Pairs(sampler), batch_size=4, num_workers=2)
    got = {}
    for idx, part in loader:
        got.update(zip(idx.tolist(), part.tolist(), strict=True))
    assert got == {i: sampler.partner(i, epoch=4) for i in range(len(spk))}


def test_bad_input():
    with pytest.raises(ValueError):
        PairSampler(["a"], ["x", "y"])
    with pytest.raises(ValueError):
        PairSampler([], [])
    with pytest.raises(IndexError):
        PairSampler(["a"], ["x"]).partner(1)
