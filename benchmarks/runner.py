"""Running benchmark jobs: recipe runs, their outputs, resuming, lanes, the
lock of a pass and the git commit of each finished run.

A benchmark script (``python -m benchmarks.<name>``) plans runs, skips
those whose ``run.json`` is committed, runs the rest with
``run_and_collect`` (a killed run resumes from its checkpoints), one at a
time or in lanes (``run_lanes``), and commits each finished run's small
outputs with ``git_commit_paths``; ``acquire_lock`` keeps a second pass of
the same benchmark from starting.

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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from speechbrain_emoinv.pretrained import model_fingerprint
from speechbrain_emoinv.run_guard import incomplete

ROOT = Path(__file__).resolve().parents[1]
REAL_LISTS = ["real_read", "real_acted"]
# Lists of the paired bootstrap; their trials are all the scores we keep.
BOOT_LISTS = ["merged", "real_acted", "real_read"]


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


def stage1_model(run_log):
    """The stage-1 export a run fine-tuned from (the recipe's ``Fine-tuning
    from`` line: the cached stage 1 or ``--pretrained_path``), and whether
    the run trained it (its last ``Stage 1:`` line says ``training``)."""
    text = Path(run_log).read_text(errors="replace")
    model = re.findall(r"Fine-tuning from (\S+)", text)
    if not model:
        return None, None
    stage = re.findall(r"Stage 1: (reusing|training) ", text)
    return model[-1], stage[-1:] == ["training"]


def fingerprint(export):
    """``model_fingerprint`` of a stage-1 export, None when it is gone."""
    if export and (ROOT / export / "embedding_model.ckpt").is_file():
        return model_fingerprint(ROOT / export)
    return None


def copy_scores(src, dest):
    """Copies from a ``scores.npz`` the trials of the bootstrap's lists
    that ``dest`` holds (``scores_file``); the rest is never read."""
    with np.load(src) as scores:
        np.savez_compressed(
            dest,
            **{
                key: scores[key]
                for key in scores.files
                if key.split("/")[0] in BOOT_LISTS
                and scores_name(key.split("/")[0]) == dest.name
            },
        )


def recipe(config, folder, *overrides):
    """Runs the recipe with ``config`` into ``folder`` unless a finished
    run is there (its completion record:
    :func:`~speechbrain_emoinv.run_guard.incomplete`); a killed run resumes
    from its checkpoints."""
    folder = Path(folder)
    if incomplete(folder, folder / "pretrained") is None:
        return
    cmd = [sys.executable, "train_speaker_embeddings.py", config]
    cmd += [f"--output_folder={folder}", *overrides]
    print("running:", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


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
        Where the results, scores, ``train_log.txt`` and ``run.json`` go.
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
    evaluation = out / "eval"
    outputs = {
        "results.json": evaluation / "results.json",
        "real_results.json": evaluation / "real" / "results.json",
        "scores.npz": evaluation / "scores.npz",
        "real_scores.npz": evaluation / "real" / "scores.npz",
    }
    missing = [str(p) for p in outputs.values() if not p.is_file()]
    if proc.returncode != 0 or missing:
        log(
            f"{tag}: FAILED (rc {proc.returncode}"
            + (f", missing {', '.join(missing)}" if missing else "")
            + f"); see {out / 'run.log'}"
        )
        return False

    dest.mkdir(parents=True, exist_ok=True)
    for target, src in outputs.items():
        if target.endswith(".npz"):
            copy_scores(src, dest / target)
        else:
            shutil.copy(src, dest / target)
    shutil.copy(evaluation / "results.md", dest / "results.md")
    shutil.copy(out / "train_log.txt", dest / "train_log.txt")
    for figure in figures:
        if (evaluation / figure).is_file():
            shutil.copy(evaluation / figure, dest / figure)
    stage1, trained_stage1 = stage1_model(out / "run.log")
    # Attempts cut off with nothing written (killed before the first
    # checkpoint) still count in the wall time: the sum covers them all.
    info = {
        "row": name,
        "seed": seed,
        "command": " ".join(cmd),
        "hparams": cmd[2],
        "stage1": stage1,
        # Stage 1 is retrained on a fresh machine: the fingerprint tells
        # whether runs of different sessions fine-tuned the same weights.
        "stage1_fingerprint": fingerprint(stage1),
        "trained_stage1": trained_stage1,
        "wall_s": round(sum(a["wall_s"] for a in attempts), 1),
        "cpu_s": round(sum(a["cpu_s"] for a in attempts), 1),
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


def scores_name(lst):
    """Name of the committed ``.npz`` holding a run's trials of ``lst``."""
    return "real_scores.npz" if lst in REAL_LISTS else "scores.npz"


def load_finished(rows, results):
    """{row: {seed: (results, run_info)}} of every run committed under
    ``results`` (``<row>/seed<S>/run.json``).

    The real voices' lists (``real_results.json``, when there) join the
    simulated ones in ``results["lists"]``.
    """
    done = {}
    for row in rows:
        for path in sorted(results.glob(f"{row}/seed*/run.json")):
            res = json.loads((path.parent / "results.json").read_text())
            real = path.parent / "real_results.json"
            if real.is_file():
                lists = json.loads(real.read_text())["lists"]
                res["lists"].update((k, lists[k]) for k in REAL_LISTS)
                if "merged" in lists:  # the real voices' own merged list
                    res["lists"]["real_merged"] = lists["merged"]
            seed = int(path.parent.name[4:])
            done.setdefault(row, {})[seed] = (res, json.loads(path.read_text()))
    return done


def log_line(msg):
    """Prints a benchmark progress line with the time of day."""
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


# Flags that several benchmarks take (``parse_args(..., LANES)``).
LANES = ("--lanes", {"type": int, "default": 1, "help": "runs at a time"})
PRETRAINED = ("--pretrained_path", {"help": "stage-1 export to fine-tune"})


def parse_args(argv, doc, what, names, seeds, *flags):
    """``--<what>s A,B --seeds 1,2 --aggregate-only`` (+ ``flags``).

    Returns
    -------
    args, chosen names (each one of ``names``), seeds
    """
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument(f"--{what}s", default=",".join(names))
    parser.add_argument("--seeds", default=",".join(map(str, seeds)))
    parser.add_argument("--aggregate-only", action="store_true")
    for flag in flags:  # "--name" (a switch) or ("--name", kwargs)
        name, kwargs = (
            (flag, {"action": "store_true"}) if isinstance(flag, str) else flag
        )
        parser.add_argument(name, **kwargs)
    args = parser.parse_args(argv)
    chosen = [n for n in getattr(args, f"{what}s").split(",") if n]
    for name in chosen:
        if name not in names:
            parser.error(f"unknown {what} {name}; choose from {list(names)}")
    if not re.fullmatch(r"\d+(,\d+)*", args.seeds):
        parser.error(f"--seeds {args.seeds}: comma-separated integers")
    return args, chosen, [int(s) for s in args.seeds.split(",")]


def _alive(pid, name):
    """Whether ``pid`` runs benchmark ``name`` (``python -m
    benchmarks.<name>``, or ``<name>.py`` of older checkouts); a stale
    lock's pid is not."""
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return any(
        how.encode() in cmdline for how in (f"benchmarks.{name}", f"{name}.py")
    )


def acquire_lock(lock, log=print):
    """Takes ``<name>.pid`` for this process unless a live benchmark
    ``<name>`` holds it.

    Returns
    -------
    bool
        False when another pass of the same benchmark is running.
    """
    lock.parent.mkdir(parents=True, exist_ok=True)
    if lock.is_file() and _alive(int(lock.read_text() or 0), lock.stem):
        log(f"another {lock.stem}.py (pid {lock.read_text()}) is running")
        return False
    lock.write_text(str(os.getpid()))
    return True


def run_lanes(todo, lanes, train, finish):
    """Runs ``train(i, *job)`` for each job of ``todo`` (``i`` from 1),
    ``lanes`` at a time, then ``finish(*job)`` for each that returned
    True, one at a time (aggregate and commit). An error in a lane is
    raised once every job has run.

    Returns
    -------
    list
        The jobs whose ``train`` returned False.

    Example
    -------
    >>> run_lanes([(1,), (2,), (3,)], 1, lambda i, n: n != 2, print)
    1
    3
    [(2,)]
    """
    failed, one_at_a_time = [], threading.Lock()

    def one(i, job):
        if not train(i, *job):
            failed.append(job)
            return
        with one_at_a_time:
            finish(*job)

    # Lanes: runs side by side (give each one thread: OMP_NUM_THREADS=1).
    with ThreadPoolExecutor(max_workers=lanes) as pool:
        jobs = [pool.submit(one, i, job) for i, job in enumerate(todo, 1)]
    for job in jobs:
        job.result()  # an error in a lane is raised here
    return failed
