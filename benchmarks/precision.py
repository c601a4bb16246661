#!/usr/bin/env python3
"""bf16 against fp32 training: does the faster precision cost accuracy?

Runs, each only when its results are missing (resumable from its
checkpoints):

* stage 1, ``hparams/pretrain.yaml --precision=P`` for P = fp32, bf16;
* stage 2, ``hparams/emoinv.yaml --seed=S --interpolate=null
  --precision=P`` for both P, each fine-tuned from the **fp32** stage 1
  (``--pretrained_path``), so that the pair starts from the same weights
  and draws the same crops, partners and augmentation.

Prints per run the validation EER per epoch (the selection criterion;
choose on it) and the held-out evaluation lists (cosine EER %: the
simulated emotional lists, simulated data, and the real recorded voices
``real_read``, ``real_acted``; report only), and writes
``benchmarks/results/precision.json``. The step-time side is
``benchmarks/profile_step.py`` (``--overrides "precision: fp32"``).

Usage::

    python -m benchmarks.precision [--seed 4]

Authors: speechbrain-emoinv contributors
"""

import argparse
import json

from benchmarks.runner import recipe, valid_eers
from benchmarks.two_stage import MAIN, ROOT, eers

RUNS = ROOT / "results" / "precision"
OUT = ROOT / "benchmarks" / "results" / "precision.json"


def main():
    """Runs what is missing, prints and stores the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=4, help="stage 2's seed")
    args = ap.parse_args()
    start = RUNS / "stage1_fp32"
    rows = {}
    for p in ("fp32", "bf16"):
        name = f"stage1_{p}"
        recipe("hparams/pretrain.yaml", RUNS / name, f"--precision={p}")
        rows[name] = RUNS / name, True
    for p in ("fp32", "bf16"):
        name = f"stage2_{p}_seed{args.seed}"
        recipe(
            MAIN,
            RUNS / name,
            f"--seed={args.seed}",
            "--interpolate=null",
            f"--precision={p}",
            f"--pretrained_path={start / 'pretrained'}",
        )
        rows[name] = RUNS / name, False
    out = {
        name: dict(
            valid_eer_per_epoch=valid_eers(folder / "train_log.txt"),
            eval_eer_cosine=eers(folder, real_only=stage1),
        )
        for name, (folder, stage1) in rows.items()
    }
    for name, r in out.items():
        print(f"{name}: valid EER per epoch {r['valid_eer_per_epoch']}")
        print(f"    evaluation lists {r['eval_eer_cosine']}")
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
