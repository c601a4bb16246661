"""Distillation from the offline teacher: the loss, and the teacher's
embedding cache (computed once per manifest, keyed by every row's audio)."""

import os

import numpy as np
import pytest
import torch
from fake_corpora import voice, voice_manifest

from speechbrain_emoinv import distillation
from speechbrain_emoinv.distillation import (
    EmbeddingDistillation,
    teacher_embeddings,
)


def test_distillation_loss_is_the_mean_cosine_distance_of_the_map():
    head = EmbeddingDistillation(emb_dim=3, teacher_dim=2, weight=0.5)
    with torch.no_grad():
        head.proj.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]))
        head.proj.bias.zero_()
    emb = torch.tensor([[[1.0, 0, 5]], [[0, 2.0, 7]]])
    teacher = torch.tensor([[1.0, 0], [1.0, 0]])  # cos 1, then cos 0
    assert float(head(emb, teacher)) == pytest.approx(0.5 * (0 + 1) / 2)


def test_teacher_embeddings_cached_and_keyed_by_the_audio(
    tmp_path, monkeypatch
):
    rows = voice_manifest(tmp_path)
    cache = tmp_path / "cache"
    first = teacher_embeddings(tmp_path / "train.csv", cache)
    assert sorted(first) == ["u0", "u1", "u2"]
    for vec in first.values():
        assert vec.shape == (256,) and np.linalg.norm(vec) == pytest.approx(1)
    # as Resemblyzer embeds one utterance
    import soundfile as sf
    from resemblyzer import VoiceEncoder, preprocess_wav

    wav, sr = sf.read(rows[1]["wav"], dtype="float32")
    ref = VoiceEncoder(device="cpu", verbose=False).embed_utterance(
        preprocess_wav(wav, source_sr=sr)
    )
    assert float(ref @ first["u1"]) == pytest.approx(1.0, abs=1e-5)
    # reused: the encoder is not built again
    assert len(list(cache.glob("*.npz"))) == 1
    monkeypatch.setattr(
        "resemblyzer.VoiceEncoder",
        lambda *a, **k: pytest.fail("teacher recomputed for the same rows"),
    )
    again = teacher_embeddings(tmp_path / "train.csv", cache)
    assert all(np.array_equal(again[k], first[k]) for k in first)
    # new audio under the same name -> a new entry
    monkeypatch.undo()
    voice(rows[2]["wav"], speaker=5, seconds=1.0)
    os.utime(rows[2]["wav"], ns=(1, 1))
    changed = teacher_embeddings(tmp_path / "train.csv", cache)
    assert len(list(cache.glob("*.npz"))) == 2
    assert not np.allclose(changed["u2"], first["u2"])
    assert np.array_equal(changed["u0"], first["u0"])


def test_teacher_missing_says_how_to_switch_it_off(tmp_path, monkeypatch):
    voice_manifest(tmp_path, n=1)
    monkeypatch.setitem(__import__("sys").modules, "resemblyzer", None)
    with pytest.raises(ImportError, match="--distill_weight=0"):
        teacher_embeddings(tmp_path / "train.csv", tmp_path / "cache")
    assert distillation.TEACHER_DIM == 256
