#!/usr/bin/env python3
"""Tuning benchmark: design variants judged on the VALIDATION speakers only.

Two sources of evidence, both scored on ``trials/valid/*.txt`` (the six
validation speakers; training, validation and evaluation speakers are
disjoint) and never on the evaluation speakers:

1. **The ablation's own models**, re-scored on the validation lists. The
   ablation rows differ by one switch each, so they give the points
   lambda in {0, 0.3} and EM on/off, with as many seeds as the ablation has
   finished.
2. **Variants** (``benchmarks/tuning/<variant>.yaml``, each ``base:`` the
   full method with its final scoring moved to the validation lists):
   the reference ``valid_eval`` (the defaults when these runs were made:
   rehearsal, unmixed export), lambda = 0.5, EM on every parallel sample,
   CopyPaste ``replace``, EM on spans, partners of any emotion, the
   parallel sample cut from the anchor's crop, and the remedies of
   tuning.md §4 (``no_rehearsal``, ``l2sp``, ``rehearsal_pairs``, ``warm``,
   ``warm_l2sp``). Each is trained with the same seeds as the reference, so the
   comparison is paired by seed, and fine-tunes the same stage-1 model
   (the cached one, or ``--pretrained_path``). Both the simulated and the
   real validation lists are scored.

Everything is resumable: a variant run whose ``run.json`` is committed is
skipped, a killed one resumes from its checkpoints, a re-scored model is
not scored twice. Results go to ``benchmarks/results/tuning/`` (summary
``summary.{md,json}``) and are committed after each step.

Usage::

    nohup .venv/bin/python -m benchmarks.tuning > results/tuning.log 2>&1 &
    python -m benchmarks.tuning --variants pair_weight_0.5 --seeds 1,2
    python -m benchmarks.tuning --pretrained_path results/pretrain/KEY/pretrained
    python -m benchmarks.tuning --aggregate-only

Authors
 * speechbrain-emoinv contributors 2026
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import ablation, runner
from benchmarks.report import fmt, markdown_table, write_summary
from benchmarks.stats import describe

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "benchmarks" / "tuning"
RESULTS = ROOT / "benchmarks" / "results" / "tuning"
RUNS = ROOT / "results" / "tuning"
DATA = ROOT / "data" / "mbrola_default" / "prepared"
REAL = ROOT / "data" / "real" / "prepared"
REFERENCE = "valid_eval"
# Ablation rows re-scored on the validation lists: (row, what it tells).
ABLATION_POINTS = {
    "baseline": "no pairs (AAM only)",
    "ablation_copypaste": "lambda = 0, no EM",
    "ablation_copypaste_erl": "lambda = 0.3, no EM",
    "emoinv": "lambda = 0.3, EM top-k p = 0.5 (defaults)",
}
VARIANTS = {
    "valid_eval": "rehearsal (the defaults of the runs of tuning.md §4)",
    "pair_weight_0.5": "lambda = 0.5",
    "em_always": "EM on every parallel sample, 20-40 %",
    "copypaste_replace": "CopyPaste replace instead of concat",
    "em_spans": "EM on 10-frame spans around energy peaks",
    "partner_other": "partners of any other emotion, not neutral <-> emotional",
    "shared_crop": "parallel sample cut from the anchor's own crop",
    "no_rehearsal": "no remedy: stage 2 on the emotional corpus alone",
    "l2sp": "L2-SP toward the stage-1 weights instead of rehearsal",
    "rehearsal_pairs": "rehearsed real rows paired too (pair loss, EM)",
    "warm": "rehearsal, classifier warm-started from stage 1",
    "warm_l2sp": "rehearsal, warm classifier and L2-SP",
}
LISTS = [
    "neutral",
    "cross",
    "emo_emo",
    "merged",
    "real_read",
    "real_acted",
    "real_merged",
]
# Lists whose change against the reference is paired by seed.
CHANGE_LISTS = ["merged", "real_read", "real_acted", "real_merged"]
# Section 4 of tuning.md: remedies against forgetting the real voices.
NO_REMEDY = "no_rehearsal"
REMEDIES = ["valid_eval", "l2sp", "warm", "warm_l2sp"]


def rescore(row, seed, log=print):
    """Scores one finished ablation model on the validation lists of both
    corpora (those not scored yet)."""
    from speechbrain_emoinv.evaluation import run_evaluation

    dest = RESULTS / row / f"seed{seed}"
    model = ablation.run_dir(row, seed) / "pretrained"
    todo = {
        name: data
        for name, data in (("results", DATA), ("real_results", REAL))
        if not (dest / f"{name}.json").is_file()
    }
    if not todo:
        return True
    if not (model / "embedding_model.ckpt").is_file():
        log(f"{row} seed {seed}: no exported model at {model}; not scored")
        return False
    t0 = time.time()
    dest.mkdir(parents=True, exist_ok=True)
    for name, data in todo.items():
        results = run_evaluation(
            model_dir=model,
            data_dir=data,
            out_dir=RUNS / "rescore" / row / str(seed) / name,
            split="valid",
            cohort=None,
            plots=False,
            log=lambda *a: None,
        )
        (dest / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    info = runner.load_finished([row], ablation.RESULTS)[row][seed][1]
    (dest / "run.json").write_text(
        json.dumps(
            {
                "row": row,
                "seed": seed,
                "source": f"benchmarks/results/ablation/{row}/seed{seed}",
                "valid_eer_per_epoch": info["valid_eer_per_epoch"],
                "rescore_wall_s": round(time.time() - t0, 1),
            },
            indent=2,
        )
        + "\n"
    )
    log(f"{row} seed {seed}: re-scored on the validation lists")
    return True


def train_variant(variant, seed, tag, start, pretrained=None, log=print):
    """Trains (or resumes) one variant; scored on the validation lists."""
    out = RUNS / variant / str(seed)
    cmd = [
        ".venv/bin/python",
        "train_speaker_embeddings.py",
        f"benchmarks/tuning/{variant}.yaml",
        f"--seed={seed}",
        f"--output_folder={out.relative_to(ROOT)}",
    ]
    if pretrained:
        cmd.append(f"--pretrained_path={pretrained}")
    return runner.run_and_collect(
        variant,
        seed,
        cmd,
        out,
        RESULTS / variant / f"seed{seed}",
        tag,
        start,
        log=log,
    )


def aggregate():
    """Summary of every scored model (also written to summary.{json,md})."""
    names = {**ABLATION_POINTS, **VARIANTS}
    loaded = runner.load_finished(names, RESULTS)
    ref = loaded.get(REFERENCE, {})
    summary = {
        "description": (
            "Tuning on the validation speakers only (simulated default "
            "MBROLA corpus, trials/valid/*.txt, simulated data; real_read "
            "and real_acted: the real validation voices; cosine scoring "
            "of the checkpoint with the best validation EER)"
        ),
        "reference": REFERENCE,
        "rows": {},
    }
    for name, what in names.items():
        seeds = loaded.get(name, {})
        entry = {"what": what, "seeds": sorted(seeds), "n_seeds": len(seeds)}
        if seeds:
            # Lists a run lacks (a re-score made before real scoring).
            entry["eer"] = {
                lst: describe(
                    [
                        r["lists"][lst]["cosine"]["eer"]
                        for r, _ in seeds.values()
                        if lst in r["lists"]
                    ]
                )
                for lst in LISTS
            }
            entry["gap"] = describe(
                [r["emotion_gap"]["cosine"] for r, _ in seeds.values()]
            )
            entry["probe_accuracy"] = describe(
                [
                    (r.get("leakage_probe") or {}).get("accuracy")
                    for r, _ in seeds.values()
                ]
            )
            entry["best_valid_eer"] = describe(
                [min(i["valid_eer_per_epoch"]) for _, i in seeds.values()]
            )
            entry["change_vs_reference"] = {
                lst: describe(
                    [
                        100
                        * (
                            r["lists"][lst]["cosine"]["eer"]
                            - ref[s][0]["lists"][lst]["cosine"]["eer"]
                        )
                        / ref[s][0]["lists"][lst]["cosine"]["eer"]
                        for s, (r, _) in sorted(seeds.items())
                        if s in ref
                        and lst in r["lists"]
                        and lst in ref[s][0]["lists"]
                    ]
                )
                for lst in CHANGE_LISTS
            }
        summary["rows"][name] = entry
    summary["forgetting"] = forgetting_rules(loaded)
    return summary, write_summary(RESULTS, summary, render)


def forgetting_rules(loaded):
    """Rules 1-3 of tuning.md §4 on the finished runs.

    Score of a run: the mean of its real and simulated ``merged`` EERs.
    Returns, per remedy, the paired means over the seeds it shares with
    ``no_rehearsal`` and whether it qualifies; the chosen remedy; and the
    ``rehearsal_pairs`` comparison with ``valid_eval``.
    """

    def eer(run, lst):
        return run[0]["lists"][lst]["cosine"]["eer"]

    def score(run):
        return (eer(run, "merged") + eer(run, "real_merged")) / 2

    base = loaded.get(NO_REMEDY, {})
    out = {"remedies": {}}
    for name in REMEDIES:
        runs = loaded.get(name, {})
        seeds = sorted(set(runs) & set(base))
        if not seeds:
            continue
        real = np.mean(
            [eer(runs[s], "real_merged") - eer(base[s], "real_merged")
             for s in seeds]
        )  # fmt: skip
        sim = np.mean(
            [100 * (eer(runs[s], "merged") / eer(base[s], "merged") - 1)
             for s in seeds]
        )  # fmt: skip
        out["remedies"][name] = {
            "seeds": seeds,
            "real_merged_change_points": float(real),
            "sim_merged_change_percent": float(sim),
            "score": float(np.mean([score(runs[s]) for s in seeds])),
            "qualifies": bool(real < 0 and sim <= 5.0),
        }
    ok = {k: v for k, v in out["remedies"].items() if v["qualifies"]}
    if ok:
        best = min(ok, key=lambda k: ok[k]["score"])
        # within 0.3 points, the one with fewer samples per step
        cheap = [k for k in ok if "l2sp" == k]
        if cheap and ok[cheap[0]]["score"] - ok[best]["score"] <= 0.3:
            best = cheap[0]
        out["chosen"] = best
    else:
        out["chosen"] = NO_REMEDY
    pairs, ref = loaded.get("rehearsal_pairs", {}), loaded.get(REFERENCE, {})
    seeds = sorted(set(pairs) & set(ref))
    lower = [score(pairs[s]) < score(ref[s]) for s in seeds]
    out["rehearsal_pairs"] = {
        "seeds": seeds,
        "lower_on": int(sum(lower)),
        "mean_change": float(
            np.mean([score(pairs[s]) - score(ref[s]) for s in seeds])
        )
        if seeds
        else None,
        "adopted": bool(
            seeds
            and sum(lower) >= 2
            and np.mean([score(pairs[s]) - score(ref[s]) for s in seeds]) < 0
        ),
    }
    return out


def render(summary):
    """Markdown page of a tuning summary."""
    return "\n".join(
        [
            "# Tuning on the validation speakers (simulated data)",
            "",
            summary["description"] + ". Mean ± sample std over seeds; the "
            "change is paired by seed against the reference "
            f"(`{summary['reference']}`), negative is better.",
            "",
            *table(summary),
            "",
            *forgetting_lines(summary["forgetting"]),
            "",
            "Commands: `python -m benchmarks.tuning [--pretrained_path "
            "DIR]` (re-scores the ablation's models, then trains "
            "`benchmarks/tuning/<variant>.yaml --seed=S`; the stage-1 "
            "model of each run is in its `run.json`).",
            "",
        ]
    )


def forgetting_lines(rules):
    """Markdown of the §4 rules' outcome."""
    head = [
        "remedy", "seeds", "real merged (points)", "sim. merged (%)",
        "score", "qualifies",
    ]  # fmt: skip
    body = [
        [
            f"`{name}`",
            len(r["seeds"]),
            f"{r['real_merged_change_points']:+.2f}",
            f"{r['sim_merged_change_percent']:+.1f}",
            f"{r['score']:.2f}",
            "yes" if r["qualifies"] else "no",
        ]
        for name, r in rules["remedies"].items()
    ]
    pairs = rules["rehearsal_pairs"]
    return [
        "Remedies against forgetting the real voices (tuning.md §4), paired "
        f"with `{NO_REMEDY}` by seed:",
        "",
        *markdown_table(head, body),
        "",
        f"Chosen: `{rules['chosen']}`. Rehearsed rows paired "
        f"(`rehearsal_pairs` vs `{REFERENCE}`): lower score on "
        f"{pairs['lower_on']} of {len(pairs['seeds'])} seeds -> "
        f"{'paired' if pairs['adopted'] else 'skipped (AAM only)'}.",
    ]


def table(summary):
    """Markdown table lines of a tuning summary."""
    head = [
        "Row / variant",
        "setting",
        "seeds",
        *(f"{lst} EER" for lst in LISTS),
        "gap (cross − neutral)",
        *(f"{lst} vs {summary['reference']} (%)" for lst in CHANGE_LISTS),
        "emotion-probe acc.",
    ]
    body = []
    for name, entry in summary["rows"].items():
        # The labels of the code, not of the summary (it may predate them).
        what = {**ABLATION_POINTS, **VARIANTS}.get(name, entry["what"])
        row = [f"`{name}`", what, entry["n_seeds"]]
        if not entry["n_seeds"]:
            body.append(row + ["–"] * (len(head) - len(row)))
            continue
        cells = [fmt(entry["eer"][lst]) for lst in LISTS]
        cells.append(fmt(entry["gap"], sign=True))
        for lst in CHANGE_LISTS:
            change = entry["change_vs_reference"][lst]
            if name == summary["reference"]:
                cells.append("(reference)")
            elif change["n"]:
                cells.append(f"{fmt(change, 1, sign=True)} (n={change['n']})")
            else:
                cells.append("–")
        cells.append(fmt(entry["probe_accuracy"], 3))
        body.append(row + cells)
    return markdown_table(head, body)


def main(argv=None):
    """Re-scores the ablation's models, trains the variants, aggregates."""
    args, variants, seeds = runner.parse_args(
        argv,
        __doc__,
        "variant",
        list(VARIANTS),
        [1],
        runner.PRETRAINED,
        runner.LANES,
    )
    log = runner.log_line
    if args.aggregate_only:
        print(aggregate()[1])
        return 0
    if not runner.acquire_lock(RUNS / "tuning.pid", log):
        return 2
    summary_files = [RESULTS / "summary.json", RESULTS / "summary.md"]

    finished = runner.load_finished(list(ABLATION_POINTS), ablation.RESULTS)
    for row, runs in finished.items():
        for seed in sorted(runs):
            if rescore(row, seed, log):
                aggregate()
                runner.git_commit_paths(
                    [RESULTS / row / f"seed{seed}", *summary_files],
                    f"benchmarks: tuning, {row} seed {seed} re-scored on the "
                    "validation speakers (simulated data)",
                    log,
                )
    todo = [
        (v, s)
        for s in seeds
        for v in variants
        if not (RESULTS / v / f"seed{s}" / "run.json").is_file()
    ]
    start = time.time()

    def train(i, variant, seed):
        tag = f"[{i}/{len(todo)}] {variant} seed {seed}"
        return train_variant(
            variant, seed, tag, start, args.pretrained_path, log
        )

    def finish(variant, seed):
        aggregate()
        runner.git_commit_paths(
            [RESULTS / variant / f"seed{seed}", *summary_files],
            f"benchmarks: tuning {variant} seed {seed} (simulated data)",
            log,
        )

    failed = runner.run_lanes(todo, args.lanes, train, finish)
    print(aggregate()[1], flush=True)
    log(f"tuning pass over: {len(todo) - len(failed)} trained, failed {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
