"""Real-voice preparers on faked Debian layouts, and the two-stage recipe.

The fakes mirror the installed packages' layouts (Tux Paint stamps,
Asterisk voice folders with raw G.722 / GSM, KTuberling and KLettres
language folders, the Flight of the Amazon Queen resource file) with a tone
per speaker, plus the bad and left-out cases each preparer must count.
"""

import io
import os
import shutil
import struct
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from recipe_utils import TINY, run_recipe, train_log

from speechbrain_emoinv.data import prepare_pretrain as pretrain
from speechbrain_emoinv.data.audio_checks import PrepareReport
from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.data.prepare_fotaq import write_table
from speechbrain_emoinv.data.prepare_klettres import collect_klettres
from speechbrain_emoinv.data.prepare_real import SOURCES, prepare_real
from speechbrain_emoinv.data.trials import read_trials

SR = 16000
SPLIT = dict(
    valid_speakers=["tuxpaint-ca", "ktuberling-de", "klettres-da"],
    eval_speakers=[
        "asterisk-allison",
        "tuxpaint-es",
        "ktuberling-en",
        "klettres-de_letters",
        "fotaq-bob",
        "fotaq-lou_sparky",
    ],
    n_trials=40,
    num_workers=1,
)


def tone(f0, seconds=0.6, sr=SR, seed=0):
    """A voiced-like harmonic tone of fundamental ``f0`` (the 'speaker')."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f = f0 * (1 + 0.02 * rng.standard_normal())
    x = sum(np.sin(2 * np.pi * k * f * t) / k for k in range(1, 6))
    return (0.2 * x / np.abs(x).max()).astype("float32")


def fake_tuxpaint(root):
    (root / "animals").mkdir()
    (root / "symbols").mkdir()
    for i in range(22):
        for lang, f0 in (("es", 110), ("", 130), ("ca", 150), ("fr", 170)):
            suffix = f"_{lang}" if lang else ""
            path = root / "animals" / f"st{i}_desc{suffix}.ogg"
            sf.write(path, tone(f0, sr=44100, seed=i), 44100)
    sf.write(root / "symbols" / "a_desc_es.ogg", tone(110), SR)
    sf.write(root / "animals" / "quiet_desc_es.ogg", np.zeros(SR, "f4"), SR)
    sf.write(root / "animals" / "short_desc_es.ogg", tone(110, 0.05), SR)


def ffmpeg_encode(x, sr, fmt, path):
    wav = path.with_suffix(".src.wav")
    sf.write(wav, x, sr)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-ar", str(sr)]
        + ["-ac", "1", "-f", fmt, str(path)],
        check=True,
    )
    wav.unlink()


def fake_asterisk(root):
    voices = {
        "en_US_f_Allison": (200, "g722", SR),
        "es_MX_f_Allison": (200, "g722", SR),
        "es": (240, "gsm", 8000),
        "it_IT_f_Menardi": (260, "wav", SR),
    }
    for folder, (f0, fmt, sr) in voices.items():
        (root / folder / "digits").mkdir(parents=True)
        for i in range(6):
            sub = "digits/" if i % 2 else ""
            path = root / folder / f"{sub}p{i}.{fmt}"
            if fmt == "wav":
                sf.write(path, tone(f0, sr=sr, seed=i), sr)
            else:
                ffmpeg_encode(tone(f0, sr=sr, seed=i), sr, fmt, path)
    (root / "es" / "readme.txt").write_text("not audio")


def test_replaced_asterisk_prompt_decoded_again(tmp_path):
    """A decoded copy is kept only while its source is unchanged (the
    prepared folder's key reads the copy, not the source)."""
    from speechbrain_emoinv.data.prepare_asterisk import decode

    src, wav = tmp_path / "p0.g722", tmp_path / "copy" / "p0.wav"
    ffmpeg_encode(tone(200, sr=SR), SR, "g722", src)
    decode([(src, wav)])
    first = sf.read(wav)[0]
    decode([(src, wav)])  # unchanged: kept
    assert np.array_equal(sf.read(wav)[0], first)
    ffmpeg_encode(tone(400, sr=SR), SR, "g722", src)
    os.utime(src, ns=(1, 1))  # even an older file replacing it
    decode([(src, wav)])
    assert not np.array_equal(sf.read(wav)[0], first)


def fake_ktuberling(root):
    for lang, f0 in (("en", 300), ("de", 320), ("sr", 340)):
        (root / lang).mkdir(parents=True)
        for i in range(6):
            sf.write(root / lang / f"w{i}.ogg", tone(f0, seed=i), SR)
    shutil.copytree(root / "sr", root / "sr@latin")  # identical copies


def fake_klettres(root):
    voices = {  # folder/sub -> (f0, clips)
        "en_GB/alpha": (360, 4),
        "de/alpha": (380, 4),  # a woman: klettres-de_letters
        "de/syllab": (400, 4),  # a man: klettres-de
        "da/syllab": (420, 5),
        "he/syllab": (440, 4),
    }
    for sub, (f0, n) in voices.items():
        (root / sub).mkdir(parents=True)
        for i in range(n):
            sf.write(root / sub / f"ad-{i}.ogg", tone(f0, seed=i), SR)
    sf.write(root / "de/alpha/sz.ogg", tone(400, seed=9), SR)  # the man
    sf.write(root / "da/syllab/ad-23.ogg", tone(460), SR)  # other recording
    # he/syllab/ad-11: ad-0's samples, other bytes (Ogg serial number)
    sf.write(root / "he/syllab/ad-11.ogg", tone(440, seed=0), SR)
    sf.write(root / "en_GB/alpha/q.ogg", np.zeros(SR, "f4"), SR)  # silent
    (root / "id").mkdir()  # a language without audio
    (root / "id" / "sounds.xml").write_text("<klettres/>")


def mp3(x):
    buf = io.BytesIO()
    sf.write(buf, x, 11025, format="MP3")
    return buf.getvalue()


def fake_fotaq(root):
    def dog(key):  # 20-byte resource header, then the talk header
        return bytes(20) + struct.pack(">hhh", 1, 0, key) + bytes(40)

    entries = {"BOB1.DOG": dog(6), "LOU1.DOG": dog(33), "SPARKY3.DOG": dog(53)}
    for key, f0 in ((6, 90), (33, 120), (53, 120)):
        for i in range(5):
            name = f"{key:02d}{i + 1:04X}P1.SB"
            entries[name] = mp3(tone(f0, 0.8, 11025, seed=i))
    for i in range(5):
        entries[f"JOE0{i:03d}1.SB"] = mp3(tone(150, 0.8, 11025, seed=i))
    entries["C01A_001.SB"] = mp3(tone(99, 0.8, 11025))  # cut-scene
    write_table(root / "queen.1c", entries)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real")
    sources = {}
    for name, make in (
        ("tuxpaint", fake_tuxpaint),
        ("asterisk", fake_asterisk),
        ("ktuberling", fake_ktuberling),
        ("fotaq", fake_fotaq),
        ("klettres", fake_klettres),
    ):
        sources[name] = tmp / name
        sources[name].mkdir(exist_ok=True)
        make(sources[name])
    return prepare_real(tmp / "prepared", sources=sources, **SPLIT), sources


def test_speakers_are_voices_and_splits_disjoint(prepared):
    out, _ = prepared
    spk = {}
    for split in ("train", "valid", "eval"):
        rows = read_manifest(out / f"{split}.csv")
        spk[split] = {r["spk_id"] for r in rows}
    assert not spk["train"] & spk["valid"]
    assert not spk["train"] & spk["eval"]
    assert not spk["valid"] & spk["eval"]
    # Allison's two languages are one speaker; the characters LOU and
    # SPARKY are one voice (fotaq_voices.json); sr@latin copies add none.
    assert spk["valid"] == set(SPLIT["valid_speakers"])
    assert spk["eval"] == set(SPLIT["eval_speakers"])
    assert spk["train"] == {
        "tuxpaint-en",
        "asterisk-es-co",
        "asterisk-menardi",
        "ktuberling-sr",
        "fotaq-joe",
        "klettres-en_gb",
        "klettres-de",
        "klettres-he",
    }
    allison = [
        r for r in read_manifest(out / "eval.csv") if "allison" in r["spk_id"]
    ]
    assert {r["lang"] for r in allison} == {"en", "es"}
    assert {r["emotion"] for r in allison} == {"neutral"}
    acted = [
        r for r in read_manifest(out / "eval.csv") if r["corpus"] == "fotaq"
    ]
    assert acted and {r["emotion"] for r in acted} == {"unknown"}


def test_every_clip_is_16k_mono(prepared):
    out, _ = prepared
    for split in ("train", "valid", "eval"):
        for r in read_manifest(out / f"{split}.csv"):
            info = sf.info(r["wav"])
            assert (info.samplerate, info.channels) == (SR, 1), r["wav"]


def test_left_out_clips_are_counted(prepared):
    out, _ = prepared
    import json

    counts = json.loads((out / "prepare_report.json").read_text())["counts"]
    assert counts["symbols_stamp"] == 1
    assert counts["ambiguous_speaker"] == 22 + 1  # fr; KLettres da ad-23
    assert counts["silent"] == 1 + 1  # Tux Paint, KLettres
    assert counts["too_short"] == 1
    assert counts["duplicate_clip"] == 6 + 1  # sr@latin; KLettres he
    assert counts["unlabelled"] == 1  # the cut-scene clip
    assert counts["unknown_format"] == 1  # readme.txt


def test_trial_lists_are_speaker_disjoint_and_by_source(prepared):
    out, _ = prepared
    rows = {r["ID"]: r for r in read_manifest(out / "eval.csv")}
    lists = {p.stem for p in (out / "trials" / "eval").glob("*.txt")}
    assert lists == {"real_read", "real_acted", "merged"}
    for name, corpora in (
        ("real_read", {"tuxpaint", "asterisk", "ktuberling", "klettres"}),
        ("real_acted", {"fotaq"}),
    ):
        trials = read_trials(out / "trials" / "eval" / f"{name}.txt")
        assert len(trials) > 0
        labels, seen = set(), set()
        for label, enrol, test, *_ in trials:
            e, t = rows[enrol], rows[test]  # both evaluation utterances
            seen |= {e["corpus"], t["corpus"]}
            assert int(label) == (e["spk_id"] == t["spk_id"])
            assert e["text_id"] != t["text_id"]  # text-independent
            labels.add(int(label))
        assert labels == {0, 1}
        assert seen == corpora  # every source of the list, no other
    train = {r["spk_id"] for r in read_manifest(out / "train.csv")}
    valid_rows = {r["ID"]: r for r in read_manifest(out / "valid.csv")}
    for _, enrol, test, *_ in read_trials(out / "trials/valid/merged.txt"):
        assert valid_rows[enrol]["spk_id"] not in train
        assert valid_rows[test]["spk_id"] not in train


def test_klettres_voices_and_skips(tmp_path):
    fake_klettres(tmp_path)
    rep = PrepareReport("klettres")
    spk = {
        Path(c["wav"]).relative_to(tmp_path).as_posix(): c["spk_id"]
        for c in collect_klettres(tmp_path, rep)
    }
    assert spk["de/alpha/sz.ogg"] == spk["de/syllab/ad-0.ogg"] == "klettres-de"
    assert spk["de/alpha/ad-0.ogg"] == "klettres-de_letters"
    assert Counter(spk.values()) == {
        "klettres-en_gb": 5,  # the silent clip is counted later
        "klettres-de_letters": 4,
        "klettres-de": 5,
        "klettres-da": 5,
        "klettres-he": 4,
    }
    skipped = {k: [i["file"] for i in v] for k, v in rep.items.items()}
    assert skipped == {
        "ambiguous_speaker": [str(tmp_path / "da/syllab/ad-23.ogg")],
        "duplicate_clip": [str(tmp_path / "he/syllab/ad-11.ogg")],
    }


def test_pretrain_real_sources_are_checked_and_passed_on(tmp_path, monkeypatch):
    called = []

    def fake_prepare_real(*args, sources):
        called.append(sources)
        raise InterruptedError  # stop before the simulated corpus

    monkeypatch.setattr(pretrain, "prepare_real", fake_prepare_real)
    folders = [tmp_path / "train.csv", tmp_path / "real", [], []]
    sim = [tmp_path / "sim", tmp_path / "sim_data", "all"]
    with pytest.raises(ValueError, match="'klettre'"):
        pretrain.prepare_pretrain(*folders, ["tuxpaint", "klettre"], *sim)
    assert not called
    with pytest.raises(InterruptedError):
        pretrain.prepare_pretrain(*folders, ["klettres"], *sim)
    assert called == [{"klettres": SOURCES["klettres"]}]


def test_second_call_is_skipped(prepared, caplog):
    out, sources = prepared
    caplog.set_level("INFO")
    prepare_real(out, sources=sources, **SPLIT)
    assert "already prepared" in caplog.text


def test_missing_package_names_the_apt_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install"):
        prepare_real(
            tmp_path / "p", sources={"fotaq": tmp_path / "none"}, **SPLIT
        )


def test_stage1_cached_reused_and_invalidated(tmp_path):
    """Stage 2 trains stage 1 once, reuses it on the next run, trains a new
    one when the stage-1 config changes, and starts from its weights; it
    trains the same whether stage 1 was trained in its process (with
    stage 1's own seed) or reused."""
    stage1 = tmp_path / "tiny_pretrain.yaml"
    stage1.write_text(
        f"base: {TINY}\nexperiment: tiny_pretrain\nuse_pairs: False\n"
        "number_of_epochs: 1\n"
    )
    cache = tmp_path / "cache"
    common = (
        f"--pretrain_config={stage1}",
        f"--pretrain_folder={cache}",
        "--number_of_epochs=1",
        "--seed=7",  # stage 1 keeps its config's seed
    )
    log = run_recipe(TINY, *common, f"--output_folder={tmp_path / 'a'}")
    (key,) = [p.name for p in cache.iterdir()]
    assert "Stage 1: training" in log
    assert (cache / key / "pretrained" / "embedding_model.ckpt").is_file()
    log_b = run_recipe(TINY, *common, f"--output_folder={tmp_path / 'b'}")
    assert "Stage 1: reusing" in log_b and "Stage 1: training" not in log_b
    assert f"Fine-tuning from {cache / key / 'pretrained'}" in log_b
    assert train_log(tmp_path / "a") == train_log(tmp_path / "b")
    stage1.write_text(stage1.read_text() + "lr: 0.001\n")
    log = run_recipe(TINY, *common, f"--output_folder={tmp_path / 'c'}")
    assert "Stage 1: training" in log
    assert len(list(cache.iterdir())) == 2


def test_real_per_voice_spreads_over_each_voice(tmp_path, monkeypatch):
    """Stage 2's mix keeps at most N rows per real voice, spread over its
    rows (first and last included), short voices whole, and every
    simulated row."""
    from speechbrain_emoinv.data.manifest import write_manifest

    monkeypatch.setattr(pretrain, "prepare_real", lambda *a, **k: None)
    monkeypatch.setattr(pretrain, "prepare_mbrola", lambda *a, **k: None)

    def rows(spk, n, corpus, emotion):
        return [
            dict(ID=f"{spk}-{i:02d}", duration=1.0, wav="x.wav", start=0,
                 stop=SR, spk_id=spk, emotion=emotion, text_id="t",
                 gender="", lang="en", corpus=corpus, simulated=0)
            for i in range(n)
        ]  # fmt: skip

    for name, content in (
        ("real", rows("a", 10, "tuxpaint", "neutral") + rows("b", 2, "x", "neutral")),
        ("sim", rows("s", 3, "mbrola", "angry")),
    ):  # fmt: skip
        (tmp_path / name).mkdir()
        write_manifest(content, tmp_path / name / "train.csv")
    out = tmp_path / "train.csv"
    pretrain.prepare_pretrain(
        out, tmp_path / "real", [], [], ["tuxpaint"], tmp_path / "sim", None,
        "all", real_per_voice=4,
    )  # fmt: skip
    ids = [r["ID"] for r in read_manifest(out)]
    assert ids == "a-00 a-03 a-06 a-09 b-00 b-01 s-00 s-01 s-02".split()
