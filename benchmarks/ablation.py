#!/usr/bin/env python3
"""Ablation benchmark: the paper's rows x seeds on the default corpus.

Trains and evaluates, with the real recipe in a subprocess, the rows

    baseline, baseline_equal_budget, ablation_copypaste,
    ablation_copypaste_erl, emoinv (the full method)

for each seed, in SEED-MAJOR order (every row for the first seed, then
every row for the next, ...), so that a partial benchmark covers every
row. Each run writes to ``results/ablation/<row>/<seed>`` (git-ignored);
a killed run resumes from its checkpoints when rerun with the same
folder. After each finished run its small outputs (evaluation
``results.json`` / ``results.md``, ``train_log.txt``, command, wall time,
hardware) are copied to ``benchmarks/results/ablation/<row>/seed<S>/``,
the summary is re-aggregated and both are committed at once. A run whose
``run.json`` is there is skipped on rerun, so the same command resumes
the benchmark across sessions.

The summary (``benchmarks/results/ablation/summary.{md,json}``) gives,
per row, EER and minDCF@0.01 on every evaluation list (cosine and the
best score normalisation) as mean +- std over the finished seeds, the
relative merged-list EER change against both baselines (paired by seed),
the emotion gap (cross - neutral EER) and the emotion-probe accuracy.

Usage::

    nohup .venv/bin/python benchmarks/ablation.py > results/ablation.log 2>&1 &
    python benchmarks/ablation.py --seeds 1 --rows baseline,emoinv
    python benchmarks/ablation.py --dry-run
    python benchmarks/ablation.py --aggregate-only

Authors
 * speechbrain-emoinv contributors 2026
"""

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ablation"
RUNS = ROOT / "results" / "ablation"
ROWS = [
    "baseline",
    "baseline_equal_budget",
    "ablation_copypaste",
    "ablation_copypaste_erl",
    "emoinv",
    "ablation_no_augment",
    "baseline_no_augment",
]
# Rows every other row is compared with (paired by seed): column names.
BASELINES = {
    "baseline": "baseline",
    "baseline_equal_budget": "equal budget",
    "baseline_no_augment": "baseline w/o aug.",
}
LABELS = {
    "baseline": "Baseline (AAM only)",
    "baseline_equal_budget": "Baseline, equal budget (2x batch)",
    "ablation_copypaste": "+CopyPaste",
    "ablation_copypaste_erl": "+CopyPaste+ERL",
    "emoinv": "+CopyPaste+ERL+EM (full)",
    "ablation_no_augment": "full, without generic augmentation",
    "baseline_no_augment": "Baseline, without generic augmentation",
}
LISTS = ["neutral", "cross", "emo_emo", "merged"]
NORMS = ["cosine", "snorm", "asnorm"]
SEEDS = [1, 2, 3]
# Figures of the full method's first seed, shown in the README.
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
    ]


def hardware():
    """A one-line description of the machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU cores ({cpu}), no GPU"


def git_commit_paths(paths, message, log=print):
    """``git add`` + ``git commit --only`` of ``paths``, retried on a lock.

    Only the given paths are committed, whatever else is staged.
    """
    rel = [str(Path(p).relative_to(ROOT)) for p in paths]
    for attempt in range(20):
        add = subprocess.run(
            ["git", "add", "--", *rel], cwd=ROOT, capture_output=True, text=True
        )
        if add.returncode == 0:
            commit = subprocess.run(
                ["git", "commit", "-q", "-m", message, "--", *rel],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            out = commit.stdout + commit.stderr
            if commit.returncode == 0 or "nothing" in out:
                return True
        else:
            out = add.stdout + add.stderr
        if "index.lock" not in out:
            log(f"git commit failed: {out.strip()}")
            return False
        time.sleep(3 + attempt)
    log("git commit failed: index.lock never released")
    return False


def valid_eers(train_log):
    """Validation-speaker EER (%) per epoch, from a recipe train log."""
    text = Path(train_log).read_text() if Path(train_log).is_file() else ""
    return [float(m) for m in re.findall(r"valid EER: ([0-9.]+)", text)]


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


def run_and_collect(
    name, seed, cmd, out, dest, tag, start, figures=(), log=print
):
    """Runs (or resumes) one recipe command and copies its small outputs.

    Arguments
    ---------
    name : str
        Row or variant name (recorded in ``run.json``).
    seed : int
        The run's seed.
    cmd : list of str
        Recipe command; ``cmd[2]`` is its hparams file.
    out : Path
        The recipe's output folder (git-ignored; resumed when rerun).
    dest : Path
        Where ``results.{json,md}``, ``train_log.txt`` and ``run.json`` go.
    tag : str
        Progress prefix of the log lines.
    start : float
        Start time of the benchmark pass (for the elapsed time).
    figures : list of str
        Names of ``eval/`` figures to copy too.
    log : callable
        Printer.

    Returns
    -------
    bool
        True when the run finished and its outputs were copied.
    """
    out.mkdir(parents=True, exist_ok=True)
    resumed = (out / "save").is_dir() and any((out / "save").iterdir())
    log(
        f"{tag}: {'resuming' if resumed else 'starting'} "
        f"(benchmark elapsed {(time.time() - start) / 60:.1f} min)"
    )
    attempts_file = out / "ablation_attempts.json"
    attempts = (
        json.loads(attempts_file.read_text()) if attempts_file.is_file() else []
    )
    t0, cpu0 = time.time(), _children_cpu()
    load0 = os.getloadavg()[0]
    with open(out / "run.log", "a") as fout:
        proc = subprocess.run(
            cmd, cwd=ROOT, stdout=fout, stderr=subprocess.STDOUT
        )
    wall = time.time() - t0
    attempts.append(
        {
            "wall_s": round(wall, 1),
            # CPU seconds (user + sys) of the recipe process: unlike the
            # wall time, hardly inflated when other jobs share the cores.
            "cpu_s": round(_children_cpu() - cpu0, 1),
            "rc": proc.returncode,
            "resumed": resumed,
            # 1-min load average at start and end (2 = both cores busy).
            "load_start": round(load0, 2),
            "load_end": round(os.getloadavg()[0], 2),
        }
    )
    attempts_file.write_text(json.dumps(attempts, indent=2) + "\n")
    evaluation = out / "eval" / "results.json"
    if proc.returncode != 0 or not evaluation.is_file():
        log(f"{tag}: FAILED (rc {proc.returncode}); see {out / 'run.log'}")
        return False

    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(evaluation, dest / "results.json")
    shutil.copy(out / "eval" / "results.md", dest / "results.md")
    shutil.copy(out / "train_log.txt", dest / "train_log.txt")
    for figure in figures:
        if (out / "eval" / figure).is_file():
            shutil.copy(out / "eval" / figure, dest / figure)
    # Attempts cut off with nothing written (killed before the first
    # checkpoint) still count in the wall time: the sum covers them all.
    info = {
        "row": name,
        "seed": seed,
        "command": " ".join(cmd),
        "hparams": cmd[2],
        "wall_s": round(sum(a["wall_s"] for a in attempts), 1),
        "cpu_s": round(sum(a.get("cpu_s", 0.0) for a in attempts), 1),
        "attempts": attempts,
        "valid_eer_per_epoch": valid_eers(out / "train_log.txt"),
        "hardware": hardware(),
        "torch_threads": _torch_threads(),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "git_head": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip(),
    }
    (dest / "run.json").write_text(json.dumps(info, indent=2) + "\n")
    log(
        f"{tag}: done in {wall / 60:.1f} min "
        f"(all attempts {info['wall_s'] / 60:.1f} min)"
    )
    return True


def _children_cpu():
    """User + system CPU seconds of the finished child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _torch_threads():
    try:
        import torch

        return torch.get_num_threads()
    except ImportError:
        return None


# ------------------------------------------------------------ aggregate --
def _stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "n": 0, "values": []}
    arr = np.asarray(values, dtype=float)
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if len(arr) > 1 else None,
        "n": len(arr),
        "values": [float(v) for v in arr],
    }


def load_finished(rows=ROWS):
    """{row: {seed: (results, run_info)}} of every committed run."""
    done = {}
    for row in rows:
        for path in sorted((RESULTS / row).glob("seed*/run.json")):
            seed = int(path.parent.name[4:])
            results = json.loads((path.parent / "results.json").read_text())
            done.setdefault(row, {})[seed] = (
                results,
                json.loads(path.read_text()),
            )
    return done


def _eer(results, lst, norm):
    return results["lists"][lst][norm]["eer"]


def best_norm(done):
    """The normalisation with the lowest merged EER averaged over rows.

    Chosen on the evaluation lists, so it is a descriptive choice (one
    for every row), not a tuned one.
    """
    means = {}
    for norm in NORMS:
        per_row = [
            np.mean([_eer(r, "merged", norm) for r, _ in seeds.values()])
            for seeds in done.values()
        ]
        if per_row:
            means[norm] = float(np.mean(per_row))
    others = {n: m for n, m in means.items() if n != "cosine"}
    return min(others, key=others.get) if others else "snorm"


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
    return {emotion: _stats(v) for emotion, v in cells.items()}


def aggregate(rows=ROWS):
    """Summary over finished runs (also written to summary.{json,md})."""
    done = load_finished(rows)
    norm_best = best_norm(done)
    summary = {
        "description": (
            "Ablation on the simulated default MBROLA corpus "
            "(data/mbrola_default): mean +- sample std over finished seeds"
        ),
        "data": "simulated (espeak-ng + MBROLA voices), evaluation speakers",
        "norms": ["cosine", norm_best],
        "best_norm_rule": (
            "non-cosine normalisation with the lowest merged EER averaged "
            "over rows (one choice for all rows, made on the evaluation "
            "lists: descriptive only)"
        ),
        "rows": {},
    }
    for row in rows:
        seeds = done.get(row, {})
        entry = {
            "label": LABELS[row],
            "hparams": f"hparams/{row}.yaml",
            "seeds": sorted(seeds),
            "n_seeds": len(seeds),
        }
        if seeds:
            entry["lists"] = {
                lst: {
                    norm: {
                        "eer": _stats(
                            [_eer(r, lst, norm) for r, _ in seeds.values()]
                        ),
                        "min_dcf@0.01": _stats(
                            [
                                r["lists"][lst][norm]["min_dcf@0.01"]
                                for r, _ in seeds.values()
                            ]
                        ),
                    }
                    for norm in NORMS
                }
                for lst in LISTS
            }
            entry["emotion_gap"] = {
                norm: _stats(
                    [r["emotion_gap"][norm] for r, _ in seeds.values()]
                )
                for norm in NORMS
            }
            probes = [r.get("leakage_probe") or {} for r, _ in seeds.values()]
            entry["probe_accuracy"] = _stats(
                [p.get("accuracy") for p in probes]
            )
            entry["probe_chance"] = next(
                (p["chance_accuracy"] for p in probes if p), None
            )
            entry["within_speaker_cosine_gap"] = _stats(
                [
                    p["within_speaker_cosine"]["gap"]
                    for p in probes
                    if p.get("within_speaker_cosine")
                ]
            )
            entry["neutral_enrol_eer_by_emotion"] = by_test_emotion(
                [r for r, _ in seeds.values()]
            )
            entry["best_valid_eer"] = _stats(
                [
                    min(i["valid_eer_per_epoch"])
                    for _, i in seeds.values()
                    if i["valid_eer_per_epoch"]
                ]
            )
            entry["wall_s"] = _stats([i["wall_s"] for _, i in seeds.values()])
            # Recorded from the second benchmark pass on (None before).
            entry["cpu_s"] = _stats([i.get("cpu_s") for _, i in seeds.values()])
            entry["commands"] = [seeds[s][1]["command"] for s in sorted(seeds)]
            entry["relative_merged_eer_change"] = {}
            for base in BASELINES:
                paired = {}
                for norm in NORMS:
                    rel = [
                        100
                        * (
                            _eer(seeds[s][0], "merged", norm)
                            - _eer(done[base][s][0], "merged", norm)
                        )
                        / _eer(done[base][s][0], "merged", norm)
                        for s in sorted(seeds)
                        if s in done.get(base, {})
                    ]
                    paired[norm] = _stats(rel)
                entry["relative_merged_eer_change"][base] = paired
        summary["rows"][row] = entry
    hw = [i["hardware"] for s in done.values() for _, i in s.values()]
    summary["hardware"] = sorted(set(hw))
    summary["total_wall_s"] = float(
        sum(i["wall_s"] for s in done.values() for _, i in s.values())
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    markdown = render(summary)
    (RESULTS / "summary.md").write_text(markdown)
    return summary, markdown


def fmt(stat, digits=2, sign=False):
    """``mean ± std`` (or the single value) of a _stats dict."""
    if not stat or stat["n"] == 0:
        return "–"
    spec = f"{'+' if sign else ''}.{digits}f"
    text = format(stat["mean"], spec)
    if stat["std"] is not None:
        text += f" ± {stat['std']:.{digits}f}"
    return text


def emotion_table(entries):
    """Markdown table: EER by test emotion under neutral enrolment."""
    emotions = next(
        (
            list(e["neutral_enrol_eer_by_emotion"])
            for e in entries
            if e["n_seeds"]
        ),
        [],
    )
    lines = [
        "| Row | "
        + " | ".join(emotions)
        + " | same − cross-emotion cosine, same speaker |",
        "|---|" + "---|" * (len(emotions) + 1),
    ]
    for entry in entries:
        if entry["n_seeds"]:
            cells = [
                fmt(entry["neutral_enrol_eer_by_emotion"][e]) for e in emotions
            ]
            cells.append(fmt(entry["within_speaker_cosine_gap"], 3))
            lines.append(f"| {entry['label']} | " + " | ".join(cells) + " |")
    return lines


def render(summary):
    """Markdown tables of a summary."""
    rows = [r for r in summary["rows"].values()]
    lines = [
        "# Ablation (simulated data)",
        "",
        summary["description"] + ".",
        f"Hardware: {'; '.join(summary['hardware']) or 'n/a'}. "
        f"Total training + evaluation wall time so far: "
        f"{summary['total_wall_s'] / 60:.0f} min.",
        "",
    ]
    for norm in summary["norms"]:
        lines += [
            f"## EER % / minDCF@0.01 ({norm}), mean ± std over seeds",
            "",
            "| Row | seeds | "
            + " | ".join(f"{lst} EER" for lst in LISTS)
            + " | merged minDCF | gap (cross − neutral) |",
            "|---|---|" + "---|" * (len(LISTS) + 2),
        ]
        for entry in rows:
            if not entry["n_seeds"]:
                lines.append(
                    f"| {entry['label']} | 0 |" + " – |" * (len(LISTS) + 2)
                )
                continue
            cells = [fmt(entry["lists"][lst][norm]["eer"]) for lst in LISTS]
            cells.append(fmt(entry["lists"]["merged"][norm]["min_dcf@0.01"], 3))
            cells.append(fmt(entry["emotion_gap"][norm], sign=True))
            lines.append(
                f"| {entry['label']} | {entry['n_seeds']} | "
                + " | ".join(cells)
                + " |"
            )
        lines.append("")
    lines += [
        "## EER % by test emotion, neutral enrolment (cosine), and the "
        "within-speaker cosine gap",
        "",
        *emotion_table(rows),
    ]
    lines += [
        "",
        "## Merged-list EER: relative change vs the baselines (paired by "
        "seed, %), leakage probe",
        "",
        "| Row | "
        + " | ".join(
            f"vs {name} ({norm})"
            for norm in summary["norms"]
            for name in BASELINES.values()
        )
        + " | emotion-probe acc. | best valid EER | wall min | CPU min |",
        "|---|" + "---|" * (2 * len(BASELINES) + 4),
    ]
    for entry in rows:
        if not entry["n_seeds"]:
            lines.append(
                f"| {entry['label']} |" + " – |" * (2 * len(BASELINES) + 4)
            )
            continue
        rel = entry["relative_merged_eer_change"]
        cells = []
        for norm in summary["norms"]:
            for base in BASELINES:
                stat = rel[base][norm]
                if entry["hparams"] == f"hparams/{base}.yaml":
                    cells.append("(reference)")
                elif stat["n"]:
                    cells.append(f"{fmt(stat, 1, sign=True)} (n={stat['n']})")
                else:
                    cells.append("–")
        chance = entry["probe_chance"]
        cells.append(
            fmt(entry["probe_accuracy"], 3)
            + (f" (chance {chance:.3f})" if chance else "")
        )
        cells.append(fmt(entry["best_valid_eer"]))
        wall = entry["wall_s"]
        cells.append(f"{wall['mean'] / 60:.1f}")
        cpu = entry["cpu_s"]
        cells.append(
            f"{cpu['mean'] / 60:.1f} (n={cpu['n']})" if cpu["n"] else "–"
        )
        lines.append(f"| {entry['label']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Relative change = 100 (EER_row − EER_base) / EER_base per seed, "
        "then mean ± std; negative is better. Best valid EER is the "
        "lowest per-epoch validation-speaker EER (cosine, the "
        "checkpoint-selection criterion). The normalisation column is "
        f"{summary['norms'][1]}: {summary['best_norm_rule']}.",
        "",
        "Commands (one per finished run):",
        "",
        "```",
    ]
    for entry in rows:
        lines += entry.get("commands", [])
    lines += ["```", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- main --
def log_line(msg):
    """Prints a benchmark progress line with the time of day."""
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def parse_names(parser, text, allowed, what):
    """Comma-separated names from the command line, each one of ``allowed``."""
    names = [n for n in text.split(",") if n]
    for name in names:
        if name not in allowed:
            parser.error(f"unknown {what} {name}; choose from {list(allowed)}")
    return names


def _alive(pid, script):
    """Whether ``pid`` is a running ``script`` (a stale lock is not)."""
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return script.encode() in cmdline


def acquire_lock(lock, log=print):
    """Takes ``<name>.pid`` for this process unless a live ``<name>.py``
    holds it.

    Returns
    -------
    bool
        False when another pass of the same benchmark is running.
    """
    script = f"{lock.stem}.py"
    lock.parent.mkdir(parents=True, exist_ok=True)
    if lock.is_file() and _alive(int(lock.read_text() or 0), script):
        log(f"another {script} (pid {lock.read_text()}) is running")
        return False
    lock.write_text(str(os.getpid()))
    return True


def main(argv=None):
    """Runs the missing runs in seed-major order, then aggregates."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--aggregate-only", action="store_true")
    args = parser.parse_args(argv)
    rows = parse_names(parser, args.rows, ROWS, "row")
    seeds = [int(s) for s in args.seeds.split(",") if s]
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
    start, failed = time.time(), []
    for i, (row, seed) in enumerate(todo, 1):
        ok = train_one(row, seed, i, len(todo), start, log)
        if not ok:
            # Once more: a transient failure (e.g. the library changing
            # under a running job) resumes from the last checkpoint.
            log(f"[{i}/{len(todo)}] {row} seed {seed}: retrying once")
            ok = train_one(row, seed, i, len(todo), start, log)
        if not ok:
            failed.append((row, seed))
            continue
        _, markdown = aggregate()
        print(markdown, flush=True)
        git_commit_paths(
            [
                summary_dir(row, seed),
                RESULTS / "summary.json",
                RESULTS / "summary.md",
            ],
            f"benchmarks: ablation {row} seed {seed} (simulated data)",
            log,
        )
    log(
        f"benchmark pass over: {len(todo) - len(failed)} finished, "
        f"{len(failed)} failed {failed} in "
        f"{(time.time() - start) / 60:.1f} min"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
