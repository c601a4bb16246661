"""Contract of randomness: what each random draw of training depends on.

As documented (README "Interrupted runs", the recipe's docstrings):

- crops, twins and partners depend on (seed, epoch, row): they change
  from epoch to epoch, are the same on every DDP rank and in every
  process, and replay exactly;
- the per-step draws (CopyPaste, emotion-aware masking and the generic
  augmentation with its noise and RIR files) depend on (seed, epoch,
  step, rank): each of the four changes them, and the same four replay
  them exactly, whatever ran before.

The tiny corpus's training rows and a Brain built from the tiny config
are used; replays use fresh objects, as a resumed process would.
"""

import os
import sys

import pytest
import speechbrain as sb
import torch
from recipe_utils import ROOT, TINY, TINY_DATA

from speechbrain_emoinv.config import load_config
from speechbrain_emoinv.data.manifest import read_manifest

sys.path.insert(0, str(ROOT))
import train_speaker_embeddings as recipe  # noqa: E402


def _hparams(tmp_path, seed=None):
    overrides = {"data_folder": str(TINY_DATA), "output_folder": str(tmp_path)}
    if seed is not None:
        overrides["seed"] = seed
    hparams, _ = load_config(str(TINY), overrides)
    return hparams


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The tiny corpus and its augmentation material (made when missing)."""
    hparams = _hparams(tmp_path_factory.mktemp("prep"))
    hparams["prepare_data"]()
    hparams["prepare_augment"]()


def _pairs_data(tmp_path, epoch, seed=None):
    """Each training row's (anchor, twin, partner) audio at ``epoch``, from
    a freshly built dataset."""
    hparams = _hparams(tmp_path, seed)
    hparams["copypaste"].mode = "concat"  # a mode that reads the twins
    train, _ = recipe.dataio_prep(hparams)
    hparams["pair_sampler_instance"].epoch = epoch
    return [
        (item["sig"], item["twin_sig"], item["partner_sig"]) for item in train
    ]


def _same(a, b):
    return a.shape == b.shape and torch.equal(a, b)


def test_crops_and_partners_keyed_by_seed_epoch_and_row(
    prepared, tmp_path, monkeypatch
):
    epoch1 = _pairs_data(tmp_path / "a", epoch=1)
    # a fresh process on another DDP rank replays them
    monkeypatch.setenv("RANK", "1")
    replay = _pairs_data(tmp_path / "b", epoch=1)
    assert all(
        all(_same(x, y) for x, y in zip(a, b, strict=True))
        for a, b in zip(epoch1, replay, strict=True)
    )
    # another epoch or seed: another crop of every row longer than a crop
    # by 0.1 s or more, other twins and partners for most rows
    hparams = _hparams(tmp_path)
    crop = int(hparams["sentence_len"] * hparams["sample_rate"])
    rows = read_manifest(hparams["train_annotation"])
    long = [int(r["stop"]) - int(r["start"]) >= crop + 1600 for r in rows]
    assert sum(long) >= 20, "too few rows to see crops move"
    for other in (
        _pairs_data(tmp_path / "c", epoch=2),
        _pairs_data(tmp_path / "d", epoch=1, seed=7),
    ):
        moved = [
            [not _same(x, y) for x, y in zip(a, b, strict=True)]
            for a, b in zip(epoch1, other, strict=True)
        ]
        assert all(m[0] for m, k in zip(moved, long, strict=True) if k)
        for part, name in ((1, "twin"), (2, "partner")):
            changed = sum(m[part] for m in moved)
            assert changed >= 0.75 * len(rows), (name, changed)


class _Batch:
    """The fields of SpeechBrain's PaddedBatch the recipe reads."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def to(self, device):
        return self


def _batch():
    gen = torch.Generator().manual_seed(0)

    def padded(lengths):
        wavs = 0.1 * torch.randn(len(lengths), max(lengths), generator=gen)
        for i, n in enumerate(lengths):
            wavs[i, n:] = 0.0
        return wavs, torch.tensor(lengths) / max(lengths)

    return _Batch(
        id=["u0", "u1", "u2"],
        sig=padded([16000, 12000, 14000]),
        twin_sig=padded([15000, 16000, 9000]),
        partner_sig=padded([16000, 11000, 13000]),
    )


@pytest.fixture(scope="module")
def step_draws(prepared, tmp_path_factory):
    """``draws(epoch, step, rank)``: the masked features of one training
    forward after the recipe seeded that step (augmentation, CopyPaste
    and EM included), from one Brain that keeps running."""
    hparams = _hparams(tmp_path_factory.mktemp("brain"))
    hparams["emotion_masking"].prob = 1.0  # every parallel is masked
    brain = recipe.EmoInvBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": "cpu"},
    )
    seen = []
    brain.modules.embedding_model.register_forward_hook(
        lambda module, args, out: seen.append(args[0].clone())
    )
    batch = _batch()

    def draws(epoch, step, rank):
        brain.hparams.epoch_counter.current = epoch
        brain.step = step
        before = os.environ.get("RANK")
        os.environ["RANK"] = str(rank)
        try:
            brain.on_fit_batch_start(batch, True)
            with torch.no_grad():
                brain.compute_forward(batch, sb.Stage.TRAIN)
        finally:
            os.environ.pop("RANK")
            if before is not None:
                os.environ["RANK"] = before
        return seen[-1]

    return draws


def test_step_draws_keyed_by_epoch_step_and_rank(step_draws):
    base = step_draws(epoch=2, step=5, rank=0)
    others = {
        "epoch": step_draws(epoch=3, step=5, rank=0),
        "step": step_draws(epoch=2, step=6, rank=0),
        "rank": step_draws(epoch=2, step=5, rank=1),
    }
    for key, feats in others.items():
        assert not _same(base, feats), f"the draws ignore the {key}"
    # the same key replays exactly after other steps ran
    assert _same(step_draws(epoch=2, step=5, rank=0), base)
    assert _same(step_draws(epoch=3, step=5, rank=0), others["epoch"])
