"""Trial scoring: cosine, s-norm and AS-norm, batched and chunked.

Trials are given as two index arrays into one embedding matrix (one row
per utterance), so a list of 10^7 trials costs two int64 index arrays
and the float32 scores (~200 MB); embeddings are gathered chunk by chunk.

Score normalisation uses per-utterance cohort statistics computed once
per call (one matrix product per chunk of utterances against the cohort):

- s-norm: mean/std of the utterance's scores against the whole cohort;
- AS-norm: mean/std of its ``topk`` highest cohort scores (adaptive);
- the normalised score is ``((s - m_e) / s_e + (s - m_t) / s_t) / 2``.

Embeddings are cached on disk per model and manifest: the key hashes the
model's checkpoint and hyperparameters, the manifest's bytes and the
sizes and mtimes of its audio files (:func:`manifest_key`), so re-scoring
with the same model and list is instant and changed inputs are never
served from the cache.

Authors
 * speechbrain-emoinv contributors 2025
"""

import csv
import hashlib
from pathlib import Path

import numpy as np
import torch

from speechbrain_emoinv.atomic_files import torch_save
from speechbrain_emoinv.data.manifest import file_stamp

EPS = 1e-6


def check_finite(emb, ids=None, what="embedding"):
    """Raises if any row holds NaN or inf, naming the first such row.

    Arguments
    ---------
    emb : torch.Tensor
        Matrix (rows = utterances) or vector (one value per row).
    ids : sequence of str or None
        Row names used in the error message.
    what : str
        What a row is, for the message.

    Example
    -------
    >>> check_finite(torch.ones(2, 3))
    >>> check_finite(torch.tensor([[0.0], [float("nan")]]), ["a", "b"])
    Traceback (most recent call last):
    ...
    ValueError: embedding of 'b' (row 1) contains NaN or inf; 1 such rows
    """
    emb = torch.as_tensor(emb)
    bad = ~torch.isfinite(emb)
    if bad.ndim > 1:
        bad = bad.flatten(1).any(dim=1)
    if bad.any():
        rows = torch.nonzero(bad).flatten()
        row = int(rows[0])
        name = repr(ids[row]) if ids is not None else f"#{row}"
        raise ValueError(
            f"{what} of {name} (row {row}) contains NaN or inf; "
            f"{rows.numel()} such rows"
        )


def l2_normalize(emb):
    """Float32 rows scaled to unit length (cosine = dot product).

    Arguments
    ---------
    emb : torch.Tensor
        Embeddings ``[N, D]`` (a trailing singleton axis is dropped).

    Returns
    -------
    torch.Tensor
        ``[N, D]`` float32, unit rows (zero rows stay zero).

    Example
    -------
    >>> l2_normalize(torch.tensor([[3.0, 4.0]]))
    tensor([[0.6000, 0.8000]])
    """
    emb = torch.as_tensor(emb, dtype=torch.float32)
    if emb.ndim == 3 and emb.shape[1] == 1:
        emb = emb.squeeze(1)
    return torch.nn.functional.normalize(emb, dim=-1, eps=EPS)


def _trial_name(ids, enrol, test):
    if ids is None:
        return f"rows {enrol} and {test}"
    return f"{ids[enrol]!r} vs {ids[test]!r}"


def cosine_scores(emb, enrol_idx, test_idx, chunk_size=65536, ids=None):
    """Cosine score of every trial, computed in chunks.

    Arguments
    ---------
    emb : torch.Tensor
        Embeddings ``[U, D]`` (normalised here).
    enrol_idx : array-like
        Row of the enrolment utterance of each trial ``[N]``.
    test_idx : array-like
        Row of the test utterance of each trial ``[N]``.
    chunk_size : int
        Trials per chunk; memory ~ ``chunk_size * D * 8`` bytes.
    ids : sequence of str or None
        Utterance names, for error messages.

    Returns
    -------
    numpy.ndarray
        float32 scores ``[N]``.

    Example
    -------
    >>> e = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> cosine_scores(e, [0, 0, 1], [1, 2, 2], chunk_size=2).round(4)
    array([0.    , 0.7071, 0.7071], dtype=float32)
    """
    emb = l2_normalize(emb)
    check_finite(emb, ids)
    enrol_idx = torch.as_tensor(np.asarray(enrol_idx), dtype=torch.long)
    test_idx = torch.as_tensor(np.asarray(test_idx), dtype=torch.long)
    if enrol_idx.shape != test_idx.shape or enrol_idx.ndim != 1:
        raise ValueError("enrol_idx and test_idx must be equal-length 1-D")
    if enrol_idx.numel() == 0:
        raise ValueError("no trials to score")
    out = np.empty(enrol_idx.numel(), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, enrol_idx.numel(), chunk_size):
            sl = slice(start, start + chunk_size)
            a = emb.index_select(0, enrol_idx[sl])
            b = emb.index_select(0, test_idx[sl])
            out[sl] = (a * b).sum(dim=1).numpy()
    return out


def cohort_stats(emb, cohort, topk=None, chunk_size=4096):
    """Per-utterance mean and std of its scores against a cohort.

    Arguments
    ---------
    emb : torch.Tensor
        Embeddings ``[U, D]`` of the utterances to normalise.
    cohort : torch.Tensor
        Cohort embeddings ``[C, D]`` (e.g. training speakers).
    topk : int or None
        AS-norm: statistics over the ``topk`` highest cohort scores of
        each utterance (capped at C); None = whole cohort (s-norm).
    chunk_size : int
        Utterances per matrix product (memory ~ ``chunk_size * C * 4``).

    Returns
    -------
    mean : torch.Tensor
        ``[U]`` mean cohort score.
    std : torch.Tensor
        ``[U]`` standard deviation (at least ``EPS``).

    Example
    -------
    >>> e = torch.tensor([[1.0, 0.0]])
    >>> c = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> m, s = cohort_stats(e, c)
    >>> round(float(m), 4), round(float(s), 4)
    (0.0, 0.8165)
    >>> m, s = cohort_stats(e, c, topk=2)
    >>> round(float(m), 4), round(float(s), 4)
    (0.5, 0.5)
    >>> cohort_stats(e, c, topk=1)  # the std of one score is 0
    Traceback (most recent call last):
    ...
    ValueError: AS-norm topk must be >= 2, got 1
    """
    emb = l2_normalize(emb)
    cohort = l2_normalize(cohort)
    check_finite(cohort, what="cohort embedding")
    if cohort.shape[0] < 2:
        raise ValueError("a score-normalisation cohort needs >= 2 entries")
    if topk is not None and topk < 2:
        raise ValueError(f"AS-norm topk must be >= 2, got {topk}")
    k = cohort.shape[0] if topk is None else min(int(topk), cohort.shape[0])
    means, stds = [], []
    with torch.no_grad():
        for start in range(0, emb.shape[0], chunk_size):
            scores = emb[start : start + chunk_size] @ cohort.T
            if k < cohort.shape[0]:
                scores = scores.topk(k, dim=1).values
            means.append(scores.mean(dim=1))
            # Population std, as in the s-norm / AS-norm literature.
            stds.append(scores.std(dim=1, correction=0).clamp_min(EPS))
    return torch.cat(means), torch.cat(stds)


def normalize_scores(scores, enrol_idx, test_idx, stats, ids=None):
    """Symmetric score normalisation with per-utterance cohort stats.

    Arguments
    ---------
    scores : numpy.ndarray
        Raw scores ``[N]``.
    enrol_idx : array-like
        Enrolment rows ``[N]``.
    test_idx : array-like
        Test rows ``[N]``.
    stats : tuple of torch.Tensor
        ``(mean, std)`` from ``cohort_stats``.
    ids : sequence of str or None
        Utterance names, for error messages.

    Returns
    -------
    numpy.ndarray
        float32 normalised scores ``[N]``.

    Example
    -------
    >>> stats = (torch.tensor([0.0, 0.5]), torch.tensor([1.0, 0.5]))
    >>> normalize_scores(np.array([0.5], np.float32), [0], [1], stats)
    array([0.25], dtype=float32)
    """
    mean = stats[0].numpy().astype(np.float32)
    std = stats[1].numpy().astype(np.float32)
    enrol_idx = np.asarray(enrol_idx)
    test_idx = np.asarray(test_idx)
    out = 0.5 * (
        (scores - mean[enrol_idx]) / std[enrol_idx]
        + (scores - mean[test_idx]) / std[test_idx]
    )
    bad = ~np.isfinite(out)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"normalised score of trial {i} "
            f"({_trial_name(ids, enrol_idx[i], test_idx[i])}) is not finite"
        )
    return out.astype(np.float32)


def score_all(emb, enrol_idx, test_idx, cohort=None, topk=300, ids=None):
    """Raw cosine, s-norm and AS-norm scores of a trial list.

    Arguments
    ---------
    emb : torch.Tensor
        Embeddings ``[U, D]``.
    enrol_idx : array-like
        Enrolment rows ``[N]``.
    test_idx : array-like
        Test rows ``[N]``.
    cohort : torch.Tensor or None
        Cohort embeddings ``[C, D]``; None = raw cosine only.
    topk : int
        AS-norm cohort size.
    ids : sequence of str or None
        Utterance names, for error messages.

    Returns
    -------
    dict
        ``{"cosine": ..., "snorm": ..., "asnorm": ...}`` float32 arrays.

    Example
    -------
    >>> g = torch.Generator().manual_seed(0)
    >>> e, c = torch.randn(4, 8, generator=g), torch.randn(10, 8, generator=g)
    >>> out = score_all(e, [0, 1], [2, 3], cohort=c, topk=3)
    >>> sorted(out), out["asnorm"].shape
    (['asnorm', 'cosine', 'snorm'], (2,))
    """
    out = {"cosine": cosine_scores(emb, enrol_idx, test_idx, ids=ids)}
    if cohort is None:
        return out
    for name, k in (("snorm", None), ("asnorm", topk)):
        stats = cohort_stats(emb, cohort, topk=k)
        out[name] = normalize_scores(
            out["cosine"], enrol_idx, test_idx, stats, ids
        )
    return out


def files_digest(paths, extra=""):
    """SHA-256 (first 16 hex digits) of files' bytes and a string.

    Arguments
    ---------
    paths : sequence of str or Path
        Files to hash, in order.
    extra : str
        Anything else the key depends on (e.g. audio settings).

    Returns
    -------
    str
        16 hex digits.

    Example
    -------
    >>> p = getfixture("tmpdir") / "a.txt"
    >>> _ = p.write("x")
    >>> (
    ...     files_digest([p]) == files_digest([p]),
    ...     files_digest([p], "y") == files_digest([p]),
    ... )
    (True, False)
    """
    digest = hashlib.sha256()
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: cannot hash, no such file")
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as fin:
            for block in iter(lambda: fin.read(1 << 20), b""):
                digest.update(block)
    digest.update(extra.encode())
    return digest.hexdigest()[:16]


def manifest_key(manifest):
    """Digest of a manifest's bytes and its audio files' sizes and mtimes.

    Arguments
    ---------
    manifest : str or Path
        CSV; files of its ``wav`` column (if any) are listed.

    Returns
    -------
    str
        16 hex digits; changes when the CSV or any audio file changes.

    Example
    -------
    >>> d = getfixture("tmpdir")
    >>> _ = (d / "a.wav").write("x")
    >>> m = d / "m.csv"
    >>> _ = m.write(f"ID,wav\\na,{d / 'a.wav'}\\n")
    >>> key = manifest_key(m)
    >>> _ = (d / "a.wav").write("xy")
    >>> manifest_key(m) == key
    False
    """
    with open(manifest, newline="", encoding="utf-8") as fin:
        wavs = sorted({r.get("wav") or "" for r in csv.DictReader(fin)} - {""})
    listing = []
    for wav in wavs:
        stamp = file_stamp(wav)
        size_mtime = "\0".join(map(str, stamp)) if stamp else "missing"
        listing.append(f"{wav}\0{size_mtime}")
    return files_digest([manifest], "\n".join(listing))


class EmbeddingCache:
    """On-disk embeddings keyed by model and manifest content.

    Arguments
    ---------
    cache_dir : str or Path
        Folder of ``<model key>/<manifest key>.pt`` files.
    model_key : str
        Digest of the model (checkpoint + hyperparameters).

    Example
    -------
    >>> d = getfixture("tmpdir")
    >>> manifest = d / "m.csv"
    >>> _ = manifest.write("ID\\na\\n")
    >>> cache = EmbeddingCache(d / "cache", "model0")
    >>> calls = []
    >>> def compute():
    ...     calls.append(1)
    ...     return ["a"], torch.ones(1, 4)
    >>> ids, emb = cache.get(manifest, compute)
    >>> ids, emb = cache.get(manifest, compute)
    >>> len(calls), ids
    (1, ['a'])
    """

    def __init__(self, cache_dir, model_key):
        self.cache_dir = Path(cache_dir) / model_key

    def path(self, manifest):
        """Cache file of a manifest (changes with it or its audio)."""
        return self.cache_dir / f"{manifest_key(manifest)}.pt"

    def get(self, manifest, compute, issues=None):
        """Cached ``(ids, emb)``, or ``compute()`` them and store them.

        ``issues`` (a dict that ``compute`` fills, e.g. short or silent
        clips) is stored with the embeddings and filled again on a hit.
        """
        path = self.path(manifest)
        if path.is_file():
            blob = torch.load(path, weights_only=True)
            if issues is not None:
                issues.update(blob.get("issues", {}))
            return list(blob["ids"]), blob["emb"]
        ids, emb = compute()
        emb = torch.as_tensor(emb, dtype=torch.float32)
        check_finite(emb, ids)
        path.parent.mkdir(parents=True, exist_ok=True)
        blob = {"ids": list(ids), "emb": emb, "issues": dict(issues or {})}
        torch_save(blob, path)  # atomic: a killed run leaves no half file
        return list(ids), emb
