"""Speed of our metrics against SpeechBrain's ``EER`` / ``minDCF``.

Prints, on one CPU thread:

1. our EER + minDCF@0.01 + minDCF@0.05 and SpeechBrain's on the same
   trials at sizes where SpeechBrain's finish quickly (measured ratio);
2. 10^6 trials: ours measured; SpeechBrain's ``EER`` run for real on
   scores kept to 4 decimals (~10^5 distinct thresholds, minutes), and
   scaled for full-precision scores (~2N thresholds x O(N) work per
   threshold) from that run's measured cost per threshold;
   SpeechBrain's ``minDCF`` needs a (2N x N) matrix (terabytes at 10^6),
   so it is only run at small sizes;
3. time and peak memory (tracemalloc, which sees numpy buffers) of ours
   on 10^7 trials, and time and peak RSS of chunked cosine + AS-norm
   scoring of 10^7 trials in a fresh process.

Usage: ``python -m benchmarks.bench_metrics [--no-sb-big] [--big 10000000]``
"""

import argparse
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import torch
from speechbrain.utils.metric_stats import (
    EER as sb_eer,
    minDCF as sb_min_dcf,
)

from speechbrain_emoinv.metrics import verification_metrics


def trials(n, seed=0, decimals=4):
    """n scores (10 % targets) rounded to create ties like real lists."""
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.1
    scores = labels * 1.5 + rng.normal(0.0, 1.0, n)
    if decimals is not None:
        scores = scores.round(decimals)
    return scores.astype(np.float32), labels


def timed(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def ours(scores, labels):
    return verification_metrics(scores, labels, p_targets=(0.01, 0.05))


def speechbrain(scores, labels, with_dcf=True):
    s = torch.from_numpy(scores)
    lab = torch.from_numpy(labels)
    pos, neg = s[lab], s[~lab]
    out = {"eer": 100 * sb_eer(pos, neg)[0]}
    if with_dcf:
        for p in (0.01, 0.05):
            out[f"min_dcf@{p:g}"] = sb_min_dcf(pos, neg, p_target=p)[0] / p
    return out


def peak_memory(fn):
    tracemalloc.start()
    start = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak, out


SCORING_CHILD = """
import sys, time
import numpy as np, torch
torch.set_num_threads(1)
from speechbrain_emoinv.scoring import cohort_stats, cosine_scores
from speechbrain_emoinv.scoring import normalize_scores
def hwm():  # peak RSS of this process in MiB (reset by exec, unlike rusage)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
n, u = int(sys.argv[1]), 20000
base = hwm()
rng = np.random.default_rng(0)
emb = torch.randn(u, 192)
enrol = rng.integers(0, u, n).astype(np.int32)
test = rng.integers(0, u, n).astype(np.int32)
start = time.perf_counter()
raw = cosine_scores(emb, enrol, test, chunk_size=65536)
t_cos = time.perf_counter() - start
stats = cohort_stats(emb, torch.randn(2000, 192), topk=300)
norm = normalize_scores(raw, enrol, test, stats)
total = time.perf_counter() - start
print(t_cos, total, base, hwm())
"""


def scoring_peak(n):
    """Cosine + AS-norm of n trials in a fresh process; peak RSS."""
    out = subprocess.run(
        [sys.executable, "-c", SCORING_CHILD, str(n)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    t_cos, total, base, peak = map(float, out)
    print(
        f"scoring {n:.0e} trials (20k utterances x 192 dims): cosine "
        f"{t_cos:.2f} s, + AS-norm (2000 cohort, top-300) {total:.2f} s; "
        f"process peak RSS {peak:.0f} MiB (torch import {base:.0f} MiB)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--no-sb-big",
        action="store_true",
        help="skip SpeechBrain's EER on 10^6 trials (a few minutes)",
    )
    parser.add_argument("--big", type=int, default=10_000_000)
    args = parser.parse_args()
    torch.set_num_threads(1)

    print("== 1. measured on the same trials (EER + minDCF@0.01/0.05)")
    print(f"{'N':>8} {'ours s':>9} {'SB s':>9} {'ratio':>8}  max |diff|")
    for n in (2_000, 4_000, 8_000):
        scores, labels = trials(n)
        t_ours, a = timed(lambda: ours(scores, labels), repeat=3)
        t_sb, b = timed(lambda: speechbrain(scores, labels))
        diff = max(abs(a[k] - b[k]) for k in b)
        print(
            f"{n:>8} {t_ours:9.4f} {t_sb:9.3f} {t_sb / t_ours:8.0f}x  {diff:.1e}"
        )

    n = 1_000_000
    print("== 2. 10^6 trials, EER + minDCF@0.01/0.05")
    scores, labels = trials(n)
    t_ours, a = timed(lambda: ours(scores, labels), repeat=3)
    print(f"ours: {t_ours:.3f} s")
    print(
        "SpeechBrain minDCF at 10^6 would need a "
        f"{2 * n * n * 4 / 1e12:.0f} TB matrix: not run"
    )
    full, _ = trials(n, decimals=None)
    n_thr_full = 2 * np.unique(full).size - 1
    n_thr = 2 * np.unique(scores).size - 1
    t_full, _ = timed(lambda: ours(full, labels), repeat=3)
    print(f"ours on full-precision float32 scores: {t_full:.3f} s")
    if not args.no_sb_big:
        # Scores kept to 4 decimals (as in score files): ~10^5 distinct
        # values, so SpeechBrain's threshold loop finishes in minutes.
        t_sb, b = timed(lambda: speechbrain(scores, labels, with_dcf=False))
        print(
            f"SpeechBrain EER alone, run for real ({n_thr} thresholds): "
            f"{t_sb:.1f} s, ratio {t_sb / t_ours:.0f}x (ours includes 2 "
            f"minDCF), |EER diff| {abs(a['eer'] - b['eer']):.1e} %"
        )
        # Its loop does the same O(N) work per threshold, so the measured
        # cost per threshold scales to the full-precision threshold count.
        t_est = t_sb / n_thr * n_thr_full
        print(
            f"full-precision scores ({n_thr_full} thresholds): SpeechBrain "
            f"EER estimated {t_est:.0f} s from the measured per-threshold "
            f"cost; ratio {t_est / t_full:.0f}x"
        )

    print(f"== 3. ours on {args.big:.0e} trials")
    scores, labels = trials(args.big, seed=1)
    elapsed, peak, out = peak_memory(lambda: ours(scores, labels))
    print(
        f"metrics: {elapsed:.2f} s, peak extra memory {peak / 2**20:.0f} MiB "
        f"(input {(scores.nbytes + labels.nbytes) / 2**20:.0f} MiB), "
        f"EER {out['eer']:.3f} %"
    )
    scores = labels = None  # free before the scoring benchmark
    scoring_peak(args.big)


if __name__ == "__main__":
    main()
