#!/usr/bin/env python3
"""The validation numbers of stage-2 exports, paired by seed.

Each stage-2 run records in its export's ``hyperparams.yaml`` the mix it
chose with its start (``interpolation``: ``weight`` = a, and the
validation EERs of every a on the real voices, the simulated voices and
their mean, the ``score``). This prints, for each variant
(``--variant NAME=FOLDER``, FOLDER holding one run per seed, as
``results/emoinv/<seed>``) and seed, the chosen a and the exported mix's
real ``merged``, simulated ``merged`` and score; then their means over the
seeds and the paired change of each variant against the first. Validation
voices only (the lists that choose), so it judges tuning rules such as
``benchmarks/tuning.md`` rule 8.

Usage::

    python -m benchmarks.export_validation --seeds 1986,1,2 \\
        --variant default=results/emoinv --variant freeze3=results/freeze3

Authors: speechbrain-emoinv contributors
"""

import argparse
from pathlib import Path

import numpy as np

from speechbrain_emoinv.pretrained import read_metadata

KEYS = ("valid_eer_real", "valid_eer_simulated", "valid_score")


def export_stats(run):
    """``a`` and the exported mix's validation EERs of one run folder.

    Arguments
    ---------
    run : str or Path
        The run's output folder (its export in ``pretrained/``).

    Returns
    -------
    dict
        ``a``, and the :data:`KEYS` at that ``a``.
    """
    mix = read_metadata(Path(run) / "pretrained")["interpolation"]
    a = mix["weight"]
    return {"a": a, **{k: float(mix[k][a]) for k in KEYS}}


def main():
    """Prints each variant's exports and the paired changes."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="1986,1,2")
    ap.add_argument("--variant", action="append", required=True)
    args = ap.parse_args()
    seeds = args.seeds.split(",")
    table = {}
    print("| variant | seed | a | real merged | simulated merged | score |")
    print("|---|---|---|---|---|---|")
    for spec in args.variant:
        name, folder = spec.split("=", 1)
        table[name] = [export_stats(Path(folder) / s) for s in seeds]
        for s, r in zip(seeds, table[name], strict=True):
            print(
                f"| {name} | {s} | {r['a']:g} | "
                + " | ".join(f"{r[k]:.2f}" for k in KEYS)
                + " |"
            )
    first = next(iter(table))
    print("\nmeans over seeds (paired change against the first variant):")
    for name, rows in table.items():
        cells = []
        for k in KEYS:
            vals = np.array([r[k] for r in rows])
            base = np.array([r[k] for r in table[first]])
            cells.append(f"{k} {vals.mean():.2f} ({(vals - base).mean():+.2f})")
        print(f"{name}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
