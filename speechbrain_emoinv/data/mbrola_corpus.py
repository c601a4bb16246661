"""Offline simulated emotional corpus: MBROLA diphone voices via espeak-ng.

Each MBROLA database was recorded from one real person, so each database is
one speaker (``mb-de4`` and ``mb-de4-en`` are the same person: the speaker id
is ``mb-de4``). espeak-ng turns text into MBROLA phoneme lines (``--pho``);
we rewrite their F0 and durations per emotional *style* and render them with
``mbrola``. Every style is a distribution: each utterance draws its own F0
level, range and contour, tempo and pauses, loudness, intensity contour
(louder accented syllables, wider or flatter dynamics) and voice colour
(spectral tilt, low-pass, breath noise). Optional vocal-tract-length copies
(``mbrola -l RATE``) add simulated speakers, always in their source's split.

The design is parallel (speakers x styles x sentences) so that every
utterance has same-speaker partners in the other emotions. Output: 16 kHz
mono 16-bit WAVs under ``<out_dir>/wav/<spk_id>/`` and ``metadata.csv``.

Deterministic (seeds from ``zlib.crc32`` of the utterance id, independent of
the number of workers), parallel, resumable (atomic renames; existing files
are validated and kept).

Authors: speechbrain-emoinv contributors
"""

import csv
import json
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, detrend, lfilter, resample_poly, sosfilt
from tqdm import tqdm

from speechbrain_emoinv.stable_random import stable_seed

GENERATOR_VERSION = 2
SAMPLE_RATE = 16000
SENTENCES_FILE = Path(__file__).with_name("sentences.txt")
MBROLA_DIRS = ("/usr/share/mbrola", "/usr/share/mbrola/voices")
ACCENT_SHARE = 1 / 3  # accented share of an utterance's syllables
RAMP_MS = 10.0  # raised-cosine gain ramps at phone edges: no clicks
DYNAMICS_LIMIT_DB = 6.0  # flattening must not lift closures to vowels

# Fixed speaker split (source databases; derived speakers follow them).
EVAL_VOICES = "us2 en1 de5 de7 fr2 fr5 nl2 pl1 ro1 sw2 hu1 lt1 br3 cz2".split()
VALID_VOICES = ("de3", "br4", "us3", "de6", "fr6", "sw1")
# Voices that read English acceptably (data-notes); cn1 renders nothing and
# es4 la1 tr1 tr2 are poor, so they are left out.
ALL_VOICES = (
    "us1 us2 us3 en1 af1 cz2 de1 de2 de3 de4 de5 de6 de7 fr1 fr2 fr3 fr4 "
    "fr5 fr6 fr7 hu1 ir1 lt1 lt2 nl2 nl3 pl1 ro1 sw1 sw2 gr2 br1 br2 br3 "
    "br4 ca1 cr1 ee1 id1"
).split()

BASE_STYLES = ("neutral", "angry", "happy", "sad", "fear", "surprise")

# tiny and default differ only in voices and sentences.
_BASE_SIZE = dict(styles=BASE_STYLES, vtl_factors=(), variation=1.0)
SIZES = {
    # 8 speakers over the three splits x 6 styles x 4 short sentences.
    "tiny": dict(
        _BASE_SIZE,
        voices=("us1", "de4", "fr1", "de3", "us3", "us2", "de5", "fr2"),
        n_sentences=4,
    ),
    "default": dict(_BASE_SIZE, voices=tuple(ALL_VOICES), n_sentences=22),
    "full": dict(
        voices=tuple(ALL_VOICES),
        styles=BASE_STYLES + ("disgust",),
        n_sentences=64,
        vtl_factors=(0.85, 1.18),
        variation=1.3,
    ),
}

# Style distributions: name -> (mean, standard deviation) per parameter.
# level/decl/final/jitter in semitones, loud in dB, tilt in [-1, 1]
# (>0 brighter), lowpass in Hz (0: none), breath in dB re. speech RMS;
# accent: dB on the accented syllables, dynamics: factor on the spread of
# the phones' levels (<1 flatter); see intensity_contour.
# Directions follow the literature on acted emotion (docs/data.md).
_P = ("level", "range", "decl", "final", "jitter", "tempo", "phone_sd")
_Q = ("pause", "loud", "tilt", "lowpass", "breath")
STYLES = {
    "neutral": dict(
        level=(0, 0.7), range=(1.0, 0.08), decl=(-2, 0.7), final=(-1, 0.7),
        jitter=(0.15, 0.03), tempo=(1.0, 0.04), phone_sd=(0.05, 0.01),
        pause=(1.0, 0.1), loud=(0, 1), tilt=(0, 0.08), lowpass=(0, 0),
        breath=(-99, 0),
        accent=(0, 0), dynamics=(1, 0),
    ),
    "angry": dict(
        level=(3.5, 1), range=(1.5, 0.15), decl=(-4, 1), final=(-2.5, 1),
        jitter=(0.4, 0.1), tempo=(0.88, 0.04), phone_sd=(0.08, 0.02),
        pause=(0.6, 0.1), loud=(5, 1.2), tilt=(0.6, 0.12), lowpass=(0, 0),
        breath=(-99, 0),
        accent=(8, 1.5), dynamics=(1.3, 0.1),
    ),
    "happy": dict(
        level=(4, 1), range=(1.7, 0.2), decl=(-1, 1), final=(1.5, 1),
        jitter=(0.3, 0.08), tempo=(0.93, 0.04), phone_sd=(0.07, 0.02),
        pause=(0.8, 0.1), loud=(2.5, 1), tilt=(0.3, 0.1), lowpass=(0, 0),
        breath=(-99, 0),
        accent=(6, 1.2), dynamics=(1.15, 0.08),
    ),
    "sad": dict(
        level=(-2, 0.8), range=(0.5, 0.08), decl=(-2.5, 0.8),
        final=(-1.5, 0.6), jitter=(0.15, 0.04), tempo=(1.25, 0.06),
        phone_sd=(0.06, 0.02), pause=(1.8, 0.25), loud=(-5, 1.2),
        tilt=(-0.5, 0.12), lowpass=(4000, 500), breath=(-32, 3),
        accent=(0, 0), dynamics=(0.4, 0.1),
    ),
    "fear": dict(
        level=(5, 1.2), range=(0.8, 0.12), decl=(0.5, 1), final=(2, 1),
        jitter=(1.0, 0.2), tempo=(0.85, 0.05), phone_sd=(0.15, 0.03),
        pause=(1.3, 0.3), loud=(-1, 1.2), tilt=(-0.35, 0.1), lowpass=(0, 0),
        breath=(-26, 3),
        accent=(4, 1), dynamics=(1.1, 0.08),
    ),
    "surprise": dict(
        level=(5, 1), range=(1.9, 0.2), decl=(1, 1), final=(5, 1.2),
        jitter=(0.3, 0.08), tempo=(0.95, 0.05), phone_sd=(0.07, 0.02),
        pause=(1.0, 0.15), loud=(3, 1), tilt=(0.35, 0.1), lowpass=(0, 0),
        breath=(-99, 0),
        accent=(6, 1.2), dynamics=(1.15, 0.08),
    ),
    "disgust": dict(
        level=(-1.5, 0.8), range=(1.2, 0.12), decl=(-3, 1), final=(-2, 0.8),
        jitter=(0.3, 0.08), tempo=(1.15, 0.05), phone_sd=(0.08, 0.02),
        pause=(1.4, 0.2), loud=(0.5, 1), tilt=(-0.2, 0.1),
        lowpass=(5000, 600), breath=(-99, 0),
        accent=(0, 0), dynamics=(1, 0),
    ),
}  # fmt: skip

METADATA_FIELDS = (
    "ID",
    "wav",
    "spk_id",
    "emotion",
    "text_id",
    "gender",
    "lang",
    "voice",
    "espeak_voice",
    "vtl_factor",
    "simulated",
    "split",
    "text",
)


class MissingToolError(RuntimeError):
    """espeak-ng, mbrola or an MBROLA voice is not installed."""


@dataclass(frozen=True)
class Speaker:
    """One (possibly simulated) speaker of the corpus."""

    spk_id: str
    voice: str
    espeak_voice: str
    db_path: str
    gender: str
    lang: str
    vtl_factor: float = 1.0

    @property
    def simulated(self):
        """True for vocal-tract-length copies."""
        return self.vtl_factor != 1.0

    @property
    def split(self):
        """Speaker split of the source voice."""
        return voice_split(self.voice)


def voice_split(voice):
    """Returns the fixed split of an MBROLA database.

    Arguments
    ---------
    voice : str
        MBROLA database name, e.g. ``"de5"``.

    Returns
    -------
    str
        ``"eval"``, ``"valid"`` or ``"train"``.

    Example
    -------
    >>> [voice_split(v) for v in ("de5", "us3", "us1")]
    ['eval', 'valid', 'train']
    """
    if voice in EVAL_VOICES:
        return "eval"
    if voice in VALID_VOICES:
        return "valid"
    return "train"


def load_sentences(path=SENTENCES_FILE):
    """Reads the project's sentences (``#`` lines are comments).

    Arguments
    ---------
    path : str or Path
        Text file, one sentence per line.

    Returns
    -------
    list of (str, str)
        ``(text_id, text)`` with ``text_id`` = ``s001``, ``s002``, ...

    Example
    -------
    >>> sents = load_sentences()
    >>> len(sents) >= 60, sents[0]
    (True, ('s001', 'The door is open.'))
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    texts = [ln.strip() for ln in lines if ln.strip() and ln[0] != "#"]
    return [(f"s{i + 1:03d}", t) for i, t in enumerate(texts)]


def _espeak_data_dir():
    """espeak-ng's data folder, as the program itself reports it."""
    out = subprocess.run(
        ["espeak-ng", "--version"], capture_output=True, text=True
    ).stdout
    match = re.search(r"Data at:\s*(\S+)", out)
    if match:
        return Path(match.group(1))
    return Path("/usr/share/espeak-ng-data")


def check_tools():
    """Raises :class:`MissingToolError` naming the package to install.

    Example
    -------
    >>> check_tools()
    """
    for prog in ("espeak-ng", "mbrola"):
        if shutil.which(prog) is None:
            raise MissingToolError(
                f"'{prog}' not found on PATH: install the Debian package "
                f"'{prog}' (as root: bash tools/install_system_deps.sh)"
            )


def _read_voice_def(path):
    """gender and language lines of an espeak-ng voice definition."""
    gender, lang = "", ""
    for line in Path(path).read_text(errors="replace").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "gender" and not gender:
            gender = {"male": "m", "female": "f"}.get(words[1], "")
        if len(words) >= 2 and words[0] == "language" and not lang:
            lang = words[1]
    return gender, lang


def find_speakers(voices, vtl_factors=()):
    """Builds the speaker list, failing clearly on missing voices.

    Arguments
    ---------
    voices : sequence of str
        MBROLA database names (``us1``, ``de4``, ...).
    vtl_factors : sequence of float
        For each factor f, one simulated copy of every voice rendered with
        ``mbrola -l f * rate`` (spectral envelope scaled like a different
        vocal-tract length), id ``<spk>-vtl<f*100>``.

    Returns
    -------
    list of Speaker

    Raises
    ------
    MissingToolError
        Naming the missing programs or ``mbrola-<voice>`` packages.

    Example
    -------
    >>> spk = find_speakers(["de4"], vtl_factors=[0.85])
    >>> [(s.spk_id, s.espeak_voice, s.gender, s.simulated) for s in spk]
    [('mb-de4', 'mb-de4-en', 'm', False), ('mb-de4-vtl085', 'mb-de4-en', 'm', True)]
    """
    check_tools()
    vdir = _espeak_data_dir() / "voices" / "mb"
    speakers, missing = [], []
    for voice in voices:
        db = next(
            (
                Path(d) / voice / voice
                for d in MBROLA_DIRS
                if (Path(d) / voice / voice).is_file()
            ),
            None,
        )
        own_def = vdir / f"mb-{voice}"
        if db is None or not own_def.is_file():
            missing.append(voice)
            continue
        gender, lang = _read_voice_def(own_def)
        en_def = vdir / f"mb-{voice}-en"
        if en_def.is_file():
            espeak_voice, lang = f"mb-{voice}-en", "en"
        else:
            espeak_voice = f"mb-{voice}"
        lang = lang.split("-")[0]
        base = Speaker(
            f"mb-{voice}", voice, espeak_voice, str(db), gender, lang
        )
        speakers.append(base)
        for f in vtl_factors:
            speakers.append(
                Speaker(
                    f"mb-{voice}-vtl{round(f * 100):03d}",
                    voice,
                    espeak_voice,
                    str(db),
                    gender,
                    lang,
                    float(f),
                )
            )
    if missing:
        pkgs = " ".join(f"mbrola-{v}" for v in missing)
        raise MissingToolError(
            f"MBROLA voice(s) not installed: {' '.join(missing)}. Install "
            f"the Debian packages {pkgs} (as root: bash "
            "tools/install_system_deps.sh)"
        )
    return speakers


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


def espeak_pho(espeak_voice, text):
    """MBROLA phoneme lines for ``text`` from espeak-ng.

    Arguments
    ---------
    espeak_voice : str
        espeak-ng voice, e.g. ``"mb-us1"``.
    text : str
        Sentence.

    Returns
    -------
    list of (str, int, list of (float, float))
        ``(phoneme, duration_ms, [(percent, f0_hz), ...])``.

    Example
    -------
    >>> pho = espeak_pho("mb-us1", "Hello.")
    >>> pho[-1][0], all(d > 0 for _, d, _ in pho)
    ('_', True)
    """
    out = subprocess.run(
        ["espeak-ng", "-q", "-v", espeak_voice, "--pho", text],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    phones = []
    for line in out.splitlines():
        words = line.split()
        if not words or words[0].startswith(";"):
            continue
        vals = [float(w) for w in words[2:]]
        points = list(zip(vals[0::2], vals[1::2], strict=False))
        phones.append((words[0], int(float(words[1])), points))
    if not phones:
        raise RuntimeError(f"espeak-ng {espeak_voice} gave no phonemes")
    return phones


def draw_style(style, rng, variation=1.0):
    """Draws one utterance's prosody/colour parameters from a style.

    Arguments
    ---------
    style : str
        Key of :data:`STYLES`.
    rng : numpy.random.Generator
        Seeded generator.
    variation : float
        Scales every standard deviation (``full`` uses more).

    Returns
    -------
    dict
        Parameter name -> value.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> p = draw_style("sad", rng)
    >>> p["tempo"] > 1.0, p["loud"] < 0
    (True, True)
    """
    params = {}
    for name, (mean, sd) in STYLES[style].items():
        params[name] = float(mean + variation * sd * rng.standard_normal())
    params["range"] = max(params["range"], 0.2)
    params["tempo"] = float(np.clip(params["tempo"], 0.6, 1.8))
    params["pause"] = max(params["pause"], 0.2)
    params["phone_sd"] = max(params["phone_sd"], 0.0)
    params["jitter"] = max(params["jitter"], 0.0)
    params["dynamics"] = max(params["dynamics"], 0.0)
    return params


def rewrite_pho(phones, params, spk_offset, rng):
    """Applies style parameters to phoneme lines; returns MBROLA input text.

    F0 is rewritten in semitones around the utterance mean:
    ``level + spk_offset + range * (st - mean) + declination + final
    movement + jitter``; durations are scaled by tempo (with per-phone
    random variation) and pauses by the pause factor.

    Arguments
    ---------
    phones : list
        Output of :func:`espeak_pho`.
    params : dict
        Output of :func:`draw_style`.
    spk_offset : float
        Fixed per-speaker F0 offset in semitones.
    rng : numpy.random.Generator
        Seeded generator.

    Returns
    -------
    str
        MBROLA ``.pho`` text.

    Example
    -------
    >>> phones = [("a", 100, [(0, 100.0), (100, 100.0)]), ("_", 200, [])]
    >>> p = dict(
    ...     level=12,
    ...     range=1,
    ...     decl=0,
    ...     final=0,
    ...     jitter=0,
    ...     tempo=0.5,
    ...     phone_sd=0,
    ...     pause=2.0,
    ... )
    >>> print(rewrite_pho(phones, p, 0.0, np.random.default_rng(0)))
    _ 100
    a 50 0 200.0 100 200.0
    _ 400
    """
    durs = np.array([d for _, d, _ in phones], dtype=float)
    is_pause = np.array([ph == "_" for ph, _, _ in phones])
    starts = np.concatenate([[0.0], np.cumsum(durs)[:-1]])
    total = max(durs.sum(), 1.0)
    # Pitch points of all phones as flat arrays (t in [0, 1] of utterance).
    idx = [i for i, (_, _, pts) in enumerate(phones) for _ in pts]
    pct = np.array([p for _, _, pts in phones for p, _ in pts], dtype=float)
    hz = np.array([f for _, _, pts in phones for _, f in pts], dtype=float)
    new_hz = hz
    if len(hz):
        t = (starts[idx] + pct / 100.0 * durs[idx]) / total
        st = 12.0 * np.log2(np.maximum(hz, 1.0))
        mean = st.mean()
        new_st = mean + params["range"] * (st - mean)
        new_st += params["level"] + spk_offset
        new_st += params["decl"] * (t - 0.5)
        new_st += params["final"] * np.clip((t - 0.8) / 0.2, 0.0, 1.0)
        new_st += params["jitter"] * rng.standard_normal(len(st))
        new_hz = np.clip(2.0 ** (new_st / 12.0), 50.0, 500.0)
    factor = np.where(
        is_pause,
        params["pause"],
        params["tempo"]
        * np.exp(params["phone_sd"] * rng.standard_normal(len(durs))),
    )
    new_durs = np.maximum(np.round(durs * factor), 1).astype(int)
    lead = max(int(round(100 * params["pause"] / 2)), 10)
    lines = [f"_ {lead}"]
    k = 0
    for (ph, _, pts), dur in zip(phones, new_durs, strict=True):
        words = [ph, str(dur)]
        for p, _ in pts:
            words += [f"{p:g}", f"{new_hz[k]:.1f}"]
            k += 1
        lines.append(" ".join(words))
    return "\n".join(lines)


def render(pho_text, speaker, volume=1.0):
    """Renders MBROLA input with ``mbrola -e -v VOLUME [-l RATE]``.

    Arguments
    ---------
    pho_text : str
        MBROLA phoneme lines.
    speaker : Speaker
        Voice (database, optional vocal-tract-length factor).
    volume : float
        mbrola's volume ratio.

    Returns
    -------
    (numpy.ndarray, int)
        float32 samples in [-1, 1] and their sample rate.

    Example
    -------
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


def syllable_nuclei(phones):
    """Which phones are syllable nuclei: their F0 contour starts at 0 %.

    espeak-ng gives vowels (and syllabic consonants) a contour from the
    phone's start; consonants get none or only transition points.

    Arguments
    ---------
    phones : list
        Output of :func:`espeak_pho`.

    Returns
    -------
    numpy.ndarray
        True for each nucleus among the phones.

    Example
    -------
    >>> phones = [
    ...     ("d", 65, []),
    ...     ("O", 34, [(0, 232.0), (100, 215.0)]),
    ...     ("r", 34, [(80, 215.0), (100, 215.0)]),
    ... ]
    >>> syllable_nuclei(phones).tolist()
    [False, True, False]
    """
    return np.array([bool(pts) and pts[0][0] == 0 for _, _, pts in phones])


def accented_nuclei(phones):
    """The accented syllables of an utterance.

    espeak-ng marks pitch accents by F0 peaks: the nuclei whose peak (in
    semitones) stands highest above the utterance's declination line (a
    linear trend over the nuclei), :data:`ACCENT_SHARE` of them and at
    least one, are accented.

    Arguments
    ---------
    phones : list
        Output of :func:`espeak_pho` for one utterance.

    Returns
    -------
    numpy.ndarray
        True for each accented nucleus among the phones.

    Example
    -------
    >>> def nucleus(hz):
    ...     return ("a", 80, [(0, hz), (100, hz)])
    >>> hz = [240, 232, 205, 200, 208, 180]  # falling, rises on 2nd, 5th
    >>> phones = [nucleus(h) for h in hz] + [("_", 100, [])]
    >>> np.flatnonzero(accented_nuclei(phones)).tolist()
    [1, 4]
    """
    nuclei = np.flatnonzero(syllable_nuclei(phones))
    accented = np.zeros(len(phones), dtype=bool)
    if len(nuclei):
        peak = [12 * np.log2(max(f for _, f in phones[i][2])) for i in nuclei]
        height = detrend(np.array(peak))
        k = max(1, round(ACCENT_SHARE * len(nuclei)))
        accented[nuclei[np.argsort(-height, kind="stable")[:k]]] = True
    return accented


def intensity_contour(x, sr, pho_text, phones, params):
    """Per-sample gain that gives an utterance its intensity contour.

    The phones' levels (measured on ``x``; pauses left alone) are spread
    by ``dynamics`` around their mean (< 1 flatter, > 1 wider; at most
    :data:`DYNAMICS_LIMIT_DB` either way) and the accented syllable nuclei
    (:func:`accented_nuclei`) gain ``accent`` dB. Each phone's gain spans
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
        Output of :func:`rewrite_pho`: a lead pause, then one line per
        phone of ``phones``.
    phones : list
        Output of :func:`espeak_pho`.
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
    speaker : Speaker
        Who speaks.
    style : str
        Key of :data:`STYLES`.
    phones : list
        Output of :func:`espeak_pho` for the sentence.
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


def is_valid_wav(path):
    """True when ``path`` is a readable non-empty 16 kHz mono 16-bit WAV.

    Arguments
    ---------
    path : str or Path

    Returns
    -------
    bool

    Example
    -------
    >>> is_valid_wav("/nonexistent.wav")
    False
    """
    try:
        info = sf.info(str(path))
    except Exception:
        return False
    return (
        info.samplerate == SAMPLE_RATE
        and info.channels == 1
        and info.subtype == "PCM_16"
        and info.frames > 0
    )


def _write_atomic(path, samples):
    """Writes a WAV under a temporary name, then renames it into place."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.wav")
    sf.write(str(tmp), samples, SAMPLE_RATE, subtype="PCM_16")
    os.replace(tmp, path)


def _task(args):
    """Worker: every style of one (speaker, sentence); returns rows, count."""
    out_dir, speaker, text_id, text, styles, seed, variation = args
    spk_dir = Path(out_dir) / "wav" / speaker.spk_id
    spk_dir.mkdir(parents=True, exist_ok=True)
    phones, rows, made = None, [], 0
    for style in styles:
        utt_id = f"{speaker.spk_id}_{style}_{text_id}"
        path = spk_dir / f"{utt_id}.wav"
        if not is_valid_wav(path):
            if phones is None:
                phones = espeak_pho(speaker.espeak_voice, text)
            samples = synthesize(
                speaker, style, phones, utt_id, seed, variation
            )
            _write_atomic(path, samples)
            made += 1
        rows.append(
            dict(
                ID=utt_id,
                wav=str(path.relative_to(out_dir)),
                spk_id=speaker.spk_id,
                emotion=style,
                text_id=text_id,
                gender=speaker.gender,
                lang=speaker.lang,
                voice=speaker.voice,
                espeak_voice=speaker.espeak_voice,
                vtl_factor=f"{speaker.vtl_factor:g}",
                simulated=int(speaker.simulated),
                split=speaker.split,
                text=text,
            )
        )
    return rows, made


def corpus_config(size, seed):
    """The options that define a corpus' content (checked on resume).

    Arguments
    ---------
    size : str
        Key of :data:`SIZES`.
    seed : int
        Corpus seed.

    Returns
    -------
    dict

    Example
    -------
    >>> corpus_config("tiny", 1)["n_sentences"]
    4
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, not {size!r}")
    conf = dict(SIZES[size])
    conf = {k: list(v) if isinstance(v, tuple) else v for k, v in conf.items()}
    conf.update(size=size, seed=seed, generator_version=GENERATOR_VERSION)
    return conf


def generate_corpus(out_dir, size="default", num_workers=None, seed=1234):
    """Generates (or completes) the simulated emotional corpus.

    Arguments
    ---------
    out_dir : str or Path
        Output folder (git-ignored, e.g. ``data/mbrola``); holds
        ``wav/<spk_id>/<ID>.wav``, ``metadata.csv`` and
        ``corpus_config.json``.
    size : str
        ``tiny`` (tests), ``default`` or ``full`` (see :data:`SIZES`).
    num_workers : int or None
        Processes (default: the usable CPU cores). Results do not depend
        on it.
    seed : int
        Corpus seed.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    MissingToolError
        When espeak-ng, mbrola or a voice is missing.
    ValueError
        When ``out_dir`` holds a corpus made with other options.

    Example
    -------
    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> SIZES["doc"] = dict(
    ...     voices=("us1",),
    ...     styles=("neutral", "sad"),
    ...     n_sentences=1,
    ...     vtl_factors=(),
    ...     variation=1.0,
    ... )
    >>> out = generate_corpus(tmp, size="doc", num_workers=1)
    [mbrola corpus] 2 files in ... (2 generated, 0 already valid)
    >>> sorted(p.name for p in (out / "wav" / "mb-us1").iterdir())
    ['mb-us1_neutral_s001.wav', 'mb-us1_sad_s001.wav']
    >>> del SIZES["doc"]
    """
    out_dir = Path(out_dir)
    conf = corpus_config(size, seed)
    speakers = find_speakers(conf["voices"], conf["vtl_factors"])
    sentences = load_sentences()[: conf["n_sentences"]]
    out_dir.mkdir(parents=True, exist_ok=True)
    conf_path = out_dir / "corpus_config.json"
    if conf_path.is_file():
        old = json.loads(conf_path.read_text())
        version = old.get("generator_version", 1)
        same = {k: v for k, v in conf.items() if k != "generator_version"}
        if version != GENERATOR_VERSION and same == {
            k: v for k, v in old.items() if k != "generator_version"
        }:
            # The same corpus from an older generator: made again, whole
            # (its files would pass as already valid).
            print(
                f"[mbrola corpus] {out_dir} was made by generator version "
                f"{version}; generating version {GENERATOR_VERSION} in its place"
            )
            shutil.rmtree(out_dir / "wav", ignore_errors=True)
            (out_dir / "metadata.csv").unlink(missing_ok=True)
            conf_path.write_text(json.dumps(conf, indent=1))
            old = conf
        if old != conf:
            raise ValueError(
                f"{out_dir} holds a corpus made with other options "
                f"({conf_path}: size={old.get('size')}, "
                f"seed={old.get('seed')}); use another out_dir"
            )
    else:
        conf_path.write_text(json.dumps(conf, indent=1))
    # Half-written files of an interrupted run (never valid outputs).
    for stale in out_dir.glob("wav/*/.*.tmp.wav"):
        stale.unlink()
    tasks = [
        (str(out_dir), spk, tid, text, conf["styles"], seed, conf["variation"])
        for spk in speakers
        for tid, text in sentences
    ]
    if num_workers is None:
        num_workers = len(os.sched_getaffinity(0))
    rows, made = [], 0
    bar = tqdm(total=len(tasks) * len(conf["styles"]), desc="mbrola corpus")
    if num_workers <= 1:
        results = map(_task, tasks)
        pool = None
    else:
        pool = mp.get_context("fork").Pool(num_workers)
        results = pool.imap(_task, tasks, chunksize=4)
    try:
        for task_rows, task_made in results:
            rows.extend(task_rows)
            made += task_made
            bar.update(len(task_rows))
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    meta = out_dir / "metadata.csv"
    tmp = out_dir / ".metadata.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=METADATA_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, meta)
    print(
        f"[mbrola corpus] {len(rows)} files in {out_dir} "
        f"({made} generated, {len(rows) - made} already valid)"
    )
    return out_dir
