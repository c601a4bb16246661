#!/usr/bin/env python3
"""Rule 5 of ``benchmarks/tuning.md`` §4: WiSE-FT on finished tuning runs.

For each finished run of a variant (``results/tuning/<variant>/<seed>``),
mixes its export with the stage-1 weights it fine-tuned
(``(1 - a) stage 1 + a stage 2``, a in 0.25, 0.5, 0.75, 1), chooses a by
the run's own checkpoint criterion (EER over its joint validation list:
``valid.csv`` + ``valid_trials.txt`` of its output folder), and scores the
chosen mix on both corpora's validation lists, as the tuning runs are
scored. This is what ``--interpolate=[0.25, 0.5, 0.75, 1.0]`` would have
exported, without retraining. Writes ``wise.json`` beside each run's
results and prints the rule's outcome.

Usage::

    python benchmarks/wise_tuning.py --variant warm --seeds 1,2,3

Authors: speechbrain-emoinv contributors
"""

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from speechbrain_emoinv.evaluation import run_evaluation
from speechbrain_emoinv.interpolation import mix_states

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "tuning"
RUNS = ROOT / "results" / "tuning"
DATA = {
    "sim": ROOT / "data" / "mbrola_default" / "prepared",
    "real": ROOT / "data" / "real" / "prepared",
}
WEIGHTS = [0.25, 0.5, 0.75, 1.0]


def score(model, data, out):
    """Cosine EERs (%) of a model folder on a prepared folder's valid lists."""
    res = run_evaluation(
        model, data, out, split="valid", cohort=None, plots=False,
        probe=False, log=lambda *a: None,
    )  # fmt: skip
    return {k: v["cosine"]["eer"] for k, v in res["lists"].items()}


def wise_run(variant, seed, tmp):
    """Chooses a for one run and scores the chosen mix."""
    run = RUNS / variant / str(seed)
    info = json.loads(
        (RESULTS / variant / f"seed{seed}" / "run.json").read_text()
    )
    start = torch.load(ROOT / info["stage1"] / "embedding_model.ckpt")
    end = torch.load(run / "pretrained" / "embedding_model.ckpt")
    joint = tmp / "joint"
    (joint / "trials" / "valid").mkdir(parents=True, exist_ok=True)
    shutil.copy(run / "valid.csv", joint / "valid.csv")
    shutil.copy(run / "valid_trials.txt", joint / "trials/valid/merged.txt")
    eers, models = {}, {}
    for a in WEIGHTS:
        model = tmp / f"a{a}"
        shutil.copytree(run / "pretrained", model, dirs_exist_ok=True)
        torch.save(mix_states(start, end, a), model / "embedding_model.ckpt")
        eers[a] = score(model, joint, tmp / f"joint_{a}")["merged"]
        models[a] = model
    best = min(eers, key=lambda a: (eers[a], -a))
    lists = {
        f"{corpus}_{k}": v
        for corpus, data in DATA.items()
        for k, v in score(models[best], data, tmp / f"{corpus}_{best}").items()
    }
    return {"weight": best, "joint_valid_eer": eers, "lists": lists}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", required=True)
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args(argv)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        dest = RESULTS / args.variant / f"seed{seed}"
        path = dest / "wise.json"
        if not path.is_file():
            with tempfile.TemporaryDirectory() as tmp:
                path.write_text(
                    json.dumps(
                        wise_run(args.variant, seed, Path(tmp)), indent=2
                    )
                    + "\n"
                )
        wise = json.loads(path.read_text())
        res = json.loads((dest / "results.json").read_text())["lists"]
        real = json.loads((dest / "real_results.json").read_text())["lists"]
        plain = (
            res["merged"]["cosine"]["eer"] + real["merged"]["cosine"]["eer"]
        ) / 2
        mixed = (wise["lists"]["sim_merged"] + wise["lists"]["real_merged"]) / 2
        rows.append((seed, wise["weight"], plain, mixed, wise["lists"]))
        print(
            f"seed {seed}: a = {wise['weight']}, score {plain:.2f} -> "
            f"{mixed:.2f} (sim merged {wise['lists']['sim_merged']:.2f}, "
            f"real merged {wise['lists']['real_merged']:.2f}, read "
            f"{wise['lists']['real_real_read']:.2f}, acted "
            f"{wise['lists']['real_real_acted']:.2f})"
        )
    change = [m - p for _, _, p, m, _ in rows]
    adopted = np.mean(change) < 0 and sum(c < 0 for c in change) >= 2
    print(
        f"rule 5: score change {np.mean(change):+.2f} on the mean, lower on "
        f"{sum(c < 0 for c in change)} of {len(change)} seeds -> "
        f"{'adopted' if adopted else 'not adopted'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
