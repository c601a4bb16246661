#!/usr/bin/env python3
"""Time of the main command on this machine, end to end.

Clones the checkout's HEAD into a scratch folder (with ``../shared`` linked
beside it, as CI lays it out), runs the README's main command there once,
``python train_speaker_embeddings.py hparams/emoinv.yaml`` (the defaults:
seed 1986, data preparation, stage 1, stage 2, export, evaluation), and
writes ``benchmarks/results/main_command_time.json``: the commit, the
machine, the training precision this machine gets, the wall time of the
whole command and of each stage (the recipe's ``Finished <config> in N
min`` lines), the peak resident memory of the run and the export's
held-out EERs (cosine, %; simulated lists are simulated data). The record
of a commit already measured is printed, not measured again; an
interrupted measurement starts over (a resumed run's time would be wrong).

Usage::

    python -m benchmarks.main_command_time [--workdir /tmp/main_time]

Authors
 * speechbrain-emoinv contributors 2026
"""

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.runner import ROOT, hardware
from benchmarks.two_stage import eers
from speechbrain_emoinv.precision import native_precision

OUT = ROOT / "benchmarks" / "results" / "main_command_time.json"
COMMAND = ["train_speaker_embeddings.py", "hparams/emoinv.yaml"]


def head(repo=ROOT):
    """Short commit of ``repo``'s HEAD."""
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def measure(workdir):
    """Runs the main command in a fresh clone under ``workdir``; returns
    the record."""
    shutil.rmtree(workdir, ignore_errors=True)
    clone = workdir / "main"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    if (ROOT.parent / "shared").is_dir():
        (workdir / "shared").symlink_to(ROOT.parent / "shared")
    log = workdir / "main_command.log"
    started = time.time()
    with open(log, "w") as out:
        subprocess.run(
            [sys.executable, *COMMAND],
            cwd=clone,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    minutes = (time.time() - started) / 60
    stages = re.findall(
        r"Finished (\S+) in ([0-9.]+) min", log.read_text(errors="replace")
    )
    run = clone / "results" / "emoinv" / "1986"
    return {
        "commit": head(clone),  # the checkout may have moved on meanwhile
        "command": "python " + " ".join(COMMAND),
        "machine": hardware(),
        "precision": native_precision(),
        "minutes": round(minutes, 1),
        "stages_minutes": {Path(c).name: float(m) for c, m in stages},
        # ru_maxrss of the waited-for children, in KiB on Linux
        "peak_rss_gib": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20, 1
        ),
        "eval_eer": eers(run),
        "runs": 1,
    }


def main(argv=None):
    """Measures HEAD unless its record is there; prints the record."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/main_time"))
    args = ap.parse_args(argv)
    records = json.loads(OUT.read_text()) if OUT.is_file() else []
    commit = head()
    record = next((r for r in records if r["commit"] == commit), None)
    if record is None:
        record = measure(args.workdir)
        records.append(record)
        OUT.write_text(json.dumps(records, indent=1) + "\n")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
