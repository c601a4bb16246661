#!/usr/bin/env python3
"""Training and embedding cost of the full method against the baseline.

1. Training throughput, measured side by side in one run on one machine.
   One worker process per config (``emoinv``, ``baseline`` and
   ``baseline_equal_budget``) builds the real recipe's Brain
   (``train_speaker_embeddings.EmoInvBrain``, its data pipeline, its
   default batch), prefetches a few batches from the real data loader and
   then times ``Brain.fit_batch`` (pair sampling is in the loader;
   CopyPaste, generic augmentation, features, EM, ECAPA forward, ERL loss,
   backward and the Adam step are timed). The workers take turns in
   alternating blocks of steps, so a change of machine load hits every
   config alike. Samples = anchors + CopyPaste parallels (the full method
   processes 2 x 16 per step, the baseline 16, the equal-budget baseline
   32). Data loading is excluded (prefetched batches): it overlaps with
   compute in the recipe's loader worker. Peak memory = each worker's
   peak RSS (``ru_maxrss``), and its rise over the RSS before training.
2. Embedding real-time factor (wall seconds per second of audio, one
   utterance at a time) of an exported folder (default
   ``results/emoinv/1986/pretrained``, the main run's model) and of an
   ECAPA-TDNN with C = 512 (channels 512 x 4, 1536; untrained: the speed
   does not depend on the weights) exported the same way, on evaluation
   utterances of the default corpus: in PyTorch
   (``SpeakerRecognition.encode_batch``, also in batches of 16) and in
   onnxruntime (the ``emoinv-export --format onnx`` file, same thread
   count). ``--part embedding`` runs this part alone and writes
   ``cost_embedding.json``.

Torch uses its default thread count (the machine's cores, as the recipe).
The 1-minute load average before and after is recorded: other jobs on the
machine slow every config, the ratio less so.

Usage::

    .venv/bin/python benchmarks/bench_cost.py [--steps 20] [--block 5]
    .venv/bin/python benchmarks/bench_cost.py --part embedding

Output: ``benchmarks/results/cost.json`` and a printed summary.

Authors
 * speechbrain-emoinv contributors 2026
"""

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "cost.json"
OUT_EMBEDDING = ROOT / "benchmarks" / "results" / "cost_embedding.json"
CONFIGS = ["emoinv", "baseline", "baseline_equal_budget"]
N_PREFETCH = 6


def _rss_kb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def worker(config):
    """One config's Brain; answers ``run N`` / ``quit`` on stdin."""
    import speechbrain as sb
    import torch

    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    import train_speaker_embeddings as recipe
    from speechbrain_emoinv.config import load_config

    tmp = tempfile.mkdtemp(prefix=f"bench_cost_{config}_")
    hparams, _ = load_config(
        str(ROOT / "hparams" / f"{config}.yaml"),
        {"output_folder": tmp, "seed": 1},
    )
    os.makedirs(hparams["save_folder"], exist_ok=True)
    train, _ = recipe.dataio_prep(hparams)
    brain = recipe.EmoInvBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": "cpu"},
        checkpointer=None,
    )
    brain.on_fit_start()
    brain.modules.train()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    loader = brain.make_dataloader(
        train, sb.Stage.TRAIN, **hparams["dataloader_options"]
    )
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == N_PREFETCH:
            break
    anchors = batches[0].sig[0].shape[0]
    per_step = anchors * (2 if hparams["use_pairs"] else 1)
    rss_before = _rss_kb()
    print(
        json.dumps(
            {
                "ready": config,
                "anchors_per_step": anchors,
                "samples_per_step": per_step,
                "threads": torch.get_num_threads(),
                "n_parameters": sum(
                    p.numel() for p in hparams["embedding_model"].parameters()
                ),
            }
        ),
        flush=True,
    )
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "quit":
            break
        n = int(cmd[1])
        t0, cpu0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            brain.step += 1
            loss = brain.fit_batch(batches[brain.step % len(batches)])
        seconds = time.perf_counter() - t0
        out = {
            "steps": n,
            "seconds": seconds,
            "cpu_seconds": time.process_time() - cpu0,
            "loss": float(loss),
        }
        print(json.dumps(out), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps({"peak_rss_kb": peak, "rss_before_training_kb": rss_before}),
        flush=True,
    )


def training_throughput(steps, block, warmup, log=print):
    """Interleaved timing of every config (see the module docstring)."""
    procs = {}
    for config in CONFIGS:
        procs[config] = subprocess.Popen(
            [sys.executable, __file__, "--worker", config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )

    def ask(config, msg):
        proc = procs[config]
        proc.stdin.write(msg + "\n")
        proc.stdin.flush()
        return _read_json(proc)

    info = {c: _read_json(p) for c, p in procs.items()}
    for config in CONFIGS:
        ask(config, f"run {warmup}")
    totals = {
        c: {"steps": 0, "seconds": 0.0, "cpu": 0.0, "blocks": []}
        for c in CONFIGS
    }
    rounds = max(1, steps // block)
    for r in range(rounds):
        order = CONFIGS if r % 2 == 0 else CONFIGS[::-1]
        for config in order:
            out = ask(config, f"run {block}")
            totals[config]["steps"] += out["steps"]
            totals[config]["seconds"] += out["seconds"]
            totals[config]["cpu"] += out["cpu_seconds"]
            totals[config]["blocks"].append(round(out["seconds"], 3))
        log(f"round {r + 1}/{rounds} done")
    result = {}
    for config in CONFIGS:
        mem = ask(config, "quit")
        procs[config].wait()
        t = totals[config]
        s_per_step = t["seconds"] / t["steps"]
        best = min(t["blocks"]) / block
        cpu_per_step = t["cpu"] / t["steps"]
        n_smp = info[config]["samples_per_step"]
        n_anc = info[config]["anchors_per_step"]
        result[config] = {
            "steps_timed": t["steps"],
            "seconds": round(t["seconds"], 2),
            "seconds_per_step": round(s_per_step, 4),
            "seconds_per_block": t["blocks"],
            "best_block_seconds_per_step": round(best, 4),
            "cpu_seconds_per_step": round(cpu_per_step, 4),
            "samples_per_s_best_block": round(n_smp / best, 2),
            "anchors_per_s_best_block": round(n_anc / best, 2),
            "samples_per_cpu_s": round(n_smp / cpu_per_step, 2),
            "anchors_per_cpu_s": round(n_anc / cpu_per_step, 2),
            "steps_per_block": block,
            "anchors_per_step": info[config]["anchors_per_step"],
            "samples_per_step": info[config]["samples_per_step"],
            "samples_per_s": round(
                info[config]["samples_per_step"] / s_per_step, 2
            ),
            "anchors_per_s": round(
                info[config]["anchors_per_step"] / s_per_step, 2
            ),
            "torch_threads": info[config]["threads"],
            "n_parameters_embedding": info[config]["n_parameters"],
            "peak_rss_mb": round(mem["peak_rss_kb"] / 1024, 1),
            "rss_rise_during_training_mb": round(
                (mem["peak_rss_kb"] - mem["rss_before_training_kb"]) / 1024, 1
            ),
        }
    return result


def _read_json(proc):
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {proc.args} ended early")
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)


def _eval_utterances(n, data):
    import soundfile

    with open(data, newline="", encoding="utf-8") as fin:
        rows = list(csv.DictReader(fin))[:n]
    wavs = []
    for row in rows:
        wav, _ = soundfile.read(
            row["wav"],
            start=int(row["start"]),
            stop=int(row["stop"]),
            dtype="float32",
        )
        wavs.append(wav)
    return wavs


def _time_rtf(embed, wavs, sample_rate=16000, warmup=3, repeats=3):
    import torch

    walls, cpus = [], []
    with torch.no_grad():
        for wav in wavs[:warmup]:
            embed(torch.from_numpy(wav)[None])
        for _ in range(repeats):
            t0, cpu0 = time.perf_counter(), time.process_time()
            for wav in wavs:
                embed(torch.from_numpy(wav)[None])
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - cpu0)
    audio = sum(len(w) for w in wavs) / sample_rate
    return {
        "n_utterances": len(wavs),
        "audio_s": round(audio, 1),
        "wall_s_per_repeat": [round(w, 2) for w in walls],
        # Best of the repeats: the least disturbed by other jobs.
        "real_time_factor": round(min(walls) / audio, 5),
        "cpu_s_per_audio_s": round(min(cpus) / audio, 5),
    }


def _time_rtf_batched(embed, wavs, batch_size=16, sample_rate=16000, repeats=3):
    """RTF of padded batches (as the evaluation embeds a manifest)."""
    import torch

    order = sorted(range(len(wavs)), key=lambda i: len(wavs[i]))
    batches = [
        order[i : i + batch_size] for i in range(0, len(order), batch_size)
    ]

    def run(idx):
        longest = max(len(wavs[i]) for i in idx)
        pad = torch.zeros(len(idx), longest)
        lens = torch.zeros(len(idx))
        for j, i in enumerate(idx):
            pad[j, : len(wavs[i])] = torch.from_numpy(wavs[i])
            lens[j] = len(wavs[i]) / longest
        embed(pad, lens)

    walls = []
    with torch.no_grad():
        run(batches[0])
        for _ in range(repeats):
            t0 = time.perf_counter()
            for idx in batches:
                run(idx)
            walls.append(time.perf_counter() - t0)
    audio = sum(len(w) for w in wavs) / sample_rate
    return {
        "batch_size": batch_size,
        "wall_s_per_repeat": [round(w, 2) for w in walls],
        "real_time_factor": round(min(walls) / audio, 5),
    }


def _model_rtf(model_dir, wavs, threads):
    """PyTorch (one by one, batches of 16) and onnxruntime RTF of a
    folder."""
    import onnxruntime

    from speechbrain_emoinv.evaluation.embedding import load_model
    from speechbrain_emoinv.export import export_format

    model_dir = Path(model_dir)
    model = load_model(model_dir, Path(tempfile.mkdtemp()) / "loaded")
    n_params = sum(p.numel() for p in model.mods.embedding_model.parameters())
    out = {
        "n_parameters": n_params,
        "checkpoint_mb": round(
            (model_dir / "embedding_model.ckpt").stat().st_size / 2**20, 2
        ),
        **_time_rtf(model.encode_batch, wavs),
        "batched": _time_rtf_batched(model.encode_batch, wavs),
    }
    onnx_path, gaps = export_format(
        model_dir, "onnx", Path(tempfile.mkdtemp()) / "embedding.onnx"
    )
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(onnx_path), opts)

    def embed_onnx(wav):
        return session.run(None, {"wav": wav.numpy()})[0]

    out["onnxruntime"] = {
        "version": onnxruntime.__version__,
        "parity_1_minus_cos": gaps["cosine"],
        **_time_rtf(embed_onnx, wavs),
    }
    return out


def embedding_rtf(model_dir, n_utts, data):
    """RTF of the exported model and of an ECAPA C = 512 model, PyTorch
    and onnxruntime."""
    import torch
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    from speechbrain_emoinv.export import export_pretrained

    wavs = _eval_utterances(n_utts, data)
    threads = torch.get_num_threads()
    result = {"torch_threads": threads, "data": str(data)}
    exported = _model_rtf(model_dir, wavs, threads)
    result["exported"] = {"model_dir": str(model_dir), **exported}
    kwargs = dict(
        input_size=80,
        channels=[512, 512, 512, 512, 1536],
        attention_channels=128,
        lin_neurons=192,
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_pretrained(
            Path(tmp) / "c512", ECAPA_TDNN(**kwargs).eval(), kwargs
        )
        result["ecapa_c512"] = {
            "note": "untrained weights (speed only), same Fbank front end",
            **_model_rtf(folder, wavs, threads),
        }
    return result


def main(argv=None):
    """Runs both measurements and writes ``cost.json``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", choices=CONFIGS)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--block", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--model-dir", default=str(ROOT / "results/emoinv/1986/pretrained")
    )
    parser.add_argument("--rtf-utterances", type=int, default=200)
    parser.add_argument(
        "--data",
        default=str(ROOT / "data/mbrola_default/prepared/eval.csv"),
        help="manifest of the utterances the RTF is measured on",
    )
    parser.add_argument("--part", choices=["all", "embedding"], default="all")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return
    if args.part == "embedding":
        embedding_only(args, argv)
        return
    t0, load_start = time.time(), os.getloadavg()
    print(f"training throughput ({', '.join(CONFIGS)}), interleaved ...")
    train = training_throughput(args.steps, args.block, args.warmup)
    load_mid = os.getloadavg()
    print("embedding real-time factor ...")
    rtf = embedding_rtf(args.model_dir, args.rtf_utterances, args.data)
    full, base = train["emoinv"], train["baseline"]
    result = {
        "command": "python benchmarks/bench_cost.py "
        + " ".join(a for a in (argv or sys.argv[1:])),
        "hardware": f"{os.cpu_count()} CPU cores, no GPU",
        "data": "simulated default MBROLA corpus (data/mbrola_default)",
        "load_average_1min": {
            "start": round(load_start[0], 2),
            "after_training_part": round(load_mid[0], 2),
            "end": round(os.getloadavg()[0], 2),
        },
        "wall_s": round(time.time() - t0, 1),
        "training": train,
        "throughput_ratio_samples": round(
            full["samples_per_s"] / base["samples_per_s"], 3
        ),
        "throughput_ratio_anchors": round(
            full["anchors_per_s"] / base["anchors_per_s"], 3
        ),
        # Less sensitive to other jobs: fastest block, and CPU time.
        "throughput_ratio_samples_best_block": round(
            full["samples_per_s_best_block"] / base["samples_per_s_best_block"],
            3,
        ),
        "throughput_ratio_samples_cpu": round(
            full["samples_per_cpu_s"] / base["samples_per_cpu_s"], 3
        ),
        "throughput_ratio_anchors_best_block": round(
            full["anchors_per_s_best_block"] / base["anchors_per_s_best_block"],
            3,
        ),
        "throughput_ratio_anchors_cpu": round(
            full["anchors_per_cpu_s"] / base["anchors_per_cpu_s"], 3
        ),
        "embedding": rtf,
        "metrics_speed": _metrics_speed(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(render(result))


def embedding_only(args, argv):
    """``--part embedding``: the RTF part alone, into
    ``cost_embedding.json``."""
    load_start = time.time(), os.getloadavg()[0]
    rtf = embedding_rtf(args.model_dir, args.rtf_utterances, args.data)
    rtf["command"] = "python benchmarks/bench_cost.py " + " ".join(
        argv or sys.argv[1:]
    )
    rtf["hardware"] = f"{os.cpu_count()} CPU cores, no GPU"
    rtf["load_average_1min"] = {
        "start": round(load_start[1], 2),
        "end": round(os.getloadavg()[0], 2),
    }
    rtf["wall_s"] = round(time.time() - load_start[0], 1)
    OUT_EMBEDDING.parent.mkdir(parents=True, exist_ok=True)
    OUT_EMBEDDING.write_text(json.dumps(rtf, indent=2) + "\n")
    print(render_embedding(rtf))


def render_embedding(emb):
    """Markdown table of the embedding real-time factors."""
    lines = [
        f"Embedding real-time factor ({emb['torch_threads']} threads, "
        f"{emb['exported']['n_utterances']} utterances, "
        f"{emb['exported']['audio_s']} s of audio, best of 3 passes; one "
        "utterance per call unless stated):",
        "",
        "| Model | parameters | PyTorch | PyTorch, batches of 16 | "
        "onnxruntime | ONNX vs PyTorch, 1 - cos |",
        "|---|---|---|---|---|---|",
    ]
    for key, name in (
        ("exported", "exported model"),
        ("ecapa_c512", "ECAPA C=512"),
    ):
        m = emb[key]
        lines.append(
            f"| {name} | {m['n_parameters'] / 1e6:.2f} M | "
            f"{m['real_time_factor']:.4f} | "
            f"{m['batched']['real_time_factor']:.4f} | "
            f"{m['onnxruntime']['real_time_factor']:.4f} | "
            f"{m['onnxruntime']['parity_1_minus_cos']:.1e} |"
        )
    if "load_average_1min" in emb:
        load = emb["load_average_1min"]
        lines += [
            "",
            f"1-min load average {load['start']} at start, {load['end']} "
            f"at end on {emb['hardware']} (above the core count = other "
            "jobs competed).",
        ]
    return "\n".join(lines)


def _metrics_speed():
    """The saved output of bench_metrics.py, when there is one."""
    path = OUT.parent / "bench_metrics.txt"
    if path.is_file():
        return {"file": str(path.relative_to(ROOT))}
    return None


def render(result):
    """A short Markdown summary of ``cost.json``."""
    lines = [
        "| Config | samples/step | s/step all blocks | s/step fastest "
        "block | CPU s/step | samples/s (fastest) | anchors/s (fastest) | "
        "peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for config, t in result["training"].items():
        lines.append(
            f"| {config} | {t['samples_per_step']} | "
            f"{t['seconds_per_step']:.3f} | "
            f"{t['best_block_seconds_per_step']:.3f} | "
            f"{t['cpu_seconds_per_step']:.3f} | "
            f"{t['samples_per_s_best_block']:.1f} | "
            f"{t['anchors_per_s_best_block']:.1f} | {t['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        f"Throughput ratio full / baseline, samples/s: all blocks "
        f"{result['throughput_ratio_samples']:.3f}, fastest block "
        f"{result['throughput_ratio_samples_best_block']:.3f}, per CPU "
        f"second {result['throughput_ratio_samples_cpu']:.3f}; anchors/s: "
        f"{result['throughput_ratio_anchors']:.3f}, "
        f"{result['throughput_ratio_anchors_best_block']:.3f}, "
        f"{result['throughput_ratio_anchors_cpu']:.3f}.",
        "",
        render_embedding(result["embedding"]),
        "",
        f"Load average (1 min) start {result['load_average_1min']['start']}"
        f", end {result['load_average_1min']['end']} on "
        f"{result['hardware']}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
