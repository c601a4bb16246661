#!/usr/bin/env python3
"""Dose experiment: does the pair loss do what it says, and does it help?

Rows differ ONLY in the pair-loss weight lambda (``--pair_weight``), so
they share every random draw (crops, partners, order, augmentation: all
keyed by seed, epoch and step): ``benchmarks/dose/dose.yaml``, the full
method's stage 2 with partners of any other emotion (emotional <->
emotional included), the parallel sample the whole partner crop
(CopyPaste ``partner``), EM off, scored on the VALIDATION voices of both
corpora. Per row and seed: the training pair cosine (last epoch), the
simulated ``merged`` EER, the emotion penalty (``cross`` - ``neutral`` and
``emo_emo`` - ``neutral`` EER points), the impostor mean and spread of the
``merged`` scores, and d' per trial type (``neutral``, ``cross``,
``emo_emo``). The verdict rule (written before the runs) is in
:func:`verdict` and ``benchmarks/tuning.md`` §5.

Everything is resumable (finished runs are committed under
``benchmarks/results/dose/lambda_<value>/seed<N>/``; a killed run resumes
from its checkpoints).

Usage::

    OMP_NUM_THREADS=1 nohup .venv/bin/python -m benchmarks.dose --lanes 2 \\
        --pretrained_path results/pretrain/KEY/pretrained > results/dose.log &
    python -m benchmarks.dose --aggregate-only

Authors
 * speechbrain-emoinv contributors 2026
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.report import fmt, markdown_table, write_summary
from benchmarks.runner import (
    LANES,
    PRETRAINED,
    ROOT,
    acquire_lock,
    git_commit_paths,
    log_line,
    parse_args,
    run_and_collect,
    run_lanes,
)
from benchmarks.stats import describe, t_half_width

CONFIG = "benchmarks/dose/dose.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "dose"
RUNS = ROOT / "results" / "dose"
LAMBDAS = ["0", "0.3", "1", "3", "10"]
TYPES = ["neutral", "cross", "emo_emo"]


def row_name(lam):
    return f"lambda_{lam}"


def train_row(lam, seed, tag, start, pretrained, log=print):
    """Trains (or resumes) one row and seed; writes its dose statistics."""
    out = RUNS / row_name(lam) / str(seed)
    dest = RESULTS / row_name(lam) / f"seed{seed}"
    cmd = [
        ".venv/bin/python",
        "train_speaker_embeddings.py",
        CONFIG,
        f"--seed={seed}",
        f"--pair_weight={lam}",
        f"--output_folder={out.relative_to(ROOT)}",
    ]
    if pretrained:
        cmd.append(f"--pretrained_path={pretrained}")
    if not run_and_collect(
        row_name(lam), seed, cmd, out, dest, tag, start, log=log
    ):
        return False
    stats = scoredescribe(out / "eval" / "scores.npz")
    stats["train_pair_cosine"] = train_pair_cosine(out / "train_log.txt")
    (dest / "dose_stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return True


def dprime(scores, labels):
    """d' = (mean target - mean impostor) / sqrt of their mean variance."""
    tar, non = scores[labels == 1], scores[labels == 0]
    return float(
        (tar.mean() - non.mean()) / np.sqrt((tar.var() + non.var()) / 2)
    )


def scoredescribe(path):
    """Impostor mean and spread of ``merged``, d' per trial type."""
    with np.load(path) as z:
        s, y = z["merged/score"], z["merged/label"]
        out = {
            "impostor_mean": float(s[y == 0].mean()),
            "impostor_std": float(s[y == 0].std()),
            "target_mean": float(s[y == 1].mean()),
        }
        for lst in TYPES:
            out[f"dprime_{lst}"] = dprime(z[f"{lst}/score"], z[f"{lst}/label"])
    return out


def train_pair_cosine(train_log):
    """Mean cosine of the training pairs in the last epoch (1 - pair)."""
    lines = Path(train_log).read_text().splitlines()
    last = [p for p in lines[-1].split(" - ")[1].split(", ") if "pair:" in p]
    return 1.0 - float(last[0].split(": ")[1])


def load():
    """{lambda: {seed: metrics}} of every finished run."""
    done = {}
    for lam in LAMBDAS:
        for path in sorted((RESULTS / row_name(lam)).glob("seed*/run.json")):
            res = json.loads((path.parent / "results.json").read_text())
            eer = {
                lst: res["lists"][lst]["cosine"]["eer"]
                for lst in ["merged", *TYPES]
            }
            real = json.loads((path.parent / "real_results.json").read_text())
            eer["real_merged"] = real["lists"]["merged"]["cosine"]["eer"]
            m = dict(eer)
            m["penalty_cross"] = eer["cross"] - eer["neutral"]
            m["penalty_emo_emo"] = eer["emo_emo"] - eer["neutral"]
            m.update(json.loads((path.parent / "dose_stats.json").read_text()))
            done.setdefault(lam, {})[int(path.parent.name[4:])] = m
    return done


METRICS = [
    "train_pair_cosine",
    "merged",
    "penalty_cross",
    "penalty_emo_emo",
    "impostor_mean",
    "impostor_std",
    "dprime_neutral",
    "dprime_cross",
    "dprime_emo_emo",
    "real_merged",
]


def paired(done, lam, metric, base="0"):
    """Paired differences (row - lambda 0) by seed, with a 95 % t-interval."""
    seeds = sorted(set(done.get(lam, {})) & set(done.get(base, {})))
    diff = np.array(
        [done[lam][s][metric] - done[base][s][metric] for s in seeds]
    )
    if len(diff) < 2:
        return {"n": len(diff), "mean": None, "low": None, "high": None}
    half = t_half_width(diff)
    return {
        "n": len(diff),
        "mean": float(diff.mean()),
        "low": float(diff.mean() - half),
        "high": float(diff.mean() + half),
        "all_positive": bool((diff > 0).all()),
    }


def verdict(done):
    """The rule written before the runs (benchmarks/tuning.md §5).

    - "the cosine rises": at lambda = 3 the training pair cosine is above
      lambda 0's on every seed, by at least 0.05 on the mean;
    - "EER and penalty fall": some lambda > 0 lowers the merged EER with a
      paired 95 % t-interval below 0 AND lowers the mean penalty
      (cross - neutral);
    then: rises and falls -> our settings blocked the method; rises and
    nothing falls -> the pair loss cannot help on this data; no rise ->
    a bug. Pending until every lambda has run the same seeds, two at least.
    """
    seeds = [set(done.get(lam, {})) for lam in LAMBDAS]
    if len(seeds[0]) < 2 or any(s != seeds[0] for s in seeds):
        have = ", ".join(
            f"{lam}: {len(s)}" for lam, s in zip(LAMBDAS, seeds, strict=True)
        )
        text = f"pending: seeds finished per lambda ({have})"
        return {"cosine_rises": None, "helped": [], "text": text}
    rise = paired(done, "3", "train_pair_cosine")
    rises = bool(
        rise["n"] >= 2 and rise["all_positive"] and rise["mean"] >= 0.05
    )
    helped = [
        lam
        for lam in LAMBDAS[1:]
        if (p := paired(done, lam, "merged"))["high"] is not None
        and p["high"] < 0
        and paired(done, lam, "penalty_cross")["mean"] < 0
    ]
    if not rises:
        text = "the pair cosine does not rise with lambda: a bug"
    elif helped:
        best = min(helped, key=lambda lam: paired(done, lam, "merged")["mean"])
        text = (
            "the pair cosine rises and EER and penalty fall (lambda "
            f"{', '.join(helped)}): our earlier settings blocked the method; "
            f"candidate lambda {best} (merged falls most)"
        )
    else:
        text = (
            "the pair cosine rises and nothing improves: the pair loss "
            "cannot help on this data"
        )
    return {"cosine_rises": rises, "helped": helped, "text": text}


def aggregate():
    """Summary (``summary.{json,md}``) of every finished run."""
    done = load()
    rows = {
        lam: {
            "seeds": sorted(done.get(lam, {})),
            "metrics": {
                m: describe([v[m] for v in done.get(lam, {}).values()])
                for m in METRICS
            },
            "vs_lambda_0": {
                m: paired(done, lam, m) for m in ["merged", "penalty_cross"]
            },
        }
        for lam in LAMBDAS
    }
    summary = {"rows": rows, "verdict": verdict(done)}
    return summary, write_summary(RESULTS, summary, render)


def render(summary):
    """Markdown table of the dose curve and the verdict."""
    head = [
        "lambda", "seeds", "pair cosine", "sim. merged EER",
        "cross − neutral", "emo_emo − neutral", "impostor mean",
        "impostor std", "d′ neutral", "d′ cross", "d′ emo_emo",
        "real merged EER", "merged vs λ=0 (%-pts, 95 % t)",
    ]  # fmt: skip
    body = []
    for lam, row in summary["rows"].items():
        m = row["metrics"]
        p = row["vs_lambda_0"]["merged"]
        change = (
            f"{p['mean']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}]"
            if p["mean"] is not None and lam != "0"
            else "–"
        )
        cells = [fmt(m[k], 3 if "cosine" in k or "impostor" in k else 2)
                 for k in METRICS]  # fmt: skip
        body.append([lam, len(row["seeds"]), *cells, change])
    lines = [
        "# Dose experiment: the pair-loss weight (validation voices)",
        "",
        "Rows share every random draw and differ only in λ "
        f"(`{CONFIG}`; simulated data except `real merged`). Mean ± std "
        "over seeds; EER in %.",
        "",
        *markdown_table(head, body),
        "",
        f"**Verdict** (rule of §5): {summary['verdict']['text']}.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    args, lams, seeds = parse_args(
        argv, __doc__, "lambda", LAMBDAS, [1, 2, 3, 4], PRETRAINED, LANES
    )
    if args.aggregate_only:
        print(aggregate()[1])
        return 0
    if not acquire_lock(RUNS / "dose.pid", log_line):
        return 2
    todo = [
        (lam, s)
        for s in seeds
        for lam in lams
        if not (RESULTS / row_name(lam) / f"seed{s}" / "run.json").is_file()
    ]
    start = time.time()

    def train(i, lam, seed):
        tag = f"[{i}/{len(todo)}] lambda {lam} seed {seed}"
        return train_row(lam, seed, tag, start, args.pretrained_path, log_line)

    def finish(lam, seed):
        aggregate()
        git_commit_paths(
            [
                RESULTS / row_name(lam) / f"seed{seed}",
                RESULTS / "summary.json",
                RESULTS / "summary.md",
            ],
            f"benchmarks: dose lambda {lam} seed {seed} (simulated data)",
            log_line,
        )

    failed = run_lanes(todo, args.lanes, train, finish)
    print(aggregate()[1], flush=True)
    log_line(
        f"dose pass over: {len(todo) - len(failed)} trained, failed {failed}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
