"""Simulated MBROLA corpus: generation (size tiny), resume, determinism,
and prepare_mbrola's prepared folder."""

import csv
import json
import time
from collections import defaultdict

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_emoinv.data.manifest import FIELDS, read_manifest
from speechbrain_emoinv.data.mbrola.corpus import (
    SIZES,
    generate_corpus,
    load_sentences,
)
from speechbrain_emoinv.data.mbrola.phonemes import espeak_pho, rewrite_pho
from speechbrain_emoinv.data.mbrola.render import (
    DYNAMICS_LIMIT_DB,
    RAMP_MS,
    intensity_contour,
    render,
    synthesize,
)
from speechbrain_emoinv.data.mbrola.styles import (
    BASE_STYLES,
    STYLE_PARAMS,
    STYLES,
    draw_style,
)
from speechbrain_emoinv.data.mbrola.voices import (
    EVAL_VOICES,
    VALID_VOICES,
    MissingToolError,
    check_tools,
    find_speakers,
)
from speechbrain_emoinv.data.prepare_mbrola import prepare_mbrola
from speechbrain_emoinv.data.trials import read_trials
from speechbrain_emoinv.emotion_masking import EmotionAwareMasking, frame_rms


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("mbrola") / "corpus"
    t0 = time.time()
    generate_corpus(out, size="tiny", num_workers=2)
    return out, time.time() - t0


@pytest.fixture
def micro_size():
    SIZES["micro"] = dict(
        voices=("us1", "de4"),
        styles=("neutral", "angry"),
        n_sentences=1,
        vtl_factors=(0.85,),
        variation=1.0,
    )
    yield "micro"
    del SIZES["micro"]


def _meta(out):
    with open(out / "metadata.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_tiny_generated_fast_and_valid(tiny):
    out, seconds = tiny
    assert seconds < 30
    rows = _meta(out)
    assert len(rows) == 8 * 6 * 4
    for r in rows:
        info = sf.info(str(out / r["wav"]))
        assert (info.samplerate, info.channels, info.subtype) == (
            16000,
            1,
            "PCM_16",
        )
        assert 0.4 < info.duration < 6
    assert {r["split"] for r in rows} == {"train", "valid", "eval"}
    # Parallel design: every (speaker, sentence) in all six styles.
    styles = defaultdict(set)
    for r in rows:
        styles[r["spk_id"], r["text_id"]].add(r["emotion"])
    assert all(s == set(BASE_STYLES) for s in styles.values())
    genders = {r["spk_id"]: r["gender"] for r in rows}
    assert genders["mb-us1"] == "f" and genders["mb-de4"] == "m"
    # mb-de4 reads English through its -en variant, one speaker id.
    de4 = [r for r in rows if r["voice"] == "de4"]
    assert {(r["spk_id"], r["espeak_voice"]) for r in de4} == {
        ("mb-de4", "mb-de4-en")
    }


def test_styles_act_as_designed(tiny):
    out, _ = tiny
    dur, rms, peaks = defaultdict(list), defaultdict(list), defaultdict(list)
    for r in _meta(out):
        x, sr = sf.read(str(out / r["wav"]), dtype="float32")
        dur[r["emotion"]].append(len(x) / sr)
        rms[r["emotion"]].append(np.sqrt(np.mean(x**2)))
        # how far EM's loudest 20 % frames stand above the median speech
        # frame: accents raise it, sad's flat dynamics lower it
        db = 20 * torch.log10(frame_rms(torch.from_numpy(x)[None])[0] + 1e-6)
        top = db.sort(descending=True).values[: round(0.2 * len(db))]
        speech = db[db > db.max() - 40]
        peaks[r["emotion"]].append(float(top.mean() - speech.median()))
    mean = {k: np.mean(v) for k, v in dur.items()}
    loud = {k: np.mean(v) for k, v in rms.items()}
    peak = {k: np.mean(v) for k, v in peaks.items()}
    assert mean["sad"] > mean["neutral"] > mean["angry"]
    assert loud["angry"] > loud["neutral"] > loud["sad"]
    assert peak["angry"] > peak["neutral"] + 1 > peak["sad"] + 2, peak


def test_every_style_lists_the_parameters_in_draw_order():
    # draw_style draws a style's parameters as listed, from one generator:
    # the order is part of what makes the corpus
    assert all(tuple(s) == STYLE_PARAMS for s in STYLES.values())


def test_rewrite_pho_f0_level_range_and_speaker_offset():
    phones = [("a", 100, [(0, 100.0), (100, 200.0)])]
    p = dict(level=0, range=0.5, decl=0, final=0, jitter=0, tempo=1,
             phone_sd=0, pause=1)  # fmt: skip
    rng = np.random.default_rng(0)
    line = rewrite_pho(phones, p, 12.0, rng).splitlines()[1].split()
    f0 = [float(line[3]), float(line[5])]
    # Range 0.5 halves the 12-semitone span around the mean (~141 Hz),
    # +12 semitones doubles it.
    assert f0 == pytest.approx([237.8, 336.4], abs=0.2)


def test_deterministic_across_workers_and_resume(tmp_path, micro_size):
    a, b = tmp_path / "a", tmp_path / "b"
    generate_corpus(a, size=micro_size, num_workers=1)
    generate_corpus(b, size=micro_size, num_workers=2)
    rows = _meta(a)
    assert len(rows) == 2 * 2 * 2  # voices x VTL (1 + 1) x styles
    sim = {r["spk_id"]: r["simulated"] for r in rows}
    assert sim == {"mb-us1": "0", "mb-us1-vtl085": "1",
                   "mb-de4": "0", "mb-de4-vtl085": "1"}  # fmt: skip
    blobs = {r["wav"]: (a / r["wav"]).read_bytes() for r in rows}
    assert all((b / w).read_bytes() == blob for w, blob in blobs.items())
    # Simulated copy really differs from its source.
    assert blobs[rows[0]["wav"]] != blobs[rows[2]["wav"]]
    # Resume: a deleted and a truncated file are redone, bytes identical.
    paths = [a / r["wav"] for r in rows]
    paths[0].unlink()
    paths[1].write_bytes(b"")
    keep = paths[2].stat().st_mtime_ns
    stale = paths[3].with_name(".x.123.tmp.wav")
    stale.write_bytes(b"half")
    generate_corpus(a, size=micro_size, num_workers=1)
    assert paths[0].read_bytes() == blobs[rows[0]["wav"]]
    assert paths[1].read_bytes() == blobs[rows[1]["wav"]]
    assert paths[2].stat().st_mtime_ns == keep  # valid file not redone
    assert not stale.exists()


def test_other_options_in_same_folder_refused(tmp_path, micro_size):
    generate_corpus(tmp_path, size=micro_size, num_workers=1)
    with pytest.raises(ValueError, match="other options"):
        generate_corpus(tmp_path, size=micro_size, seed=7)


def test_older_generator_corpus_made_again(tmp_path, micro_size, caplog):
    generate_corpus(tmp_path, size=micro_size, num_workers=1)
    rows = _meta(tmp_path)
    blobs = {r["wav"]: (tmp_path / r["wav"]).read_bytes() for r in rows}
    # A version-1 corpus: no version in its config, other (valid) audio.
    conf = tmp_path / "corpus_config.json"
    old = json.loads(conf.read_text())
    del old["generator_version"]
    conf.write_text(json.dumps(old))
    first, second = (tmp_path / r["wav"] for r in rows[:2])
    first.write_bytes(second.read_bytes())
    caplog.set_level("INFO")
    generate_corpus(tmp_path, size=micro_size, num_workers=1)
    out = caplog.text
    assert "made by generator version 1; generating version 2" in out, out
    assert all((tmp_path / w).read_bytes() == b for w, b in blobs.items())
    assert json.loads(conf.read_text())["generator_version"] == 2


def test_missing_voice_names_package():
    with pytest.raises(MissingToolError, match="mbrola-zz9"):
        find_speakers(["us1", "zz9"])


def test_missing_program_names_package(monkeypatch):
    monkeypatch.setattr(
        "speechbrain_emoinv.data.mbrola.voices.shutil.which", lambda prog: None
    )
    with pytest.raises(MissingToolError, match="package 'espeak-ng'"):
        check_tools()


def test_fixed_split_has_14_eval_voices_6f_8m():
    spk = find_speakers(EVAL_VOICES)
    assert sorted(s.gender for s in spk).count("f") == 6
    assert len(spk) == 14
    valid = find_speakers(VALID_VOICES)
    assert len(valid) >= 6 and {s.gender for s in valid} == {"m", "f"}
    assert not set(EVAL_VOICES) & set(VALID_VOICES)


def test_prepare_mbrola_folder(tiny, tmp_path):
    out, _ = tiny
    save = tmp_path / "prep"
    prepare_mbrola(out, save, size="tiny", n_trials=40, num_workers=1)
    rows = {
        s: read_manifest(save / f"{s}.csv") for s in ("train", "valid", "eval")
    }
    header = (save / "train.csv").read_text().splitlines()[0]
    assert header == ",".join(FIELDS)
    assert sum(len(v) for v in rows.values()) == 192
    # Synthetic speech: the recipe's validation tells the corpora apart by it.
    assert {r["simulated"] for v in rows.values() for r in v} == {"1"}
    spk = {s: {r["spk_id"] for r in v} for s, v in rows.items()}
    assert spk["eval"] == {"mb-us2", "mb-de5", "mb-fr2"}
    assert spk["valid"] == {"mb-de3", "mb-us3"}
    assert not spk["train"] & (spk["eval"] | spk["valid"])
    listed = (save / "eval_speakers.txt").read_text().split()
    assert set(listed) == spk["eval"]
    r = rows["eval"][0]
    assert r["start"] == 0 and r["stop"] == sf.info(r["wav"]).frames
    by_id = {r["ID"]: r for r in rows["eval"]}
    for cat in ("neutral", "cross", "emo_emo", "merged"):
        trials = read_trials(save / "trials" / "eval" / f"{cat}.txt")
        labels = [t[0] for t in trials]
        assert labels.count(1) == labels.count(0) > 0
        for lab, e, t, ee, te in trials:
            re_, rt = by_id[e], by_id[t]
            assert re_["text_id"] != rt["text_id"]
            assert (re_["spk_id"] == rt["spk_id"]) == (lab == 1)
            assert (ee, te) == (re_["emotion"], rt["emotion"])
            if cat == "neutral":
                assert ee == te == "neutral"
            elif cat == "cross":
                assert ee == "neutral" != te
            elif cat == "emo_emo":
                assert "neutral" not in (ee, te)
    # Second call with the same options is skipped (files untouched).
    stamp = (save / "eval.csv").stat().st_mtime_ns
    prepare_mbrola(out, save, size="tiny", n_trials=40, num_workers=1)
    assert (save / "eval.csv").stat().st_mtime_ns == stamp
    prepare_mbrola(out, save, size="tiny", n_trials=20, num_workers=1)
    assert (save / "eval.csv").stat().st_mtime_ns != stamp


def _utterance(levels_db, nuclei_hz, sr=16000, seed=0):
    """Noise phones at given levels: (phones, pho_text, samples).

    Phone i lasts 100 ms; it is a syllable nucleus with F0 ``nuclei_hz[i]``
    unless that is None. A 50 ms lead pause and a 100 ms end pause frame
    the phones (silent), as in :func:`rewrite_pho`'s output.
    """
    phones = [
        ("a" if hz else "s", 100, [(0, hz), (100, hz)] if hz else [])
        for hz in nuclei_hz
    ] + [("_", 100, [])]
    pho = "\n".join(["_ 50"] + [f"{ph} {d}" for ph, d, _ in phones])
    rng = np.random.default_rng(seed)
    amp = [0.0] + [10 ** (db / 20) for db in levels_db] + [0.0]
    durs = [50] + [100] * len(levels_db) + [100]
    noise = [rng.standard_normal(d * sr // 1000) for d in durs]
    x = np.concatenate([a * n for a, n in zip(amp, noise, strict=True)])
    return phones, pho, x


def _centres_db(gain, n_phones, sr=16000):
    """Gain in dB at the centre of each 100 ms phone after the lead."""
    idx = [(50 + 100 * i + 50) * sr // 1000 for i in range(n_phones)]
    return 20 * np.log10(gain[idx])


def test_intensity_contour_accents_the_peak_syllable_smoothly():
    # consonant, nucleus: three syllables on a falling line; the middle
    # one rises above it (espeak-ng's accent), so it alone is accented
    hz = [None, 200.0, None, 240.0, None, 150.0]
    phones, pho, x = _utterance([-20] * 6, hz)
    p = dict(accent=6.0, dynamics=1.0)
    gain = intensity_contour(x, 16000, pho, phones, p)
    db = _centres_db(gain, 6)
    assert db - db[0] == pytest.approx([0, 0, 0, 6, 0, 0], abs=1e-6)
    # ramps, not steps: the 6 dB rise spreads over RAMP_MS
    ramp = round(RAMP_MS * 16)
    assert np.abs(np.diff(20 * np.log10(gain))).max() < 6 * 2.5 / ramp
    assert np.mean((x * gain) ** 2) == pytest.approx(np.mean(x**2))
    # deterministic: a pure function of its inputs
    assert np.array_equal(gain, intensity_contour(x, 16000, pho, phones, p))


def test_intensity_contour_dynamics_scales_the_spread_of_phone_levels():
    levels = np.array([-10.0, -20.0, -14.0, -16.0, -45.0])  # last: closure
    phones, pho, x = _utterance(levels, [200.0, None, 200.0, None, None])
    p = dict(accent=0.0, dynamics=0.5)
    db = _centres_db(intensity_contour(x, 16000, pho, phones, p), 5)
    # measured phone levels, then half their spread around the mean;
    # no phone moves by more than DYNAMICS_LIMIT_DB (the closure)
    lim = DYNAMICS_LIMIT_DB
    expected = np.clip(-0.5 * (levels - levels.mean()), -lim, lim)
    assert expected[-1] == lim
    assert db - db[0] == pytest.approx(expected - expected[0], abs=0.2)


@pytest.mark.parametrize("voice,vtl", [("us1", ()), ("de5", (1.18,))])
def test_mbrola_output_lasts_the_pho_durations(voice, vtl):
    # intensity_contour places each phone's gain by this: the output lasts
    # the sum of the .pho durations at the output rate, a few ms short
    spk = find_speakers([voice], vtl_factors=vtl)[-1]
    phones = espeak_pho(spk.espeak_voice, "The bus is late again.")
    p = draw_style("neutral", np.random.default_rng(0))
    pho = rewrite_pho(phones, p, 0.0, np.random.default_rng(0))
    x, sr = render(pho, spk)
    ms = sum(int(line.split()[1]) for line in pho.splitlines())
    assert 0 <= ms * sr / 1000 - len(x) < 0.01 * sr


def test_em_masks_the_accented_syllables_of_an_angry_rendering(monkeypatch):
    """Item 4(b) of issue 26: EM's loudest frames are the emphasis."""
    accents, real = [], intensity_contour

    def keep(x, sr, pho, phones, params):
        # where synthesize puts the accents: its gain without dynamics
        accents.append(real(x, sr, pho, phones, dict(params, dynamics=1.0)))
        return real(x, sr, pho, phones, params)

    monkeypatch.setattr(
        "speechbrain_emoinv.data.mbrola.render.intensity_contour", keep
    )
    em = EmotionAwareMasking(mask_ratio=(0.1, 0.1), mode="topk", prob=1.0)
    spk = find_speakers(["us1"])[0]  # 16 kHz: gain and output align
    for tid, text in load_sentences()[4:6]:
        phones = espeak_pho(spk.espeak_voice, text)
        wav = synthesize(spk, "angry", phones, f"mb-us1_angry_{tid}")
        wav = torch.from_numpy(wav / 32768.0).float()[None]
        masked = em.compute_mask(wav, torch.ones(1))[0].numpy()
        assert len(accents[-1]) == wav.shape[1]
        gain_db = 20 * np.log10(accents[-1][::160][: len(masked)])
        emphasised = gain_db > np.median(gain_db) + 3.0
        level = frame_rms(wav)[0].numpy()
        speech = level > level.max() * 0.01  # within 40 dB
        hit = emphasised[masked].mean()
        chance = emphasised[speech].mean()
        assert hit > max(0.5, 3 * chance), (tid, hit, chance)
