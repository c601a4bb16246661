"""Faults in training and export (issue 24): one test per case of the
second table of ``docs/hardening.md``.

Nothing half-written is reused, nothing untrained is exported, and every
refusal is one line naming the file, row or option. The recipe cases share
one two-stage run on the tiny corpus (``two_stage``).
"""

import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from fake_corpora import make_cremad, tone, voice_manifest
from recipe_utils import ROOT, TINY, TINY_DATA, recipe_cmd, run_recipe
from speechbrain.utils.checkpoints import Checkpointer
from toy import make_toy_model

import speechbrain_emoinv.evaluation.embedding as emb_mod
import speechbrain_emoinv.export.formats as formats_mod
from speechbrain_emoinv.atomic_files import WriteError, torch_save
from speechbrain_emoinv.checkpoints import (
    AtomicCheckpointer,
    CorruptCheckpointError,
)
from speechbrain_emoinv.cli import embed, evaluate, verify
from speechbrain_emoinv.data.prepare_cremad import prepare_cremad
from speechbrain_emoinv.distillation import teacher_embeddings
from speechbrain_emoinv.evaluation.embedding import embed_rows
from speechbrain_emoinv.export.folder import export_pretrained
from speechbrain_emoinv.export.formats import export_format
from speechbrain_emoinv.pretrained import load_model
from speechbrain_emoinv.run_guard import (
    LOCK_FILE,
    RunError,
    check_run_settings,
    check_same_config,
    check_training_manifest,
    incomplete,
    output_lock,
)

sys.path.insert(0, str(ROOT))
import train_speaker_embeddings as recipe  # noqa: E402

SR = 16000


@pytest.fixture(autouse=True)
def single_process(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def toy(toy_data, toy_model):
    return toy_data, toy_model


# The tiny config without the figures, probe and cohort of the evaluation
# (what these tests rerun most).
FAST = """base: {tiny}
export_cohort: False
evaluate: !name:speechbrain_emoinv.evaluation.run_evaluation
    data_dir: !ref <prepared_folder>
    out_dir: !ref <eval_folder>
    split: eval
    plots: False
    probe: False
"""


@pytest.fixture(scope="module")
def two_stage(tmp_path_factory):
    """One tiny two-stage run (stage 1 cached, one epoch each)."""
    root = tmp_path_factory.mktemp("two_stage")
    fast = root / "fast.yaml"
    fast.write_text(FAST.format(tiny=TINY))
    stage1 = root / "tiny_pretrain.yaml"
    stage1.write_text(
        f"base: {fast}\nexperiment: tiny_pretrain\nuse_pairs: False\n"
        "number_of_epochs: 1\n"
    )
    args = (
        str(fast),
        f"--pretrain_config={stage1}",
        f"--pretrain_folder={root / 'cache'}",
        "--number_of_epochs=1",
        f"--output_folder={root / 'run'}",
    )
    log = run_recipe(*args)
    (cache,) = (root / "cache").iterdir()
    return dict(root=root, args=args, log=log, stage1=cache, config=stage1)


# SpeechBrain's own notice when importing its train logger without
# torchvision (an optional dependency), before the recipe runs.
IMPORT_NOTICE = "torchvision is not available - cannot save figures"


CREMAD_CONFIG = ROOT / "hparams" / "recipes" / "CREMA-D.yaml"
CREMAD_SAMPLE = ROOT / "tests" / "samples" / "CREMA-D"


def _one_error_line(err, *words):
    lines = [ln for ln in err.strip().splitlines() if ln != IMPORT_NOTICE]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def _files(folder):
    """Files under ``folder`` (SpeechBrain's Checkpointer makes an empty
    ``save/`` when the config is loaded)."""
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
    )


def _recipe_main(capsys, *args, status=1):
    """Runs the recipe in this process (``args``: the config, else the
    tiny one, and overrides); returns its one stderr line."""
    if not args or args[0].startswith("--"):
        args = (str(TINY), *args)
    argv = [args[0], f"--data_folder={TINY_DATA}", "--device=cpu", *args[1:]]
    with pytest.raises(SystemExit) as exit_info:
        recipe.main(argv)
    assert exit_info.value.code == status
    return _one_error_line(capsys.readouterr().err)


def _recipe_proc(*args, data_folder=TINY_DATA):
    if args[0].startswith("--"):
        args = (str(TINY), *args)
    cmd = recipe_cmd(*args)
    cmd[cmd.index(f"--data_folder={TINY_DATA}")] = (
        f"--data_folder={data_folder}"
    )
    return subprocess.run(
        cmd,
        cwd=ROOT,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=600,
    )


# -- 1. a half-written stage-1 export ----------------------------------------


def test_half_written_stage1_export_not_reused(two_stage):
    ckpt = two_stage["stage1"] / "pretrained" / "embedding_model.ckpt"
    good = torch.load(ckpt, weights_only=True)
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # killed mid-export
    log = run_recipe(*two_stage["args"])
    assert re.search(
        r"Stage 1: training \S+ in \S+: \S+pretrained is not the export its "
        "completion record names",
        log,
    ), log[-3000:]
    again = torch.load(ckpt, weights_only=True)  # exported whole again
    assert all(torch.equal(good[k], again[k]) for k in good)
    # The completion record is written last; now it names this export,
    # which the next run reuses.
    stage1 = two_stage["stage1"]
    assert incomplete(stage1, stage1 / "pretrained") is None
    # An export is swapped in whole: no temporary folder is left.
    assert not list(stage1.glob(".pretrained.*"))


def test_truncated_teacher_cache_embedded_again(tmp_path, caplog):
    """A cache entry cut short (a disk fault, or a kill before atomic
    writes) is named and embedded again, never reused."""
    voice_manifest(tmp_path)
    cache = tmp_path / "cache"
    first = teacher_embeddings(tmp_path / "train.csv", cache)
    (path,) = cache.iterdir()
    path.write_bytes(path.read_bytes()[:100])
    again = teacher_embeddings(tmp_path / "train.csv", cache)
    assert all(np.allclose(again[k], first[k], atol=1e-6) for k in first)
    assert f"{path} cannot be read" in caplog.text
    assert np.load(path)["emb"].shape == (3, 256)  # rewritten whole
    assert list(cache.iterdir()) == [path]  # no temporary file left


# -- 2. ONNX / TorchScript parity on the main command's model -----------------


def test_export_parity_on_main_model_size(tmp_path, monkeypatch):
    """The model of hparams/emoinv.yaml (C = 256, attention 64, 192-dim),
    random weights with the last layer scaled so that embeddings have the
    trained model's norm (~77): parity is judged on cosine and scores."""
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    kw = dict(
        input_size=80,
        channels=[256, 256, 256, 256, 768],
        attention_channels=64,
        lin_neurons=192,
    )
    torch.manual_seed(0)
    model = ECAPA_TDNN(**kw).eval()
    with torch.no_grad():
        for p in model.fc.parameters():
            p.mul_(23.0)
    folder = export_pretrained(tmp_path / "m", model, kw, n_mels=80)
    norm = load_model(folder).encode_batch(0.1 * torch.randn(1, SR)).norm()
    assert 60 < float(norm) < 100
    for fmt in ("onnx", "torchscript"):
        path, gaps = export_format(folder, fmt)
        assert path.is_file()
        assert gaps["cosine"] <= 1e-6 and gaps["score"] <= 1e-5, gaps
    # A failed check leaves nothing under the final name.
    (folder / "embedding.torchscript.pt").unlink()
    monkeypatch.setattr(formats_mod, "PARITY_TOL", -1.0)
    with pytest.raises(RuntimeError, match="differ from PyTorch: 1 - cosine"):
        export_format(folder, "torchscript")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "embedding.onnx",
        "embedding_model.ckpt",
        "hyperparams.yaml",
    ]


# -- 3. settings that cannot train a model ------------------------------------


def test_untrainable_settings_refused(tmp_path, capsys):
    out = tmp_path / "run"
    proc = _recipe_proc("--number_of_epochs=0", f"--output_folder={out}")
    assert proc.returncode == 1, proc.stderr[-3000:]
    _one_error_line(proc.stderr, "number_of_epochs", "got 0")
    assert _files(out) == []  # before any work
    for bad, words in (
        ("--number_of_epochs=-1", "number_of_epochs"),
        ("--batch_size=0", "dataloader_options batch_size"),
        ("--lr=nan", "lr must be a finite number > 0, got 'nan'"),
        ("--lr=-0.1", "lr must be a finite number > 0"),
        ("--sample_rate=8000", "sample_rate must be 16000"),
        ("--operating_point=mindcf=1", "unknown operating point"),
        ("--operating_point=far", "unknown operating point"),
    ):
        line = _recipe_main(capsys, bad, f"--output_folder={out}")
        assert words in line and "tiny.yaml" in line, line
        assert _files(out) == []


@pytest.mark.parametrize(
    "chosen, stored", [(float("-inf"), -1.0), (1.0000002, 1.0)]
)
def test_threshold_outside_cosines_exported_as_the_nearest_cosine(
    tmp_path, monkeypatch, chosen, stored
):
    """Where accepting every validation trial costs least (threshold -inf,
    e.g. minDCF at a prior above 0.5) the export stores -1; a float32 cosine
    of identical embeddings chosen as threshold (far=0 with a duplicated
    non-target clip: 1.0000002) is stored as 1 — the same decisions for
    cosines, in a folder the tools load (it was refused: not in [-1, 1])."""
    import speechbrain_emoinv.stages as stages

    monkeypatch.setattr(stages, "threshold_at", lambda *a: chosen)
    out = tmp_path / "run"
    recipe.main([str(TINY), f"--data_folder={TINY_DATA}", "--device=cpu",
                 f"--output_folder={out}", "--number_of_epochs=1"])  # fmt: skip
    model = load_model(out / "pretrained")
    assert model.hparams.verification_threshold == stored


# -- 4. a rerun with other settings into a used folder ------------------------


def test_changed_config_refused_not_relabelled(two_stage, capsys):
    record = Path(two_stage["args"][-1].split("=", 1)[1]) / "hyperparams.yaml"
    before = record.read_text()
    line = _recipe_main(
        capsys, *two_stage["args"], "--lr=0.5", "--pair_weight=0.9"
    )
    assert "holds a run of another config" in line
    assert "lr: 0.0005 -> 0.5" in line and "pair_weight: 0.3 -> 0.9" in line
    assert record.read_text() == before  # never relabelled
    # Another stage-1 config behind the same file name: another stage 1.
    config = two_stage["config"]
    text = config.read_text()
    config.write_text(text + "lr: 0.001\n")
    try:
        line = _recipe_main(capsys, *two_stage["args"])
    finally:
        config.write_text(text)
    assert "pretrained_path" in line and two_stage["stage1"].name in line
    # A run option that does not change what is trained is no change.
    assert "ckpt_fallback: false" in before
    checkpointer = Checkpointer(record.parent / "save")
    assert checkpointer.list_checkpoints()
    check_same_config(
        record.parent,
        before.replace("ckpt_fallback: false", "ckpt_fallback: true"),
        checkpointer,
    )


# -- 5. one run per output folder ---------------------------------------------


def test_one_run_per_output_folder(tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from speechbrain_emoinv.run_guard import output_lock\n"
            "with output_lock(sys.argv[1]):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(600)\n",
            str(out),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        line = _recipe_main(capsys, f"--output_folder={out}")
        assert f"another run (process {holder.pid})" in line
        assert _files(out) == [LOCK_FILE]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # A killed run leaves no stale lock.
    with output_lock(out):
        assert (out / LOCK_FILE).read_text() == str(os.getpid())


def _ask_for_stage1(rank, root, port):
    """One of two DDP ranks (gloo) asking for the shared stage 1 in
    ``root/stage1``; training it touches ``root/trained-<rank>``."""
    import speechbrain_emoinv.stages as stages

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    # What each rank would find on its own: the main one, which waited for
    # the lock, a finished stage 1; the other, which does not wait, none.
    stages.incomplete = lambda *a: None if rank == 0 else "not finished"
    stages.run = lambda *a: (root / f"trained-{rank}").touch()
    stages.pretrained_stage1("stage1.yaml", str(root / "stage1"), {}, 0, 0)
    torch.distributed.destroy_process_group()


def test_ranks_follow_the_main_process_on_a_shared_stage1(tmp_path):
    """Under DDP only the main process waits for a stage 1 that another
    run is training; every rank follows its finding (one rank training
    alone would leave the others' collectives waiting)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(_ask_for_stage1, (tmp_path, port), nprocs=2)
    assert sorted(p.name for p in tmp_path.glob("trained-*")) == []


# -- 6. emoinv-embed chunks and sizes -----------------------------------------


def test_embed_chunks_keyed_by_chunk_size(toy, tmp_path, monkeypatch, capsys):
    data, model = toy
    args = ["--model", str(model), "--csv", str(data / "eval.csv")]
    args += ["--out", str(tmp_path / "e"), "--no-progress", "--batch-size", "1"]
    args += ["--backend", "pytorch"]  # no ONNX file: no note on stderr
    real, calls = emb_mod.embed_rows, []

    def dies_in_chunk_2(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(emb_mod, "embed_rows", dies_in_chunk_2)
    assert embed.main([*args, "--chunk-size", "3"]) == 130
    _one_error_line(capsys.readouterr().err, "emoinv-embed: interrupted")
    monkeypatch.setattr(emb_mod, "embed_rows", real)
    # Rerun with the default size: its own chunks, finished (was: "rerun
    # to finish the missing chunks" on every rerun).
    assert embed.main(args) == 0
    got = torch.load(tmp_path / "e" / "embeddings.pt")["emb"]
    rows = embed.read_manifest(data / "eval.csv")
    want = embed_rows(load_model(model), rows, batch_size=1)
    torch.testing.assert_close(got, want)
    assert embed.main([*args, "--chunk-size", "3"]) == 0  # resumes size 3
    capsys.readouterr()


def test_non_positive_sizes_are_usage_errors(toy, capsys):
    data, model = toy
    base = ["--model", str(model)]
    cases = [
        (embed, ["--csv", "c", "--out", "o", "--chunk-size", "0"]),
        (embed, ["--csv", "c", "--out", "o", "--chunk-size", "-5"]),
        (embed, ["--csv", "c", "--out", "o", "--batch-size", "0"]),
        (verify, ["a.wav", "b.wav", "--batch-size", "0"]),
        (evaluate, ["--data", str(data), "--batch-size", "0"]),
        (evaluate, ["--data", str(data), "--topk", "0"]),
    ]
    for tool, args in cases:
        with pytest.raises(SystemExit, match="^2$"):
            tool.main([*base, *args])
        assert "not a positive integer" in capsys.readouterr().err


# -- 7. the deployable files keep the tools' input rules ----------------------


def test_deployable_path_input_rules(toy, tmp_path):
    data, model = toy
    folder = tmp_path / "m"
    shutil.copytree(model, folder)
    path, _ = export_format(folder, "torchscript")
    ts = torch.jit.load(str(path))
    x = 0.1 * torch.from_numpy(
        np.random.default_rng(0).standard_normal(65 * SR).astype("float32")
    )
    sf.write(tmp_path / "long.wav", x.numpy(), SR, subtype="FLOAT")
    row = dict(ID="long", wav=str(tmp_path / "long.wav"), start=0, stop=-1)
    row["duration"] = 65.0
    cli = embed_rows(load_model(folder), [row], 1)  # 2 windows of 32.5 s
    torch.testing.assert_close(ts(x[None]), cli, atol=1e-4, rtol=0)
    for bad, words in (
        (torch.stack([x[:SR], x[:SR]]), "one mono utterance"),
        (torch.full((1, SR), float("nan")), "NaN or inf"),
        (torch.zeros(1, 0), "fewer than 1600"),
    ):
        with pytest.raises(torch.jit.Error, match=words):
            ts(bad)
    # ONNX cannot hold the rules: the model card's example applies them.
    path, _ = export_format(folder, "onnx")
    card = (folder / "README.md").read_text()
    code = re.search(
        r"```python\n(import numpy, onnxruntime.*?)```", card, re.S
    )
    scope = {}
    code = code.group(1).replace('"embedding.onnx"', repr(str(path)))
    exec(code.replace('"a.wav"', repr(str(tmp_path / "long.wav"))), scope)
    torch.testing.assert_close(
        torch.from_numpy(scope["embed"](tmp_path / "long.wav")),
        cli,
        atol=1e-4,
        rtol=0,
    )
    stereo = np.stack([x[:SR].numpy(), x[SR : 2 * SR].numpy()], axis=1)
    sf.write(tmp_path / "st.wav", stereo, SR, subtype="FLOAT")
    mono = dict(row, wav=str(tmp_path / "st.wav"))  # the CLI downmixes
    torch.testing.assert_close(
        torch.from_numpy(scope["embed"](tmp_path / "st.wav")),
        embed_rows(load_model(folder), [mono], 1),
        atol=1e-4,
        rtol=0,
    )
    sf.write(tmp_path / "nan.wav", np.full(SR, np.nan, "float32"), SR, "FLOAT")
    with pytest.raises(ValueError, match="NaN"):
        scope["embed"](tmp_path / "nan.wav")


# -- 8. hand-made training manifests ------------------------------------------


def _bad_manifest(folder):
    good = folder / "ok.wav"
    tone(good, seconds=0.5)
    tone(folder / "cd.wav", sr=44100, seconds=0.5, channels=2)
    (folder / "zero.wav").write_bytes(b"")
    sf.write(folder / "nan.wav", np.full(SR, np.nan, "float32"), SR, "FLOAT")
    rows = [
        ("ok", good, 8000),
        ("cd", folder / "cd.wav", 8000),
        ("gone", folder / "gone.wav", 8000),
        ("zero", folder / "zero.wav", 8000),
        ("nan", folder / "nan.wav", 8000),
        ("long", good, 9000),
    ]
    head = "ID,duration,wav,start,stop,spk_id,emotion\n"
    text = "".join(f"{i},0.5,{w},0,{s},a,neutral\n" for i, w, s in rows)
    return head, text


def test_training_manifest_checked_up_front(tmp_path, capsys, monkeypatch):
    head, text = _bad_manifest(tmp_path)
    csv = tmp_path / "m.csv"
    problems = [
        "44100 Hz, not 16000",
        "missing",
        "empty (0 bytes)",
        "NaN or inf samples",
        "stop 9000 beyond its 8000 samples",
    ]
    lines = text.splitlines(keepends=True)
    for number, problem in enumerate(problems, 2):
        csv.write_text(head + lines[0] + lines[number - 1])
        with pytest.raises(RunError, match=re.escape(problem)) as info:
            check_training_manifest(csv, SR)
        assert f"m.csv row 2 (ID {lines[number - 1].split(',')[0]})" in str(
            info.value
        )
    csv.write_text(head)
    with pytest.raises(RunError, match="manifest has no rows"):
        check_training_manifest(csv, SR)
    tone(tmp_path / "st.wav", seconds=0.5, channels=2)
    csv.write_text(head + f"st,0.5,{tmp_path / 'st.wav'},0,8000,a,neutral\n")
    with pytest.raises(RunError, match="2 channels, not mono"):
        check_training_manifest(csv, SR)
    # The full read happens once per file: cached by size and mtime.
    csv.write_text(head + lines[0])
    cache = tmp_path / "checked.json"
    check_training_manifest(csv, SR, cache)
    reads = []
    monkeypatch.setattr(sf, "read", lambda *a, **k: reads.append(a))
    check_training_manifest(csv, SR, cache)
    assert reads == []
    monkeypatch.undo()
    # In the recipe: named before step 1, with the row and the count.
    csv.write_text(head + text)
    out = tmp_path / "run"
    proc = _recipe_proc(f"--output_folder={out}", f"--train_annotation={csv}")
    assert proc.returncode == 1, proc.stderr[-3000:]
    _one_error_line(
        proc.stderr, "m.csv row 2 (ID cd)", "44100 Hz", "and 4 more bad rows"
    )
    assert not (out / "train_log.txt").exists()  # no epoch began
    # Stage 2's rehearsal manifest (stage 1's voices) is checked too.
    out = tmp_path / "run2"
    proc = _recipe_proc(
        f"--output_folder={out}", f"--rehearsal_annotation={csv}"
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    _one_error_line(proc.stderr, "m.csv row 2 (ID cd)", "44100 Hz")


# -- 9. messages that say what is wrong ---------------------------------------


def test_speaker_count_mismatch_is_one_line(tmp_path):
    # In a subprocess: the failure comes after SpeechBrain's logging setup,
    # whose handler would outlive this test's captured stderr.
    out, augment = tmp_path / "run", tmp_path / "augment"
    proc = _recipe_proc(
        "--out_n_neurons=2",
        f"--output_folder={out}",
        "--use_augment=True",
        f"--augment_folder={augment}",
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    line = proc.stderr.strip().splitlines()[-1]  # after the preparation's log
    assert line.startswith("train_speaker_embeddings.py: error: "), line
    assert "training speakers but out_n_neurons is 2" in line, line
    assert "train.csv" in line and "pass --out_n_neurons=" in line, line
    assert not (out / "train_log.txt").exists()  # no epoch began
    assert not augment.exists()  # said before the augmentation material
    # Rerun as the message says, into the same folder: nothing was trained
    # there, so the earlier config does not hold it.
    n = line.rsplit("--out_n_neurons=", 1)[1]
    proc = _recipe_proc(
        f"--out_n_neurons={n}", f"--output_folder={out}", "--number_of_epochs=1"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "pretrained" / "embedding_model.ckpt").is_file()


def test_split_without_trials_is_one_line_before_training(tmp_path):
    """One validation speaker makes no trial: said right after the
    preparation, not after the first epoch (a FileNotFoundError then)."""
    out = tmp_path / "run"
    proc = _recipe_proc(
        str(CREMAD_CONFIG),
        "--eval_speakers=[cremad-1001,cremad-1002]",
        "--valid_speakers=[cremad-1003]",
        "--out_n_neurons=3",
        f"--output_folder={out}",
        "--use_augment=False",
        data_folder=CREMAD_SAMPLE,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    line = proc.stderr.strip().splitlines()[-1]  # after the preparation's log
    assert line.startswith("train_speaker_embeddings.py: error: "), line
    assert "trials/valid/merged.txt: no trials" in line, line
    assert "fewer than two speakers" in line, line
    assert not (out / "train_log.txt").exists()  # no epoch began


@pytest.mark.parametrize(
    "config, data_folder, overrides, named, words",
    [
        (CREMAD_CONFIG, "/no/CREMA-D", [], "/no/CREMA-D", "not found"),
        (
            TINY,
            TINY_DATA,
            ["--pretrained_path=r/typo/pretrained"],
            "r/typo",
            "no such",
        ),
    ],
)
def test_missing_corpus_or_pretrained_path_is_one_line(
    tmp_path, config, data_folder, overrides, named, words
):
    out = tmp_path / "run"
    proc = _recipe_proc(
        str(config),
        f"--output_folder={out}",
        "--out_n_neurons=3",
        *overrides,
        data_folder=data_folder,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("train_speaker_embeddings.py: error: "), line
    assert named in line and words in line, line
    assert not (out / "train_log.txt").exists()


def test_disk_full_names_the_file(tmp_path, monkeypatch):
    full = OSError(errno.ENOSPC, "No space left on device")
    real_save = torch.save

    def half_then_full(obj, f, *a, **k):
        Path(f).write_bytes(b"PK half")
        raise full

    monkeypatch.setattr(torch, "save", half_then_full)
    with pytest.raises(WriteError) as info:
        torch_save({"a": 1}, tmp_path / "emb.pt")
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path / 'emb.pt'}: could not be written")
    assert "No space left on device" in msg and "MB free" in msg
    assert "free space" in msg and list(tmp_path.iterdir()) == []
    # An export folder: the previous one stays whole.
    monkeypatch.setattr(torch, "save", real_save)
    old = make_toy_model(tmp_path / "m")
    before = (old / "embedding_model.ckpt").read_bytes()
    monkeypatch.setattr(torch, "save", half_then_full)
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

    kw = dict(input_size=40, channels=[8, 8, 8, 8, 24], lin_neurons=4)
    with pytest.raises(WriteError, match=re.escape(f"{old}: could not be")):
        export_pretrained(old, ECAPA_TDNN(**kw), kw, n_mels=40)
    assert (old / "embedding_model.ckpt").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    # A checkpoint: the failed one is removed (its space freed), named.
    monkeypatch.setattr(torch, "save", real_save)
    model = torch.nn.Linear(2, 2)
    ckpter = AtomicCheckpointer(tmp_path / "save", {"model": model})
    ckpter.save_checkpoint()
    monkeypatch.setattr(torch, "save", half_then_full)
    with pytest.raises(WriteError, match="CKPT.*could not be written") as e:
        ckpter.save_checkpoint()
    assert "rerun the same command" in str(e.value)
    assert len(list((tmp_path / "save").iterdir())) == 1


def test_corrupt_newest_checkpoint_named_with_fallback(tmp_path, caplog):
    model = torch.nn.Linear(2, 2)
    ckpter = AtomicCheckpointer(tmp_path, {"model": model})
    first = ckpter.save_checkpoint(meta={"step": 1})
    want = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)
    newest = ckpter.save_checkpoint(meta={"step": 2})
    ckpt = newest.path / "model.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(CorruptCheckpointError) as info:
        ckpter.recover_if_possible()
    msg = str(info.value)
    assert msg.startswith(f"{newest.path}: checkpoint does not load")
    assert "--ckpt_fallback=True" in msg and "\n" not in msg
    ckpter.fallback = True
    assert ckpter.recover_if_possible().path == first.path
    assert torch.equal(model.weight, want["weight"])
    assert (tmp_path / f"corrupt-{newest.path.name}").is_dir()
    assert "does not load: set aside" in caplog.text
    # Nothing loads: an error, not a half-recovered state.
    (first.path / "model.ckpt").write_bytes(b"")
    with pytest.raises(
        CorruptCheckpointError, match="no checkpoint that loads"
    ):
        ckpter.recover_if_possible()


def test_corrupt_checkpoint_in_recipe_is_one_line(two_stage):
    save = Path(two_stage["args"][-1].split("=", 1)[1]) / "save"
    (newest,) = sorted(save.glob("CKPT*"))[-1:]
    ckpt = newest / "embedding_model.ckpt"
    good = ckpt.read_bytes()
    ckpt.write_bytes(good[:1000])
    try:
        proc = _recipe_proc(*two_stage["args"])
    finally:
        ckpt.write_bytes(good)
    assert proc.returncode == 1, proc.stderr[-3000:]
    _one_error_line(
        proc.stderr, f"{newest}: checkpoint does not load", "--ckpt_fallback"
    )


def test_corrupt_onnx_file_named_not_used(toy, tmp_path):
    """A truncated ``embedding.onnx``: ``auto`` embeds with PyTorch and
    says why; a forced ``--backend onnx`` is an error naming the file."""
    _, model = toy
    folder = tmp_path / "m"
    shutil.copytree(model, folder)
    path, _ = export_format(folder, "onnx")
    path.write_bytes(path.read_bytes()[:1000])
    name, why = emb_mod.resolve_backend(folder, "auto")
    assert name == "pytorch" and why.startswith(f"{path} cannot be read")
    assert "emoinv-export" in why
    with pytest.raises(ValueError, match=re.escape(f"{path} cannot be read")):
        emb_mod.resolve_backend(folder, "onnx")


def test_model_size_mismatch_is_one_short_line(toy, tmp_path, capsys):
    data, model = toy
    folder = tmp_path / "m"
    shutil.copytree(model, folder)
    hp = folder / "hyperparams.yaml"
    hp.write_text(
        hp.read_text().replace("[32, 32, 32, 32, 96]", "[16, 16, 16, 16, 48]")
    )
    wavs = [str(w) for w in sorted((data / "wav").glob("*.wav"))[:2]]
    args = ["--model", str(folder), "--backend", "pytorch", *wavs]
    assert verify.main(args) == 1
    line = _one_error_line(
        capsys.readouterr().err, "embedding_model.ckpt does not fit", "more"
    )
    assert len(line) < 700, len(line)


@pytest.mark.parametrize("rename", ["module.{}", "drop"])
def test_model_weights_of_other_names_are_refused(
    toy, tmp_path, capsys, rename
):
    """A checkpoint whose weights have other names (a DDP ``module.``
    prefix; one weight missing) would load as the random network."""
    data, model = toy
    folder = tmp_path / "m"
    shutil.copytree(model, folder)
    ckpt = folder / "embedding_model.ckpt"
    state = torch.load(ckpt, weights_only=True)
    if rename == "drop":
        state.pop(next(iter(state)))
    else:
        state = {rename.format(k): v for k, v in state.items()}
    torch.save(state, ckpt)
    wavs = [str(w) for w in sorted((data / "wav").glob("*.wav"))[:2]]
    args = ["--model", str(folder), "--backend", "pytorch", *wavs]
    assert verify.main(args) == 1
    _one_error_line(
        capsys.readouterr().err, "embedding_model.ckpt does not fit", "missing"
    )


def test_trial_file_encodings_and_tab_form(toy, tmp_path, capsys):
    data, model = toy
    wavs = sorted((data / "wav").glob("*.wav"))[:2]
    spaced = tmp_path / "with space"
    spaced.mkdir()
    for w in wavs:
        shutil.copy(w, spaced / w.name)
    pairs = tmp_path / "pairs.txt"
    pairs.write_bytes(f"\ufeff{wavs[0]} {wavs[1]}\n".encode())  # BOM
    args = ["--model", str(model), "--trials", str(pairs)]
    assert verify.main(args) == 0
    pairs.write_text(f"{spaced / wavs[0].name}\t{spaced / wavs[1].name}\n")
    assert verify.main(args) == 0
    assert f"{spaced / wavs[0].name} {spaced / wavs[1].name}" in (
        capsys.readouterr().out
    )
    pairs.write_bytes(f"caf\xe9.wav {wavs[1]}\n".encode("latin-1"))
    assert verify.main(args) == 1
    _one_error_line(capsys.readouterr().err, f"{pairs}: not UTF-8 text")


# -- 10. minor ----------------------------------------------------------------


def test_partial_checkpoints_cleaned_and_counted(tmp_path, caplog):
    model = torch.nn.Linear(2, 2)
    ckpter = AtomicCheckpointer(tmp_path, {"model": model})
    good = ckpter.save_checkpoint()
    for name in ("CKPT+a", "CKPT+b"):  # saves killed (or out of disk)
        (tmp_path / name).mkdir()
        (tmp_path / name / "CKPT.yaml.partial").write_text("")
        (tmp_path / name / "model.ckpt").write_bytes(b"x" * 1000)
    assert ckpter.recover_if_possible().path == good.path
    assert sorted(p.name for p in tmp_path.iterdir()) == [good.path.name]
    assert "Removed 2 interrupted checkpoint save(s)" in caplog.text


def test_ctrl_c_exits_130_with_one_line(toy, monkeypatch, capsys):
    data, model = toy
    wavs = [str(w) for w in sorted((data / "wav").glob("*.wav"))[:2]]

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(verify, "embed_rows", interrupted)
    args = ["--model", str(model), "--backend", "pytorch", *wavs]
    assert verify.main(args) == 130
    _one_error_line(capsys.readouterr().err, "emoinv-verify: interrupted")
    monkeypatch.setattr(recipe, "run", interrupted)  # the recipe too
    line = _recipe_main(capsys, status=130)
    assert line == "train_speaker_embeddings.py: interrupted"


def test_edited_sample_rate_and_threshold_refused(toy, tmp_path, capsys):
    data, model = toy
    wavs = [str(w) for w in sorted((data / "wav").glob("*.wav"))[:2]]
    for old, new, words in (
        ("sample_rate: 16000", "sample_rate: 8000", "sample_rate 8000"),
        (
            "verification_threshold: 0.5",
            "verification_threshold: 1.5",
            "verification_threshold 1.5",
        ),
    ):
        folder = tmp_path / new.split(":")[0]
        shutil.copytree(model, folder)
        hp = folder / "hyperparams.yaml"
        hp.write_text(hp.read_text().replace(old, new))
        assert verify.main(["--model", str(folder), *wavs]) == 1
        _one_error_line(capsys.readouterr().err, str(hp), words)
    with pytest.raises(RunError, match="sample_rate must be 16000"):
        check_run_settings(
            {"number_of_epochs": 1, "lr": 0.1, "sample_rate": 8000}
        )


def test_other_audio_formats_counted(tmp_path, caplog):
    make_cremad(tmp_path / "C")
    audio = tmp_path / "C" / "AudioWAV"
    tone(audio / "1001_DFA_SAD_XX.flac")
    (audio / "1002_DFA_SAD_XX.mp3").write_bytes(b"ID3 not decoded")
    caplog.set_level("INFO")
    prepare_cremad(tmp_path / "C", tmp_path / "p")
    report = json.loads((tmp_path / "p" / "prepare_report.json").read_text())
    assert report["counts"]["other_format"] == 2
    files = [Path(i["file"]).name for i in report["items"]["other_format"]]
    assert files == ["1001_DFA_SAD_XX.flac", "1002_DFA_SAD_XX.mp3"]
    assert "other_format: 2" in caplog.text
