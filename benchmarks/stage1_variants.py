#!/usr/bin/env python3
"""Stage-1 choices, judged on the validation voices only.

Scores exported models (``--model NAME=DIR``, each a folder the recipe
exported: stage-1 variants, and stage-2 models in section 3 of
``benchmarks/tuning.md``) on the **validation** lists of both corpora,
cosine EER %: the real voices' ``real_read``, ``real_acted`` and
``merged`` (``data/real/prepared``), and the simulated emotional corpus's
``neutral``, ``cross``, ``emo_emo`` and ``merged`` (simulated data,
``data/mbrola_default/prepared``). Also prints each run's per-epoch
validation EER from its ``train_log.txt`` (stage 1 exports its best
epoch; stage 2 the mix chosen with stage 1 unless ``--interpolate=null``). Evaluation voices are never scored here.

Results are kept per model in ``benchmarks/results/stage1_variants.json``
(a model already there is not scored again), so models can be added one
at a time.

Usage::

    python -m benchmarks.stage1_variants \\
        --model default=results/pretrain/<key>/pretrained \\
        --model sim_neutral=results/pretrain_sim_neutral/pretrained

Authors: speechbrain-emoinv contributors
"""

import argparse
import json
from pathlib import Path

from benchmarks.runner import valid_eers
from speechbrain_emoinv.evaluation import run_evaluation

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "stage1_variants.json"
DATA = {
    "real": ROOT / "data" / "real" / "prepared",
    "sim": ROOT / "data" / "mbrola_default" / "prepared",
}


def score(name, folder):
    """Validation EERs (%) of one exported model (``folder`` relative to
    the repository, or absolute), plus its run's epochs."""
    model = ROOT / folder
    entry = {
        "model": folder,
        "valid_eer_per_epoch": valid_eers(model.parent / "train_log.txt"),
    }
    for corpus, data in DATA.items():
        res = run_evaluation(
            model,
            data,
            ROOT / "results" / "stage1_variants" / name / corpus,
            split="valid",
            cohort=None,
            plots=False,
            probe=False,
        )
        for lst, m in res["lists"].items():
            key = lst if lst.startswith("real") else f"{corpus}_{lst}"
            entry[key] = round(m["cosine"]["eer"], 2)
    return entry


def main():
    """Scores the models missing from the results file; prints the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", default=[], metavar="NAME=DIR")
    args = ap.parse_args()
    done = json.loads(OUT.read_text()) if OUT.is_file() else {}
    for item in args.model:
        name, _, folder = item.partition("=")
        if not (ROOT / folder / "embedding_model.ckpt").is_file():
            raise SystemExit(f"{folder}: no embedding_model.ckpt")
        if name not in done:
            done[name] = score(name, folder)
            OUT.write_text(json.dumps(done, indent=2) + "\n")
    cols = [
        "real_read",
        "real_acted",
        "real_merged",
        "sim_neutral",
        "sim_cross",
        "sim_emo_emo",
        "sim_merged",
    ]
    print("| model | " + " | ".join(cols) + " | valid EER per epoch |")
    print("|---" * (len(cols) + 2) + "|")
    for name, e in done.items():
        cells = [f"{e.get(c, float('nan')):.2f}" for c in cols]
        epochs = " / ".join(f"{v:.2f}" for v in e["valid_eer_per_epoch"])
        print(f"| {name} | " + " | ".join(cells) + f" | {epochs} |")


if __name__ == "__main__":
    main()
