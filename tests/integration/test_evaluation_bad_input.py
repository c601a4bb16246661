"""Bad input to evaluation, the CLIs and exported folders: one test per row
of the first table of ``docs/hardening.md``.

Each test plants the fault its name gives and checks the documented
behaviour: a clear error naming the file or row, or a counted handling.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from fake_corpora import make_cremad, make_dusha, tone, voice
from toy import make_toy_model

from speechbrain_emoinv.cli import embed, evaluate, make_corpus, verify
from speechbrain_emoinv.data.audio_checks import PrepareReport, check_files
from speechbrain_emoinv.data.manifest import candidate, read_manifest
from speechbrain_emoinv.data.mbrola.corpus import SIZES
from speechbrain_emoinv.data.prepare_cremad import prepare_cremad
from speechbrain_emoinv.data.prepare_dusha import prepare_dusha
from speechbrain_emoinv.evaluation import run_evaluation
from speechbrain_emoinv.evaluation.embedding import MAX_SECONDS, embed_rows
from speechbrain_emoinv.export.model_card import render_model_card
from speechbrain_emoinv.pretrained import load_model
from speechbrain_emoinv.scoring import EmbeddingCache

ROOT = Path(__file__).resolve().parents[2]
QUIET = dict(log=lambda *a: None)


@pytest.fixture(scope="module")
def toy(toy_data, toy_model, tmp_path_factory):
    """The shared toy folders and a second model (other weights)."""
    b = make_toy_model(
        tmp_path_factory.mktemp("hard") / "b", seed=1, threshold=0.5
    )
    return toy_data, toy_model, b


@pytest.fixture(autouse=True)
def single_process(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)


def _wavs(data):
    return [
        str(data / "wav" / "toy_e0_neutral_0.wav"),
        str(data / "wav" / "toy_e1_angry_1.wav"),
    ]


def _one_error_line(err, *words):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_exit_status_and_streams(toy, tmp_path, capsys):
    data, a, _ = toy
    assert verify.main(["--model", str(a), *_wavs(data)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("# threshold 0.5 (stored)")
    assert re.search(r"toy_e1_angry_1.wav -?\d\.\d{4} (same|different)", out)
    args = ["--model", str(a), "--csv", str(data / "eval.csv")]
    assert (
        embed.main([*args, "--out", str(tmp_path / "e"), "--no-progress"]) == 0
    )
    assert "embeddings of size 16" in capsys.readouterr().out
    ev = ["--model", str(a), "--data", str(data), "--out", str(tmp_path / "v")]
    assert evaluate.main([*ev, "--no-plots", "--no-probe"]) == 0
    assert "EER % by" in capsys.readouterr().out
    # Failures: status 1, nothing on stdout, the reason on stderr.
    assert verify.main(["--model", str(tmp_path / "none"), *_wavs(data)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "no exported hyperparams.yaml" in err
    assert embed.main([*args[:2], "--csv", "x.csv", "--out", "o"]) == 1
    assert evaluate.main([*ev[:2], "--data", str(tmp_path / "nodata")]) == 1
    capsys.readouterr()
    # The real process exit status of a successful run (was 1: sys.exit
    # printed the returned scores).
    proc = subprocess.run(
        [sys.executable, "-m", "speechbrain_emoinv.cli.verify"]
        + ["--model", str(a), *_wavs(data)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 2


def test_reader_gone_is_quiet(toy, tmp_path):
    """``emoinv-verify ... | head -1``: exit 141 (as killed by SIGPIPE),
    no error line (was "error: [Errno 32] Broken pipe", status 1)."""
    data, a, _ = toy
    a_wav, b_wav = _wavs(data)
    trials = tmp_path / "trials.txt"
    trials.write_text(f"{a_wav} {b_wav}\n" * 5000)  # > a pipe's buffer
    proc = subprocess.Popen(
        [sys.executable, "-m", "speechbrain_emoinv.cli.verify"]
        + ["--model", str(a), "--trials", str(trials)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=300) == 141
    err = proc.stderr.read()
    assert "error" not in err and "Broken pipe" not in err, err


def test_exit_status_make_corpus(tmp_path, capsys):
    SIZES["hard"] = dict(
        voices=("us1",),
        styles=("neutral", "angry"),
        n_sentences=1,
        vtl_factors=(),
        variation=1.0,
    )
    try:
        out = tmp_path / "c"
        args = ["--size", "hard", "--out", str(out), "--num-workers", "1"]
        assert make_corpus.main(args) == 0
        assert "done in" in capsys.readouterr().out
        assert make_corpus.main([*args, "--seed", "7"]) == 1
        _one_error_line(capsys.readouterr().err, "other options")
    finally:
        del SIZES["hard"]


def test_shared_savedir_never_stale(toy, tmp_path, capsys):
    data, a, b = toy
    shared = ["--savedir", str(tmp_path / "shared")]
    got = {}
    for name, model in (("a", a), ("b", b), ("a2", a)):
        got[name] = verify.run(["--model", str(model), *_wavs(data), *shared])
    capsys.readouterr()
    assert got["a"] == got["a2"] and got["a"] != got["b"]
    fresh = load_model(b)
    ref, _ = fresh.verify_files(*_wavs(data))
    assert got["b"][0] == pytest.approx(float(ref), abs=1e-5)
    assert not any((tmp_path / "shared").iterdir())  # working folder removed


def test_copied_model_folder_never_stale(toy, tmp_path):
    data, a, b = toy
    copy = tmp_path / "copy"
    shutil.copytree(b, copy)
    # A copy that carries links left by an older loader to another model.
    stale = copy / ".loaded"
    stale.mkdir()
    for name in ("embedding_model.ckpt", "hyperparams.yaml"):
        (stale / name).symlink_to(a / name)
    x = torch.randn(1, 16000)
    want = load_model(b).encode_batch(x)
    got = load_model(copy)
    torch.testing.assert_close(got.encode_batch(x), want)
    assert got.fingerprint == load_model(b).fingerprint


def test_embed_out_reused_never_stale(toy, tmp_path, capsys):
    data, a, b = toy
    out = tmp_path / "emb"
    csv_path = tmp_path / "m.csv"
    shutil.copy(data / "eval.csv", csv_path)
    args = ["--csv", str(csv_path), "--out", str(out), "--no-progress"]
    args += ["--batch-size", "1"]
    rows = read_manifest(csv_path)
    for model in (a, b):
        blob = torch.load(embed.run(["--model", str(model), *args]))
        want = embed_rows(load_model(model), rows, 1)
        torch.testing.assert_close(blob["emb"], want)
    # Changed audio behind an unchanged manifest: embedded again.
    wav = Path(rows[0]["wav"])
    x, sr = sf.read(wav)
    sf.write(wav, x[::-1].copy(), sr)
    blob = torch.load(embed.run(["--model", str(b), *args]))
    want = embed_rows(load_model(b), rows[:1], 1)
    torch.testing.assert_close(blob["emb"][:1], want)
    sf.write(wav, x, sr)  # restore the module's data
    capsys.readouterr()


def test_eval_cache_keyed_by_model_and_manifest(toy, tmp_path):
    data, a, b = toy
    cache = tmp_path / "cache"
    kw = dict(cohort=None, cache_dir=cache, plots=False, probe=False)
    r_a = run_evaluation(a, data, tmp_path / "oa", **kw, **QUIET)
    r_b = run_evaluation(b, data, tmp_path / "ob", **kw, **QUIET)
    assert r_a["model"]["fingerprint"] != r_b["model"]["fingerprint"]
    assert r_a["lists"] != r_b["lists"]
    key = EmbeddingCache(cache, "k").path(data / "eval.csv").name
    wav = Path(read_manifest(data / "eval.csv")[0]["wav"])
    os.utime(wav, ns=(1, 1))  # same bytes, another mtime: another key
    assert EmbeddingCache(cache, "k").path(data / "eval.csv").name != key


def test_unsafe_id_refused(tmp_path):
    with pytest.raises(ValueError, match="path separator"):
        candidate("a/../../../x", "/a.wav", "s", "sad", "toy")
    m = tmp_path / "m.csv"
    m.write_text(
        "ID,wav,start,stop,spk_id,emotion\nok,/a.wav,0,1,s,n\n"
        "../x,/b.wav,0,1,s,n\n"
    )
    with pytest.raises(ValueError, match=r"m\.csv:3: utterance ID '\.\./x'"):
        read_manifest(m, strict=False)
    # From corpus markup: a Dusha hash_id that climbs out of the folder.
    make_dusha(tmp_path / "D")
    mark = tmp_path / "D" / "crowd_train" / "raw_crowd_train.jsonl"
    lines = mark.read_text().splitlines()
    row = json.loads(lines[0])
    row["hash_id"] = "a/../../../x"
    mark.write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")
    with pytest.raises(ValueError, match="'dusha-a/../../../x'"):
        prepare_dusha(tmp_path / "D", tmp_path / "save" / "p")
    assert not (tmp_path / "x.wav").exists()


def test_derived_path_stays_in_save_folder(tmp_path):
    src = tmp_path / "in.wav"
    tone(src, sr=48000)  # needs a converted copy
    with pytest.raises(ValueError, match="derived path leaves"):
        check_files(
            [("a/../../../x", src)], PrepareReport("t"), tmp_path / "s" / "c"
        )
    assert not list(tmp_path.glob("**/x.wav"))


def test_other_rates_and_channels_resampled_and_downmixed(toy, tmp_path):
    """The tools take any rate and channel count: the model's audio
    normaliser resamples to 16 kHz and averages the channels. The same
    voice at 48 kHz, or in stereo, embeds as at 16 kHz mono; another
    speaker does not."""
    _, a, _ = toy
    files = {
        "ref": dict(speaker=0),
        "48k": dict(speaker=0, sr=48000),
        "stereo": dict(speaker=0, channels=2),
        "other": dict(speaker=5),
    }
    rows = []
    for name, kw in files.items():
        voice(tmp_path / f"{name}.wav", seconds=1.0, **kw)
        rows.append(dict(ID=name, wav=str(tmp_path / f"{name}.wav")))
    emb = embed_rows(load_model(a), rows)
    cos = torch.nn.functional.cosine_similarity(emb[:1], emb[1:]).tolist()
    # (a barely trained toy encoder: distances, not absolute cosines)
    assert 5 * (1 - min(cos[:2])) < 1 - cos[2], cos


def test_read_only_model_folder(toy, tmp_path):
    data, a, _ = toy
    ro = tmp_path / "ro"
    shutil.copytree(a, ro)
    before = sorted(p.relative_to(ro) for p in ro.rglob("*"))
    os.chmod(ro, 0o555)
    try:
        model = load_model(ro)
        assert verify.run(["--model", str(ro), *_wavs(data)])
    finally:
        os.chmod(ro, 0o755)
    # Nothing written into the folder (root ignores the mode, so also
    # check the listing).
    assert sorted(p.relative_to(ro) for p in ro.rglob("*")) == before
    assert model.fingerprint


def _id_trials(tmp_path):
    t = tmp_path / "t.txt"
    t.write_text("1 toy_e0_neutral_0 toy_e0_angry_1\n")
    return t


def test_malformed_manifest_shown(toy, tmp_path, capsys):
    data, a, _ = toy
    folder = tmp_path / "data"
    shutil.copytree(data, folder)
    text = (folder / "train.csv").read_text().splitlines()
    text[2] = text[2] + ",extra"
    (folder / "train.csv").write_text("\n".join(text) + "\n")
    (folder / "noise.csv").write_text("path,gain\nn.wav,1\n")  # not one
    args = ["--model", str(a), "--trials", str(_id_trials(tmp_path))]
    assert verify.main([*args, "--data", str(folder)]) == 1
    _, err = capsys.readouterr()
    assert f"{folder / 'train.csv'}:3: malformed row" in err
    assert "noise.csv skipped, not a manifest" in err


def test_duplicate_id_across_manifests(toy, tmp_path, capsys):
    data, a, _ = toy
    folder = tmp_path / "data"
    shutil.copytree(data, folder)
    shutil.copy(folder / "eval.csv", folder / "extra.csv")
    args = ["--model", str(a), "--trials", str(_id_trials(tmp_path))]
    assert verify.main([*args, "--data", str(folder)]) == 1
    _one_error_line(
        capsys.readouterr().err, "eval.csv", "extra.csv", "toy_e0_neutral_0"
    )


def test_exclude_speakers_unknown(toy, tmp_path, capsys):
    data, a, _ = toy
    ev = ["--model", str(a), "--data", str(data), "--out", str(tmp_path)]
    ev += ["--cohort", "none", "--no-plots", "--no-probe"]
    assert evaluate.main([*ev, "--exclude-speakers", "toy_e0,nobody"]) == 1
    _one_error_line(capsys.readouterr().err, "unknown speaker(s) ['nobody']")


def test_exclude_speakers_missing_at(toy, tmp_path, capsys):
    data, a, _ = toy
    ev = ["--model", str(a), "--data", str(data), "--out", str(tmp_path)]
    ev += ["--cohort", "none", "--no-plots", "--no-probe"]
    listed = str(data / "eval_speakers.txt")
    assert evaluate.main([*ev, "--exclude-speakers", listed]) == 1
    _one_error_line(capsys.readouterr().err, f"given as @{listed}")
    assert evaluate.main([*ev, "--exclude-speakers", f"@{listed}x"]) == 1
    _one_error_line(capsys.readouterr().err, "speaker list not found")


def _short_and_silent(folder):
    short, silent = folder / "short.wav", folder / "silent.wav"
    tone(short, seconds=0.01)  # shorter than the encoder takes
    sf.write(silent, np.zeros(16000, "int16"), 16000)
    return short, silent


def test_short_and_silent_clips_verify(toy, tmp_path, capsys):
    data, a, _ = toy
    short, silent = _short_and_silent(tmp_path)
    pairs = tmp_path / "p.txt"
    pairs.write_text(f"{_wavs(data)[0]} {short}\n{silent} {short}\n")
    assert verify.main(["--model", str(a), "--trials", str(pairs)]) == 0
    out, err = capsys.readouterr()
    assert "# short or silent clips: 2 of 3" in out
    assert "1 too_short, 1 silent" in err and "warning" in err


def test_short_and_silent_clips_eval(toy, tmp_path, capsys):
    data, a, _ = toy
    folder = tmp_path / "data"
    shutil.copytree(data, folder)
    rows = read_manifest(folder / "eval.csv")
    text = (folder / "eval.csv").read_text()
    short, silent = _short_and_silent(tmp_path)
    for row, new in zip(rows[:2], (short, silent), strict=True):
        text = text.replace(row["wav"], str(new))
    (folder / "eval.csv").write_text(text)
    res = run_evaluation(
        a,
        folder,
        tmp_path / "o",
        cohort=None,
        plots=False,
        probe=False,
        **QUIET,
    )
    got = res["short_or_silent_clips"]
    assert (got["too_short"], got["silent"]) == (1, 1)
    assert got["ids"] == sorted(r["ID"] for r in rows[:2])
    assert "2 clips are too short" in capsys.readouterr().err


def test_non_finite_threshold_refused(toy, tmp_path, capsys):
    data, a, _ = toy
    for bad in ("nan", "inf", "-inf"):
        with pytest.raises(SystemExit, match="^2$"):
            verify.main(["--model", str(a), *_wavs(data), f"--threshold={bad}"])
        assert f"not a finite number: '{bad}'" in capsys.readouterr().err
    stored = tmp_path / "m"
    shutil.copytree(a, stored)
    hp = stored / "hyperparams.yaml"
    hp.write_text(
        hp.read_text().replace(
            "verification_threshold: 0.5", "verification_threshold: .nan"
        )
    )
    assert verify.main(["--model", str(stored), *_wavs(data)]) == 1
    _one_error_line(capsys.readouterr().err, "hyperparams.yaml", "finite")


def test_broken_hyperparams_named(toy, tmp_path, capsys):
    data, a, _ = toy
    broken = tmp_path / "m"
    shutil.copytree(a, broken)
    with (broken / "hyperparams.yaml").open("a") as f:
        f.write("sample_rate: [16000\n")
    assert verify.main(["--model", str(broken), *_wavs(data)]) == 1
    _one_error_line(capsys.readouterr().err, "m/hyperparams.yaml", "line")


def test_uppercase_wav_found(tmp_path):
    make_cremad(tmp_path / "C")
    aw = tmp_path / "C" / "AudioWAV"
    (aw / "1001_DFA_ANG_XX.wav").rename(aw / "1001_DFA_ANG_XX.WAV")
    save = prepare_cremad(tmp_path / "C", tmp_path / "p")
    ids = {
        r["ID"] for s in ("train", "valid", "eval") for r in read_manifest(
            save / f"{s}.csv"
        )
    }  # fmt: skip
    assert "cremad-1001_DFA_ANG_XX" in ids and len(ids) == 24


def test_prepared_folder_invalidated_when_inputs_change(tmp_path, caplog):
    caplog.set_level("INFO")
    make_cremad(tmp_path / "C")
    prepare_cremad(tmp_path / "C", tmp_path / "p")
    caplog.clear()
    prepare_cremad(tmp_path / "C", tmp_path / "p")
    assert "already prepared" in caplog.text
    caplog.clear()
    # Same name, other audio: 0.3 s -> 0.5 s; the folder is rewritten.
    tone(tmp_path / "C" / "AudioWAV" / "1001_DFA_NEU_XX.wav", seconds=0.5)
    prepare_cremad(tmp_path / "C", tmp_path / "p")
    assert "already prepared" not in caplog.text
    rows = {
        r["ID"]: r
        for s in ("train", "valid", "eval")
        for r in read_manifest(tmp_path / "p" / f"{s}.csv")
    }
    assert rows["cremad-1001_DFA_NEU_XX"]["stop"] == 8000


def test_one_error_line_debug_traceback(toy, tmp_path, capsys):
    data, a, _ = toy
    bad_trials = tmp_path / "t.txt"
    bad_trials.write_text("1 2 3 4\n")
    mistakes = [
        (verify, ["--model", str(a), "--trials", str(bad_trials)], "t.txt:1"),
        (verify, ["--model", str(a), "a.wav", "b.wav"], "a.wav not found"),
        (
            embed,
            ["--model", str(a), "--csv", str(bad_trials), "--out", "o"],
            "lacks columns",
        ),
        (
            evaluate,
            ["--model", str(a), "--data", str(data), "--split", "nope"],
            "nope.csv: manifest not found",
        ),
    ]
    for tool, args, words in mistakes:
        assert tool.main(args) == 1
        _one_error_line(capsys.readouterr().err, words)
        with pytest.raises(Exception, match=re.escape(words)):
            tool.main([*args, "--debug"])


def test_long_audio_bounded_memory(toy, tmp_path, monkeypatch):
    data, a, _ = toy
    model = load_model(a)
    sr = 16000
    rng = np.random.default_rng(0)
    long = tmp_path / "long.wav"
    sf.write(long, 0.1 * rng.standard_normal(int(130 * sr)), sr)
    rows = [dict(ID="long", wav=str(long), start=0, stop=-1, duration=130.0)]
    rows += [
        dict(ID=f"m{i}", wav=str(long), start=0, stop=25 * sr, duration=25.0)
        for i in range(3)
    ]
    seen = []
    real = model.encode_batch

    def spy(wavs, wav_lens=None):
        seen.append(wavs.shape)
        return real(wavs, wav_lens)

    monkeypatch.setattr(model, "encode_batch", spy)
    emb = embed_rows(model, rows, batch_size=16)
    limit = MAX_SECONDS * sr
    assert all(n * t <= limit for n, t in seen)  # no pass over 60 s
    # 130 s: 3 equal windows, averaged.
    x = torch.as_tensor(sf.read(long, dtype="float32")[0])
    want = torch.stack(
        [real(w[None]).reshape(-1) for w in torch.tensor_split(x, 3)]
    ).mean(0)
    torch.testing.assert_close(emb[0], want)
    torch.testing.assert_close(emb[1], emb[2])  # 25 s clips, one per pass


def test_security_note():
    readme = (ROOT / "README.md").read_text().lower()
    assert "load trusted model folders only" in readme
    assert "load trusted model folders only" in render_model_card().lower()


def test_table_rows_name_existing_tests():
    """Each table of docs/hardening.md and its test file name the same
    tests (this file, then tests/integration/test_faults.py)."""
    text = (ROOT / "docs" / "hardening.md").read_text()
    parts = text.split("| case | behaviour | kind | test |\n")[1:]
    files = ("test_evaluation_bad_input.py", "test_faults.py")
    assert len(parts) == len(files)
    for part, name in zip(parts, files, strict=True):
        rows = part.split("\n\n")[0].splitlines()[1:]  # below the | --- |
        named = [re.findall(r"`(test_\w+)`", ln) for ln in rows]
        assert all(named) and rows
        source = (ROOT / "tests" / "integration" / name).read_text()
        here = set(re.findall(r"^def (test_\w+)", source, re.M))
        listed = {n for names in named for n in names}
        assert listed <= here, listed - here
        assert here - listed == (
            {"test_table_rows_name_existing_tests"}
            if name == files[0]
            else set()
        )
        kinds = [ln.split("|")[3].strip() for ln in rows]
        assert set(kinds) <= {"error", "handled", "error + handled"}
