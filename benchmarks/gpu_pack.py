#!/usr/bin/env python3
"""Packs what ``benchmarks/gpu_check.py`` needs on a GPU machine that has
torch but cannot download: a subset of the simulated corpus, its
augmentation material and the wheels of the packages missing there.

Output (an ignored folder, e.g. ``.gpu_carry/``; name it in the device
tool's ``carry``)::

    data/train.csv         manifest of the subset (wav paths relative)
    data/wav/<spk>/*.wav   the subset's audio, copied as is
    data/augment/          noises.csv, rirs.csv (paths relative) + audio
    data/pack.json         source folders, counts, seconds, megabytes
    whl/*.whl              --wheels: speechbrain, HyperPyYAML, ruamel.yaml
                           (+ clib), soundfile, cffi, pycparser, in this
                           environment's versions, for CPython 3.12 x86-64

The subset: every (speaker, emotion) group of the training manifest in
turn, each giving its longest utterance not yet taken (long ones are
closer to the recipes' 3-s crops; two per group give the method its
twins), until ``--n`` utterances or ``--max-mb`` megabytes.

Usage::

    python -m benchmarks.gpu_pack --data data/mbrola_default/prepared \\
        --augment data/mbrola_default/augment --out .gpu_carry --wheels

Authors
 * speechbrain-emoinv contributors 2026
"""

import argparse
import csv
import importlib.metadata
import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

# Packages gpu_check.py imports that the GPU machine's image lacks
# (/work/.library/device/KINDS.md), with their own needs not there.
WHEELS = [
    "speechbrain",
    "HyperPyYAML",
    "ruamel.yaml",
    "ruamel.yaml.clib",
    "soundfile",
    "cffi",
    "pycparser",
]
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]


def select(rows, n, max_bytes, size_of):
    """Round-robin over (speaker, emotion) groups, longest first.

    Arguments
    ---------
    rows : list of dict
        Manifest rows (``spk_id``, ``emotion``, ``duration``).
    n : int
        Most rows.
    max_bytes : int
        Most bytes of audio.
    size_of : callable
        Bytes of a row's audio.

    Returns
    -------
    list of dict
        The subset, in manifest order.

    Example
    -------
    >>> rows = [
    ...     {"ID": i, "spk_id": s, "emotion": e, "duration": d}
    ...     for i, (s, e, d) in enumerate(
    ...         [("a", "n", 1), ("a", "n", 3), ("b", "n", 2), ("a", "h", 1)]
    ...     )
    ... ]
    >>> [r["ID"] for r in select(rows, 3, 10**9, lambda r: 1)]
    [1, 2, 3]
    """
    groups = defaultdict(list)
    for row in rows:
        groups[row["spk_id"], row["emotion"]].append(row)
    for group in groups.values():
        group.sort(key=lambda r: -float(r["duration"]))
    picked, total = [], 0
    while len(picked) < n and any(groups.values()):
        for key in sorted(groups):
            if not groups[key] or len(picked) == n:
                continue
            row = groups[key].pop(0)
            if total + size_of(row) > max_bytes:
                return _in_order(rows, picked)
            picked.append(row)
            total += size_of(row)
    return _in_order(rows, picked)


def _in_order(rows, picked):
    ids = {id(r) for r in picked}
    return [r for r in rows if id(r) in ids]


def _read(path):
    with open(path, newline="", encoding="utf-8") as fin:
        return list(csv.DictReader(fin))


def _write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fout:
        writer = csv.DictWriter(fout, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _copy_rows(rows, src_key, out_dir, sub):
    """Copies each row's file into ``out_dir/sub/<parent>/<name>`` and
    points the row at it (relative to ``out_dir``)."""
    out = []
    for row in rows:
        src = Path(row[src_key])
        rel = Path(sub) / src.parent.name / src.name
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out_dir / rel)
        out.append({**row, src_key: str(rel)})
    return out


def pack(data, augment, out, n=400, max_mb=30.0):
    """Writes ``out/data`` (module docstring); returns the ``pack.json``
    dict."""
    out = Path(out) / "data"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rows = _read(Path(data) / "train.csv")
    sizes = {r["wav"]: Path(r["wav"]).stat().st_size for r in rows}
    subset = select(rows, n, int(max_mb * 2**20), lambda r: sizes[r["wav"]])
    if not subset:
        raise ValueError(f"{data}/train.csv: no utterance fits the pack")
    _write(out / "train.csv", _copy_rows(subset, "wav", out, "wav"))
    for name in ("noises", "rirs"):
        material = _read(Path(augment) / f"{name}.csv")
        copied = _copy_rows(material, "wav", out / "augment", ".")
        _write(out / "augment" / f"{name}.csv", copied)
    info = {
        "source": str(Path(data).resolve()),
        "augment_source": str(Path(augment).resolve()),
        "n_utterances": len(subset),
        "n_speakers": len({r["spk_id"] for r in subset}),
        "n_emotions": len({r["emotion"] for r in subset}),
        "seconds": round(sum(float(r["duration"]) for r in subset), 1),
        "mb": round(
            sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            / 2**20,
            1,
        ),
    }
    (out / "pack.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def download_wheels(out):
    """``pip download`` of :data:`WHEELS` in this environment's versions
    (binary, CPython 3.12, x86-64 Linux) into ``out/whl``."""
    whl = Path(out) / "whl"
    whl.mkdir(parents=True, exist_ok=True)
    specs = [f"{p}=={importlib.metadata.version(p)}" for p in WHEELS]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps"]
    cmd += ["--only-binary=:all:", "--python-version", "3.12"]
    cmd += ["--implementation", "cp", "-d", str(whl)]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    subprocess.run(cmd + specs, check=True)
    return sorted(p.name for p in whl.glob("*.whl"))


def main(argv=None):
    """Packs the subset (and the wheels); prints what it wrote."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="prepared folder")
    parser.add_argument("--augment", required=True, help="augment folder")
    parser.add_argument("--out", default=".gpu_carry")
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--max-mb", type=float, default=30.0)
    parser.add_argument("--wheels", action="store_true")
    args = parser.parse_args(argv)
    info = pack(args.data, args.augment, args.out, args.n, args.max_mb)
    print(json.dumps(info, indent=2))
    if args.wheels:
        print("\n".join(download_wheels(args.out)))


if __name__ == "__main__":
    main()
