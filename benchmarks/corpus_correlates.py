#!/usr/bin/env python3
"""Measured acoustic correlates of the simulated corpus' styles.

Generates (resumably) a subset of the simulated MBROLA corpus - 6 voices
(3 f, 3 m; 16 and 22.05 kHz databases, English and non-English rules) x
every style x the first 10 sentences - under ``--out/v<GENERATOR_VERSION>``
and prints one row per style, measured on the audio. Frames are those of
emotion-aware masking (``emotion_masking.frame_rms``: 25 ms, hop 10 ms);
speech frames are those within 40 dB of the utterance's loudest frame.

* F0 shift (st): mean F0 of the voiced frames (``librosa.pyin``) minus
  that of the same voice's neutral reading of the same sentence;
* F0 range (st): 5-95 % range of the voiced frames' F0;
* level (dB): utterance RMS minus the paired neutral one;
* intensity range (dB): 5-95 % range of the speech frames' level;
* peak SD (dB): standard deviation of the syllable peaks' levels (local
  maxima of the frame level >= 100 ms apart, 3 dB prominent);
* excess (dB): mean dB of the loudest 20 % frames minus the utterance
  level (dB of the mean frame power). It cannot exceed
  10 log10(1 / 0.2) = 7 dB and falls as pauses get shorter;
* top 20 % over median (dB): the same loudest frames against the median
  speech frame, i.e. how far the frames EM masks stand out;
* rate (syll/s): syllable nuclei (``mbrola.phonemes.syllable_nuclei``) per
  second from the first to the last speech frame, pauses included;
* tilt (dB): energy above 1 kHz over energy in 50-1000 Hz, speech frames.

Every number is the mean over the style's utterances. The F0 track (the
slow part) is cached per file in ``f0.json``: an interrupted run resumes.
``docs/data.md`` holds the table with the literature's directions.

Usage::

    python -m benchmarks.corpus_correlates [--out /tmp/emoinv_correlates]

Authors
 * speechbrain-emoinv contributors
"""

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch
from scipy.signal import find_peaks

from speechbrain_emoinv.data.mbrola.corpus import (
    GENERATOR_VERSION,
    SIZES,
    generate_corpus,
)
from speechbrain_emoinv.data.mbrola.phonemes import espeak_pho, syllable_nuclei
from speechbrain_emoinv.data.mbrola.styles import BASE_STYLES
from speechbrain_emoinv.emotion_masking import frame_rms

VOICES = ("us1", "de5", "fr2", "us2", "de4", "br3")
N_SENTENCES = 10
SPEECH_DB = 40.0  # speech frames: within this of the loudest frame
TOP = 0.2  # share of loudest frames (EM masks 10-30 %)
HOP = 160  # 10 ms at 16 kHz


def intensity(x, n_syllables):
    """Intensity, rate and tilt correlates of one 16 kHz utterance.

    Arguments
    ---------
    x : numpy.ndarray
        Samples (float).
    n_syllables : int
        Syllable nuclei of the sentence.

    Returns
    -------
    dict
        ``level``, ``int_range``, ``peak_sd``, ``excess``,
        ``top_over_median``, ``rate`` and ``tilt``.

    Example
    -------
    >>> t = np.arange(16000) / 16000
    >>> x = np.sin(2 * np.pi * 200 * t) * np.where(t < 0.25, 1.0, 0.1)
    >>> m = intensity(x, 2)  # a quarter 20 dB above the rest
    >>> [round(m[k], 1) for k in ("int_range", "top_over_median", "excess")]
    [20.0, 20.0, 6.0]
    """
    rms = frame_rms(torch.as_tensor(x, dtype=torch.float32)[None])
    db = 10 * np.log10(rms[0].double().numpy() ** 2 + 1e-12)
    level = 10 * np.log10(np.mean(10 ** (db / 10)))
    top = np.sort(db)[::-1][: max(1, round(TOP * len(db)))].mean()
    speech = db > db.max() - SPEECH_DB
    first, last = np.flatnonzero(speech)[[0, -1]]
    peaks = find_peaks(db, distance=10, prominence=3.0)[0]
    peaks = peaks[speech[peaks]]
    spec = np.abs(librosa.stft(x, n_fft=512, hop_length=HOP)) ** 2
    spec = spec[:, : len(db)][:, speech[: spec.shape[1]]]
    freqs = librosa.fft_frequencies(sr=16000, n_fft=512)
    high = spec[freqs >= 1000].sum()
    low = spec[(freqs > 50) & (freqs < 1000)].sum()
    return dict(
        level=float(level),
        int_range=float(np.diff(np.percentile(db[speech], [5, 95]))[0]),
        peak_sd=float(np.std(db[peaks])) if len(peaks) else np.nan,
        excess=float(top - level),
        top_over_median=float(top - np.median(db[speech])),
        rate=n_syllables / ((last - first + 1) * HOP / 16000),
        tilt=float(10 * np.log10(high / low)),
    )


def f0_stats(x):
    """Mean and 5-95 % range (st re. 100 Hz) of the voiced frames' F0.

    NaN when ``librosa.pyin`` finds no voiced frame.
    """
    f0, voiced, _ = librosa.pyin(
        x, fmin=50, fmax=550, sr=16000, frame_length=2048, hop_length=HOP
    )
    st = 12 * np.log2(f0[voiced] / 100.0)
    if len(st) == 0:
        return dict(f0_st=np.nan, f0_range=np.nan)
    return dict(
        f0_st=float(st.mean()),
        f0_range=float(np.diff(np.percentile(st, [5, 95]))[0]),
    )


def measure_corpus(out, workers):
    """Generates the subset (resumable) and measures every file."""
    SIZES["correlates"] = dict(
        voices=VOICES,
        styles=BASE_STYLES,
        n_sentences=N_SENTENCES,
        vtl_factors=(),
        variation=1.0,
    )
    generate_corpus(out, size="correlates", num_workers=workers)
    cache = out / "f0.json"
    f0 = json.loads(cache.read_text()) if cache.is_file() else {}
    with open(out / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    n_syl, measures = {}, {}
    for i, r in enumerate(rows):
        key = r["espeak_voice"], r["text"]
        if key not in n_syl:
            n_syl[key] = syllable_nuclei(espeak_pho(*key)).sum()
        x, _ = sf.read(str(out / r["wav"]))
        if r["ID"] not in f0:
            f0[r["ID"]] = f0_stats(x)
            if i % 20 == 19:  # resumable: save now and then
                cache.write_text(json.dumps(f0))
        measures[r["ID"]] = intensity(x, n_syl[key]) | f0[r["ID"]]
    cache.write_text(json.dumps(f0))
    return rows, measures


COLUMNS = (
    ("F0 shift (st)", "f0_shift"),
    ("F0 range (st)", "f0_range"),
    ("level (dB)", "level_shift"),
    ("intensity range (dB)", "int_range"),
    ("peak SD (dB)", "peak_sd"),
    ("excess (dB)", "excess"),
    ("top 20 % over median (dB)", "top_over_median"),
    ("rate (syll/s)", "rate"),
    ("tilt (dB)", "tilt"),
)


def table(rows, measures):
    """Markdown table: per style, the mean of each correlate."""
    neutral = {
        (r["spk_id"], r["text_id"]): measures[r["ID"]]
        for r in rows
        if r["emotion"] == "neutral"
    }
    per_style = defaultdict(lambda: defaultdict(list))
    for r in rows:
        m, n = measures[r["ID"]], neutral[r["spk_id"], r["text_id"]]
        acc = per_style[r["emotion"]]
        acc["f0_shift"].append(m["f0_st"] - n["f0_st"])
        acc["level_shift"].append(m["level"] - n["level"])
        for _, key in COLUMNS:
            if key in m:
                acc[key].append(m[key])
    lines = [
        "| style | n | " + " | ".join(c for c, _ in COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for style in BASE_STYLES:
        acc = per_style[style]
        vals = " | ".join(f"{np.nanmean(acc[k]):.1f}" for _, k in COLUMNS)
        lines.append(f"| {style} | {len(acc['excess'])} | {vals} |")
    no_f0 = [k for k, m in measures.items() if np.isnan(m["f0_st"])]
    no_peak = [k for k, m in measures.items() if np.isnan(m["peak_sd"])]
    for what, ids in (("F0", no_f0), ("syllable peak", no_peak)):
        if ids:
            lines.append(f"\nno {what} found, left out: {' '.join(ids)}")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("/tmp/emoinv_correlates"))
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    out = args.out / f"v{GENERATOR_VERSION}"
    rows, measures = measure_corpus(out, args.workers)
    print(
        f"generator version {GENERATOR_VERSION}: {len(VOICES)} voices x "
        f"{len(BASE_STYLES)} styles x {N_SENTENCES} sentences ({out})"
    )
    print(table(rows, measures))


if __name__ == "__main__":
    main()
