#!/usr/bin/env python3
"""External reference row: Resemblyzer (GE2E) on the evaluation lists.

Resemblyzer's pretrained GE2E speaker encoder (its weights ship inside
its wheel; it was trained on LibriSpeech / VoxCeleb, never on our data)
embeds the evaluation speakers of the default simulated corpus and of
the real recorded voices (``data/real``), each with a training-speaker
cohort; the scores are then computed exactly as the recipe's evaluation
does (``speechbrain_emoinv.scoring.score_all``: cosine, s-norm, AS-norm;
``evaluation.report.score_list``: EER and minDCF) on the same lists
``trials/eval/*.txt`` (simulated ``neutral`` ... ``merged``; real
``real_read``, ``real_acted``), plus the same emotion-leakage probe on the
simulated speakers.

Two stages, two virtual environments:

1. ``--embed`` runs in ``.venv-resemblyzer`` (Resemblyzer is not a
   project requirement). Setup, once::

       python3 -m venv .venv-resemblyzer
       .venv-resemblyzer/bin/pip install "setuptools<81" librosa \\
           webrtcvad scipy numpy soundfile
       .venv-resemblyzer/bin/pip install --no-deps resemblyzer
       echo "$PWD/.venv/lib/python3.11/site-packages" > \\
           .venv-resemblyzer/lib/python3.11/site-packages/zz_main_torch.pth

   (``--no-deps`` + the ``.pth`` reuse the main venv's torch rather than
   downloading a second one; the reference venv's own packages come
   first on its path. ``pip install resemblyzer "setuptools<81"`` works
   too, with its own torch.)
2. The default stage runs in the main venv: it starts stage 1 in a
   subprocess when the embeddings are missing, then scores.

Usage::

    .venv/bin/python -m benchmarks.reference_resemblyzer

Output: ``benchmarks/results/reference_resemblyzer.json`` (and ``.md``);
embeddings are kept in ``results/reference_resemblyzer/{sim,real}/``
(git-ignored).

Authors
 * speechbrain-emoinv contributors 2026
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "mbrola_default" / "prepared"
REAL_DATA = ROOT / "data" / "real" / "prepared"
WORK = ROOT / "results" / "reference_resemblyzer"
OUT = ROOT / "benchmarks" / "results" / "reference_resemblyzer.json"
VENV_PY = ROOT / ".venv-resemblyzer" / "bin" / "python"
COHORT_SIZE = 2000  # as run_evaluation's default


def embed_manifests(manifests, out_dir, threads=1):
    """Stage 1 (Resemblyzer venv): one ``.npz`` of embeddings per CSV.

    Arguments
    ---------
    manifests : list of str
        SpeechBrain CSVs (``ID``, ``wav``, ``start``, ``stop``).
    out_dir : str
        Folder of the ``<csv stem>.npz`` files (``ids``, ``emb``).
    threads : int
        Torch CPU threads.

    Returns
    -------
    dict
        Timing per manifest: utterances, audio seconds, wall seconds.
    """
    import soundfile
    import torch
    from resemblyzer import VoiceEncoder, preprocess_wav

    torch.set_num_threads(threads)
    encoder = VoiceEncoder("cpu", verbose=False)
    n_params = sum(p.numel() for p in encoder.parameters())
    timing = {"n_parameters": n_params, "threads": threads}
    for manifest in manifests:
        with open(manifest, newline="", encoding="utf-8") as fin:
            rows = list(csv.DictReader(fin))
        ids, embs, audio_s = [], [], 0.0
        t0 = time.perf_counter()
        for row in rows:
            start, stop = int(row["start"]), int(row["stop"])
            wav, sr = soundfile.read(
                row["wav"], start=start, stop=stop, dtype="float32"
            )
            audio_s += len(wav) / sr
            # Resemblyzer's own front end: resampling, volume
            # normalisation, VAD silence trimming.
            wav = preprocess_wav(wav, source_sr=sr)
            embs.append(encoder.embed_utterance(wav))
            ids.append(row["ID"])
        wall = time.perf_counter() - t0
        stem = Path(manifest).stem
        np.savez(
            Path(out_dir) / f"{stem}.npz",
            ids=np.array(ids),
            emb=np.stack(embs).astype(np.float32),
        )
        timing[stem] = {
            "n_utterances": len(ids),
            "audio_s": round(audio_s, 1),
            "wall_s": round(wall, 1),
            "real_time_factor": round(wall / audio_s, 5),
        }
        print(f"{stem}: {len(ids)} utterances in {wall:.1f} s", flush=True)
    (Path(out_dir) / "timing.json").write_text(json.dumps(timing, indent=2))
    return timing


def _load(work, stem, rows):
    data = np.load(work / f"{stem}.npz")
    if list(data["ids"]) != [r["ID"] for r in rows]:
        raise RuntimeError(f"{work / stem}.npz: ids do not match the manifest")
    import torch

    return torch.from_numpy(data["emb"])


def score_corpus(data, work, log=print):
    """Embeds (in the Resemblyzer venv, once) and scores one corpus.

    Arguments
    ---------
    data : Path
        A prepared folder: ``eval.csv``, ``train.csv`` (the cohort) and
        ``trials/eval/*.txt``.
    work : Path
        Where the embeddings are kept.
    log : callable
        Progress messages.

    Returns
    -------
    tuple
        (results per list, evaluation embeddings, evaluation rows, timing).
    """
    from speechbrain_emoinv.data.manifest import read_manifest
    from speechbrain_emoinv.evaluation.lists import (
        check_two_classes,
        read_trial_list,
    )
    from speechbrain_emoinv.evaluation.report import score_list
    from speechbrain_emoinv.evaluation.run import sample_cohort
    from speechbrain_emoinv.scoring import score_all

    work.mkdir(parents=True, exist_ok=True)
    rows = read_manifest(data / "eval.csv", strict=False)
    cohort_rows = sample_cohort(
        read_manifest(data / "train.csv", strict=False), COHORT_SIZE, 0
    )
    cohort_csv = work / "cohort.csv"
    with open(data / "train.csv", newline="", encoding="utf-8") as fin:
        raw = {r["ID"]: r for r in csv.DictReader(fin)}
    with open(cohort_csv, "w", newline="", encoding="utf-8") as fout:
        first = raw[cohort_rows[0]["ID"]]
        writer = csv.DictWriter(fout, list(first))
        writer.writeheader()
        writer.writerows(raw[r["ID"]] for r in cohort_rows)

    if not (work / "eval.npz").is_file() or not (work / "cohort.npz").is_file():
        if not VENV_PY.is_file():
            sys.exit(f"{VENV_PY} missing: see this script's docstring")
        cmd = [str(VENV_PY), __file__, "--out", str(work), "--embed"]
        log("embedding with Resemblyzer: " + " ".join(cmd))
        subprocess.run(
            cmd + [str(data / "eval.csv"), str(cohort_csv)],
            check=True,
            cwd=ROOT,
        )
    timing = json.loads((work / "timing.json").read_text())
    emb = _load(work, "eval", rows)
    cohort_emb = _load(work, "cohort", cohort_rows)
    index = {r["ID"]: i for i, r in enumerate(rows)}
    ids = [r["ID"] for r in rows]
    lists_results = {}
    for path in sorted((data / "trials" / "eval").glob("*.txt")):
        trials = read_trial_list(path, index, rows)
        check_two_classes(trials, str(path))
        scores = score_all(emb, trials.enrol, trials.test, cohort_emb, 300, ids)
        lists_results[trials.name] = score_list(trials, scores)
    return lists_results, emb, rows, timing


def score(log=print):
    """Stage 2 (main venv): the recipe's scoring and metrics."""
    from speechbrain_emoinv.evaluation.probe import emotion_leakage
    from speechbrain_emoinv.evaluation.report import metrics_table

    lists_results, emb, rows, timing = score_corpus(DATA, WORK / "sim", log)
    real_results, _, _, real_timing = score_corpus(
        REAL_DATA, WORK / "real", log
    )
    norms = list(lists_results["merged"].keys() - {"n_trials", "n_excluded"})
    gap = {
        n: lists_results["cross"][n]["eer"] - lists_results["neutral"][n]["eer"]
        for n in sorted(norms)
    }
    leak = emotion_leakage(
        emb, [r["spk_id"] for r in rows], [r["emotion"] for r in rows], seed=0
    )
    table = metrics_table(lists_results)
    real_table = metrics_table(real_results)
    result = {
        "system": "Resemblyzer 0.1.4 VoiceEncoder (GE2E, 3-layer LSTM, "
        "256-d), pretrained weights shipped in its wheel; not trained "
        "on this corpus",
        "data": "simulated default MBROLA corpus (data/mbrola_default) and "
        "real recorded voices (data/real), evaluation speakers, "
        "trials/eval/*.txt; cohort: up to 2000 training utterances each",
        "command": ".venv/bin/python -m benchmarks.reference_resemblyzer",
        "lists": lists_results,
        "real_lists": real_results,
        "emotion_gap": gap,
        "leakage_probe": leak,
        "table": table,
        "real_table": real_table,
        "embedding_timing": {"simulated": timing, "real": real_timing},
        "hardware": f"{os.cpu_count()} CPU cores, no GPU",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# Reference: Resemblyzer (GE2E), evaluation lists",
        "",
        result["system"] + ".",
        "",
        "Simulated evaluation speakers (simulated data):",
        "",
        "```",
        table,
        "```",
        "",
        "Real recorded voices (`real_read`, `real_acted`). Caveat: the "
        "merge of game characters into voices "
        "(`speechbrain_emoinv/data/fotaq_voices.json`) was decided with "
        "this encoder.",
        "",
        "```",
        real_table,
        "```",
        "",
        "Emotion gap (EER cross − neutral, points): "
        + ", ".join(f"{n} {g:+.2f}" for n, g in gap.items()),
        "",
        f"Emotion probe accuracy {leak['accuracy']:.3f} (chance "
        f"{leak['chance_accuracy']:.3f}).",
        "",
    ]
    OUT.with_suffix(".md").write_text("\n".join(md))
    log("\n".join(md))
    return result


def main(argv=None):
    """Runs stage 1 (``--embed CSV...``) or stage 2 (default)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embed", nargs="+", metavar="CSV")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=WORK)
    args = parser.parse_args(argv)
    if args.embed:
        args.out.mkdir(parents=True, exist_ok=True)
        embed_manifests(args.embed, args.out, args.threads)
    else:
        score()


if __name__ == "__main__":
    main()
