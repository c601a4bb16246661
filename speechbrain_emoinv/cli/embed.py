"""``emoinv-embed``: embeddings of a manifest through an exported model.

Single process::

    emoinv-embed --model results/export --csv data/eval.csv --out emb/

Several processes (each embeds one shard; rank 0's output is the merge)::

    torchrun --standalone --nproc_per_node=4 -m speechbrain_emoinv.cli.embed \\
        --model results/export --csv data/eval.csv --out emb/

Finished chunks are kept in ``OUT/chunks/<model key>-<manifest key>``
(the model key is the model's fingerprint, a digest of its checkpoint and
hyperparameters, with its embedding path: ``<fingerprint>-onnx``, or
``<fingerprint>-b<batch size>`` for PyTorch; the manifest key covers the
manifest and its audio files), named by world and chunk size, so
rerunning after a crash skips them, while another model, path or batch
size, changed input or another ``--chunk-size`` never reuses them. The
result is ``OUT/embeddings.pt``: ``{"ids": [...], "emb": Tensor[N, D],
"model": <fingerprint>, "backend": "onnx" | "pytorch", "short_or_silent":
{ID: issue}}`` in manifest order.
"""

import os
import sys
from pathlib import Path

import torch
from speechbrain.utils.distributed import get_rank

from speechbrain_emoinv.atomic_files import torch_save
from speechbrain_emoinv.cli import make_parser, positive_int, run_main
from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.evaluation.embedding import (
    BATCH_SIZE,
    embed_manifest,
    embedding_key,
    load_embedder,
)
from speechbrain_emoinv.evaluation.run import pick_backend, warn_clips
from speechbrain_emoinv.scoring import manifest_key


def build_parser():
    """Argument parser of ``emoinv-embed``.

    Example
    -------
    >>> build_parser().parse_args(
    ...     ["--model", "m", "--csv", "c", "--out", "o"]
    ... ).chunk_size
    256
    """
    p = make_parser(
        "emoinv-embed",
        "Embed every row of a manifest CSV (resumable, sharded under "
        "torchrun).",
        model=True,
        backend=True,
    )
    p.add_argument(
        "--csv",
        required=True,
        help="manifest CSV (columns ID, wav, start, stop, spk_id, emotion)",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=BATCH_SIZE,
        help="PyTorch path only",
    )
    p.add_argument(
        "--chunk-size",
        type=positive_int,
        default=256,
        help="utterances per resumable chunk file (chunks are kept per "
        "size: a rerun with another size starts its own)",
    )
    p.add_argument(
        "--device", default=None, help="default: cuda:<local rank> or cpu"
    )
    p.add_argument("--no-progress", action="store_true")
    return p


def run(argv=None):
    """Does the work of ``emoinv-embed``; returns the output file path."""
    args = build_parser().parse_args(argv)
    # torchrun's environment: each process embeds its shard.
    rank, world = get_rank() or 0, int(os.environ.get("WORLD_SIZE", 1))
    device = args.device
    if device is None:
        local = int(os.environ.get("LOCAL_RANK", 0))
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    out = Path(args.out)
    rows = read_manifest(args.csv, strict=False)
    backend = pick_backend(args.model, args.backend, device, "emoinv-embed")
    model = load_embedder(args.model, backend, device=device)
    key = embedding_key(model.fingerprint, backend, args.batch_size)
    work = out / "chunks" / f"{key}-{manifest_key(args.csv)}"
    issues = {}
    ids, emb = embed_manifest(
        model,
        rows,
        work,
        chunk_size=args.chunk_size,
        batch_size=args.batch_size,
        progress=not args.no_progress,
        issues=issues,
        rank=rank,
        world=world,
    )
    path = out / "embeddings.pt"
    if rank == 0:
        blob = {"ids": ids, "emb": emb, "model": model.fingerprint}
        blob["backend"] = backend
        torch_save({**blob, "short_or_silent": issues}, path)
        warn_clips(issues, "emoinv-embed")
        print(f"{len(ids)} embeddings of size {emb.shape[1]} -> {path}")
    if world > 1:
        torch.distributed.destroy_process_group()
    return path


def main(argv=None):
    """``emoinv-embed`` entry point; returns the exit status."""
    return run_main("emoinv-embed", run, argv)


if __name__ == "__main__":
    sys.exit(main())
