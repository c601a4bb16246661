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
2. Embedding real-time factor (wall seconds per second of audio) on the
   CPU, ``--part embedding`` alone: PyTorch (the folder's
   ``SpeakerRecognition.encode_batch``, the tools' PyTorch path),
   TorchScript and onnxruntime (the ``emoinv-export`` files: graph
   optimisations on, ``--threads`` intra-op threads) and onnxruntime's
   dynamic int8 quantisation of the ONNX file (:func:`quantize_int8`), for
   the exported default model (``--model-dir``; random weights of
   ``hparams/emoinv.yaml``'s shapes when missing) and ECAPA-TDNN C = 512
   and C = 1024 (random weights: the speed does not depend on them), one
   utterance per call and ``--batch`` utterances in one call, on
   ``--seconds`` long random signals. Every cell is timed once per round,
   the order reversed every other round (as part 1's blocks), and the
   table gives the median and the minimum over ``--rounds``. The JSON
   (``cost_embedding.json``) is written after every round, and a rerun
   with the same settings goes on from the last finished round.

Torch uses its default thread count in part 1 (the machine's cores, as
the recipe). The 1-minute load average is recorded: other jobs on the
machine slow every config, the ratio less so.

Usage::

    .venv/bin/python -m benchmarks.bench_cost [--steps 20] [--block 5]
    .venv/bin/python -m benchmarks.bench_cost --part embedding

Output: ``benchmarks/results/cost.json`` (part 1),
``benchmarks/results/cost_embedding.json`` (part 2) and printed tables.

Authors
 * speechbrain-emoinv contributors 2026
"""

import argparse
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
EMB_BACKENDS = ("pytorch", "torchscript", "onnx", "onnx_int8")
# ECAPA-TDNN sizes timed beside the exported default: channels, attention.
EMB_SIZES = {
    "c512": ([512] * 4 + [1536], 128),
    "c1024": ([1024] * 4 + [3072], 128),
}
RTF_GOAL = 0.01  # C = 512 embedding on 2 cores (issue 29)


def _rss_kb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def training_brain(hparams, run_opts):
    """The recipe's ``EmoInvBrain`` and training set of ``hparams``, ready
    for ``fit_batch`` as ``Brain.fit`` leaves them (optimiser made, modules
    in training mode, epoch 1 started); no checkpointer."""
    import speechbrain as sb

    import train_speaker_embeddings as recipe

    os.makedirs(hparams["save_folder"], exist_ok=True)
    train, _ = recipe.dataio_prep(hparams)
    brain = recipe.EmoInvBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=None,
    )
    brain.on_fit_start()
    brain.modules.train()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    return brain, train


def worker(config):
    """One config's Brain; answers ``run N`` / ``quit`` on stdin."""
    import speechbrain as sb
    import torch

    os.chdir(ROOT)
    from speechbrain_emoinv.config import load_config

    tmp = tempfile.mkdtemp(prefix=f"bench_cost_{config}_")
    hparams, _ = load_config(
        str(ROOT / "hparams" / f"{config}.yaml"),
        {"output_folder": tmp, "seed": 1},
    )
    brain, train = training_brain(hparams, {"device": "cpu"})
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
            [sys.executable, "-m", "benchmarks.bench_cost", "--worker", config],
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


def _plain_onnx_nodes(model):
    """Conv / MatMul / Gemm nodes outside the ECAPA-TDNN (the STFT and the
    filterbank: int8 would crush the power spectrum's dynamic range)."""
    inits = {i.name for i in model.graph.initializer}
    return [
        n.name
        for n in model.graph.node
        if n.op_type in ("Conv", "MatMul", "Gemm")
        and not any(
            i in inits and i.startswith("embedding_model.") for i in n.input
        )
    ]


def quantize_int8(onnx_path, out_path):
    """onnxruntime's dynamic int8 quantisation of an exported
    ``embedding.onnx``: the ECAPA-TDNN's weights in int8, activations
    quantised per call; the front end stays float. The file keeps the
    float file's metadata (``model_fingerprint``).

    Arguments
    ---------
    onnx_path : str or Path
        Float file (``emoinv-export --format onnx``).
    out_path : str or Path
        The int8 file.

    Returns
    -------
    Path
        ``out_path``.
    """
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its pre-processing hint, for this call
    try:
        quantize_dynamic(
            str(onnx_path),
            str(out_path),
            weight_type=QuantType.QInt8,
            nodes_to_exclude=_plain_onnx_nodes(onnx.load(str(onnx_path))),
        )
    finally:
        root.setLevel(level)
    return Path(out_path)


def _session(path, threads):
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = (
        onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    )
    return onnxruntime.InferenceSession(
        str(path), opts, providers=["CPUExecutionProvider"]
    )


def embedding_models(model_dir, work):
    """Exported folders timed: the default model (``model_dir``, or random
    weights of ``hparams/emoinv.yaml``'s shapes when it does not exist) and
    ECAPA-TDNN C = 512 and C = 1024 with random weights (seeded; the speed
    does not depend on the weights)."""
    import torch
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    from speechbrain_emoinv.config import load_config
    from speechbrain_emoinv.export.folder import export_pretrained

    models = {}
    if Path(model_dir).joinpath("embedding_model.ckpt").is_file():
        models["default"] = (Path(model_dir), "the exported model")
    else:
        hp, _ = load_config(
            str(ROOT / "hparams" / "emoinv.yaml"), {"output_folder": str(work)}
        )
        models["default"] = (hp["embedding_kwargs"], "random weights")
    for name, (channels, attention) in EMB_SIZES.items():
        kwargs = dict(
            input_size=80,
            channels=channels,
            attention_channels=attention,
            lin_neurons=192,
        )
        models[name] = (kwargs, "random weights")
    out = {}
    for name, (source, note) in models.items():
        if isinstance(source, dict):
            torch.manual_seed(0)
            ecapa = ECAPA_TDNN(**source).eval()
            source = export_pretrained(Path(work) / name, ecapa, source)
        out[name] = (source, note)
    return out


def embedding_paths(folder, work, batch, threads):
    """Callables ``f(wavs)`` (a ``(n, T)`` float32 array) per backend and
    mode: ``b1`` embeds the n utterances one call each, ``batched`` in one
    call of n (= ``batch``). Also returns facts per backend (parity with
    PyTorch; int8: cosine to the float embedding)."""
    import numpy as np
    import torch

    from speechbrain_emoinv.export.formats import export_format
    from speechbrain_emoinv.pretrained import load_model

    model = load_model(folder)
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    files, facts = {}, {}
    for fmt in ("torchscript", "onnx"):
        for mode, n in (("b1", 1), ("batched", batch)):
            out = work / f"{fmt}_{mode}.{'onnx' if fmt == 'onnx' else 'pt'}"
            path, gaps = export_format(folder, fmt, out, batch_size=n)
            files[fmt, mode] = path
            facts[f"{fmt}_parity_1_minus_cos_{mode}"] = gaps["cosine"]
    for mode in ("b1", "batched"):
        files["onnx_int8", mode] = quantize_int8(
            files["onnx", mode], work / f"onnx_int8_{mode}.onnx"
        )

    def torch_paths(fn):
        def one_by_one(wavs):
            with torch.inference_mode():
                for wav in wavs:
                    fn(torch.from_numpy(wav[None]))

        def batched(wavs):
            with torch.inference_mode():
                fn(torch.from_numpy(wavs))

        return {"b1": one_by_one, "batched": batched}

    def onnx_paths(fmt):
        sessions = {
            m: _session(files[fmt, m], threads) for m in ("b1", "batched")
        }

        def one_by_one(wavs):
            for wav in wavs:
                sessions["b1"].run(None, {"wav": wav[None]})

        def batched(wavs):
            sessions["batched"].run(None, {"wav": wavs})

        return {"b1": one_by_one, "batched": batched}, sessions["b1"]

    scripted = {
        m: torch.jit.load(str(files["torchscript", m]))
        for m in ("b1", "batched")
    }
    paths = {
        "pytorch": torch_paths(model.encode_batch),
        "torchscript": {
            "b1": torch_paths(scripted["b1"])["b1"],
            "batched": torch_paths(scripted["batched"])["batched"],
        },
    }
    paths["onnx"], float_session = onnx_paths("onnx")
    paths["onnx_int8"], int8_session = onnx_paths("onnx_int8")
    rng = np.random.default_rng(0)
    cos = []
    for seconds in (2, 8):
        wav = (0.1 * rng.standard_normal((1, 16000 * seconds))).astype(
            "float32"
        )
        a = float_session.run(None, {"wav": wav})[0][0]
        b = int8_session.run(None, {"wav": wav})[0][0]
        cos.append(float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
    facts["onnx_int8_cosine_to_float_min"] = round(min(cos), 5)
    facts["n_parameters"] = sum(
        p.numel() for p in model.mods.embedding_model.parameters()
    )
    return paths, facts


def _cell(model, backend, mode, seconds):
    return f"{model}/{backend}/{mode}/{seconds}s"


def embedding_rtf(args, log=print):
    """The embedding table (module docstring, part 2): every cell timed
    once per round, rounds in alternating order; resumable (the JSON is
    written after each round and a rerun with the same settings goes on
    from there)."""
    import numpy as np
    import torch

    from speechbrain_emoinv.pretrained import model_fingerprint

    torch.set_num_threads(args.threads)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_embedding_"))
    models = embedding_models(args.model_dir, work)
    config = {
        "threads": args.threads,
        "batch": args.batch,
        "seconds": args.seconds,
        "backends": list(EMB_BACKENDS),
        "models": {
            name: {"fingerprint": model_fingerprint(folder), "weights": note}
            for name, (folder, note) in models.items()
        },
    }
    state = _load_json(args.out)
    if not state or state.get("config") != config:
        if state:
            log(f"{args.out}: other settings, starting afresh")
        state = {"config": config, "rounds_done": 0, "blocks": {}, "load": []}
    if state["rounds_done"] >= args.rounds:
        log(f"{args.out}: all {args.rounds} rounds done")
        return state
    paths, facts = {}, {}
    for name, (folder, _) in models.items():
        log(f"exporting {name} (TorchScript, ONNX, int8) ...")
        paths[name], facts[name] = embedding_paths(
            folder, work / name / "formats", args.batch, args.threads
        )
    state["facts"] = facts
    rng = np.random.default_rng(1)
    wavs = {
        s: (0.1 * rng.standard_normal((args.batch, int(16000 * s)))).astype(
            "float32"
        )
        for s in args.seconds
    }
    cells = [
        (m, b, mode, s)
        for m in models
        for b in EMB_BACKENDS
        for mode in ("b1", "batched")
        for s in args.seconds
    ]
    for m, b, mode, s in cells:  # warm-up: one untimed block per cell
        paths[m][b][mode](wavs[s])
    started = time.time()
    for r in range(state["rounds_done"], args.rounds):
        load = os.getloadavg()[0]
        for m, b, mode, s in cells if r % 2 == 0 else cells[::-1]:
            t0 = time.perf_counter()
            paths[m][b][mode](wavs[s])
            wall = time.perf_counter() - t0
            key = _cell(m, b, mode, s)
            state["blocks"].setdefault(key, []).append(round(wall, 5))
        state["rounds_done"] = r + 1
        state["load"].append([round(load, 2), round(os.getloadavg()[0], 2)])
        _write_embedding(state, args)
        log(f"round {r + 1}/{args.rounds} done ({time.time() - started:.0f} s)")
    return state


def _load_json(path):
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None


def embedding_summary(state):
    """Real-time factors per cell (min and median over the rounds), the
    fastest path per model and duration, and the C = 512 goal."""
    import numpy as np

    cfg = state["config"]
    cells = {}
    for key, walls in state["blocks"].items():
        model, backend, mode, seconds = key.split("/")
        audio = cfg["batch"] * float(seconds[:-1])
        rtf = np.array(walls) / audio
        cells[key] = {
            "rtf_min": round(float(rtf.min()), 5),
            "rtf_median": round(float(np.median(rtf)), 5),
        }
    fastest = {}
    for model in cfg["models"]:
        for seconds in cfg["seconds"]:
            for mode in ("b1", "batched"):
                best = min(
                    cfg["backends"],
                    key=lambda b: cells[_cell(model, b, mode, seconds)][
                        "rtf_median"
                    ],
                )
                fastest[f"{model}/{mode}/{seconds}s"] = best
    c512 = [
        cells[_cell("c512", "onnx", "b1", s)]["rtf_median"]
        for s in cfg["seconds"]
    ]
    return {
        "cells": cells,
        "fastest": fastest,
        "goal_c512_onnx_b1_rtf_median_max": max(c512),
        "goal_met": max(c512) <= RTF_GOAL,
    }


def _write_embedding(state, args):
    out = dict(state)
    out["command"] = "python -m benchmarks.bench_cost " + " ".join(sys.argv[1:])
    out["hardware"] = f"{os.cpu_count()} CPU cores, no GPU"
    out["versions"] = _versions()
    if state["blocks"]:
        out["summary"] = embedding_summary(state)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


def _versions():
    import onnxruntime
    import torch

    return {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__}


def render_embedding(emb):
    """Markdown table of the embedding real-time factors."""
    cfg, summary = emb["config"], emb["summary"]
    names = {
        "default": "exported default",
        "c512": "C = 512",
        "c1024": "C = 1024",
    }
    head = " | ".join(
        f"{b} {'1 by 1' if m == 'b1' else 'batched'}"
        for b in cfg["backends"]
        for m in ("b1", "batched")
    )
    lines = [
        f"Embedding real-time factor (wall s per audio s; median / min of "
        f"{emb['rounds_done']} rounds; {cfg['threads']} threads; blocks of "
        f"{cfg['batch']} utterances, one call each (1 by 1) or one call "
        "for all (batched)):",
        "",
        f"| model | utterance | {head} | fastest 1 by 1 |",
        "|---|---|" + "---|" * (2 * len(cfg["backends"]) + 1),
    ]
    for model in cfg["models"]:
        for s in cfg["seconds"]:
            row = []
            for b in cfg["backends"]:
                for m in ("b1", "batched"):
                    c = summary["cells"][_cell(model, b, m, s)]
                    row.append(f"{c['rtf_median']:.4f} / {c['rtf_min']:.4f}")
            best = summary["fastest"][f"{model}/b1/{s}s"]
            lines.append(
                f"| {names.get(model, model)} | {s:g} s | {' | '.join(row)} "
                f"| {best} |"
            )
    goal = summary["goal_c512_onnx_b1_rtf_median_max"]
    lines += [
        "",
        f"C = 512 through onnxruntime one by one: at most {goal:.4f} "
        f"(median) over the durations: goal RTF <= {RTF_GOAL} "
        + ("met" if summary["goal_met"] else "NOT met")
        + ". 1-min load average per round (start, end): "
        + ", ".join(f"{a}/{b}" for a, b in emb["load"])
        + f" on {emb['hardware']} (above the core count = other jobs).",
    ]
    return "\n".join(lines)


def main(argv=None):
    """Runs the parts asked for and writes their JSON files."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", choices=CONFIGS)
    parser.add_argument(
        "--part", choices=["all", "training", "embedding"], default="all"
    )
    training = parser.add_argument_group("training part")
    training.add_argument("--steps", type=int, default=20)
    training.add_argument("--block", type=int, default=5)
    training.add_argument("--warmup", type=int, default=2)
    emb = parser.add_argument_group("embedding part")
    emb.add_argument(
        "--model-dir",
        default=str(ROOT / "results/emoinv/1986/pretrained"),
        help="the exported default model (random weights of "
        "hparams/emoinv.yaml's shapes when missing)",
    )
    emb.add_argument("--threads", type=int, default=os.cpu_count())
    emb.add_argument("--rounds", type=int, default=5)
    emb.add_argument(
        "--batch", type=int, default=4, help="utterances per block"
    )
    emb.add_argument(
        "--seconds",
        type=lambda t: [float(x) for x in t.split(",")],
        default=[2.0, 8.0, 30.0],
        help="utterance durations, comma-separated",
    )
    emb.add_argument("--out", default=str(OUT_EMBEDDING))
    emb.add_argument(
        "--work", default=None, help="folder of the exported files (temp)"
    )
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return
    if args.part in ("all", "training"):
        training_part(args, argv)
    if args.part in ("all", "embedding"):
        print("embedding real-time factor ...")
        state = embedding_rtf(args)
        _write_embedding(state, args)
        print(render_embedding(_load_json(args.out)))


def training_part(args, argv):
    """Training throughput of the configs; writes ``cost.json``."""
    t0, load_start = time.time(), os.getloadavg()
    print(f"training throughput ({', '.join(CONFIGS)}), interleaved ...")
    train = training_throughput(args.steps, args.block, args.warmup)
    full, base = train["emoinv"], train["baseline"]
    result = {
        "command": "python -m benchmarks.bench_cost "
        + " ".join(a for a in (argv or sys.argv[1:])),
        "hardware": f"{os.cpu_count()} CPU cores, no GPU",
        "data": "simulated default MBROLA corpus (data/mbrola_default)",
        "load_average_1min": {
            "start": round(load_start[0], 2),
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
        "metrics_speed": _metrics_speed(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(render(result))


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
        f"Load average (1 min) start {result['load_average_1min']['start']}"
        f", end {result['load_average_1min']['end']} on "
        f"{result['hardware']}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
