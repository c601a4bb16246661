#!/usr/bin/env python3
"""Two-stage (real-voice pretraining + emotional fine-tuning) vs synthetic-only.

Runs, each only when its results are missing (and each resumable from its
checkpoints when interrupted):

* ``two_stage``: the README's main command,
  ``python train_speaker_embeddings.py hparams/emoinv.yaml`` (stage 1 on
  real voices, cached, then fine-tuning on the simulated emotional corpus);
* ``synthetic_only``: the same command with stage 1 off, i.e. the
  single-stage model trained on simulated voices only, as it was trained
  before the two-stage flow (``--pretrain_config=null --lr=0.002
  --number_of_epochs=4``: 5e-4 for 3 epochs are fine-tuning values);
* ``untrained``: the floor, an ECAPA-TDNN of the same architecture with
  its random initial weights (``torch.manual_seed(seed)``), exported and
  scored like the others.

Then prints EER (%) of the exported models on every evaluation list —
simulated emotional lists (``neutral cross emo_emo merged``, simulated
data) and real voices (``real_read real_acted``), cosine scoring — the
stage-1 model's own real lists, the relative change, and the wall time of
each stage from the runs' logs. Writes ``benchmarks/results/two_stage.json``.

Usage::

    python -m benchmarks.two_stage [--seed 1986]

Authors: speechbrain-emoinv contributors
"""

import argparse
import json
import re
from pathlib import Path

import torch

from benchmarks.runner import ROOT, recipe, stage1_model

MAIN = "hparams/emoinv.yaml"
OUT = ROOT / "benchmarks" / "results" / "two_stage.json"
SIM_DATA = ROOT / "data" / "mbrola_default" / "prepared"
REAL_DATA = ROOT / "data" / "real" / "prepared"
LISTS = ("neutral", "cross", "emo_emo", "merged", "real_read", "real_acted")


def eers(folder, real_only=False):
    """List -> cosine EER (%) of the simulated and real evaluation lists
    (``real_only``: the stage-1 run, whose ``eval/`` holds the real lists)."""
    out = {}
    for sub in ("eval", "eval/real"):
        path = folder / sub / "results.json"
        if path.is_file():
            res = json.loads(path.read_text())["lists"]
            for name, m in res.items():
                if (sub == "eval/real" or real_only) and not name.startswith(
                    "real"
                ):
                    continue
                out[name] = round(m["cosine"]["eer"], 2)
    return out


def minutes(folder):
    """Minutes of the run, from the recipe's closing log line."""
    log = (folder / "log.txt").read_text() if folder.is_dir() else ""
    found = re.findall(r"Finished \S+ in ([\d.]+) min", log)
    return float(found[-1]) if found else None


def untrained(folder, like, seed):
    """Exports a randomly initialised copy of the model in ``like`` and
    scores it on both corpora's evaluation lists, unless already done."""
    from hyperpyyaml import load_hyperpyyaml

    from speechbrain_emoinv.evaluation.run import run_evaluation

    if (folder / "eval" / "real" / "results.json").is_file():
        return
    text = (like / "hyperparams.yaml").read_text()
    torch.manual_seed(seed)
    model = load_hyperpyyaml(text)["embedding_model"]
    (folder / "pretrained").mkdir(parents=True, exist_ok=True)
    torch.save(
        model.state_dict(), folder / "pretrained" / "embedding_model.ckpt"
    )
    (folder / "pretrained" / "hyperparams.yaml").write_text(text)
    for data, sub in ((SIM_DATA, "eval"), (REAL_DATA, "eval/real")):
        run_evaluation(
            folder / "pretrained", data, folder / sub, plots=False, probe=False
        )


def stage1_folder(two_stage):
    """The cached stage-1 run the fine-tuned model started from."""
    export, _ = stage1_model(two_stage / "log.txt")
    return Path(export).parent if export else None


def main():
    """Runs what is missing, then prints and stores the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1986)
    args = ap.parse_args()
    two = ROOT / "results" / "emoinv" / str(args.seed)
    syn = ROOT / "results" / "emoinv_synthetic_only" / str(args.seed)
    recipe(MAIN, two, f"--seed={args.seed}")
    recipe(
        MAIN,
        syn,
        f"--seed={args.seed}",
        "--pretrain_config=null",
        "--lr=0.002",
        "--number_of_epochs=4",
    )
    stage1 = stage1_folder(two)
    stage1 = stage1 if stage1.is_absolute() else ROOT / stage1
    floor = ROOT / "results" / "untrained" / str(args.seed)
    untrained(floor, two / "pretrained", args.seed)
    rows = {
        "two_stage": eers(two),
        "synthetic_only": eers(syn),
        "stage1_only": eers(stage1, real_only=True),
        "untrained": eers(floor),
    }
    times = {
        "stage1_min": minutes(stage1),
        "stage2_min": minutes(two),
        "synthetic_only_min": minutes(syn),
    }
    change = {
        n: round(
            100 * (rows["two_stage"][n] / rows["synthetic_only"][n] - 1), 1
        )
        for n in LISTS
        if n in rows["two_stage"] and rows["synthetic_only"].get(n)
    }
    print("| model | " + " | ".join(LISTS) + " |")
    print("|---" * (len(LISTS) + 1) + "|")
    for name, r in rows.items():
        print(
            f"| {name} | "
            + " | ".join(str(r.get(n, "–")) for n in LISTS)
            + " |"
        )
    print(
        "| two_stage vs synthetic_only (%) | "
        + " | ".join(f"{change[n]:+.1f}" if n in change else "–" for n in LISTS)
        + " |"
    )
    print("minutes:", times)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            dict(
                seed=args.seed,
                stage1=str(stage1.relative_to(ROOT)),
                eer_cosine=rows,
                relative_change_pct=change,
                minutes=times,
            ),
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
