#!/usr/bin/env python3
"""Rules 5 and 6 of ``benchmarks/tuning.md`` §4: WiSE-FT on finished runs.

For each finished run of a variant (``results/tuning/<variant>/<seed>``),
mixes its export with the stage-1 weights it fine-tuned
(``(1 - a) stage 1 + a stage 2``, a in 0, 0.25, 0.5, 0.75, 1) and scores
every mix on the run's joint validation list (``valid.csv`` +
``valid_trials.txt`` of its output folder) and on both corpora's
validation lists, as the tuning runs are scored. Rule 5 chooses a among
0.25-1 by the joint EER (what ``--interpolate=[0.25, 0.5, 0.75, 1.0]``
exports), rule 6 among all five by the score (mean of the real and
simulated ``merged`` EERs). Writes ``wise.json`` beside each run's
results and prints both rules' outcomes and, when rule 6 is not met, the
export rule 5 gives (the lowest joint EER among all five a, stage 1
included; the recipe itself now applies rule 7, ``pick_mix``) against
stage 1.

Usage::

    python -m benchmarks.wise_tuning --variant no_rehearsal --seeds 1,2,3

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
from speechbrain_emoinv.interpolation import mix_states, pick_mix

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "tuning"
RUNS = ROOT / "results" / "tuning"
DATA = {
    "sim": ROOT / "data" / "mbrola_default" / "prepared",
    "real": ROOT / "data" / "real" / "prepared",
}
WEIGHTS = [0.0, 0.25, 0.5, 0.75, 1.0]


def score(model, data, out):
    """Cosine EERs (%) of a model folder on a prepared folder's valid lists."""
    res = run_evaluation(
        model, data, out, split="valid", cohort=None, plots=False,
        probe=False, log=lambda *a: None,
    )  # fmt: skip
    return {k: v["cosine"]["eer"] for k, v in res["lists"].items()}


def wise_run(variant, seed, tmp):
    """Every mix of one run scored on its joint list and on both corpora."""
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
    grid = {}
    for a in WEIGHTS:
        model = tmp / f"a{a}"
        shutil.copytree(run / "pretrained", model, dirs_exist_ok=True)
        torch.save(mix_states(start, end, a), model / "embedding_model.ckpt")
        grid[str(a)] = {"joint": score(model, joint, tmp / f"joint_{a}")}
        for corpus, data in DATA.items():
            grid[str(a)][corpus] = score(model, data, tmp / f"{corpus}_{a}")
    return {"grid": grid}


def choose(grid):
    """(rule 5's a, rule 6's a) of one run's grid."""
    mean = {
        a: (g["sim"]["merged"] + g["real"]["merged"]) / 2
        for a, g in grid.items()
    }
    joint = {a: g["joint"]["merged"] for a, g in grid.items() if float(a) > 0}
    # ties: the larger a (the tuned end)
    rule5 = min(joint, key=lambda a: (joint[a], -float(a)))
    rule6 = min(mean, key=lambda a: (mean[a], -float(a)))
    return rule5, rule6, mean


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", required=True)
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args(argv)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        path = RESULTS / args.variant / f"seed{seed}" / "wise.json"
        if not path.is_file() or "grid" not in json.loads(path.read_text()):
            with tempfile.TemporaryDirectory() as tmp:
                grid = wise_run(args.variant, seed, Path(tmp))
            path.write_text(json.dumps(grid, indent=2) + "\n")
        grid = json.loads(path.read_text())["grid"]
        rule5, rule6, mean = choose(grid)
        rows.append((grid, rule5, rule6, mean))
        line = ", ".join(
            f"a={a}: sim {g['sim']['merged']:.2f} real {g['real']['merged']:.2f}"
            f" joint {g['joint']['merged']:.2f}"
            for a, g in grid.items()
        )
        print(f"seed {seed}: {line}; rule 5 a = {rule5}, rule 6 a = {rule6}")
    change = [m[r5] - m["1.0"] for _, r5, _, m in rows]
    adopted = np.mean(change) < 0 and sum(c < 0 for c in change) >= 2
    print(
        f"rule 5: score change {np.mean(change):+.2f} on the mean, lower on "
        f"{sum(c < 0 for c in change)} of {len(change)} seeds -> "
        f"{'adopted' if adopted else 'not adopted'}"
    )
    real = [
        g[r6]["real"]["merged"] - g["0.0"]["real"]["merged"]
        for g, _, r6, _ in rows
    ]
    sim = [
        g[r6]["sim"]["merged"] - g["0.0"]["sim"]["merged"]
        for g, _, r6, _ in rows
    ]
    met = np.mean(real) <= 0.5 and np.mean(sim) < 0
    print(
        f"rule 6: chosen mixes vs stage 1, real merged {np.mean(real):+.2f}"
        f" points, simulated merged {np.mean(sim):+.2f} points -> "
        f"{'the criterion of every stage-2 config' if met else 'not met'}"
    )
    if not met:
        export(rows)
    return 0


def export(rows):
    """Prints what ``pick_mix`` exports per seed and its change vs stage 1."""
    real, sim = [], []
    for grid, *_ in rows:
        stats = {
            float(a): {
                "EER": g["joint"]["merged"],
                "score": (g["sim"]["merged"] + g["real"]["merged"]) / 2,
            }
            for a, g in grid.items()
        }
        g = grid[str(pick_mix(stats))]
        real.append(g["real"]["merged"] - grid["0.0"]["real"]["merged"])
        sim.append(g["sim"]["merged"] - grid["0.0"]["sim"]["merged"])
        print(f"export (pick_mix): a = {pick_mix(stats)}")
    print(
        f"exports vs stage 1: real merged {np.mean(real):+.2f} points, "
        f"simulated merged {np.mean(sim):+.2f} points (mean of "
        f"{len(rows)} seeds)"
    )


if __name__ == "__main__":
    sys.exit(main())
