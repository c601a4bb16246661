#!/usr/bin/env python3
"""Does the exported model keep the voices of its own stage 1?

The main command, ``python train_speaker_embeddings.py hparams/emoinv.yaml
--seed=S``, for each seed S (into ``results/emoinv/<S>``, run only when its
results are missing; a killed run resumes from its checkpoints). All seeds
fine-tune the same cached stage 1, which is scored once on the same
evaluation lists: the simulated emotional lists (``neutral cross emo_emo
merged``, simulated data) and the real recorded voices (``real_read
real_acted``), cosine EER %. Printed per list: stage 1, the exports
(mean ± std over seeds), the paired change export − stage 1 with its 95 %
t-interval over seeds (stage 1 is one model: the interval holds stage 2's
seed-to-seed spread only), the mix each run exported (``a``: 0 is stage 1
itself) and Resemblyzer's EER on the real lists
(``benchmarks/reference_resemblyzer.py``) when its results are there. Writes ``benchmarks/results/keep_voices.json``.

Usage::

    python -m benchmarks.keep_voices [--seeds 1,2,3]

Authors: speechbrain-emoinv contributors
"""

import argparse
import json
import re

import numpy as np

from benchmarks.runner import recipe
from benchmarks.stats import t_half_width
from benchmarks.two_stage import (
    LISTS,
    MAIN,
    ROOT,
    SIM_DATA,
    eers,
    stage1_folder,
)
from speechbrain_emoinv.evaluation.run import run_evaluation

OUT = ROOT / "benchmarks" / "results" / "keep_voices.json"
REFERENCE = ROOT / "benchmarks" / "results" / "reference_resemblyzer.json"


def stage1_eers(stage1):
    """Stage 1's EERs: its real lists from its own run, the simulated ones
    scored here once (``eval_simulated/``)."""
    sim = stage1 / "eval_simulated"
    if not (sim / "results.json").is_file():
        run_evaluation(
            stage1 / "pretrained", SIM_DATA, sim, plots=False, probe=False
        )
    out = eers(stage1, real_only=True)
    res = json.loads((sim / "results.json").read_text())["lists"]
    out.update({n: round(m["cosine"]["eer"], 2) for n, m in res.items()})
    return out


def chosen_mix(folder):
    """The mix the run exported, from its log (``a = ...``)."""
    found = re.findall(
        r"Interpolation with the start: a = ([\d.]+)",
        (folder / "log.txt").read_text(errors="replace"),
    )
    return float(found[-1]) if found else None


def paired(diffs):
    """Mean and 95 % t-interval of paired differences (None with one).

    Example
    -------
    >>> paired([1.0, 2.0, 3.0])  # 2 +- t(0.975, 2) * 1 / sqrt(3)
    {'mean': 2.0, 'ci95': [-0.48, 4.48]}
    >>> paired([0.5])
    {'mean': 0.5, 'ci95': None}
    """
    d = np.asarray(diffs, dtype=float)
    if len(d) < 2:
        return dict(mean=round(float(d.mean()), 2), ci95=None)
    half = t_half_width(d)
    return dict(
        mean=round(float(d.mean()), 2),
        ci95=[
            round(float(d.mean() - half), 2),
            round(float(d.mean() + half), 2),
        ],
    )


def main():
    """Runs what is missing, then prints and stores the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="1,2,3")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    folders = {s: ROOT / "results" / "emoinv" / str(s) for s in seeds}
    for s, folder in folders.items():
        recipe(MAIN, folder, f"--seed={s}")
    stage1 = stage1_folder(folders[seeds[0]])
    stage1 = stage1 if stage1.is_absolute() else ROOT / stage1
    base = stage1_eers(stage1)
    runs = {s: eers(f) for s, f in folders.items()}
    mixes = {s: chosen_mix(f) for s, f in folders.items()}
    ref = {}
    if REFERENCE.is_file():  # real lists only: the simulated ones follow
        lists = json.loads(REFERENCE.read_text())["real_lists"]  # the corpus
        ref = {
            n: round(m["cosine"]["eer"], 2)
            for n, m in lists.items()
            if n.startswith("real_")
        }
    table = {}
    for n in LISTS:
        vals = [runs[s][n] for s in seeds]
        table[n] = dict(
            stage1=base[n],
            export_mean=round(float(np.mean(vals)), 2),
            export_std=round(float(np.std(vals, ddof=1)), 2)
            if len(vals) > 1
            else None,
            change=paired([v - base[n] for v in vals]),
            resemblyzer=ref.get(n),
        )
    print(f"stage 1: {stage1.relative_to(ROOT)}; seeds {seeds}; mixes {mixes}")
    print(
        "| list | stage 1 | export (mean ± std) | export − stage 1 (95 % CI) "
        "| Resemblyzer |"
    )
    print("|---|---|---|---|---|")
    for n, t in table.items():
        ci = t["change"]["ci95"]
        ci = f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else ""
        std = f" ± {t['export_std']:.2f}" if t["export_std"] is not None else ""
        print(
            f"| {n} | {t['stage1']:.2f} | {t['export_mean']:.2f}{std} "
            f"| {t['change']['mean']:+.2f}{ci} | {t['resemblyzer'] or '–'} |"
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            dict(
                command="python -m benchmarks.keep_voices --seeds "
                + ",".join(map(str, seeds)),
                stage1=str(stage1.relative_to(ROOT)),
                seeds=seeds,
                mixes=mixes,
                eer_cosine=dict(stage1=base, exports=runs),
                lists=table,
            ),
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
