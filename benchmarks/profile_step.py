#!/usr/bin/env python3
"""Where a training step's time goes, per phase, for a recipe config.

Builds the recipe's own datasets and Brain from ``--config`` (the real
pipelines, augmentation, CopyPaste, EM and loss), trains ``--steps`` steps
after ``--warmup`` untimed ones, and prints the mean milliseconds per step
of each phase: waiting for the data loader (reading and decoding audio,
pair draws; in ``num_workers`` worker processes), CopyPaste, augmentation,
Fbank + mean normalisation, EM, the encoder's and classifier's forward,
the loss, backward and the optimiser step. Phases inside the forward are
timed by hooks on the YAML's objects, so what is measured is what the
recipe runs. The weights are the initial ones (speed does not depend on
them).

Usage::

    python -m benchmarks.profile_step --config hparams/emoinv.yaml
    python -m benchmarks.profile_step --config hparams/pretrain.yaml --steps 40

Authors: speechbrain-emoinv contributors
"""

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import speechbrain as sb
import torch

import train_speaker_embeddings as recipe
from speechbrain_emoinv.config import load_config

ROOT = Path(__file__).resolve().parents[1]

PHASES = (
    "data loader",
    "CopyPaste",
    "augmentation",
    "Fbank + norm",
    "EM",
    "encoder forward",
    "classifier forward",
    "loss",
    "backward",
    "optimiser step",
)


class Clock:
    """Accumulates wall time per phase."""

    def __init__(self):
        self.total = defaultdict(float)
        self.on = False

    def add(self, phase, seconds):
        if self.on:
            self.total[phase] += seconds

    def watch(self, module, phase):
        """Times every forward call of ``module``."""
        start = {}

        def pre(*_):
            start["t"] = time.perf_counter()

        def post(*_):
            self.add(phase, time.perf_counter() - start["t"])

        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)

    def wrap(self, fn, phase):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            self.add(phase, time.perf_counter() - t0)
            return out

        return timed


class ProfiledBrain(recipe.EmoInvBrain):
    """The recipe's Brain with its backward and optimiser step timed."""

    def fit_batch(self, batch):
        clock = self.clock
        self.on_fit_batch_start(batch, True)
        with self.training_ctx:
            outputs = self.compute_forward(batch, sb.Stage.TRAIN)
            t0 = time.perf_counter()
            loss = self.compute_objectives(outputs, batch, sb.Stage.TRAIN)
            clock.add("loss", time.perf_counter() - t0)
        t0 = time.perf_counter()
        loss.backward()
        clock.add("backward", time.perf_counter() - t0)
        t0 = time.perf_counter()
        self.optimizers_step()
        clock.add("optimiser step", time.perf_counter() - t0)
        return loss.detach()


def profile(config, steps, warmup, overrides=""):
    """Mean seconds per step of each phase (and of the whole step)."""
    with tempfile.TemporaryDirectory() as tmp:
        hparams, _ = load_config(config, f"output_folder: {tmp}\n{overrides}")
        hparams["prepare_data"]()
        if hparams["use_augment"] and hparams["prepare_augment"]:
            hparams["prepare_augment"]()
        train, _ = recipe.dataio_prep(hparams)
        brain = ProfiledBrain(
            modules=hparams["modules"],
            opt_class=hparams["opt_class"],
            hparams=hparams,
            run_opts={"device": "cpu"},
        )
        clock = brain.clock = Clock()
        watched = {
            "copypaste": "CopyPaste",
            "wav_augment": "augmentation",
            "emotion_masking": "EM",
            "embedding_model": "encoder forward",
            "classifier": "classifier forward",
        }
        for key, phase in watched.items():
            clock.watch(hparams[key], phase)
        brain.features = clock.wrap(brain.features, "Fbank + norm")
        brain.on_fit_start()
        brain.hparams.pair_sampler_instance.epoch = 1
        loader = sb.dataio.dataloader.make_dataloader(
            train, **hparams["dataloader_options"]
        )
        batches = iter(loader)
        brain.modules.train()
        t_start = None
        for step in range(warmup + steps):
            if step == warmup:
                clock.on, t_start = True, time.perf_counter()
            t0 = time.perf_counter()
            batch = next(batches)
            clock.add("data loader", time.perf_counter() - t0)
            brain.step = step + 1
            brain.fit_batch(batch)
        wall = time.perf_counter() - t_start
    out = {p: clock.total[p] / steps for p in PHASES}
    # The encoder hook also counts EM-free time only; Fbank inside forward.
    out["step"] = wall / steps
    out["samples_per_step"] = brain.n_samples(hparams["batch_size"])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", action="append", required=True)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--overrides", default="")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)
    results = {}
    for config in args.config:
        res = profile(config, args.steps, args.warmup, args.overrides)
        results[config] = res
        print(
            f"\n{config}: {res['step'] * 1000:.0f} ms per step "
            f"({res['samples_per_step']} samples, {torch.get_num_threads()} "
            "threads)"
        )
        print("| phase | ms / step | share |\n|---|---|---|")
        for phase in PHASES:
            ms = res[phase] * 1000
            print(
                f"| {phase} | {ms:.0f} | {100 * res[phase] / res['step']:.0f} % |"
            )
        other = res["step"] - sum(res[p] for p in PHASES)
        print(
            f"| other | {other * 1000:.0f} | {100 * other / res['step']:.0f} % |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
