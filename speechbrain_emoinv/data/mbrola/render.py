"""Rendering one utterance: ``mbrola``, voice colour, intensity, 16 kHz.

Authors: speechbrain-emoinv contributors
"""

import subprocess
import tempfile
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, lfilter, resample_poly, sosfilt

from speechbrain_emoinv.data.mbrola.phonemes import accented_nuclei, rewrite_pho
from speechbrain_emoinv.data.mbrola.styles import draw_style
from speechbrain_emoinv.stable_random import stable_seed

SAMPLE_RATE = 16000
RAMP_MS = 10.0  # raised-cosine gain ramps at phone edges: no clicks
DYNAMICS_LIMIT_DB = 6.0  # flattening must not lift closures to vowels

_RATE_CACHE = {}


def _native_rate(db_path):
    """Sample rate of an MBROLA database (rendered once, then cached)."""
    if db_path not in _RATE_CACHE:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "probe.wav"
            subprocess.run(
                ["mbrola", "-e", db_path, "-", str(out)],
                input=b"_ 50\n",
                capture_output=True,
                check=True,
            )
            _RATE_CACHE[db_path] = sf.info(str(out)).samplerate
    return _RATE_CACHE[db_path]


def render(pho_text, speaker, volume=1.0):
    """Renders MBROLA input with ``mbrola -e -v VOLUME [-l RATE]``.

    Arguments
    ---------
    pho_text : str
        MBROLA phoneme lines.
    speaker : voices.Speaker
        Voice (database, optional vocal-tract-length factor).
    volume : float
        mbrola's volume ratio.

    Returns
    -------
    (numpy.ndarray, int)
        float32 samples in [-1, 1] and their sample rate.

    Example
    -------
    >>> from speechbrain_emoinv.data.mbrola.voices import find_speakers
    >>> spk = find_speakers(["us1"])[0]
    >>> x, sr = render("_ 50\\na 200 50 120\\n_ 50", spk)
    >>> sr, 0.25 < len(x) / sr < 0.35
    (16000, True)
    """
    rate = _native_rate(speaker.db_path)
    cmd = ["mbrola", "-e", "-v", f"{volume:.4f}"]
    if speaker.simulated:
        rate = int(round(rate * speaker.vtl_factor))
        cmd += ["-l", str(rate)]
    cmd += [speaker.db_path, "-", "-"]
    out = subprocess.run(
        cmd, input=(pho_text + "\n").encode(), capture_output=True
    )
    if out.returncode != 0:
        raise RuntimeError(
            f"mbrola failed for {speaker.spk_id}: {out.stderr.decode()[-300:]}"
        )
    samples = np.frombuffer(out.stdout, dtype="<i2").astype(np.float32)
    return samples / 32768.0, rate


def intensity_contour(x, sr, pho_text, phones, params):
    """Per-sample gain that gives an utterance its intensity contour.

    The phones' levels (measured on ``x``; pauses left alone) are spread
    by ``dynamics`` around their mean (< 1 flatter, > 1 wider; at most
    :data:`DYNAMICS_LIMIT_DB` either way) and the accented syllable nuclei
    (``phonemes.accented_nuclei``) gain ``accent`` dB. Each phone's gain spans
    its duration in ``pho_text``: mbrola's output lasts the sum of the
    durations at its output rate, a few ms short, so the phone edges are
    stretched onto ``len(x)``; the gain in dB is then smoothed by a
    :data:`RAMP_MS` raised-cosine window. The utterance's RMS is kept, so
    loudness stays with mbrola's volume.

    Arguments
    ---------
    x : numpy.ndarray
        Samples rendered from ``pho_text``.
    sr : int
        Their sample rate.
    pho_text : str
        Output of ``phonemes.rewrite_pho``: a lead pause, then one line per
        phone of ``phones``.
    phones : list
        Output of ``phonemes.espeak_pho``.
    params : dict
        ``accent`` (dB) and ``dynamics``.

    Returns
    -------
    numpy.ndarray
        Gain per sample, ``len(x)``.

    Example
    -------
    >>> phones = [("t", 50, []), ("a", 100, [(0, 200.0), (100, 180.0)])]
    >>> x = np.ones(2000)  # lead pause, t, a: 50 + 50 + 100 ms at 10 kHz
    >>> p = dict(accent=6.0, dynamics=1.0)
    >>> g = intensity_contour(x, 10000, "_ 50\\nt 50\\na 100", phones, p)
    >>> round(float(20 * np.log10(g[1500] / g[500])), 2)  # a vs. t
    6.0
    >>> bool(np.isclose(np.mean((x * g) ** 2), 1.0))  # RMS kept
    True
    """
    durs = np.array([float(ln.split()[1]) for ln in pho_text.splitlines()])
    edges = np.concatenate([[0.0], np.cumsum(durs)]) * len(x) / durs.sum()
    edges = np.round(edges).astype(int)
    power = [np.mean(x[a:b] ** 2) if b > a else 0.0 for a, b in
             zip(edges[:-1], edges[1:], strict=True)]  # fmt: skip
    level = 10 * np.log10(np.array(power) + 1e-10)
    # the first line of pho_text is the lead pause
    speech = np.array([False] + [ph != "_" for ph, _, _ in phones])
    gain_db = np.zeros(len(durs))
    if speech.any():
        spread = (params["dynamics"] - 1.0) * (level - level[speech].mean())
        limit = DYNAMICS_LIMIT_DB
        gain_db[speech] = np.clip(spread[speech], -limit, limit)
    gain_db[1:][accented_nuclei(phones)] += params["accent"]
    ramp = np.hanning(max(3, round(RAMP_MS * sr / 1000)))
    gain_db = np.repeat(gain_db, np.diff(edges))
    gain = 10 ** (np.convolve(gain_db, ramp / ramp.sum(), "same") / 20)
    return gain * np.sqrt(np.mean(x**2) / (np.mean((x * gain) ** 2) + 1e-20))


def colour(x, sr, params, rng):
    """Voice colour: spectral tilt, optional low-pass and breath noise.

    The speech RMS is kept, so loudness stays with mbrola's volume.

    Arguments
    ---------
    x : numpy.ndarray
        Samples.
    sr : int
        Sample rate.
    params : dict
        ``tilt``, ``lowpass`` (Hz, <= 0: none), ``breath`` (dB re. RMS).
    rng : numpy.random.Generator
        For the breath noise.

    Returns
    -------
    numpy.ndarray

    Example
    -------
    >>> x = np.random.default_rng(0).standard_normal(16000) * 0.1
    >>> p = dict(tilt=-0.8, lowpass=2000, breath=-99)
    >>> y = colour(x, 16000, p, np.random.default_rng(1))
    >>> bool(np.isclose(np.sqrt(np.mean(y**2)), 0.1, rtol=0.05))
    True
    """
    rms_in = np.sqrt(np.mean(x**2)) + 1e-9
    tilt = float(np.clip(params["tilt"], -1.0, 1.0))
    if tilt > 0:  # first-difference pre-emphasis: brighter
        y = lfilter([1.0, -0.9 * tilt], [1.0], x)
    elif tilt < 0:  # one-pole low-pass: darker
        b = -0.8 * tilt
        y = lfilter([1.0 - b], [1.0, -b], x)
    else:
        y = x.astype(np.float64)
    if 500 < params["lowpass"] < sr / 2:
        y = sosfilt(butter(2, params["lowpass"], fs=sr, output="sos"), y)
    if params["breath"] > -90:
        # Aspiration-like noise following the speech envelope.
        env = np.convolve(np.abs(y), np.ones(160) / 160, mode="same")
        hp = butter(2, 2000, btype="high", fs=sr, output="sos")
        noise = sosfilt(hp, rng.standard_normal(len(y))) * env
        gain = 10 ** (params["breath"] / 20) * rms_in
        y = y + noise * gain / (np.sqrt(np.mean(noise**2)) + 1e-9)
    return y * (rms_in / (np.sqrt(np.mean(y**2)) + 1e-9))


def synthesize(speaker, style, phones, utt_id, seed=1234, variation=1.0):
    """One utterance: style draw, F0/duration rewrite, render, colour, gain.

    Arguments
    ---------
    speaker : voices.Speaker
        Who speaks.
    style : str
        Key of ``styles.STYLES``.
    phones : list
        Output of ``phonemes.espeak_pho`` for the sentence.
    utt_id : str
        Utterance id (seeds this utterance's randomness).
    seed : int
        Corpus seed.
    variation : float
        Scales the style distributions' spread.

    Returns
    -------
    numpy.ndarray
        int16 samples at 16 kHz.

    Example
    -------
    >>> from speechbrain_emoinv.data.mbrola.phonemes import espeak_pho
    >>> from speechbrain_emoinv.data.mbrola.voices import find_speakers
    >>> spk = find_speakers(["us1"])[0]
    >>> ph = espeak_pho(spk.espeak_voice, "It is on the table.")
    >>> a = synthesize(spk, "angry", ph, "u1")
    >>> b = synthesize(spk, "angry", ph, "u1")
    >>> a.dtype, bool(np.array_equal(a, b)), len(a) > 8000
    (dtype('int16'), True, True)
    """
    rng = np.random.default_rng(stable_seed(seed, utt_id))
    params = draw_style(style, rng, variation)
    spk_rng = np.random.default_rng(stable_seed(seed, "spk", speaker.spk_id))
    spk_offset = float(spk_rng.uniform(-3.0, 3.0))
    pho_text = rewrite_pho(phones, params, spk_offset, rng)
    volume = float(np.clip(0.5 * 10 ** (params["loud"] / 20), 0.05, 0.95))
    x, sr = render(pho_text, speaker, volume)
    if len(x) == 0:
        raise RuntimeError(f"mbrola produced no audio for {utt_id}")
    y = colour(x, sr, params, rng)
    y = y * intensity_contour(y, sr, pho_text, phones, params)
    if sr != SAMPLE_RATE:
        g = gcd(sr, SAMPLE_RATE)
        y = resample_poly(y, SAMPLE_RATE // g, sr // g)
    peak = np.max(np.abs(y))
    if peak > 0.99:  # limiter: scale down rather than clip
        y = y * (0.99 / peak)
    return np.round(y * 32767).astype(np.int16)
