#!/usr/bin/env python3
"""Cost of CopyPaste, emotion-aware masking and the ERL loss.

Each module is timed on a realistic batch (B = 32 anchors + 32 partners of
2-3 s at 16 kHz, random lengths) and reported as a percentage of one
training step of SpeechBrain's ECAPA-TDNN (C = 512: channels
[512, 512, 512, 512, 1536], lin_neurons 192, 80 Fbank) on the 2B = 64
samples the method trains on (Fbank + sentence mean normalisation +
embedding + AAM classifier, forward + backward + Adam step). The baseline
step on B = 32 is printed too.

Targets: each module <= 3 % and all together <= 8 % of the 2B step.

Timings are medians over repeats after a warm-up. They use all the threads
torch is given, so run this on an otherwise idle machine: concurrent load
inflates the ECAPA step and the modules differently.

Usage::

    python -m benchmarks.bench_modules [--device cuda] [--budget 170]

Authors
 * speechbrain-emoinv contributors
"""

import argparse
import statistics
import sys
import time

import torch
from speechbrain.augment.time_domain import SpeedPerturb
from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, Classifier
from speechbrain.nnet.losses import AdditiveAngularMargin, LogSoftmaxWrapper
from speechbrain.processing.features import InputNormalization

from speechbrain_emoinv.copypaste import CopyPaste
from speechbrain_emoinv.emotion_masking import EmotionAwareMasking
from speechbrain_emoinv.erl_loss import ERLLoss

SAMPLE_RATE = 16000


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, device, repeats, warmup=1):
    """Median wall time of ``fn()`` in seconds, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def _batch(batch, device, gen):
    """Padded waveforms of 2-3 s with random lengths (relative)."""
    n = (2.0 + torch.rand(batch, generator=gen)) * SAMPLE_RATE
    n = n.long()
    t_max = int(n.max())
    wavs = 0.1 * torch.randn(batch, t_max, generator=gen)
    wavs = wavs * (torch.arange(t_max) < n.unsqueeze(1))
    return wavs.to(device), (n.double() / t_max).float().to(device)


class _Step:
    """One ECAPA-TDNN training step (the baseline of the recipe)."""

    def __init__(self, device, n_speakers):
        self.fbank = Fbank(n_mels=80).to(device)
        self.norm = InputNormalization(norm_type="sentence", std_norm=False)
        self.model = ECAPA_TDNN(
            80, channels=[512, 512, 512, 512, 1536], lin_neurons=192
        ).to(device)
        self.classifier = Classifier(192, out_neurons=n_speakers).to(device)
        self.loss = LogSoftmaxWrapper(AdditiveAngularMargin(0.2, 30.0))
        params = list(self.model.parameters()) + list(
            self.classifier.parameters()
        )
        self.opt = torch.optim.Adam(params, lr=1e-3)

    def __call__(self, wavs, lens, targets):
        feats = self.norm(self.fbank(wavs), lens)
        emb = self.model(feats, lens)
        out = self.classifier(emb)
        loss = self.loss(out, targets.unsqueeze(1))
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


def main(argv=None):
    """Runs the benchmark and prints the table.

    Arguments
    ---------
    argv : list, optional
        Command-line arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when all targets are met, 1 otherwise.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--n-speakers", type=int, default=1211)
    parser.add_argument(
        "--step-repeats", type=int, default=3, help="ECAPA step repeats"
    )
    parser.add_argument(
        "--module-repeats", type=int, default=20, help="module repeats"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=170.0,
        help="seconds; ECAPA repeats are cut to stay within it",
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    started = time.perf_counter()
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    batch = args.batch

    print(
        f"device {device}, torch threads {torch.get_num_threads()}, "
        f"torch {torch.__version__}"
    )
    print(
        "NOTE: timings use all torch threads; run on an idle machine "
        "(other load skews the percentages)."
    )
    anchors, a_lens = _batch(batch, device, gen)
    partners, p_lens = _batch(batch, device, gen)
    spk = torch.randint(0, args.n_speakers, (batch,), generator=gen)
    spk = spk.to(device)

    # --- modules --------------------------------------------------------
    rows = []
    reps = args.module_repeats
    cp = CopyPaste(mode="concat", span_ratio=(0.3, 0.7))
    parallel, par_lens = cp(anchors, a_lens, partners, p_lens)
    for mode, counted in (("concat", True), ("replace", False)):
        module = CopyPaste(mode=mode, span_ratio=(0.3, 0.7))

        def run_cp(module=module):
            module(anchors, a_lens, partners, p_lens)

        rows.append(
            (f"CopyPaste {mode}", _time(run_cp, device, reps)[0], counted)
        )

    # EM is chosen on the clean parallel waveform and applied to the
    # features of the augmented one: time it on 95 %-speed features, so
    # the mask is stretched onto another frame count as in training
    fbank = Fbank(n_mels=80).to(device)
    norm = InputNormalization(norm_type="sentence", std_norm=False)
    slow = SpeedPerturb(SAMPLE_RATE, speeds=[95]).to(device)
    with torch.no_grad():
        par_feats = norm(fbank(slow(parallel)), par_lens)
    for mode, counted in (("topk", True), ("spans", False)):
        em = EmotionAwareMasking(mask_ratio=(0.1, 0.3), mode=mode, prob=1.0)

        def run_em(em=em):
            em(par_feats, parallel, par_lens)

        rows.append(
            (f"EM {mode} (prob 1)", _time(run_em, device, reps)[0], counted)
        )

    n_spk = args.n_speakers
    erl = ERLLoss(margin=0.2, scale=30.0, pair_weight=1.0)
    targets = torch.cat([spk, spk])
    scores = torch.rand(2 * batch, 1, n_spk, device=device) * 2 - 1
    emb = torch.randn(2 * batch, 1, 192, device=device)

    def run_erl(pair=True):
        out = scores.clone().requires_grad_(True)
        e = emb.clone().requires_grad_(True)
        total, _ = erl(
            out, targets, e[:batch], e[batch:] if pair else None, step=10
        )
        total.backward()

    t_erl = _time(run_erl, device, reps)[0]
    t_aam = _time(lambda: run_erl(False), device, reps)[0]
    # counted in full (conservative): the AAM part is in the baseline too
    rows.append(("ERL loss fwd+bwd", t_erl, True))
    rows.append(("  of which pair term", max(t_erl - t_aam, 0.0), False))

    # --- ECAPA steps ----------------------------------------------------
    step = _Step(device, n_spk)
    both = torch.cat([anchors, parallel])
    both_lens = torch.cat([a_lens, par_lens])
    start = time.perf_counter()
    step(both, both_lens, targets)  # warm-up
    _sync(device)
    t_warm = time.perf_counter() - start
    left = args.budget - (time.perf_counter() - started)
    # 2B repeats + B repeats (about half the cost each)
    fit = int(left / (1.5 * max(t_warm, 1e-3)))
    repeats = max(1, min(args.step_repeats, fit))
    if repeats < args.step_repeats:
        print(
            f"(budget: {repeats} ECAPA repeats instead of {args.step_repeats})"
        )
    t_2b, raw_2b = _time(
        lambda: step(both, both_lens, targets), device, repeats, warmup=0
    )
    t_b, raw_b = _time(
        lambda: step(anchors, a_lens, spk),
        device,
        repeats,
        warmup=1 if device.type == "cuda" else 0,
    )

    # --- table ----------------------------------------------------------
    print()
    print(
        f"ECAPA-TDNN C=512 train step, 2B={2 * batch}: {t_2b * 1e3:9.1f} ms "
        f"(runs: {', '.join(f'{t:.2f}' for t in raw_2b)} s)"
    )
    print(
        f"ECAPA-TDNN C=512 train step,  B={batch}: {t_b * 1e3:9.1f} ms "
        f"(runs: {', '.join(f'{t:.2f}' for t in raw_b)} s)"
    )
    print()
    print(f"{'module':<26}{'median ms':>11}{'% 2B step':>11}  target")
    print("-" * 58)
    ok = True
    total = 0.0
    for name, secs, counted in rows:
        pct = 100.0 * secs / t_2b
        if counted:
            total += pct
            good = pct <= 3.0
            ok &= good
            flag = "<= 3 %  " + ("ok" if good else "MISSED")
        else:
            flag = "(info)"
        print(f"{name:<26}{secs * 1e3:>11.2f}{pct:>10.2f}%  {flag}")
    print("-" * 58)
    good = total <= 8.0
    ok &= good
    print(
        f"{'together (counted rows)':<26}{'':>11}{total:>10.2f}%  <= 8 %  "
        + ("ok" if good else "MISSED")
    )
    print(f"\ntotal runtime {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
