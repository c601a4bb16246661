"""Embedding shards / resume, probe statistics, trial-list helpers."""

import itertools

import numpy as np
import pytest
import torch
from toy import make_toy_data, make_toy_model

from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.evaluation import embedding as emb_mod
from speechbrain_emoinv.evaluation.embedding import (
    embed_rows,
    embed_shard,
    length_sorted_batches,
    merge_chunks,
)
from speechbrain_emoinv.evaluation.lists import read_speaker_list
from speechbrain_emoinv.evaluation.probe import within_speaker_cosine
from speechbrain_emoinv.evaluation.run import sample_cohort
from speechbrain_emoinv.pretrained import load_model


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("parts")
    data = make_toy_data(root / "d", n_train=0, n_eval=2, n_sentences=2)
    model = load_model(make_toy_model(root / "m"), root / "sv")
    return read_manifest(data / "eval.csv"), model


def test_length_sorted_batches_cover_once():
    rng = np.random.default_rng(0)
    rows = [{"duration": float(d)} for d in rng.uniform(1, 2, 50)]
    batches = length_sorted_batches(rows, 8)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(50))
    for b in batches:
        d = [rows[i]["duration"] for i in b]
        assert d == sorted(d, reverse=True) and len(b) <= 8
        assert d[-1] >= 0.98 * d[0]


def test_shards_merge_and_resume(setup, tmp_path, monkeypatch):
    rows, model = setup
    want = embed_rows(model, rows, batch_size=1)
    for rank in (0, 1):  # two "ranks" run in turn
        embed_shard(model, rows, tmp_path, rank, 2, 2, 1, False)
    ids, got = merge_chunks(rows, tmp_path, world_size=2, chunk_size=2)
    assert ids == [r["ID"] for r in rows]
    torch.testing.assert_close(got, want)

    # A run killed after 2 chunks resumes with the remaining ones only.
    work = tmp_path / "resume"
    calls = itertools.count()
    real = emb_mod.embed_rows

    def dying(*a, **k):
        if next(calls) == 2:
            raise KeyboardInterrupt("killed in chunk 2")
        return real(*a, **k)

    monkeypatch.setattr(emb_mod, "embed_rows", dying)
    with pytest.raises(KeyboardInterrupt, match="killed in chunk 2"):
        embed_shard(model, rows, work, 0, 1, 4, 1, False)
    with pytest.raises(RuntimeError, match="rerun to finish"):
        merge_chunks(rows, work, chunk_size=4)
    assert not list(work.glob(".*.tmp-*"))
    n_chunks = -(-len(rows) // 4)
    monkeypatch.setattr(emb_mod, "embed_rows", real)
    assert embed_shard(model, rows, work, 0, 1, 4, 1, False) == (n_chunks - 2)
    torch.testing.assert_close(merge_chunks(rows, work, chunk_size=4)[1], want)


def test_bad_audio_named(setup, tmp_path):
    rows, model = setup
    row = dict(rows[0], ID="ghost", wav=str(tmp_path / "missing.wav"))
    with pytest.raises(RuntimeError, match="'ghost'"):
        embed_rows(model, [row])


def test_within_speaker_cosine_brute_force():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(30, 5))
    spk = rng.choice(["a", "b", "c"], 30)
    emo = rng.choice(["n", "x", "y"], 30)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    same, cross = [], []
    for i, j in itertools.combinations(range(30), 2):
        if spk[i] == spk[j]:
            (same if emo[i] == emo[j] else cross).append(unit[i] @ unit[j])
    got = within_speaker_cosine(emb, spk, emo)
    assert got["same_emotion"] == pytest.approx(np.mean(same))
    assert got["cross_emotion"] == pytest.approx(np.mean(cross))
    assert got["gap"] == pytest.approx(np.mean(same) - np.mean(cross))
    assert (got["n_same_pairs"], got["n_cross_pairs"]) == (
        len(same),
        len(cross),
    )


def test_sample_cohort_balanced_and_capped():
    rows = [{"ID": str(i), "spk_id": f"s{i % 3}"} for i in range(30)]
    picked = sample_cohort(rows, 7)
    counts = np.unique([r["spk_id"] for r in picked], return_counts=True)[1]
    assert len(picked) == 7 and counts.max() - counts.min() <= 1
    assert sample_cohort(rows, 7) == picked
    assert len(sample_cohort(rows, 100)) == 30


def test_manifest_and_speaker_list_errors(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("ID,wav,start,stop,spk_id,emotion\na,x,0,1,s,n\na,y,0,1,s,n\n")
    with pytest.raises(ValueError, match="m.csv:3: duplicate utterance ID 'a'"):
        read_manifest(p, strict=False)
    p.write_text("ID,wav\n")
    with pytest.raises(ValueError, match="lacks columns"):
        read_manifest(p, strict=False)
    with pytest.raises(FileNotFoundError, match="nofile"):
        read_speaker_list(f"@{tmp_path / 'nofile'}")
    (tmp_path / "s.txt").write_text("a\nb\n\n")
    assert read_speaker_list(f"@{tmp_path / 's.txt'}") == {"a", "b"}
