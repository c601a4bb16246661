"""The recipe end to end on the tiny generated corpus: training, evaluation
table, export, network-free loading, fine-tuning, resume after SIGKILL and
two-process DDP."""

import os
import re
import signal
import socket
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
import torch
from recipe_utils import (
    ROOT,
    TINY,
    TINY_DATA,
    recipe_cmd,
    run_recipe,
    train_log,
)

from speechbrain_emoinv.config import load_config


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """One complete tiny run of the full method (shared by several tests)."""
    out = tmp_path_factory.mktemp("full") / "run"
    log = run_recipe(TINY, f"--output_folder={out}", "--export_onnx=True")
    return out, log


def test_run_prints_table_and_exports(full_run):
    out, log = full_run
    for name in ("neutral", "cross", "emo_emo", "merged"):
        assert name in log, f"list {name} missing from the printed table"
    assert "EER" in log
    export = out / "pretrained"
    for name in ("hyperparams.yaml", "embedding_model.ckpt", "README.md"):
        assert (export / name).is_file(), name
    assert (out / "eval" / "results.json").is_file()
    # Two epochs were logged, each with the pair-loss part; training
    # lowered the loss well below that of the first step (the untrained
    # model's, on SpeechBrain's progress bar): at learning rate 0 the
    # epoch means stay near it (~1.05 x) although they drift between epochs.
    lines = train_log(out)
    assert len(lines) == 2 and all("train pair:" in ln for ln in lines)
    first, second = (_log_stats(ln) for ln in lines)
    step_1 = float(re.search(r"train_loss=([0-9.]+)", log).group(1))
    assert second["train loss"] < first["train loss"], lines
    assert second["train loss"] < 0.9 * step_1, (step_1, lines)


def test_export_ships_onnx_that_the_tools_take(full_run, monkeypatch):
    """The run writes embedding.onnx, so the tools' default path is the
    fastest one; without the [export] extra it says why there is none."""
    from speechbrain_emoinv.evaluation.embedding import resolve_backend
    from speechbrain_emoinv.export import formats

    out, log = full_run
    export = out / "pretrained"
    assert "ONNX: wrote" in log
    assert resolve_backend(export, "auto") == ("onnx", None)
    # The exporter's DEBUG chatter stays out of the run's log.
    assert "onnxscript" not in (out / "log.txt").read_text()
    monkeypatch.setattr(formats, "ONNX_MODULES", ("onnx", "no_such_module"))
    assert "no_such_module not installed" in formats.write_onnx(export)


def test_rehearsal_trains_on_both_corpora(full_run, tmp_path):
    """Stage 2 with rehearsal: every step also trains the classifier on
    rows of a second manifest (here the tiny corpus's evaluation voices
    stand in for stage 1's real voices); both corpora's speakers get a
    class, and the run trains and exports as usual."""
    prepared = TINY_DATA / "prepared"
    real = (prepared / "eval_speakers.txt").read_text().split()
    train = (prepared / "train_speakers.txt").read_text().split()
    out = tmp_path / "run"
    run_recipe(
        TINY,
        f"--output_folder={out}",
        f"--rehearsal_annotation={prepared / 'eval.csv'}",
        f"--out_n_neurons={len(train) + len(real)}",
        "--number_of_epochs=1",
    )
    encoder = (out / "save" / "label_encoder.txt").read_text()
    for spk in train + real:
        assert f"'{spk}' =>" in encoder, spk
    assert (out / "pretrained" / "embedding_model.ckpt").is_file()


def _log_stats(line):
    """``{"train loss": 8.5, ...}`` of one train_log.txt line."""
    stats = {}
    for part in line.split(" - ")[1:]:
        for item in part.split(", "):
            key, value = item.rsplit(": ", 1)
            stats[key] = float(value)
    return stats


def test_checkpoints_load_weights_only(full_run):
    """Tensor checkpoints load with weights_only=True; SpeechBrain's
    brain/counter/dataloader savers write plain text (no pickle at all)."""
    out, _ = full_run
    ckpts = list((out / "save").glob("CKPT*/*.ckpt"))
    torch_files = [p for p in ckpts if zipfile.is_zipfile(p)]
    assert {p.name for p in torch_files} >= {
        "embedding_model.ckpt",
        "classifier.ckpt",
        "optimizer.ckpt",
        "lr_annealing.ckpt",
    }
    for path in ckpts:
        if path in torch_files:
            torch.load(path, map_location="cpu", weights_only=True)
        else:
            path.read_text(encoding="utf-8")  # text, not a pickle


def test_export_loads_without_network(full_run, monkeypatch, tmp_path):
    """from_hparams on the exported folder never touches the network and
    reproduces the best checkpoint's embeddings."""
    from speechbrain.inference.speaker import SpeakerRecognition

    def no_network(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    out, _ = full_run
    model = SpeakerRecognition.from_hparams(
        source=str(out / "pretrained"), savedir=str(tmp_path / "load")
    )
    # The exported weights are those of the checkpoint with the lowest EER.
    best = min(
        (out / "save").glob("CKPT*"),
        key=lambda c: float(
            [
                ln
                for ln in (c / "CKPT.yaml").read_text().splitlines()
                if ln.startswith("EER:")
            ][0].split()[1]
        ),
    )
    state = torch.load(best / "embedding_model.ckpt", weights_only=True)
    exported = model.mods.embedding_model.state_dict()
    for key, value in state.items():
        assert torch.equal(exported[key], value), key
    wav = torch.randn(1, 16000)
    emb = model.encode_batch(wav)
    assert emb.shape[-1] == 32 and torch.isfinite(emb).all()
    assert 0.0 < model.hparams.verification_threshold < 1.0


def test_finetune_from_exported_folder(full_run, tmp_path):
    out, _ = full_run
    run = tmp_path / "ft"
    run_recipe(
        TINY,
        f"--output_folder={run}",
        f"--pretrained_path={out / 'pretrained'}",
    )
    # The scratch run's command, data, seed and learning-rate schedule:
    # starting from the trained encoder gives a lower first-epoch loss.
    tuned, scratch = train_log(run)[0], train_log(out)[0]
    assert _log_stats(tuned)["train loss"] < _log_stats(scratch)["train loss"]
    # The export carries its classifier: the same speakers' classes start
    # from it, so the training loss is lower again (over the run). Another
    # seed than the export's: a cold start then draws other class vectors
    # (two tiny epochs barely move them from the seed's draw).
    cold, warm = tmp_path / "cold", tmp_path / "warm"
    for folder, extra in ((cold, "--warm_classifier=False"), (warm, "")):
        log = run_recipe(
            TINY,
            f"--output_folder={folder}",
            f"--pretrained_path={out / 'pretrained'}",
            "--seed=7",
            extra or "--warm_classifier=True",
        )
    assert "Classifier: 3 classes warm-started" in log

    def run_loss(folder):
        return sum(_log_stats(ln)["train loss"] for ln in train_log(folder))

    assert run_loss(warm) < run_loss(cold), (run_loss(warm), run_loss(cold))


def test_interpolated_export_mixes_the_best_checkpoint_with_its_start(
    full_run, tmp_path
):
    """WiSE-FT: the export is (1 - a) start + a best checkpoint, a the
    candidate with the lowest validation EER (logged and recorded)."""
    out, _ = full_run
    run = tmp_path / "wise"
    log = run_recipe(
        TINY,
        f"--output_folder={run}",
        f"--pretrained_path={out / 'pretrained'}",
        "--interpolate=[0.0, 0.5, 1.0]",
        "--number_of_epochs=1",
    )
    line = re.search(r"Interpolation with the start: a = (\S+) (\{.*\})", log)
    a, eers = float(line.group(1)), eval(line.group(2))
    assert set(eers) == {0.0, 0.5, 1.0} and eers[a] == min(eers.values())
    # a = 1 is the best checkpoint: its EER is the one its epoch logged
    # (that pass is reused, not repeated).
    (epoch,) = train_log(run)
    logged = float(re.search(r"valid EER: ([0-9.]+)", epoch).group(1))
    assert abs(eers[1.0] - logged) < 0.006, (eers, epoch)
    assert (
        "interpolation" in (run / "pretrained" / "hyperparams.yaml").read_text()
    )
    start = torch.load(out / "pretrained" / "embedding_model.ckpt")
    (ckpt,) = (run / "save").glob("CKPT*")
    best = torch.load(ckpt / "embedding_model.ckpt")
    got = torch.load(run / "pretrained" / "embedding_model.ckpt")
    for k, v in got.items():
        if v.is_floating_point():
            want = (1 - a) * start[k] + a * best[k]
            assert torch.allclose(v, want, atol=1e-6), k
    # A model of another size cannot start from it: the error names a layer.
    with pytest.raises(AssertionError, match=r"size mismatch for \S+: copy"):
        run_recipe(
            TINY,
            f"--output_folder={tmp_path / 'bad'}",
            f"--pretrained_path={out / 'pretrained'}",
            "--ecapa_channels=[16,16,16,16,48]",
        )


def _tree_state(*folders):
    """Path -> mtime of every file under the folders (caches excluded)."""
    # Caches, and what other jobs of a developer may be writing meanwhile.
    skip = {
        ".git",
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        "ablation",
        "tuning",
    }
    state = {}
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [
                d
                for d in dirnames
                if d not in skip and not d.startswith(".venv")
            ]
            for name in filenames:
                if name.startswith(".coverage"):  # run under tests/coveragerc
                    continue
                path = os.path.join(dirpath, name)
                state[path] = os.stat(path).st_mtime_ns
    return state


def _intra_epoch_ckpts(save, epoch):
    """Complete intra-epoch checkpoints taken during ``epoch``.

    The epoch matters: an intra-epoch checkpoint of epoch 1 can still be on
    disk after epoch 1 is logged but before its end-of-epoch checkpoint is
    written; a kill there rightly replays the end of epoch 1. While the run
    lives, the checkpointer may delete a folder between two reads here (it
    keeps only the newest intra-epoch checkpoint): such a folder is skipped.
    """
    found = []
    for folder in save.glob("CKPT*"):
        try:
            meta = (folder / "CKPT.yaml").read_text()
            counter = (folder / "counter.ckpt").read_text().strip()
        except FileNotFoundError:
            continue
        if "brain_intra_epoch_ckpt" in meta and counter == str(epoch):
            found.append(folder)
    return found


def test_resume_after_sigkill_matches_uninterrupted(tmp_path):
    """Kill -9 in the middle of epoch 2, rerun the same command: same steps,
    same metrics and bit-identical weights as a run never interrupted, with
    the generic augmentation on (noise and reverb files included)."""
    common = ["--ckpt_interval_steps=4", "--ckpt_interval_minutes=0"]
    ref = tmp_path / "ref"
    run_recipe(TINY, f"--output_folder={ref}", *common)

    crash = tmp_path / "crash"
    cmd = recipe_cmd(TINY, f"--output_folder={crash}", *common)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    try:
        # Wait until epoch 1 is done and epoch 2 has an intra-epoch ckpt.
        while time.time() < deadline:
            log = crash / "train_log.txt"
            if (
                log.exists()
                and log.read_text().strip()
                and _intra_epoch_ckpts(crash / "save", epoch=2)
            ):
                break
            assert proc.poll() is None, "run ended before it could be killed"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert len(train_log(crash)) == 1, "killed after epoch 2 ended"

    before = _tree_state(ROOT, tmp_path)
    latest = max(_intra_epoch_ckpts(crash / "save", epoch=2))
    brain_state = (latest / "brain.ckpt").read_text().splitlines()
    saved_step = int(dict(ln.split(": ") for ln in brain_state)["step"])
    log = run_recipe(TINY, f"--output_folder={crash}", *common)
    # The rerun loaded the last intra-epoch checkpoint of epoch 2 and ran
    # only the rest of that epoch (SpeechBrain's progress bar starts at
    # the saved step and ends at the epoch's length).
    assert f"Loading a checkpoint from {latest}\n" in log, log[-3000:]
    rows = (TINY_DATA / "prepared" / "train.csv").read_text().splitlines()
    n_steps = (len(rows) - 1) // load_config(str(TINY))[0]["batch_size"]
    counts = [int(m) for m in re.findall(rf"(\d+)/{n_steps} \[", log)]
    assert 0 < saved_step == counts[0] < n_steps, counts
    assert max(counts) == n_steps, counts
    assert train_log(crash) == train_log(ref)
    a = torch.load(crash / "pretrained" / "embedding_model.ckpt")
    b = torch.load(ref / "pretrained" / "embedding_model.ckpt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Nothing was written outside the output folder (the corpus was ready).
    changed = set(_tree_state(ROOT, tmp_path).items()) ^ set(before.items())
    assert all(str(p).startswith(str(crash)) for p, _ in changed), changed


def _interleaved_csv(src, dst):
    """Copy of a CSV with rows 1 and 2 of every block of 4 swapped."""
    lines = Path(src).read_text().splitlines()
    head, rows = lines[0], lines[1:]
    assert len(rows) % 4 == 0, "whole blocks keep every speaker's first row"
    for k in range(0, len(rows), 4):
        rows[k + 1], rows[k + 2] = rows[k + 2], rows[k + 1]
    Path(dst).write_text("\n".join([head, *rows]) + "\n")


def test_ddp_two_processes_match_one(tmp_path):
    """torchrun with 2 CPU processes x 2 utterances per step vs 1 process
    accumulating the gradients of the same two micro-batches.

    DistributedSampler (no shuffling) gives rank r rows r, r+2, ...: step k
    of rank 0 sees rows 4k and 4k+2, rank 1 rows 4k+1 and 4k+3. The single
    process reads a CSV with rows 1 and 2 of every block of 4 swapped, so
    its micro-batches are exactly those halves; batch-norm statistics are
    then computed over the same samples, and DDP's average of the two
    gradients equals the accumulated one. What would differ is kept out:
    pairs and augmentation (random draws are keyed by rank), crop offsets
    (keyed by CSV row: crops longer than every utterance start at 0) and
    the cyclic learning rate (stepped per micro-batch: held constant).
    Each process writes its trained parameters: the ranks must agree
    bit for bit, and with the single process up to float rounding.
    """
    common = [
        "--use_augment=False",
        "--use_pairs=False",
        "--sorting=ascending",
        "--sentence_len=2.0",
        "--base_lr=0.002",
        "--number_of_epochs=1",
        "--dataloader_options={batch_size: 2, shuffle: False, num_workers: 0}",
    ]
    script = ROOT / "tests" / "weights_dump_run.py"
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    train_csv = tmp_path / "train_interleaved.csv"
    _interleaved_csv(TINY_DATA / "prepared" / "train.csv", train_csv)
    run_recipe(
        TINY,
        f"--output_folder={one / 'run'}",
        f"--train_annotation={train_csv}",
        "--grad_accumulation_factor=2",
        *common,
        script=script,
        env={"EMOINV_WEIGHTS_DIR": str(one)},
    )
    run_recipe(
        TINY,
        f"--output_folder={two / 'run'}",
        "--distributed_backend=gloo",
        *common,
        torchrun=2,
        script=script,
        env={"EMOINV_WEIGHTS_DIR": str(two)},
    )
    rank0 = (two / "rank0.sha256").read_text()
    assert rank0 == (two / "rank1.sha256").read_text()
    single = torch.load(one / "rank0.pt", weights_only=True)
    ddp = torch.load(two / "rank0.pt", weights_only=True)
    assert single.keys() == ddp.keys()
    worst = max((single[k] - ddp[k]).abs().max().item() for k in single)
    init = torch.load(one / "rank0_init.pt", weights_only=True)
    moved = max((single[k] - init[k]).abs().max().item() for k in single)
    print(f"max |single - ddp| {worst:.2e}, max |trained - init| {moved:.2e}")
    assert worst < 1e-5 < 0.01 < moved
    assert (two / "run" / "pretrained" / "embedding_model.ckpt").is_file()


@pytest.mark.parametrize(
    "name",
    [
        "baseline",
        "baseline_equal_budget",
        "ablation_copypaste",
        "ablation_copypaste_erl",
    ],
)
def test_ablation_configs_change_only_their_switches(name):
    full, _ = load_config(str(ROOT / "hparams" / "emoinv.yaml"))
    row, _ = load_config(str(ROOT / "hparams" / f"{name}.yaml"))
    assert row["experiment"] == name
    switches = {
        "use_pairs",
        "use_em",
        "pair_weight",
        "batch_size",
        "number_of_epochs",
    }
    for key in switches:
        if row[key] != full[key]:
            assert key in Path(ROOT / "hparams" / f"{name}.yaml").read_text()
    # Same encoder, features and optimiser settings.
    for key in ("ecapa_channels", "n_mels", "lr", "sentence_len", "seed"):
        assert row[key] == full[key]
    if "equal_budget" in name:
        # As many samples per step and as many steps as the full method,
        # the second half its twins (no emotional parallel data).
        assert row["batch_size"] == full["batch_size"] and row["use_pairs"]
        assert row["number_of_epochs"] == full["number_of_epochs"]
        assert row["copypaste"].mode == "anchor"
        assert row["independent_crop"] and not row["use_em"]


@pytest.mark.parametrize(
    "name, changed",
    [
        ("valid_eval", {"rehearsal_annotation", "interpolate"}),
        ("pair_weight_0.5", {"pair_weight"}),
        ("em_always", {"emotion_masking"}),
        ("copypaste_replace", {"copypaste"}),
        ("em_spans", {"emotion_masking"}),
        ("partner_other", set()),  # the default since the dose experiment
        ("shared_crop", {"independent_crop"}),
        ("no_rehearsal", {"rehearsal_annotation"}),
        ("l2sp", {"rehearsal_annotation", "l2sp"}),
        ("rehearsal_pairs", {"rehearsal_pairs"}),
        ("warm", {"warm_classifier"}),
        ("warm_l2sp", {"warm_classifier", "l2sp"}),
    ],
)
def test_tuning_configs_never_score_evaluation_speakers(name, changed):
    """Tuning variants are scored on the validation lists and change only
    the knob they are named after: against ``valid_eval``, which keeps
    stage 2 as the defaults stood when they ran (rehearsal, unmixed)."""
    tuning = ROOT / "benchmarks" / "tuning"
    defaults, _ = load_config(str(ROOT / "hparams" / "emoinv.yaml"))
    row, _ = load_config(str(tuning / f"{name}.yaml"))
    assert row["evaluate"].keywords["split"] == "valid"
    assert row["evaluate_real"].keywords["split"] == "valid"
    assert defaults["evaluate"].keywords["split"] == "eval"
    full = defaults
    if name != "valid_eval":
        full, _ = load_config(str(tuning / "valid_eval.yaml"))
    differs = {
        "interpolate": row["interpolate"] != full["interpolate"],
        "pair_weight": row["pair_weight"] != full["pair_weight"],
        "emotion_masking": vars(row["emotion_masking"])
        != vars(full["emotion_masking"]),
        "copypaste": vars(row["copypaste"]) != vars(full["copypaste"]),
        "pair_sampler": row["pair_sampler"].keywords
        != full["pair_sampler"].keywords,
        "independent_crop": row["independent_crop"] != full["independent_crop"],
        "train_annotation": row["train_annotation"] != full["train_annotation"],
        "rehearsal_annotation": row["rehearsal_annotation"]
        != full["rehearsal_annotation"],
        "l2sp": row["l2sp"].alpha != full["l2sp"].alpha,
        "rehearsal_pairs": row["rehearsal_pairs"] != full["rehearsal_pairs"],
        "warm_classifier": row["warm_classifier"] != full["warm_classifier"],
    }
    assert {k for k, v in differs.items() if v} == changed
    for key in ("ecapa_channels", "lr", "batch_size", "number_of_epochs"):
        assert row[key] == full[key]


def test_no_augment_rows_differ_from_their_counterparts_only_there():
    """The two no-augmentation rows are the full method and the baseline
    with ``use_augment`` off, nothing else."""
    for row, counterpart in (
        ("ablation_no_augment", "emoinv"),
        ("baseline_no_augment", "baseline"),
    ):
        a, _ = load_config(str(ROOT / "hparams" / f"{row}.yaml"))
        b, _ = load_config(str(ROOT / "hparams" / f"{counterpart}.yaml"))
        assert a["use_augment"] is False and b["use_augment"] is True
        for key in ("use_pairs", "use_em", "pair_weight", "batch_size"):
            assert a[key] == b[key], (row, key)


def test_no_band_limit_stage1_differs_only_in_band_limit():
    """The shortcut benchmark's stage 1 is hparams/pretrain.yaml with the
    band-limiting made an identity, nothing else."""
    full, _ = load_config(str(ROOT / "hparams" / "pretrain.yaml"))
    row, _ = load_config(
        str(ROOT / "benchmarks" / "shortcuts" / "pretrain_no_band_limit.yaml")
    )
    assert full["band_limit"].rates == [8000, 11025]
    assert row["band_limit"].rates == [16000]
    wav = torch.randn(2, 4000)
    assert torch.allclose(row["band_limit"](wav), wav, atol=1e-5)
    for key in ("lr", "number_of_epochs", "out_n_neurons", "sim_styles"):
        assert row[key] == full[key]
    assert row["output_folder"] != full["output_folder"]
