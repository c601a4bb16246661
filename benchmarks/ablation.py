#!/usr/bin/env python3
"""Ablation benchmark on the two-stage protocol: five rows x five seeds.

Protocol. Stage 1 (``hparams/pretrain.yaml``: AAM-softmax on real
recorded voices plus the simulated training voices) is trained ONCE: every
row's config inherits ``pretrain_config`` from ``hparams/emoinv.yaml``, and
the recipe caches stage 1 under a hash of its resolved config
(``results/pretrain/<key>/``), so the first run of a pass trains it when
the cache is missing (its time then counts in that run) and every other
run reuses it. Stage 2 fine-tunes from that one checkpoint on the
simulated emotional training speakers, once per row and seed, with the
recipe in a subprocess:

    baseline, baseline_equal_budget, ablation_copypaste,
    ablation_copypaste_erl, emoinv (the full method)

Paired by seed: run ``S`` of every row is ``--seed=S``, which seeds data
order, crops and augmentation alike (rows that draw extra random numbers
for partners or masks diverge from there), starts
from the same stage-1 weights and is scored on the same trials; a row is
compared with a baseline only on the seeds both have finished.

Runs go in SEED-MAJOR order (every row for seed 1, then seed 2, ...), so a
partial benchmark covers every row. Each run writes to
``results/ablation/<row>/<seed>`` (git-ignored; a killed run resumes from
its checkpoints). A finished run's small outputs (``results.json``,
``real_results.json``, ``scores.npz`` and ``real_scores.npz`` with the
trials the bootstrap needs, ``train_log.txt``, ``run.json`` with the
command, wall and CPU time, the stage-1 model used) go to
``benchmarks/results/ablation/<row>/seed<S>/``; the summary is
re-aggregated and both are committed at once. A run whose ``run.json`` is
there is skipped, so the same command resumes the benchmark.

The summary (``benchmarks/results/ablation/summary.{md,json}``) gives per
row, as mean +- std over seeds: EER on the simulated evaluation lists
(neutral, cross, emo_emo, merged) and on the real recorded voices
(real_read, real_acted), cosine and the best normalisation; the emotion
gap (cross - neutral); the within-speaker same- vs cross-emotion cosine;
the emotion-probe accuracy; wall and CPU minutes per run. Then the paired
relative EER change against both baselines on merged, real_acted and
real_read (cosine) with a 95 % bootstrap interval over evaluation speakers
AND seeds (``paired_change``), and the verdict on the claim (``verdict``).

Usage::

    nohup .venv/bin/python -m benchmarks.ablation >> results/ablation.log 2>&1 &
    python -m benchmarks.ablation --seeds 1 --rows baseline,emoinv
    python -m benchmarks.ablation --dry-run
    python -m benchmarks.ablation --aggregate-only

Authors
 * speechbrain-emoinv contributors 2026
"""

import sys
import time

import numpy as np

from benchmarks import stats
from benchmarks.report import fmt, interval_text, markdown_table, write_summary
from benchmarks.runner import (
    BOOT_LISTS,
    LANES,
    REAL_LISTS,
    ROOT,
    acquire_lock,
    git_commit_paths,
    load_finished,
    log_line,
    parse_args,
    run_and_collect,
    run_lanes,
    scores_name,
)

RESULTS = ROOT / "benchmarks" / "results" / "ablation"
RUNS = ROOT / "results" / "ablation"
ROWS = [
    "baseline",
    "baseline_equal_budget",
    "ablation_copypaste",
    "ablation_copypaste_erl",
    "emoinv",
]
# Rows every other row is compared with (paired by seed): column names.
BASELINES = {"baseline": "baseline", "baseline_equal_budget": "equal budget"}
LABELS = {
    "baseline": "Baseline (AAM only)",
    "baseline_equal_budget": "Baseline, equal budget (2x batch)",
    "ablation_copypaste": "+CopyPaste",
    "ablation_copypaste_erl": "+CopyPaste+ERL",
    "emoinv": "+CopyPaste+ERL+EM (full)",
}
SIM_LISTS = ["neutral", "cross", "emo_emo", "merged"]
LISTS = SIM_LISTS + REAL_LISTS
NORMS = ["cosine", "snorm", "asnorm"]
SEEDS = [1, 2, 3, 4, 5]
N_BOOT, BOOT_SEED = 2000, 0
# The paper's merged-EER change of the full method (arXiv 2505.18498).
PAPER_CHANGE = -19.29
# Figures of the full method's first seed, shown in docs/results.md.
FIGURES = {("emoinv", 1): ["det.png", "eer_matrix.png"]}


def run_dir(row, seed):
    """Recipe output folder of one run (git-ignored)."""
    return RUNS / row / str(seed)


def summary_dir(row, seed):
    """Committed small outputs of one run."""
    return RESULTS / row / f"seed{seed}"


def command(row, seed):
    """The recipe command of one run (relative to the repository root)."""
    return [
        ".venv/bin/python",
        "train_speaker_embeddings.py",
        f"hparams/{row}.yaml",
        f"--seed={seed}",
        f"--output_folder={run_dir(row, seed).relative_to(ROOT)}",
        # The fine-tuned checkpoint itself: the default export mix (rule 7,
        # benchmarks/tuning.md §4) is stage 1 alone, the same for every row.
        "--interpolate=null",
    ]


def train_one(row, seed, index, total, start, log=print):
    """Runs (or resumes) one ablation run and collects its outputs.

    Returns
    -------
    bool
        True when the run finished and its outputs were copied.
    """
    return run_and_collect(
        row,
        seed,
        command(row, seed),
        run_dir(row, seed),
        summary_dir(row, seed),
        f"[{index}/{total}] {row} seed {seed}",
        start,
        figures=FIGURES.get((row, seed), []),
        log=log,
    )


# ------------------------------------------------------------ bootstrap --
def scores_file(row, seed, lst):
    """The committed ``.npz`` holding one run's trials of ``lst``."""
    return summary_dir(row, seed) / scores_name(lst)


def paired_change(row, base, lst, seeds):
    """``stats.paired_change`` of ``row`` vs ``base`` on ``lst`` over
    ``seeds`` (both finished), from their committed trials."""
    files = {
        seed: (scores_file(row, seed, lst), scores_file(base, seed, lst))
        for seed in seeds
    }
    return stats.paired_change(files, lst, N_BOOT, BOOT_SEED)


# ------------------------------------------------------------ aggregate --
def _eer(results, lst, norm):
    return results["lists"][lst][norm]["eer"]


def best_norm(done):
    """The normalisation with the lowest merged EER averaged over rows.

    Chosen on the evaluation lists, so it is a descriptive choice (one
    for every row), not a tuned one.
    """
    means = {}
    for norm in NORMS[1:]:
        per_row = [
            np.mean([_eer(r, "merged", norm) for r, _ in seeds.values()])
            for seeds in done.values()
        ]
        if per_row:
            means[norm] = float(np.mean(per_row))
    return min(means, key=means.get) if means else "snorm"


def by_test_emotion(results):
    """EER (%) of neutral enrolment x each test emotion, over seeds.

    Cells of the cosine EER matrix of the merged list; the per-emotion
    view of the cross list (where the gap comes from).
    """
    cells = {}
    for r in results:
        matrix = r["eer_matrix"]
        row = matrix["eer"][matrix["emotions"].index("neutral")]
        for emotion, eer in zip(matrix["emotions"], row, strict=True):
            cells.setdefault(emotion, []).append(eer)
    return {emotion: stats.describe(v) for emotion, v in cells.items()}


def row_entry(row, seeds, done):
    """Summary of one row over its finished seeds."""
    entry = {
        "label": LABELS[row],
        "hparams": f"hparams/{row}.yaml",
        "seeds": sorted(seeds),
        "n_seeds": len(seeds),
    }
    if not seeds:
        return entry
    runs = [r for r, _ in seeds.values()]
    infos = [i for _, i in seeds.values()]
    entry["lists"] = {
        lst: {
            norm: {
                key: stats.describe([r["lists"][lst][norm][key] for r in runs])
                for key in ("eer", "min_dcf@0.01")
            }
            for norm in NORMS
        }
        for lst in LISTS
    }
    entry["emotion_gap"] = {
        norm: stats.describe([r["emotion_gap"][norm] for r in runs])
        for norm in NORMS
    }
    probes = [r.get("leakage_probe") or {} for r in runs]
    entry["probe_accuracy"] = stats.describe(
        [p.get("accuracy") for p in probes]
    )
    entry["probe_chance"] = next(
        (p["chance_accuracy"] for p in probes if p), None
    )
    entry["within_speaker_cosine"] = {
        key: stats.describe(
            [(p.get("within_speaker_cosine") or {}).get(key) for p in probes]
        )
        for key in ("same_emotion", "cross_emotion", "gap")
    }
    entry["neutral_enrol_eer_by_emotion"] = by_test_emotion(runs)
    entry["best_valid_eer"] = stats.describe(
        [min(i["valid_eer_per_epoch"], default=None) for i in infos]
    )
    entry["wall_min"] = stats.describe([i["wall_s"] / 60 for i in infos])
    entry["cpu_min"] = stats.describe([i["cpu_s"] / 60 for i in infos])
    entry["commands"] = [seeds[s][1]["command"] for s in sorted(seeds)]
    entry["paired_change"] = {
        base: {
            lst: paired_change(
                row, base, lst, sorted(set(seeds) & set(done.get(base, {})))
            )
            for lst in BOOT_LISTS
        }
        for base in BASELINES
        if base != row and set(seeds) & set(done.get(base, {}))
    }
    entry["gap_change"] = {
        base: gap_change(row, base, done) for base in entry["paired_change"]
    }
    return entry


def gap_change(row, base, done):
    """The emotion penalty (``cross`` - ``neutral`` EER points, cosine) of
    ``row`` minus ``base``'s, paired by seed: over the seeds both finished,
    each row's mean penalty (``row_mean``, ``base_mean``), the mean change
    and, with 2 or more, its 95 % t-interval (``lo``, ``hi``)."""
    seeds = sorted(set(done.get(row, {})) & set(done.get(base, {})))
    gaps = {
        name: [done[name][s][0]["emotion_gap"]["cosine"] for s in seeds]
        for name in (row, base)
    }
    diffs = np.subtract(gaps[row], gaps[base])
    out = {"n": len(diffs)}
    if len(diffs):
        out["point"] = float(np.mean(diffs))
        out["row_mean"] = float(np.mean(gaps[row]))
        out["base_mean"] = float(np.mean(gaps[base]))
    if len(diffs) >= 2:
        half = float(stats.t_half_width(diffs))
        out.update(lo=out["point"] - half, hi=out["point"] + half)
    return out


def verdict(rows, row="emoinv", base="baseline_equal_budget"):
    """The claim, settled from the summary rows (cosine).

    Goal met when, against the equal-budget baseline, the full method's
    mean emotion penalty (``cross`` - ``neutral``) is at most half the
    baseline's, the paired penalty change's t-interval lies below 0, and
    neither real list is shown worse (each relative EER change's interval
    has its lower end <= 0). Otherwise: a null that excludes the paper's
    -19.29 % when the merged EER change's interval has its lower end above
    it, else inconclusive. Pending while fewer than 2 seeds are paired.

    Returns
    -------
    dict
        ``status`` (met, null, inconclusive, pending) and ``text``.
    """
    change = rows[row].get("paired_change", {}).get(base, {})
    penalty = rows[row].get("gap_change", {}).get(base, {"n": 0})
    merged = change.get("merged")
    if "lo" not in penalty or merged is None or "lo" not in merged:
        return {
            "status": "pending",
            "text": f"Not settled yet: {penalty['n']} seed(s) of "
            f"{LABELS[row]} and {LABELS[base]} paired; an interval needs 2.",
        }
    # Both means over the paired seeds (rows may have finished others).
    gap, gap_base = penalty["row_mean"], penalty["base_mean"]
    real = {lst: change.get(lst) for lst in REAL_LISTS}
    checks = {
        "emotion penalty halved": gap <= 0.5 * gap_base,
        "penalty change's interval below 0": penalty["hi"] < 0,
        "real voices not shown worse": all(
            c is not None and "lo" in c and c["lo"] <= 0 for c in real.values()
        ),
    }
    found = (
        f"{LABELS[row]} vs {LABELS[base]} ({merged['n']} paired seeds, "
        f"cosine): emotion penalty cross − neutral {gap:+.2f} vs "
        f"{gap_base:+.2f} EER points, change {penalty['point']:+.2f} "
        f"[{penalty['lo']:+.2f}, {penalty['hi']:+.2f}] (t-interval over "
        f"seeds); merged EER (simulated data) {interval_text(merged)}; "
        + "; ".join(
            f"{lst} (real voices) {interval_text(c) if c else '–'}"
            for lst, c in real.items()
        )
        + "."
    )
    if all(checks.values()):
        return {"status": "met", "text": f"**Goal met.** {found}"}
    failed = "failed: " + "; ".join(n for n, ok in checks.items() if not ok)
    if merged["lo"] > PAPER_CHANGE:
        return {
            "status": "null",
            "text": f"**Goal not met** ({failed}): a **null result** that "
            f"excludes the paper's {PAPER_CHANGE:.2f} % on merged EER (the "
            f"interval's lower end {merged['lo']:+.1f} % is above it). {found}",
        }
    return {
        "status": "inconclusive",
        "text": f"**Goal not met** ({failed}) and **inconclusive**: the "
        f"merged interval reaches the paper's {PAPER_CHANGE:.2f} %, so it "
        f"excludes neither the paper's effect nor no effect. {found}",
    }


def aggregate():
    """Summary over finished runs (also written to summary.{json,md})."""
    done = load_finished(ROWS, RESULTS)
    infos = [i for seeds in done.values() for _, i in seeds.values()]
    summary = {
        "description": (
            "Two-stage ablation: stage 1 on real recorded voices trained "
            "once and shared, stage 2 fine-tuned per row and seed on the "
            "simulated emotional corpus; mean ± sample std over seeds"
        ),
        "norms": ["cosine", best_norm(done)],
        "best_norm_rule": (
            "non-cosine normalisation with the lowest merged EER averaged "
            "over rows (one choice for all rows, made on the evaluation "
            "lists: descriptive only)"
        ),
        "bootstrap": {"resamples": N_BOOT, "rng_seed": BOOT_SEED},
        "rows": {row: row_entry(row, done.get(row, {}), done) for row in ROWS},
        "stage1_models": sorted(
            {
                f"{i['stage1'] or 'not logged'} "
                f"(weights {i.get('stage1_fingerprint') or 'not logged'})"
                for i in infos
            }
        ),
        "hardware": sorted({i["hardware"] for i in infos}),
        "total_wall_s": float(sum(i["wall_s"] for i in infos)),
        "total_cpu_s": float(sum(i["cpu_s"] for i in infos)),
    }
    summary["verdict"] = verdict(summary["rows"])
    return summary, write_summary(RESULTS, summary, render)


# --------------------------------------------------------------- tables --
def seed_status(summary):
    """Which seeds each row has finished (planned: ``SEEDS``)."""
    rows = summary["rows"].values()
    if all(e["seeds"] == SEEDS for e in rows):
        return f"every row has its {len(SEEDS)} seeds ({_seeds(SEEDS)})"
    return (
        f"**partial benchmark** (planned: seeds {_seeds(SEEDS)} per row, "
        "seed-major); finished: "
        + "; ".join(f"{e['label']}: {_seeds(e['seeds'])}" for e in rows)
    )


def _seeds(seeds):
    return ", ".join(map(str, seeds)) or "none"


def _table(head, cells, rows):
    """Markdown table of ``(row, entry)`` pairs: ``cells(row, entry)`` gives
    a row's cells after its name and seeds (dashes without seeds)."""
    body = [
        [
            e["label"],
            _seeds(e["seeds"]),
            *(cells(row, e) if e["n_seeds"] else ["–"] * len(head)),
        ]
        for row, e in rows
    ]
    return markdown_table(["Row", "seeds", *head], body) + [""]


EER_HEAD = [f"sim. {lst}" for lst in SIM_LISTS] + [
    "real read",
    "real acted",
    "sim. merged minDCF@0.01",
    "sim. gap cross − neutral",
]
CHANGE_HEAD = [
    f"vs {name}: {'sim. ' if lst in SIM_LISTS else ''}{lst}"
    for name in BASELINES.values()
    for lst in BOOT_LISTS
]
EMOTION_HEAD = [
    "same-emotion cosine",
    "cross-emotion cosine",
    "difference",
    "emotion-probe acc.",
    "best valid EER",
    "wall min",
    "CPU min",
]


def _eer_cells(norm):
    def cells(_, e):
        merged = e["lists"]["merged"][norm]
        return [fmt(e["lists"][lst][norm]["eer"]) for lst in LISTS] + [
            fmt(merged["min_dcf@0.01"], 3),
            fmt(e["emotion_gap"][norm], sign=True),
        ]

    return cells


def _change_cells(row, e):
    return [
        "(reference)" if base == row else _change_cell(e, base, lst)
        for base in BASELINES
        for lst in BOOT_LISTS
    ]


def _emotion_cells(_, e):
    chance = e["probe_chance"]
    return [
        fmt(e["within_speaker_cosine"][k], 3)
        for k in ("same_emotion", "cross_emotion", "gap")
    ] + [
        fmt(e["probe_accuracy"], 3)
        + (f" (chance {chance:.3f})" if chance else ""),
        fmt(e["best_valid_eer"]),
        fmt(e["wall_min"], 1),
        fmt(e["cpu_min"], 1),
    ]


def tables(summary):
    """The ablation's tables (Markdown lines), labelled simulated / real."""
    rows = list(summary["rows"].items())
    lines = []
    for norm in summary["norms"]:
        lines += [
            f"EER % ({norm}), mean ± std over seeds; *sim.* = simulated "
            "data (evaluation speakers), *real* = real recorded voices:",
            "",
            *_table(EER_HEAD, _eer_cells(norm), rows),
        ]
    lines += [
        "Relative EER change % against each baseline (cosine), paired by "
        "seed: point estimate on all data [95 % bootstrap interval over "
        "evaluation speakers and seeds], negative = better; an interval "
        "needs 2 paired seeds:",
        "",
        *_table(CHANGE_HEAD, _change_cells, rows),
        "Emotion (simulated data, cosine): mean cosine of same-speaker "
        "pairs of the same emotion and of different emotions, their "
        "difference (0 = emotion-invariant), the speaker-disjoint linear "
        "probe's emotion accuracy (lower = less leakage); cost per run "
        "(stage 2, plus stage 1 in the run that trained it):",
        "",
        *_table(EMOTION_HEAD, _emotion_cells, rows),
    ]
    emotions = [
        list(e["neutral_enrol_eer_by_emotion"]) for _, e in rows if e["n_seeds"]
    ]
    if not emotions:
        return lines
    return lines + [
        "EER % by test emotion with neutral enrolment (simulated data, "
        "cosine; cells of the merged list's enrolment × test emotion "
        "matrix):",
        "",
        *_table(
            emotions[0],
            lambda _, e: [
                fmt(e["neutral_enrol_eer_by_emotion"][m]) for m in emotions[0]
            ],
            rows,
        ),
    ]


def _change_cell(entry, base, lst):
    change = entry["paired_change"].get(base, {}).get(lst)
    if not change:
        return "–"
    undefined = change.get("n_undefined")
    return (
        f"{interval_text(change)} (n={change['n']}"
        + (f", {undefined} undefined" if undefined else "")
        + ")"
    )


def notes(summary):
    """How to read the tables: normalisation, bootstrap, verdict rule, and
    the commands of the finished runs (Markdown lines)."""
    boot = summary["bootstrap"]
    return [
        f"The {summary['norms'][1]} tables: {summary['best_norm_rule']}. "
        f"Bootstrap: {boot['resamples']} resamples, RNG seed "
        f"{boot['rng_seed']}; each draws the paired seeds and the list's "
        "evaluation speakers with replacement, a trial weighted by the "
        "draws of its enrolment speaker (`compute_eer` with weights); "
        "the statistic is the mean over drawn seeds of 100 (EER_row − "
        "EER_base) / EER_base, the interval its 2.5 and 97.5 percentiles.",
        "",
        "Verdict rule (full method vs equal-budget baseline, cosine): goal "
        "met when the mean emotion penalty (cross − neutral) is at most "
        "half the baseline's, the paired penalty change's 95 % t-interval "
        "over seeds lies below 0, and neither real list is shown worse (the "
        "lower end of each relative change's interval ≤ 0); otherwise a "
        "null result when the merged interval's lower end is above the "
        f"paper's {PAPER_CHANGE:.2f} % (an effect that large is excluded), "
        "else inconclusive.",
        "",
        "Commands (one per finished run):",
        "",
        "```",
        *[c for e in summary["rows"].values() for c in e.get("commands", [])],
        "```",
        "",
    ]


def cpu_text(summary):
    """Total CPU time, also as hours of the 2-core budget (the issue's)."""
    cpu_min = summary["total_cpu_s"] / 60
    return f"{cpu_min:.0f} CPU min ({cpu_min / 120:.1f} h of 2 full cores)"


def render(summary):
    """``summary.md``: protocol, seeds, verdict, tables, notes."""
    return "\n".join(
        [
            "# Ablation, two-stage protocol",
            "",
            f"{summary['description']}. Seeds: {seed_status(summary)}. "
            "Stage-1 model(s): "
            f"{', '.join(summary['stage1_models']) or 'none yet'}. "
            f"Hardware: {'; '.join(summary['hardware']) or 'n/a'}; total "
            f"{summary['total_wall_s'] / 60:.0f} wall min, "
            f"{cpu_text(summary)}.",
            "",
            f"Verdict: {summary['verdict']['text']}",
            "",
            *tables(summary),
            *notes(summary),
        ]
    )


# ---------------------------------------------------------------- main --
def main(argv=None):
    """Runs the missing runs in seed-major order, then aggregates."""
    args, rows, seeds = parse_args(
        argv, __doc__, "row", ROWS, SEEDS, "--dry-run", LANES
    )
    log = log_line
    if args.aggregate_only:
        print(aggregate()[1])
        return 0
    plan = [(row, seed) for seed in seeds for row in rows]
    todo = [
        (row, seed)
        for row, seed in plan
        if not (summary_dir(row, seed) / "run.json").is_file()
    ]
    log(
        f"{len(plan)} runs planned, {len(plan) - len(todo)} already "
        f"finished, {len(todo)} to run (seed-major)"
    )
    if args.dry_run:
        for i, (row, seed) in enumerate(todo, 1):
            log(f"[{i}/{len(todo)}] " + " ".join(command(row, seed)))
        return 0
    if not acquire_lock(RUNS / "ablation.pid", log):
        return 2
    start = time.time()

    def train(i, row, seed):
        ok = train_one(row, seed, i, len(todo), start, log)
        if not ok:
            # Once more: a transient failure (e.g. the library changing
            # under a running job) resumes from the last checkpoint.
            log(f"[{i}/{len(todo)}] {row} seed {seed}: retrying once")
            ok = train_one(row, seed, i, len(todo), start, log)
        return ok

    def finish(row, seed):
        _, markdown = aggregate()
        print(markdown, flush=True)
        git_commit_paths(
            [
                summary_dir(row, seed),
                RESULTS / "summary.json",
                RESULTS / "summary.md",
            ],
            f"benchmarks: ablation {row} seed {seed} (two-stage protocol)",
            log,
        )

    failed = run_lanes(todo, args.lanes, train, finish)
    log(
        f"benchmark pass over: {len(todo) - len(failed)} finished, "
        f"{len(failed)} failed {failed} in "
        f"{(time.time() - start) / 60:.1f} min"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
