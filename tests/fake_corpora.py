"""Builders of fake corpus directory trees with tiny generated WAVs.

Each ``make_<corpus>(root)`` writes the real corpus' layout (see
``/work/shared/data-notes.md``) with 0.3 s harmonic "voices" and returns
the list of the utterances it wrote with their expected manifest fields.
The speaker sets a voice's pitch and timbre, the emotion its loudness and
a small pitch bend, the take a little noise, so that a speaker model can
tell the speakers apart (and a pipeline that mixes them up shows it).
"""

import json
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

from speechbrain_emoinv.data.manifest import FIELDS, write_manifest


def _write(path, x, sr, channels):
    """Writes ``x`` as 16-bit PCM; extra channels differ from the first
    (half as loud, shifted by 1 ms), so a downmix must really mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = x.astype("float32")
    if channels > 1:
        shift = sr // 1000
        other = 0.5 * np.concatenate([np.zeros(shift, "float32"), x[:-shift]])
        x = np.stack([x] + [other] * (channels - 1), axis=1)
    sf.write(str(path), x, sr, subtype="PCM_16")


def tone(path, sr=16000, seconds=0.3, freq=220.0, channels=1, amp=0.3):
    """Writes a short sine tone WAV; returns its sample count at 16 kHz."""
    t = np.arange(int(sr * seconds)) / sr
    _write(path, amp * np.sin(2 * np.pi * freq * t), sr, channels)
    return int(round(seconds * 16000))


def _seed(*keys):
    return zlib.crc32("/".join(map(str, keys)).encode())


def voice(path, speaker, emotion="neutral", take=0, sr=16000, seconds=0.3,
          channels=1):  # fmt: skip
    """Writes a speaker's harmonic voice; returns its sample count at 16 kHz.

    ``speaker`` (the speaker's index in its corpus, 0-7) fixes the pitch,
    90 x 1.3^speaker Hz, and the amplitudes of 12 harmonics; the emotion the
    loudness (0.15-0.35); the take the noise, 30 dB down. The voice comes
    in syllables (10 per second, voiced stretches between pauses), which
    keep the timbre in the features after sentence mean normalisation (it
    removes whatever a steady tone holds). Nothing else varies: a barely
    trained model must tell these speakers apart.
    """
    spk = np.random.default_rng(_seed("speaker", speaker))
    f0 = 90.0 * 1.3**speaker
    harmonics = spk.random(12) ** 2 / np.arange(1, 13)
    gain = (
        0.15 + 0.2 * np.random.default_rng(_seed("emotion", emotion)).random()
    )
    t = np.arange(int(sr * seconds)) / sr
    x = sum(
        a * np.sin(2 * np.pi * k * f0 * t) for k, a in enumerate(harmonics, 1)
    )
    x = gain * x / np.max(np.abs(x)) * (np.sin(2 * np.pi * 10 * t) > -0.2)
    noise = np.random.default_rng(_seed("take", speaker, emotion, take))
    x = x + gain * 0.03 * noise.standard_normal(t.size)
    _write(path, x, sr, channels)
    return int(round(seconds * 16000))


def make_esd(root, speakers=("0001", "0011", "0012", "0013")):
    """ESD: 4 speakers (0001 Mandarin, the others English) x 5 emotions x
    2 sentences."""
    root = Path(root)
    expected = []
    emos = ("Neutral", "Angry", "Happy", "Sad", "Surprise")
    for i, spk in enumerate(speakers):
        for k, emo in enumerate(emos):
            for sent in (1, 2):
                num = k * 350 + sent
                wav = root / spk / emo / "train" / f"{spk}_{num:06d}.wav"
                n = voice(wav, i, emo, sent)
                lang = "zh" if spk == "0001" else "en"
                expected.append(
                    dict(ID=f"esd-{spk}_{num:06d}", spk_id=f"esd-{spk}",
                         emotion=emo.lower(), text_id=f"{lang}-{sent:03d}",
                         lang=lang, stop=n, corpus="esd")
                )  # fmt: skip
    return expected


def make_cremad(root, actors=("1001", "1002", "1003", "1004")):
    """CREMA-D: 4 actors (odd male) x {NEU, ANG, FEA} x 2 sentences,
    demographics."""
    root = Path(root)
    expected = []
    sexes = {a: ("Female", "Male")[int(a) % 2] for a in actors}
    (root).mkdir(parents=True, exist_ok=True)
    (root / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n"
        + "".join(f"{a},30,{s},x,y\n" for a, s in sexes.items())
    )
    for i, (actor, sex) in enumerate(sexes.items()):
        for emo, canon in (
            ("NEU", "neutral"),
            ("ANG", "angry"),
            ("FEA", "fear"),
        ):
            for sent in ("DFA", "IEO"):
                name = f"{actor}_{sent}_{emo}_XX"
                n = voice(root / "AudioWAV" / f"{name}.wav", i, emo, sent)
                expected.append(
                    dict(ID=f"cremad-{name}", spk_id=f"cremad-{actor}",
                         emotion=canon, text_id=sent, gender=sex[0].lower(),
                         lang="en", stop=n, corpus="cremad")
                )  # fmt: skip
    return expected


def make_ravdess(root, actors=("01", "02", "03", "04")):
    """RAVDESS: 4 actors, 48 kHz speech, calm/happy/neutral, + 1 song file."""
    root = Path(root)
    expected = []
    for i, actor in enumerate(actors):
        for emo, canon in (
            ("01", "neutral"),
            ("02", "neutral"),
            ("03", "happy"),
        ):
            for stmt in ("01", "02"):
                name = f"03-01-{emo}-01-{stmt}-01-{actor}"
                n = voice(root / f"Actor_{actor}" / f"{name}.wav", i, emo,
                          stmt, sr=48000)  # fmt: skip
                expected.append(
                    dict(ID=f"ravdess-{name}", spk_id=f"ravdess-{actor}",
                         emotion=canon, text_id=f"stmt{stmt}",
                         gender="m" if int(actor) % 2 else "f", lang="en",
                         stop=n, corpus="ravdess")
                )  # fmt: skip
    tone(root / "Actor_01" / "03-02-01-01-01-01-01.wav", sr=48000)  # song
    return expected


def make_dusha(root, tsv_test=True, train_speakers=("s1", "s2", "s3"),
               takes=1):  # fmt: skip
    """Dusha crowd: 3 train speakers, 2 test speakers; 2 markup rows/file.

    With ``takes=2`` every sentence is read twice (the second file's hash
    ends in ``b`` and its text in ``again``).
    """
    root = Path(root)
    expected = []
    plan = {"crowd_train": train_speakers, "crowd_test": ("s4", "s5")}
    emos = (("neutral", "neutral"), ("angry", "angry"), ("positive", "happy"),
            ("sad", "sad"))  # fmt: skip
    for part, spks in plan.items():
        rows = []
        for take in range(takes):
            for spk in spks:
                for k, (emo, canon) in enumerate(emos):
                    h = f"{part[6:]}{spk}{k:02d}" + "b" * take
                    wav = root / part / "wavs" / f"{h}.wav"
                    n = voice(wav, int(spk[1:]) - 1, emo, take)
                    text = f"sentence number {k}" + " again" * take
                    for ann in ("a1", "a2"):
                        rows.append(dict(hash_id=h, audio_path=f"wavs/{h}.wav",
                                         duration=0.3, annotator_emo=emo,
                                         golden_emo="", annotator_id=ann,
                                         speaker_text=text, speaker_emo=emo,
                                         source_id=spk))  # fmt: skip
                    expected.append(
                        dict(ID=f"dusha-{h}", spk_id=f"dusha-{spk}",
                             emotion=canon, lang="ru", stop=n,
                             corpus="dusha")
                    )  # fmt: skip
        if part == "crowd_test" and tsv_test:
            keys = list(rows[0])
            (root / part / "raw_crowd_test.tsv").write_text(
                "\t".join(keys) + "\n"
                + "".join("\t".join(str(r[k]) for k in keys) + "\n"
                          for r in rows)
            )  # fmt: skip
        else:
            (root / part / f"raw_{part}.jsonl").write_text(
                "".join(json.dumps(r) + "\n" for r in rows)
            )
    return expected


def make_iemocap(root):
    """IEMOCAP: sessions 1, 4, 5; one dialog each, 4 labelled turns."""
    root = Path(root)
    expected = []
    labels = (("F000", "neu", "neutral"), ("M000", "ang", "angry"),
              ("F001", "exc", "happy"), ("M001", "xxx", "unknown"),
              ("F002", "sad", "sad"), ("M002", "neu", "neutral"))  # fmt: skip
    for s in (1, 4, 5):
        dialog = f"Ses0{s}F_impro01"
        lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        for k, (turn, lab, canon) in enumerate(labels):
            utt = f"{dialog}_{turn}"
            lines += [f"[{k}.0000 - {k}.5000]\t{utt}\t{lab}\t[2.5, 2.5, 2.5]",
                      "C-E1:\tNeutral;\t()", ""]  # fmt: skip
            wav = (
                root
                / f"Session{s}"
                / "sentences"
                / "wav"
                / dialog
                / f"{utt}.wav"
            )
            n = voice(wav, 2 * (1, 4, 5).index(s) + "FM".index(turn[0]),
                      canon, k)  # fmt: skip
            expected.append(
                dict(ID=f"iemocap-{utt}", spk_id=f"iemocap-Ses0{s}{turn[0]}",
                     emotion=canon, gender=turn[0].lower(), lang="en",
                     stop=n, corpus="iemocap")
            )  # fmt: skip
        evald = root / f"Session{s}" / "dialog" / "EmoEvaluation"
        evald.mkdir(parents=True, exist_ok=True)
        (evald / f"{dialog}.txt").write_text("\n".join(lines) + "\n")
    return expected


def make_voxceleb(root):
    """VoxCeleb: 6 speakers x 2 videos x 2 files, meta and a trial list."""
    root = Path(root)
    expected = []
    spks = [f"id1000{i}" for i in range(6)]
    for i, spk in enumerate(spks):
        for vid in ("vidA", "vidB"):
            for n_ in ("00001", "00002"):
                n = voice(root / "wav" / spk / vid / f"{n_}.wav", i,
                          take=f"{vid}{n_}")  # fmt: skip
                expected.append(
                    dict(ID=f"{spk}--{vid}--{n_}", spk_id=f"vox-{spk}",
                         emotion="unknown", gender="mf"[i % 2], lang="",
                         stop=n, corpus="voxceleb")
                )  # fmt: skip
    (root / "vox1_meta.csv").write_text(
        "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n"
        + "".join(
            f"{s}\tX\t{'mf'[i % 2]}\tUK\tdev\n" for i, s in enumerate(spks)
        )
    )
    (root / "veri_test2.txt").write_text(
        "1 id10004/vidA/00001.wav id10004/vidB/00002.wav\n"
        "0 id10004/vidA/00001.wav id10005/vidA/00001.wav\n"
        "1 id10005/vidA/00002.wav id10005/vidB/00001.wav\n"
    )
    return expected


# The sample corpora of tests/samples/<Dataset>/ (tests/make_test_samples.py)
SAMPLES = Path(__file__).resolve().parent / "samples"


def build_esd(root):
    """ESD with 6 speakers."""
    make_esd(root, ("0001", "0011", "0012", "0013", "0014", "0015"))


def build_cremad(root):
    """CREMA-D with 6 actors."""
    make_cremad(root, ("1001", "1002", "1003", "1004", "1005", "1006"))


def build_ravdess(root):
    """RAVDESS with 6 actors."""
    make_ravdess(root, ("01", "02", "03", "04", "05", "06"))


def build_dusha(root):
    """Dusha (JSONL markup), 5 training speakers, every sentence read
    twice (neutral target trials need two sentences)."""
    make_dusha(
        root, tsv_test=False, train_speakers=("s1", "s2", "s3", "s6", "s7"),
        takes=2,
    )  # fmt: skip


BUILDERS = {
    "ESD": build_esd,
    "CREMA-D": build_cremad,
    "RAVDESS": build_ravdess,
    "Dusha": build_dusha,
    "VoxCeleb": make_voxceleb,
}


def voice_manifest(tmp_path, n=3):
    """``train.csv`` of ``n`` one-second voices of two speakers in
    ``tmp_path``; returns its rows."""
    rows = []
    for i in range(n):
        wav = tmp_path / f"u{i}.wav"
        voice(wav, speaker=i % 2, seconds=1.0)
        rows.append(
            dict(
                dict.fromkeys(FIELDS, ""),
                ID=f"u{i}",
                duration=1.0,
                wav=str(wav),
                start=0,
                stop=16000,
                spk_id=f"s{i % 2}",
                emotion="neutral",
                simulated=0,
            )
        )
    write_manifest(rows, tmp_path / "train.csv")
    return rows
