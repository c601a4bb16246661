"""Embedding extraction through an exported model folder.

- The model is loaded by :func:`speechbrain_emoinv.pretrained.load_model`
  (``SpeakerRecognition.from_hparams`` and
  ``FetchConfig(allow_network=False)``): a missing folder is an error,
  never a hub download.
- Utterances are sorted by length and batched, so padding is small.
- Memory is bounded: no forward pass sees more than ``MAX_SECONDS`` of
  (padded) audio. A batch is cut into smaller ones when needed, and a
  clip longer than ``MAX_SECONDS`` is cut into equal windows of at most
  that length whose embeddings are averaged (a 10-minute file is 10
  windows of 60 s, not one 2.6 GB forward pass).
- Clips shorter than ``audio_checks.MIN_DURATION`` or silent (peak at
  most ``audio_checks.SILENCE_THRESHOLD``), which the preparers skip, are
  still embedded here but recorded in ``issues`` so that the tools warn
  about them and count them; one under ``SHORTEST_SECONDS``, less than
  the encoder takes, is embedded followed by silence up to that length.
- Work is cut into shards (one per rank under ``torchrun``) and chunks;
  each finished chunk is written to disk, so a killed run resumes by
  skipping the chunks already there. ``merge_chunks`` assembles the
  manifest-ordered matrix. Callers key the chunk folder by model and
  manifest (``scoring.manifest_key``), so chunks are never reused across
  models or inputs.

Why one file over 500 lines: the two backends (PyTorch, onnxruntime)
share one embedder interface, the batching and the resumable sharded
chunks; their parity is tested through this one interface.

Authors
 * speechbrain-emoinv contributors 2025
"""

import importlib.util
import math
from pathlib import Path

import numpy as np
import torch
from speechbrain.dataio import audio_io

from speechbrain_emoinv.atomic_files import error_cause, torch_save
from speechbrain_emoinv.data.audio_checks import WINDOW_SECONDS, clip_issue
from speechbrain_emoinv.pretrained import (
    FORMAT_FILES,
    file_fingerprint,
    load_model,
    model_fingerprint,
    read_metadata,
)
from speechbrain_emoinv.scoring import check_finite

MAX_SECONDS = WINDOW_SECONDS  # most (padded) audio one forward pass sees


# Embedding paths of the tools: onnxruntime running the folder's
# ``embedding.onnx`` (the fastest on CPUs: benchmarks/bench_cost.py
# --part embedding) or SpeechBrain's PyTorch model.
BACKENDS = ("auto", "onnx", "pytorch")


def resolve_backend(model_dir, backend="auto", device="cpu"):
    """The embedding path a tool takes for a folder, and why not onnx.

    ``onnx`` needs a CPU device, onnxruntime and a readable
    ``embedding.onnx`` (``emoinv-export --format onnx``) made from the
    folder's current checkpoint. ``auto`` takes it when it can and else PyTorch; a forced
    ``onnx`` that cannot run is an error.

    Arguments
    ---------
    model_dir : str or Path
        Exported folder.
    backend : str
        ``auto``, ``onnx`` or ``pytorch``.
    device : str
        Torch device of the tool.

    Returns
    -------
    name : str
        ``onnx`` or ``pytorch``.
    reason : str or None
        Why ``auto`` fell back to PyTorch (None otherwise).

    Example
    -------
    >>> resolve_backend("no_such_dir", "pytorch")
    ('pytorch', None)
    >>> resolve_backend("no_such_dir", "auto", device="cuda:0")[1]
    'onnxruntime runs on the CPU, the device is cuda:0'
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: {', '.join(BACKENDS)}")
    if backend == "pytorch":
        return "pytorch", None
    path = Path(model_dir) / FORMAT_FILES["onnx"]
    export = f"emoinv-export --model {model_dir} --format onnx"
    if device != "cpu":
        reason = f"onnxruntime runs on the CPU, the device is {device}"
    elif importlib.util.find_spec("onnxruntime") is None:
        reason = (
            "onnxruntime is not installed (pip install "
            "'speechbrain-emoinv[export]')"
        )
    elif not path.is_file():
        reason = f"no {path} (write it with `{export}`)"
    else:
        want = model_fingerprint(model_dir)
        try:
            made_from = file_fingerprint(path)
        except Exception as err:  # truncated or corrupt
            reason = (
                f"{path} cannot be read ({error_cause(err)}): rewrite it "
                f"with `{export}`"
            )
        else:
            if made_from == want:
                return "onnx", None
            reason = (
                f"{path} was made from another checkpoint or "
                f"hyperparams.yaml (rewrite it with `{export}`)"
            )
    if backend == "onnx":
        raise ValueError(f"--backend onnx: {reason}")
    return "pytorch", reason


class OnnxEmbedder:
    """An exported folder's ``embedding.onnx`` run by onnxruntime, with
    the calls of ``SpeakerRecognition`` that the tools use.

    Every utterance is embedded alone, at its own length (the file takes
    one utterance per call), so an embedding never depends on the other
    members of a batch.

    Arguments
    ---------
    model_dir : str or Path
        Exported folder holding an up-to-date ``embedding.onnx``.
    threads : int or None
        onnxruntime's intra-op threads (default: torch's thread count).
    """

    backend = "onnx"

    def __init__(self, model_dir, threads=None):
        import onnxruntime
        from speechbrain.dataio.preprocess import AudioNormalizer

        model_dir = Path(model_dir)
        self.fingerprint = model_fingerprint(model_dir)
        rate = int(read_metadata(model_dir).get("sample_rate", 16000))
        self.audio_normalizer = AudioNormalizer(sample_rate=rate)
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = (
            onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        )
        self.session = onnxruntime.InferenceSession(
            str(model_dir / FORMAT_FILES["onnx"]),
            opts,
            providers=["CPUExecutionProvider"],
        )

    def encode_batch(self, wavs, wav_lens=None):
        """``(B, T)`` padded waveforms and relative lengths -> ``(B, 1,
        D)`` embeddings, as ``SpeakerRecognition.encode_batch``."""
        if wavs.dim() == 1:
            wavs = wavs[None]
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        n = torch.round(wav_lens * wavs.shape[1]).long().tolist()
        wavs = wavs.float().cpu().numpy()
        out = [
            self.session.run(None, {"wav": wav[None, :k]})[0]
            for wav, k in zip(wavs, n, strict=True)
        ]
        return torch.from_numpy(np.concatenate(out))[:, None]


def load_embedder(model_dir, backend="auto", savedir=None, device="cpu"):
    """The tools' embedding model of a folder: :class:`OnnxEmbedder` or
    :func:`load_model`'s ``SpeakerRecognition``, as
    :func:`resolve_backend` picks.

    Arguments
    ---------
    model_dir : str or Path
        Exported folder (trusted).
    backend : str
        ``auto``, ``onnx`` or ``pytorch``, resolved beforehand or here.
    savedir, device
        As in :func:`load_model`.

    Returns
    -------
    OnnxEmbedder or SpeakerRecognition
        With ``fingerprint`` and ``backend`` (``onnx`` or ``pytorch``).
    """
    name, _ = resolve_backend(model_dir, backend, device)
    if name == "onnx":
        return OnnxEmbedder(model_dir)
    model = load_model(model_dir, savedir, device)
    model.backend = "pytorch"
    return model


def embedding_key(fingerprint, backend, batch_size):
    """Cache key of a model's embeddings on one path and, for PyTorch, one
    batch size: padding in a batch moves an embedding a little
    (``benchmarks/padding.py``), and ONNX embeds each utterance alone, so
    caches never mix them.

    Example
    -------
    >>> embedding_key("abc", "pytorch", 16), embedding_key("abc", "onnx", 16)
    ('abc-b16', 'abc-onnx')
    """
    if backend == "pytorch":
        return f"{fingerprint}-b{batch_size}"
    return f"{fingerprint}-{backend}"


def load_row(row, model):
    """Waveform of one manifest row at the model's sample rate.

    Arguments
    ---------
    row : dict
        Manifest row (``wav``, ``start``, ``stop``, ``ID``).
    model : SpeakerRecognition
        Gives ``audio_normalizer`` (mono, resampling).

    Returns
    -------
    torch.Tensor
        ``[time]`` float32 waveform.
    """
    stop = int(row.get("stop", -1))
    start = int(row.get("start", 0))
    num = stop - start if stop > 0 else -1
    try:
        wav, sr = audio_io.load(
            row["wav"], channels_first=False, frame_offset=start, num_frames=num
        )
    except RuntimeError as err:
        raise RuntimeError(f"utterance {row['ID']!r}: {err}") from err
    if wav.numel() == 0:
        raise ValueError(f"utterance {row['ID']!r}: no samples in {row['wav']}")
    return model.audio_normalizer(wav, sr)


def _lengths(rows):
    return np.array(
        [
            r.get("duration")
            or (int(r.get("stop", 0)) - int(r.get("start", 0)))
            for r in rows
        ],
        dtype=np.float64,
    )


def length_sorted_batches(rows, batch_size, max_pad=0.02):
    """Row indices grouped into batches of similar length (longest first).

    Padding changes an ECAPA embedding (the convolutions see the padded
    frames next to the last real ones), so a batch is also closed when
    the next utterance is more than ``max_pad`` shorter than the batch's
    longest: on a real list neighbours in length order differ by far less,
    so batches stay full.

    Arguments
    ---------
    rows : list of dict
        Manifest rows with ``duration`` (or ``start``/``stop``).
    batch_size : int
        Most utterances per batch.
    max_pad : float
        Largest padded fraction of a batch member (1.0 = no limit).

    Returns
    -------
    list of numpy.ndarray
        Index batches.

    Example
    -------
    >>> rows = [{"duration": d} for d in (1.0, 3.0, 2.95, 2.0)]
    >>> [b.tolist() for b in length_sorted_batches(rows, 2)]
    [[1, 2], [3], [0]]
    >>> [b.tolist() for b in length_sorted_batches(rows, 3, max_pad=1.0)]
    [[1, 2, 3], [0]]
    >>> unknown = [{"start": 0, "stop": -1}] * 2  # no duration (ran forever)
    >>> [b.tolist() for b in length_sorted_batches(unknown, 2)]
    [[0], [1]]
    """
    length = _lengths(rows)
    order = np.argsort(-length, kind="stable")
    batches, start = [], 0
    # Vectorised per batch: the first row that breaks the pad or size cap.
    while start < order.size:
        window = length[order[start : start + batch_size]]
        too_short = window < (1.0 - max_pad) * window[0]
        # At least one row: an unknown length (no duration, stop -1) is
        # negative and "too short" for itself.
        end = start + max(
            1, int(np.argmax(too_short)) if too_short.any() else window.size
        )
        batches.append(order[start:end])
        start = end
    return batches


SHORTEST_SECONDS = 0.05  # shorter clips are padded with silence
BATCH_SIZE = 16  # utterances per PyTorch pass, unless told otherwise


def _encode(model, wavs, max_len):
    """``[len(wavs), D]`` embeddings, no pass longer than ``max_len``."""
    step = max(1, max_len // max(w.shape[0] for w in wavs))
    out = []
    for s in range(0, len(wavs), step):
        part = wavs[s : s + step]
        if part[0].shape[0] > max_len:  # one long clip: window average
            windows = torch.tensor_split(
                part[0], math.ceil(part[0].shape[0] / max_len)
            )
            embs = [model.encode_batch(w[None]).reshape(-1) for w in windows]
            out.append(torch.stack(embs).mean(dim=0, keepdim=True))
            continue
        lens = torch.tensor([w.shape[0] for w in part], dtype=torch.float)
        padded = torch.nn.utils.rnn.pad_sequence(part, batch_first=True)
        emb = model.encode_batch(padded, lens / lens.max())
        out.append(emb.reshape(len(part), -1))
    return torch.cat(out).float().cpu()


def embed_rows(
    model, rows, batch_size=BATCH_SIZE, issues=None, max_seconds=None
):
    """Embeddings of manifest rows (order kept), length-sorted batches.

    Arguments
    ---------
    model : SpeakerRecognition
        Loaded model.
    rows : list of dict
        Manifest rows.
    batch_size : int
        Most utterances per forward pass.
    issues : dict or None
        Receives ``ID -> "too_short"`` or ``"silent"`` for such clips.
    max_seconds : float or None
        Most audio per forward pass (default :data:`MAX_SECONDS`).

    Returns
    -------
    torch.Tensor
        ``[len(rows), D]`` float32 (CPU).
    """
    sr = model.audio_normalizer.sample_rate
    max_len = int((max_seconds or MAX_SECONDS) * sr)
    # The encoder's dilated convolutions reflect-pad their input and take
    # no clip under ~0.04 s: such a clip (counted too_short) is embedded
    # followed by silence.
    shortest = int(SHORTEST_SECONDS * sr)
    out = None
    with torch.no_grad():
        for batch in length_sorted_batches(rows, batch_size):
            wavs = [load_row(rows[i], model) for i in batch]
            if issues is not None:
                for i, w in zip(batch, wavs, strict=True):
                    bad = clip_issue(w, sr)
                    if bad:
                        issues[rows[i]["ID"]] = bad
            wavs = [
                torch.nn.functional.pad(w, (0, max(0, shortest - len(w))))
                for w in wavs
            ]
            emb = _encode(model, wavs, max_len)
            check_finite(emb, [rows[i]["ID"] for i in batch])
            if out is None:
                out = torch.empty(len(rows), emb.shape[1])
            out[torch.as_tensor(batch)] = emb
    return out


def shard_chunks(rows, rank, world_size, chunk_size):
    """Row indices of each chunk of one rank's shard.

    Rows are length-sorted and dealt round-robin to ranks, so shards have
    equal work; each shard is then cut into chunks.

    Arguments
    ---------
    rows : list of dict
        Manifest rows (lengths).
    rank : int
        This process's rank.
    world_size : int
        Number of processes.
    chunk_size : int
        Rows per chunk file.

    Returns
    -------
    list of numpy.ndarray
        The chunks of this rank.

    Example
    -------
    >>> rows = [{"duration": d} for d in (1.0, 4.0, 2.0, 3.0)]
    >>> [c.tolist() for c in shard_chunks(rows, 1, 2, 1)]
    [[3], [0]]
    """
    order = np.argsort(-_lengths(rows), kind="stable")
    mine = order[rank::world_size]
    return [mine[i : i + chunk_size] for i in range(0, mine.size, chunk_size)]


def _chunk_path(work_dir, world_size, chunk_size, rank, c):
    # Keyed by world and chunk size: a rerun with other sizes cuts other
    # chunks and never mixes them with these.
    name = f"w{world_size}_s{chunk_size}_r{rank}_c{c:06d}.pt"
    return Path(work_dir) / name


def embed_shard(
    model, rows, work_dir, rank, world_size, chunk_size, batch_size, progress
):
    """Embeds one rank's shard, chunk by chunk, skipping finished chunks.

    Arguments
    ---------
    model : SpeakerRecognition
        Loaded model.
    rows : list of dict
        The whole manifest.
    work_dir : str or Path
        Folder of chunk files (one folder per model and manifest).
    rank : int
        This process's rank.
    world_size : int
        Number of processes.
    chunk_size : int
        Utterances per chunk file.
    batch_size : int
        Utterances per forward pass.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    int
        Chunks computed now (the others were already on disk).
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    chunks = shard_chunks(rows, rank, world_size, chunk_size)
    todo = [
        (c, idx)
        for c, idx in enumerate(chunks)
        if not _chunk_path(work_dir, world_size, chunk_size, rank, c).is_file()
    ]
    if progress:
        from tqdm import tqdm

        todo = tqdm(todo, desc=f"embed rank {rank}", unit="chunk")
    for c, idx in todo:
        issues = {}
        emb = embed_rows(model, [rows[i] for i in idx], batch_size, issues)
        path = _chunk_path(work_dir, world_size, chunk_size, rank, c)
        ids = [rows[i]["ID"] for i in idx]
        # atomic: a killed run never leaves half a chunk
        torch_save({"ids": ids, "emb": emb, "issues": issues}, path)
    return len(todo)


def merge_chunks(rows, work_dir, world_size=1, chunk_size=256, issues=None):
    """Assembles all ranks' chunk files in manifest order.

    Arguments
    ---------
    rows : list of dict
        The whole manifest.
    work_dir : str or Path
        Folder of chunk files.
    world_size : int
        Number of processes that wrote them.
    chunk_size : int
        Utterances per chunk file they were written with.
    issues : dict or None
        Receives the chunks' short/silent clips (see :func:`embed_rows`).

    Returns
    -------
    ids : list of str
        Manifest IDs.
    emb : torch.Tensor
        ``[len(rows), D]`` embeddings.
    """
    index = {r["ID"]: i for i, r in enumerate(rows)}
    emb, have = None, np.zeros(len(rows), dtype=bool)
    pattern = f"w{world_size}_s{chunk_size}_r*_c*.pt"
    for path in sorted(Path(work_dir).glob(pattern)):
        blob = torch.load(path, weights_only=True)
        pos = [index[i] for i in blob["ids"]]
        if emb is None:
            emb = torch.empty(len(rows), blob["emb"].shape[1])
        emb[pos] = blob["emb"]
        have[pos] = True
        if issues is not None:
            issues.update(blob.get("issues", {}))
    if emb is None or not have.all():
        missing = [rows[i]["ID"] for i in np.flatnonzero(~have)[:3]]
        raise RuntimeError(
            f"{work_dir}: {int((~have).sum())} utterances have no embedding "
            f"(e.g. {missing}); rerun to finish the missing chunks"
        )
    return [r["ID"] for r in rows], emb


def embed_manifest(
    model,
    rows,
    work_dir,
    chunk_size=256,
    batch_size=BATCH_SIZE,
    progress=False,
    issues=None,
    rank=0,
    world=1,
):
    """Embeds a manifest resumably, sharded across ranks.

    With ``world > 1`` (``emoinv-embed`` under ``torchrun``) each rank
    embeds its shard, then all wait at a barrier and every rank reads the
    merged result.

    Arguments
    ---------
    model, rows, work_dir, chunk_size, batch_size, progress
        As in :func:`embed_shard`.
    issues : dict or None
        Receives short/silent clips (see :func:`embed_rows`).
    rank, world : int
        This process's rank and the number of processes sharing the work
        (the caller knows whether it runs distributed).

    Returns
    -------
    ids, emb
        As :func:`merge_chunks` returns them.
    """
    embed_shard(
        model, rows, work_dir, rank, world, chunk_size, batch_size, progress
    )
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo")
        dist.barrier()
    return merge_chunks(rows, work_dir, world, chunk_size, issues)
