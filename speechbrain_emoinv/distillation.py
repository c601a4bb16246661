"""Distillation from an offline speaker encoder trained on many voices.

Stage 1 trains on ~60 voices (40 real, 19 simulated); an encoder trained
on thousands of speakers knows more about voices than they can teach. Resemblyzer's GE2E encoder
(Wan et al., ICASSP 2018; weights inside its PyPI wheel, Apache-2.0, no
download at run time) embeds every training utterance once; the student
learns a linear map of its own embedding onto the teacher's:

    L = AAM-softmax + w * mean_i (1 - cos(W e_i, t_i))

The teacher's embeddings are cached per manifest (keyed by the teacher and
every row's audio), so each machine computes them once; a cache file is
written atomically, and one that cannot be read is embedded again (with a
warning naming it).

Authors
 * speechbrain-emoinv contributors 2026
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from speechbrain.utils.logger import get_logger

from speechbrain_emoinv.atomic_files import (
    atomic_path,
    error_cause,
    write_errors_named,
)
from speechbrain_emoinv.data.manifest import file_stamp, read_manifest

__all__ = ["EmbeddingDistillation", "teacher_embeddings"]

logger = get_logger(__name__)
TEACHER = "resemblyzer-ge2e-0.1.4"
TEACHER_DIM = 256


class EmbeddingDistillation(torch.nn.Module):
    """``weight * mean(1 - cos(W e, t))`` with a learnt linear map ``W``.

    Arguments
    ---------
    emb_dim : int
        Student embedding size.
    teacher_dim : int
        Teacher embedding size.
    weight : float
        Weight of the term (0: off; no teacher is computed).

    Example
    -------
    >>> loss = EmbeddingDistillation(emb_dim=4, teacher_dim=3, weight=2.0)
    >>> e, t = torch.randn(5, 1, 4), torch.randn(5, 3)
    >>> value = loss(e, t)
    >>> bool(0 <= value <= 4)
    True
    """

    def __init__(self, emb_dim, teacher_dim=TEACHER_DIM, weight=1.0):
        super().__init__()
        self.weight = float(weight)
        self.proj = torch.nn.Linear(emb_dim, teacher_dim)

    def forward(self, emb, teacher):
        """The weighted cosine distance of ``W emb`` to ``teacher``."""
        pred = self.proj(emb.flatten(1).float())
        cos = torch.nn.functional.cosine_similarity(pred, teacher.float())
        return self.weight * (1.0 - cos).mean()


def teacher_embeddings(manifest, cache_folder, batch_partials=256):
    """The teacher's embedding of every row of ``manifest``, cached.

    Each row's audio (``start``-``stop``) is embedded as Resemblyzer's
    ``embed_utterance`` does it (volume normalisation and silence trimming
    by ``preprocess_wav``, 1.6-s partials, their normalised mean), with the
    partials of many rows batched through the encoder: ~6x faster than one
    row at a time on a CPU.

    Arguments
    ---------
    manifest : str or Path
        Training manifest.
    cache_folder : str or Path
        Where ``<key>.npz`` is kept (key: teacher and every row's ID, audio
        file, span and file stamp).
    batch_partials : int
        Partials per forward pass.

    Returns
    -------
    dict
        Row ID -> embedding (float32 numpy vector of :data:`TEACHER_DIM`).
    """
    rows = read_manifest(manifest, strict=False)
    key_text = json.dumps(
        [TEACHER]
        + [
            [r["ID"], r["wav"], r["start"], r["stop"], file_stamp(r["wav"])]
            for r in rows
        ]
    )
    key = hashlib.sha1(key_text.encode()).hexdigest()[:16]
    path = Path(cache_folder) / f"{key}.npz"
    if path.is_file():
        try:
            cached = np.load(path)
            ids, emb = cached["ids"].tolist(), cached["emb"]
        except Exception as err:  # truncated or corrupt: embed again
            logger.warning(
                "Teacher embeddings: %s cannot be read (%s): embedding again",
                path,
                error_cause(err),
            )
        else:
            logger.info("Teacher embeddings: reusing %s", path)
            return dict(zip(ids, emb, strict=True))
    try:
        from resemblyzer import VoiceEncoder, preprocess_wav
        from resemblyzer.audio import wav_to_mel_spectrogram
    except ImportError as err:
        raise ImportError(
            f"distillation needs the teacher, resemblyzer ({err}): "
            "run tools/install.sh, or pass --distill_weight=0"
        ) from err
    import soundfile as sf

    logger.info("Teacher embeddings of %d rows of %s", len(rows), manifest)
    encoder = VoiceEncoder(device="cpu", verbose=False)
    emb = np.zeros((len(rows), TEACHER_DIM), dtype=np.float32)
    mels, owners = [], []

    def flush():
        with torch.no_grad():
            out = encoder(torch.from_numpy(np.array(mels))).numpy()
        np.add.at(emb, np.array(owners), out)
        mels.clear()
        owners.clear()

    for i, row in enumerate(rows):
        stop = None if int(row["stop"]) < 0 else int(row["stop"])
        wav, sr = sf.read(
            row["wav"], start=int(row["start"]), stop=stop, dtype="float32"
        )
        trimmed = preprocess_wav(wav, source_sr=sr)
        wav = trimmed if len(trimmed) else wav  # all silence: untrimmed
        wav_slices, mel_slices = encoder.compute_partial_slices(
            len(wav), rate=1.3, min_coverage=0.75
        )
        wav = np.pad(wav, (0, max(0, wav_slices[-1].stop - len(wav))))
        mel = wav_to_mel_spectrogram(wav)
        mels += [mel[s] for s in mel_slices]
        owners += [i] * len(mel_slices)
        if len(mels) >= batch_partials:
            flush()
    if mels:
        flush()
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    ids = np.array([r["ID"] for r in rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, write_errors_named(path):
        with open(tmp, "wb") as fout:  # a file object: no ".npz" added
            np.savez(fout, ids=ids, emb=emb)
    return dict(zip(ids.tolist(), emb, strict=True))


def distilling(hparams):
    """Whether the run distils the teacher's embeddings (stage 1).

    Example
    -------
    >>> distilling({"distillation": None})
    False
    """
    head = (
        hparams["distillation"]
        if isinstance(hparams, dict)
        else (hparams.distillation)
    )
    return head is not None and head.weight > 0
