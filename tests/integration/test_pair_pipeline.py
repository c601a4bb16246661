"""The recipe's partner and twin pipelines (dataio_prep) on a hand-made
manifest whose audio samples encode their own file and position."""

import importlib.util
import logging

import numpy as np
import pytest
import soundfile as sf
from recipe_utils import SCRIPT
from speechbrain.nnet.schedulers import CyclicLRScheduler

from speechbrain_emoinv import pipelines
from speechbrain_emoinv.copypaste import CopyPaste
from speechbrain_emoinv.pair_sampling import PairSampler

SR = 1000  # samples per second: small files, exact float32 sample codes
# (id, emotion, seconds): a1/a2 are twins; a3 is alone in its emotion but
# holds two crops; a4 is alone and shorter than two crops
ROWS = [
    ("a1", "neutral", 3),
    ("a2", "neutral", 3),
    ("a3", "angry", 5),
    ("a4", "sad", 3),
]
CROP = 2  # seconds


def _recipe():
    spec = importlib.util.spec_from_file_location("recipe", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def datasets(tmp_path, caplog):
    lines = ["ID,duration,wav,start,stop,spk_id,emotion"]
    for k, (uid, emo, secs) in enumerate(ROWS):
        # sample j of file k holds (k + 1) + j / 10000: file and position
        codes = (k + 1 + np.arange(secs * SR) / 10000).astype(np.float32)
        sf.write(tmp_path / f"{uid}.wav", codes, SR, subtype="FLOAT")
        lines.append(f"{uid},{secs},{tmp_path}/{uid}.wav,0,{secs * SR},a,{emo}")
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    hparams = {
        "sample_rate": SR,
        "sentence_len": CROP,
        "train_annotation": str(tmp_path / "train.csv"),
        "valid_annotation": str(tmp_path / "train.csv"),
        "save_folder": str(tmp_path),
        "seed": 3,
        "pair_sampler": lambda s, e: PairSampler(s, e, "neutral", seed=3),
        "use_pairs": True,
        "independent_crop": True,
        "copypaste": CopyPaste("concat"),  # a mode that reads the twin
        "out_n_neurons": 1,
        "dataloader_options": {"batch_size": 3},
        "number_of_epochs": 5,
        "lr_annealing": CyclicLRScheduler(),
        "rehearsal_annotation": None,
        "distillation": None,
    }
    with caplog.at_level(logging.WARNING):
        train, _ = _recipe().dataio_prep(hparams)
    return train, hparams, caplog.text


def _decode(sig):
    """(file index, set of positions) of a crop."""
    codes = sig.numpy().astype(np.float64)
    files = set(np.floor(codes).astype(int) - 1)
    assert len(files) == 1, "a crop reads one file"
    return files.pop(), set(np.round((codes % 1) * 10000).astype(int))


def test_twins_share_no_sample_with_the_anchor(datasets):
    train, hparams, log = datasets
    sampler = hparams["pair_sampler_instance"]
    overlaps = 0
    for epoch in range(20):
        sampler.epoch = epoch
        for k in range(len(ROWS)):
            item = train[k]
            a_file, a_pos = _decode(item["sig"])
            t_file, t_pos = _decode(item["twin_sig"])
            p_file, _ = _decode(item["partner_sig"])
            assert a_file == k and len(a_pos) == CROP * SR
            assert CROP * SR / 2 <= len(t_pos) <= CROP * SR
            # neutral <-> emotional partners of the same speaker
            assert (ROWS[p_file][1] == "neutral") != (ROWS[k][1] == "neutral")
            if k < 2:  # the other neutral utterance
                assert t_file == 1 - k
            else:  # the anchor's own file
                assert t_file == k
                overlaps += bool(a_pos & t_pos)
                if k == 2:
                    assert not a_pos & t_pos, "a3 holds two disjoint crops"
    assert overlaps > 0  # a4 cannot always avoid it, and says so
    assert "2 of 4 training rows" in log and "except for 1 shorter" in log


def test_lr_cycle_spans_the_run(datasets):
    # 4 rows, batch 3: 2 steps per epoch, 5 epochs, half of 10 steps up
    _, hparams, _ = datasets
    assert hparams["lr_annealing"].step_size == 5


def test_validation_clips_are_cut_at_valid_seconds(datasets, monkeypatch):
    _, hparams, _ = datasets
    recipe = _recipe()
    monkeypatch.setattr(pipelines, "VALID_SECONDS", 4)  # a3 (5 s) is cut
    _, valid = recipe.dataio_prep(hparams)
    got = {valid[i]["id"]: valid[i]["sig"] for i in range(len(valid))}
    assert {k: len(v) for k, v in got.items()} == {
        "a1": 3 * SR,
        "a2": 3 * SR,
        "a3": 4 * SR,
        "a4": 3 * SR,
    }
    assert _decode(got["a3"]) == (2, set(range(4 * SR)))  # its first 4 s
