#!/usr/bin/env python3
"""The recipes on a GPU: training throughput, data loading, mixed
precision, memory and embedding throughput, in one command of minutes.

Every run builds the real recipe objects: the ESD recipe's YAML
(``recipes/ESD/SpeakerRec/hparams/train_ecapa_emoinv.yaml``: ECAPA-TDNN
C = 1024, 3-s crops, its batch size, its augmentation) loaded as the
recipe loads it, ``train_speaker_embeddings.dataio_prep`` (anchor and
partner reads, and twins where CopyPaste uses them, in the loader
workers) and ``EmoInvBrain.fit_batch`` (CopyPaste, augmentation,
features, EM, ECAPA-TDNN, ERL loss, backward, Adam), on the packed subset of the simulated corpus
(``benchmarks/gpu_pack.py``; crops longer than an utterance take all of
it and batches are padded to their longest). Configs: the full method
(``emoinv``), the baseline (AAM only, same batch) and the equal-budget
baseline (AAM only, twice the anchors: as many samples per step as the
method). The loader draws rows with replacement, so no epoch ends inside
a run; every step is timed in two parts, the wait for the next batch
(data loading the GPU waits for) and ``fit_batch`` (all the rest, ending
in a host sync), so a data-bound step shows as wait.

Runs, in order of priority (each one skipped when the time budget would
be exceeded; the JSON is written after every run):

1. every config at every ``--workers`` count, float32 (forced; the
   recipes default to ``native_precision()``, bf16 on such GPUs): samples/s, GPU utilisation (sampled every 0.1 s),
   peak GPU memory, and the method / equal-budget step-time ratio;
2. the full method for ``--parity-steps`` steps at the fastest worker
   count (the fewest workers within 5 % of the best), float32 twice
   (run-to-run noise of the loss) and with bf16 and fp16 autocast: the
   loss curves compared, and their speed; the equal-budget baseline at the
   same precisions for the ratio;
3. the embedding throughput of the recipe's ECAPA-TDNN (the exported
   pipeline's modules), float32 and bf16;
4. the full method without generic augmentation (its share of the step).

Usage (on the GPU machine; docs/deployment.md#gpus for the offline
install of the packed wheels)::

    python -m benchmarks.gpu_check --data .gpu_carry/data --out OUT.json
    python -m benchmarks.gpu_check --smoke      # CPU, seconds (CI)

Output: ``benchmarks/results/gpu/<date>.json`` by default;
``benchmarks/make_results_section.py`` writes its table into
docs/results.md.

Authors
 * speechbrain-emoinv contributors 2026
"""

import argparse
import contextlib
import csv
import datetime
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes/ESD/SpeakerRec/hparams/train_ecapa_emoinv.yaml"
OUT_DIR = ROOT / "benchmarks" / "results" / "gpu"
CONFIGS = ("emoinv", "baseline_equal_budget", "baseline")
RATIO_GOAL = 1.15  # method / equal-budget step time (issue 29)
# Smoke mode: a small model and short crops on the CPU.
SMOKE = {
    "ecapa_channels": [16, 16, 16, 16, 48],
    "ecapa_attention": 8,
    "emb_dim": 16,
    "sentence_len": 1.0,
    "batch_size": 4,
}


def _now():
    return time.perf_counter()


class UtilSampler(threading.Thread):
    """Samples GPU utilisation (%) every ``period`` s until stopped:
    ``torch.cuda.utilization`` (NVML), else ``nvidia-smi``."""

    def __init__(self, device, period=0.1):
        super().__init__(daemon=True)
        self.device, self.period = device, period
        self.samples, self.source = [], None
        self._stop = threading.Event()

    def read(self):
        import torch

        try:
            value = torch.cuda.utilization(self.device)
            self.source = "torch.cuda.utilization"
            return float(value)
        except Exception:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=utilization.gpu",
                 "--format=csv,noheader,nounits", "-i",
                 str(self.device.index or 0)],
                capture_output=True, text=True, timeout=5, check=True,
            )  # fmt: skip
            self.source = "nvidia-smi"
            return float(out.stdout.split()[0])

    def run(self):
        while not self._stop.is_set():
            try:
                self.samples.append(self.read())
            except Exception:
                return
            self._stop.wait(self.period)

    def stop(self):
        """Stops sampling; returns the mean (None without samples)."""
        self._stop.set()
        self.join(timeout=10)
        if not self.samples:
            return None
        return round(sum(self.samples) / len(self.samples), 1)


def resolve_pack(data, work):
    """The pack's manifests with absolute paths, written under ``work``;
    returns ``(train_csv, noises_csv, rirs_csv, n_speakers)``."""
    data, work = Path(data).resolve(), Path(work)
    work.mkdir(parents=True, exist_ok=True)
    paths = []
    for rel, base in (
        ("train.csv", data),
        ("augment/noises.csv", data / "augment"),
        ("augment/rirs.csv", data / "augment"),
    ):
        with open(data / rel, newline="", encoding="utf-8") as fin:
            rows = list(csv.DictReader(fin))
        if not rows:
            raise ValueError(f"{data / rel}: empty manifest")
        for row in rows:
            row["wav"] = str(base / row["wav"])
        out = work / rel.replace("/", "_")
        with open(out, "w", newline="", encoding="utf-8") as fout:
            writer = csv.DictWriter(fout, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        paths.append(out)
        if rel == "train.csv":
            n_spk = len({r["spk_id"] for r in rows})
    return (*paths, n_spk)


class Check:
    """One gpu_check invocation: settings, the runs done, the JSON."""

    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.device = "cpu" if args.smoke else args.device
        self.work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
        train, noises, rirs, n_spk = resolve_pack(args.data, self.work)
        self.base = {
            "seed": 1,
            "data_folder": str(Path(args.data).resolve()),
            "train_annotation": str(train),
            "valid_annotation": str(train),  # loaded, never iterated
            "noise_annotation": str(noises),
            "rir_annotation": str(rirs),
            "out_n_neurons": n_spk,
            **(SMOKE if args.smoke else {}),
        }
        self.started = time.time()
        self.durations = []
        pack = Path(args.data) / "pack.json"
        self.result = {
            "command": "python -m benchmarks.gpu_check "
            + " ".join(sys.argv[1:]),
            "date": datetime.datetime.now(datetime.UTC).isoformat(
                timespec="seconds"
            ),
            "smoke": args.smoke,
            "recipe": str(RECIPE.relative_to(ROOT)),
            "overrides": self.base | {"output_folder": "<temp>"},
            "pack": json.loads(pack.read_text()) if pack.is_file() else None,
            "environment": environment(self.device),
            "runs": [],
            "skipped": [],
        }

    # -- the JSON ------------------------------------------------------
    def save(self):
        """Writes the JSON (atomically) with the derived summary."""
        self.result["wall_s"] = round(time.time() - self.started, 1)
        self.result["summary"] = summarise(self.result["runs"])
        out = Path(self.args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.result, indent=2) + "\n")
        tmp.replace(out)

    def budget_left(self, name):
        """False (and noted) when a run like the longest so far would pass
        the budget."""
        elapsed = time.time() - self.started
        need = max(self.durations, default=30.0)
        if elapsed + need > self.args.budget_s:
            self.result["skipped"].append(name)
            print(f"skip {name}: {elapsed:.0f} s used", flush=True)
            return False
        return True

    def attempt(self, name, fn, *a, tag=None, **kw):
        """Runs one measurement; records it (with ``tag``), or its error,
        and saves."""
        if not self.budget_left(name):
            return None
        t0 = time.time()
        try:
            run = fn(*a, **kw)
        except Exception as err:
            run = {"error": f"{type(err).__name__}: {err}"}
            traceback.print_exc()
        run["name"] = name
        if tag:
            run["tag"] = tag
        run["run_s"] = round(time.time() - t0, 1)
        self.durations.append(run["run_s"])
        self.result["runs"].append(run)
        self.save()
        print(one_line(run), flush=True)
        return run

    # -- one training run ------------------------------------------------
    def hparams(self, config, workers, extra=None):
        """The recipe's objects for one config (``load_config``, as the
        recipe loads its YAML)."""
        from speechbrain_emoinv.config import load_config

        over = dict(self.base, num_workers=workers, **(extra or {}))
        over["output_folder"] = str(self.work / f"run{len(self.durations)}")
        if config != "emoinv":
            over["use_pairs"] = False
        hparams, _ = load_config(str(RECIPE), over)
        if config == "baseline_equal_budget":
            over["batch_size"] = 2 * hparams["batch_size"]
            hparams, _ = load_config(str(RECIPE), over)
        return hparams

    def train(self, config, workers, precision, steps, warmup, extra=None):
        """``steps`` timed steps after ``warmup`` of one config."""
        import speechbrain as sb
        import torch

        from benchmarks.bench_cost import training_brain

        t_setup = _now()
        hparams = self.hparams(config, workers, extra)
        brain, train = training_brain(
            hparams, {"device": self.device, "precision": precision}
        )
        anchors = hparams["batch_size"]
        gen = torch.Generator().manual_seed(0)
        options = dict(hparams["dataloader_options"], shuffle=False)
        options["sampler"] = torch.utils.data.RandomSampler(
            train,
            replacement=True,
            num_samples=(steps + warmup) * anchors,
            generator=gen,
        )
        loader = brain.make_dataloader(train, sb.Stage.TRAIN, **options)
        on_gpu = self.device != "cpu"
        dev = torch.device(self.device)
        if on_gpu:
            torch.cuda.synchronize(dev)
            torch.cuda.reset_peak_memory_stats(dev)
        sampler = UtilSampler(dev) if on_gpu else None
        losses, waits, fits = [], [], []
        it = iter(loader)
        setup_s = _now() - t_setup
        for i in range(steps + warmup):
            if i == warmup:
                t_start = _now()
                if sampler:
                    sampler.start()
            t0 = _now()
            batch = next(it)
            t1 = _now()
            brain.step += 1
            losses.append(float(brain.fit_batch(batch)))  # host sync
            waits.append(t1 - t0)
            fits.append(_now() - t1)
        wall = _now() - t_start
        util = sampler.stop() if sampler else None
        del it, loader
        per_step = anchors * (2 if hparams["use_pairs"] else 1)
        timed = slice(warmup, None)
        run = {
            "config": config,
            "workers": workers,
            "precision": precision,
            "steps_timed": steps,
            "warmup_steps": warmup,
            "anchors_per_step": anchors,
            "samples_per_step": per_step,
            "setup_s": round(setup_s, 2),
            "s_per_step": round(wall / steps, 5),
            "samples_per_s": round(per_step * steps / wall, 1),
            "fit_s_per_step": round(sum(fits[timed]) / steps, 5),
            "wait_s_per_step": round(sum(waits[timed]) / steps, 5),
            "wait_fraction": round(sum(waits[timed]) / wall, 3),
            "gpu_util_mean_pct": util,
            "gpu_util_source": sampler.source if sampler else None,
            "peak_gpu_mem_gb": (
                round(torch.cuda.max_memory_allocated(dev) / 2**30, 2)
                if on_gpu
                else None
            ),
            "losses": [round(x, 5) for x in losses],
        }
        del brain, hparams, train
        gc.collect()
        if on_gpu:
            torch.cuda.empty_cache()
        return run

    # -- embedding throughput --------------------------------------------
    def embedding(self, precision, cases):
        """Utterances/s of the recipe's feature + ECAPA-TDNN modules (the
        exported pipeline) on batches of random audio."""
        import torch

        from speechbrain_emoinv.export.formats import EmbeddingPipeline

        hparams = self.hparams("emoinv", 0)
        pipe = EmbeddingPipeline(
            hparams["compute_features"], hparams["embedding_model"].eval()
        ).to(self.device)
        dev = torch.device(self.device)
        out = {"precision": precision, "cases": []}
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        cast = (
            torch.autocast(dev.type, dtype=dtype)
            if dtype
            else contextlib.nullcontext()
        )
        for batch, seconds, reps in cases:
            wav = 0.1 * torch.randn(batch, int(16000 * seconds), device=dev)
            with torch.inference_mode(), cast:
                for _ in range(2):
                    pipe(wav)
                _sync(dev)
                t0 = _now()
                for _ in range(reps):
                    pipe(wav)
                _sync(dev)
                wall = (_now() - t0) / reps
            out["cases"].append(
                {
                    "batch": batch,
                    "seconds": seconds,
                    "utterances_per_s": round(batch / wall, 1),
                    "audio_s_per_s": round(batch * seconds / wall, 1),
                }
            )
        return out


def _sync(dev):
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def environment(device):
    """Versions and hardware (GPU name, memory, driver)."""
    import speechbrain
    import torch

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "speechbrain": speechbrain.__version__,
        "cpu_cores": os.cpu_count(),
        "device": device,
    }
    if device != "cpu":
        props = torch.cuda.get_device_properties(torch.device(device))
        env["gpu"] = props.name
        env["gpu_memory_gb"] = round(props.total_memory / 2**30, 1)
        env["cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
        if shutil.which("nvidia-smi"):
            smi = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version",
                 "--format=csv,noheader"],
                capture_output=True, text=True, timeout=10,
            )  # fmt: skip
            env["driver"] = smi.stdout.strip()
    return env


def one_line(run):
    """A progress line for a run."""
    if "error" in run:
        return f"{run['name']}: ERROR {run['error']}"
    if "cases" in run:
        cases = ", ".join(
            f"{c['batch']}x{c['seconds']:g}s {c['utterances_per_s']}/s"
            for c in run["cases"]
        )
        return f"{run['name']}: {cases} ({run['run_s']} s)"
    return (
        f"{run['name']}: {run['samples_per_s']} samples/s, "
        f"{run['s_per_step']:.4f} s/step (wait {run['wait_fraction']:.0%}),"
        f" GPU {run['gpu_util_mean_pct']} %, peak "
        f"{run['peak_gpu_mem_gb']} GB ({run['run_s']} s)"
    )


def loss_parity(reference, other, repeat=None):
    """Compares two loss curves of the same seed and data.

    Arguments
    ---------
    reference, other : list of float
        Per-step losses (float32, then e.g. bf16).
    repeat : list of float or None
        A second float32 curve: the run-to-run floor.

    Returns
    -------
    dict
        Largest and mean absolute difference, the difference of the last
        ten steps' means relative to the reference's, and the same for the
        float32 repeat when given.

    Example
    -------
    >>> loss_parity([2.0, 1.0], [2.0, 1.1])["max_abs_diff"]
    0.1
    """
    n = min(len(reference), len(other))
    diff = [abs(a - b) for a, b in zip(reference[:n], other[:n], strict=True)]
    tail = min(10, n)
    ref_tail = sum(reference[n - tail : n]) / tail
    out_tail = sum(other[n - tail : n]) / tail
    out = {
        "steps": n,
        "max_abs_diff": round(max(diff), 4),
        "mean_abs_diff": round(sum(diff) / n, 4),
        "last10_rel_diff": round((out_tail - ref_tail) / ref_tail, 4),
    }
    if repeat is not None:
        floor = loss_parity(reference, repeat)
        out["fp32_repeat_max_abs_diff"] = floor["max_abs_diff"]
        out["fp32_repeat_mean_abs_diff"] = floor["mean_abs_diff"]
    return out


def summarise(runs):
    """Ratios, the chosen worker count, parity and recommendations."""
    ok = [r for r in runs if "error" not in r and "config" in r]

    def find(config, workers, precision, tag=None):
        for r in ok:
            if (r["config"], r["workers"], r["precision"]) == (
                config,
                workers,
                precision,
            ) and r.get("tag") == tag:
                return r
        return None

    ratios = []
    for r in ok:
        base = find("baseline_equal_budget", r["workers"], r["precision"])
        timed = r.get("tag") is None or (
            r.get("tag") == "parity" and r["precision"] != "fp32"
        )
        if r["config"] == "emoinv" and timed and base:
            ratios.append(
                {
                    "workers": r["workers"],
                    "precision": r["precision"],
                    "step_time_ratio": round(
                        r["s_per_step"] / base["s_per_step"], 3
                    ),
                    "fit_time_ratio": round(
                        r["fit_s_per_step"] / base["fit_s_per_step"], 3
                    ),
                }
            )
    sweep = [
        r for r in ok if r["config"] == "emoinv" and r["precision"] == "fp32"
    ]
    sweep = [r for r in sweep if r.get("tag") is None]
    summary = {"ratios": ratios, "ratio_goal": RATIO_GOAL}
    if sweep:
        best = max(r["samples_per_s"] for r in sweep)
        chosen = min(
            (r for r in sweep if r["samples_per_s"] >= 0.95 * best),
            key=lambda r: r["workers"],
        )
        summary["chosen_workers"] = chosen["workers"]
        at = [x for x in ratios if x["workers"] == chosen["workers"]]
        summary["ratio_at_chosen"] = at
        summary["ratio_goal_met"] = all(
            x["step_time_ratio"] <= RATIO_GOAL for x in at
        )
    parity = {}
    ref = [
        r for r in ok if r.get("tag") == "parity" and r["precision"] == "fp32"
    ]
    if ref:
        repeat = [r for r in ok if r.get("tag") == "parity_repeat"]
        for r in ok:
            if r.get("tag") == "parity" and r["precision"] != "fp32":
                parity[r["precision"]] = loss_parity(
                    ref[0]["losses"],
                    r["losses"],
                    repeat[0]["losses"] if repeat else None,
                ) | {
                    "speedup_vs_fp32": round(
                        ref[0]["s_per_step"] / r["s_per_step"], 3
                    )
                }
    summary["loss_parity"] = parity
    return summary


def main(argv=None):
    """Runs the check; returns the result dict."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT / ".gpu_carry" / "data"))
    parser.add_argument("--out", default=None, help="JSON file")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument(
        "--workers",
        type=lambda t: [int(x) for x in t.split(",")],
        default=None,
        help="num_workers values (default 0,4,8,12; smoke 1)",
    )
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--parity-steps", type=int, default=None)
    parser.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="no run starts that would end later, by the longest run so "
        "far (default 360; none with --smoke)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="CPU, tiny model, seconds"
    )
    args = parser.parse_args(argv)
    smoke = args.smoke
    args.workers = args.workers or ([1] if smoke else [0, 4, 8, 12])
    args.steps = args.steps or (2 if smoke else 30)
    args.parity_steps = args.parity_steps or (3 if smoke else 50)
    warmup = 1 if smoke else 5
    if args.budget_s is None:
        args.budget_s = float("inf") if smoke else 360.0
    date = datetime.date.today().isoformat()
    args.out = args.out or str(OUT_DIR / f"{date}.json")
    precisions = ["fp32", "bf16"] if smoke else ["fp32", "bf16", "fp16"]

    import torch

    if not smoke and not torch.cuda.is_available():
        sys.exit("gpu_check: error: no CUDA device (--smoke runs on the CPU)")
    check = Check(args)
    print(json.dumps(check.result["environment"]), flush=True)
    # 1. configs x workers, float32
    for workers in args.workers:
        for config in CONFIGS:
            check.attempt(
                f"{config}/w{workers}/fp32",
                check.train,
                config,
                workers,
                "fp32",
                args.steps,
                warmup,
            )
    chosen = summarise(check.result["runs"]).get(
        "chosen_workers", args.workers[-1]
    )
    # 2. loss parity and speed of mixed precision, at the chosen workers
    for precision, tag in [("fp32", "parity"), ("fp32", "parity_repeat")] + [
        (p, "parity") for p in precisions[1:]
    ]:
        check.attempt(
            f"emoinv/w{chosen}/{precision}/{tag}",
            check.train,
            "emoinv",
            chosen,
            precision,
            args.parity_steps - warmup,
            warmup,
            tag=tag,
        )
    for precision in precisions[1:]:
        check.attempt(
            f"baseline_equal_budget/w{chosen}/{precision}",
            check.train,
            "baseline_equal_budget",
            chosen,
            precision,
            args.steps,
            warmup,
        )
    # 3. embedding throughput
    cases = [(1, 3.0, 5), (64, 3.0, 5), (8, 30.0, 3)]
    if smoke:
        cases = [(1, 1.0, 1), (4, 1.0, 1)]
    for precision in precisions[:2]:
        check.attempt(
            f"embedding/{precision}", check.embedding, precision, cases
        )
    # 4. the method without generic augmentation
    check.attempt(
        f"emoinv/w{chosen}/fp32/no_augment",
        check.train,
        "emoinv",
        chosen,
        "fp32",
        args.steps,
        warmup,
        {"use_augment": False},
        tag="no_augment",
    )
    check.save()
    print(render(check.result), flush=True)
    shutil.rmtree(check.work, ignore_errors=True)
    return check.result


def render(result):
    """Markdown summary of a gpu_check JSON (docs/results.md)."""
    env, summary = result["environment"], result["summary"]
    gpu = env.get("gpu", "CPU (smoke)")
    lines = [
        f"`{result['command'].strip()}` on {gpu} "
        f"({env.get('gpu_memory_gb', '-')} GB), {env['cpu_cores']} CPU "
        f"cores, torch {env['torch']}, {result['date']}; recipe "
        f"`{result['recipe']}` on the packed simulated subset "
        f"({(result.get('pack') or {}).get('n_utterances', '?')} "
        f"utterances); {result['wall_s']:.0f} s.",
        "",
        "| run | samples/s | s/step | waiting for data | GPU util. % | "
        "peak GPU memory GB |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        if "error" in r:
            lines.append(f"| {r['name']} | error: {r['error']} | | | | |")
        elif "config" in r:
            lines.append(
                f"| {r['name']} | {r['samples_per_s']} | "
                f"{r['s_per_step']:.4f} | {r['wait_fraction']:.0%} | "
                f"{r['gpu_util_mean_pct']} | {r['peak_gpu_mem_gb']} |"
            )
    lines.append("")
    for x in summary["ratios"]:
        lines.append(
            f"- method / equal-budget baseline step time, {x['workers']} "
            f"workers, {x['precision']}: {x['step_time_ratio']} "
            f"(fit_batch alone {x['fit_time_ratio']}; goal <= "
            f"{summary['ratio_goal']})"
        )
    if "chosen_workers" in summary:
        lines.append(
            f"- fewest workers within 5 % of the best: "
            f"{summary['chosen_workers']}; goal met there: "
            f"{summary['ratio_goal_met']}"
        )
    for prec, p in summary["loss_parity"].items():
        lines.append(
            f"- loss parity {prec} vs fp32 over {p['steps']} steps: max "
            f"|diff| {p['max_abs_diff']}, mean {p['mean_abs_diff']}, last "
            f"10 steps {p['last10_rel_diff']:+.2%} (fp32 vs fp32 rerun: max "
            f"{p.get('fp32_repeat_max_abs_diff')}); {p['speedup_vs_fp32']}x "
            "the fp32 speed"
        )
    for r in result["runs"]:
        if "cases" in r:
            lines.append(
                f"- embedding, {r['precision']}: "
                + ", ".join(
                    f"{c['batch']} x {c['seconds']:g} s: "
                    f"{c['utterances_per_s']} utterances/s "
                    f"({c['audio_s_per_s']} audio s/s)"
                    for c in r["cases"]
                )
            )
    if result["skipped"]:
        lines.append(f"- skipped (time budget): {', '.join(result['skipped'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
