#!/usr/bin/env python3
"""How far padding in a batch moves an exported model's embeddings.

SpeechBrain embeds a padded batch with relative lengths, but the
ECAPA-TDNN's convolutions still read the padded frames next to each
clip's end. For one model folder and one split of a prepared folder,
every clip (cut at the validation pass's ``VALID_SECONDS``) is embedded
alone -- the reference; the ONNX and TorchScript files embed so -- and in
padded batches formed two ways:

* ``manifest order``: batches of ``--batch-size`` in the manifest's
  order, as the recipe's validation pass forms them (of 32 there);
* ``length-sorted``: the batches of ``embed_rows`` (at most ``max_pad``
  padding), as the evaluation tools form them.

It prints, for each, 1 - cosine against the reference (mean, 99th
percentile, max), the EER (%) of the split's merged trial list and the
seconds the embedding took.

Usage::

    python -m benchmarks.padding results/emoinv/1986/pretrained \
        data/mbrola_default/prepared --split valid

Authors
 * speechbrain-emoinv contributors 2026
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.evaluation.embedding import (
    BATCH_SIZE,
    length_sorted_batches,
    load_row,
)
from speechbrain_emoinv.evaluation.lists import read_trial_list
from speechbrain_emoinv.metrics import compute_eer
from speechbrain_emoinv.pipelines import VALID_SECONDS
from speechbrain_emoinv.pretrained import load_model
from speechbrain_emoinv.scoring import cosine_scores


def embed_in_batches(model, wavs, batches):
    """``[len(wavs), D]`` embeddings, each batch zero-padded to its
    longest clip and embedded with relative lengths."""
    out = torch.empty(len(wavs), 0)
    for batch in batches:
        part = [wavs[i] for i in batch]
        lens = torch.tensor([len(w) for w in part], dtype=torch.float)
        padded = torch.nn.utils.rnn.pad_sequence(part, batch_first=True)
        emb = model.encode_batch(padded, lens / lens.max()).squeeze(1)
        if out.shape[1] == 0:
            out = torch.empty(len(wavs), emb.shape[1])
        out[torch.as_tensor(batch)] = emb
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="exported model folder")
    p.add_argument("data", help="prepared folder")
    p.add_argument("--split", default="valid")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    args = p.parse_args(argv)
    data = Path(args.data)
    rows = read_manifest(data / f"{args.split}.csv")
    model = load_model(args.model)
    cut = int(VALID_SECONDS * model.audio_normalizer.sample_rate)
    trials = read_trial_list(
        data / "trials" / args.split / "merged.txt",
        {r["ID"]: i for i, r in enumerate(rows)},
    )
    with torch.no_grad():
        wavs = [load_row(r, model)[:cut] for r in rows]
        n = len(wavs)
        sized = [{"duration": len(w)} for w in wavs]
        ways = {
            "alone": [[i] for i in range(n)],
            "manifest order": [
                list(range(s, min(s + args.batch_size, n)))
                for s in range(0, n, args.batch_size)
            ],
            "length-sorted": length_sorted_batches(sized, args.batch_size),
        }
        emb, secs = {}, {}
        for name, batches in ways.items():
            start = time.perf_counter()
            emb[name] = embed_in_batches(model, wavs, batches)
            secs[name] = time.perf_counter() - start
    print(
        f"# {args.model}: {n} clips of {args.split}, {len(trials.labels)} trials\n"
    )
    print("| batches | 1-cos mean | 1-cos p99 | 1-cos max | EER % | seconds |")
    print("|---|---|---|---|---|---|")
    for name, e in emb.items():
        gap = 1 - torch.nn.functional.cosine_similarity(e, emb["alone"])
        scores = cosine_scores(e, trials.enrol, trials.test)
        eer, _ = compute_eer(np.asarray(scores), trials.labels)
        print(
            f"| {name} | {gap.mean():.2e} | {gap.quantile(0.99):.2e} | "
            f"{gap.max():.2e} | {100 * eer:.2f} | {secs[name]:.1f} |"
        )


if __name__ == "__main__":
    main()
