"""Scoring: cosine, s-norm, AS-norm against naive references; cache."""

import numpy as np
import pytest
import torch

from speechbrain_emoinv.scoring import (
    EmbeddingCache,
    cohort_stats,
    cosine_scores,
    normalize_scores,
    score_all,
)


def naive_norm(emb, cohort, enrol, test, topk=None):
    """Per-trial loop, straight from the definitions."""
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    cohort = cohort / np.linalg.norm(cohort, axis=1, keepdims=True)
    out = []
    for e, t in zip(enrol, test, strict=True):
        s = float(emb[e] @ emb[t])
        parts = []
        for u in (e, t):
            c = np.sort(cohort @ emb[u])[::-1]
            if topk is not None:
                c = c[:topk]
            parts.append((s - c.mean()) / c.std())
        out.append(0.5 * sum(parts))
    return np.array(out)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(30, 12))
    cohort = rng.normal(size=(50, 12))
    enrol = rng.integers(0, 30, 200)
    test = rng.integers(0, 30, 200)
    return emb, cohort, enrol, test


def test_cosine_known_and_chunked(data):
    emb, _, enrol, test = data
    ref = np.einsum("nd,nd->n", emb[enrol], emb[test]) / (
        np.linalg.norm(emb[enrol], axis=1) * np.linalg.norm(emb[test], axis=1)
    )
    t = torch.tensor(emb)
    whole = cosine_scores(t, enrol, test)
    chunked = cosine_scores(t, enrol, test, chunk_size=7)
    np.testing.assert_allclose(whole, ref, atol=1e-5)
    np.testing.assert_array_equal(whole, chunked)


@pytest.mark.parametrize("topk", [None, 5, 50, 1000])
def test_norms_match_naive(data, topk):
    emb, cohort, enrol, test = data
    t, c = torch.tensor(emb), torch.tensor(cohort)
    raw = cosine_scores(t, enrol, test)
    stats = cohort_stats(t, c, topk=topk, chunk_size=4)
    got = normalize_scores(raw, enrol, test, stats)
    k = None if topk is None or topk >= 50 else topk
    ref = naive_norm(emb, cohort, enrol, test, topk=k)
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_score_all_asnorm_full_cohort_is_snorm(data):
    emb, cohort, enrol, test = data
    out = score_all(torch.tensor(emb), enrol, test, torch.tensor(cohort), 50)
    np.testing.assert_allclose(out["asnorm"], out["snorm"], atol=1e-6)
    assert set(out) == {"cosine", "snorm", "asnorm"}
    assert set(score_all(torch.tensor(emb), enrol, test)) == {"cosine"}


def test_bad_input_named():
    emb = torch.ones(3, 4)
    emb[2, 1] = float("nan")
    with pytest.raises(ValueError, match="'u2' \\(row 2\\)"):
        cosine_scores(emb, [0], [1], ids=["u0", "u1", "u2"])
    with pytest.raises(ValueError, match="no trials"):
        cosine_scores(torch.ones(3, 4), [], [])
    with pytest.raises(ValueError, match="cohort embedding"):
        cohort_stats(torch.ones(2, 4), emb)
    with pytest.raises(ValueError, match=">= 2"):
        cohort_stats(torch.ones(2, 4), torch.ones(1, 4))
    # Non-finite after normalisation names the utterances.
    stats = (torch.zeros(2), torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="'a' vs 'b'"):
        normalize_scores(np.ones(1, np.float32), [0], [1], stats, ["a", "b"])


def test_cache_hits_and_invalidates(tmp_path):
    manifest = tmp_path / "eval.csv"
    manifest.write_text("ID,wav\nx,/a.wav\n")
    calls = []

    def compute():
        calls.append(1)
        return ["x"], torch.full((1, 3), float(len(calls)))

    cache = EmbeddingCache(tmp_path / "c", "modelA")
    _, e1 = cache.get(manifest, compute)
    _, e2 = cache.get(manifest, compute)
    assert len(calls) == 1 and torch.equal(e1, e2)
    _, e3 = EmbeddingCache(tmp_path / "c", "modelB").get(manifest, compute)
    assert len(calls) == 2 and float(e3[0, 0]) == 2.0
    manifest.write_text("ID,wav\nx,/b.wav\n")
    cache.get(manifest, compute)
    assert len(calls) == 3

    def nan_compute():
        return ["bad"], torch.tensor([[float("inf")]])

    manifest.write_text("ID,wav\nbad,/c.wav\n")
    with pytest.raises(ValueError, match="'bad'"):
        cache.get(manifest, nan_compute)
    assert not list((tmp_path / "c" / "modelA").glob("*.tmp"))
