"""Offline augmentation material: simulated room impulse responses and noise.

No noise or impulse-response corpus can be downloaded where this recipe is
meant to run, so it makes its own once and lists it in the CSV format that
:class:`speechbrain.augment.time_domain.AddReverb` and
:class:`speechbrain.augment.time_domain.AddNoise` read (SpeechBrain's legacy
"extended CSV")::

    ID,duration,wav,wav_format,wav_opts
    rir_0000,0.412,/abs/path/rirs/rir_0000.wav,wav,

The same YAML keys can therefore point at MUSAN and real RIRs instead.

* RIRs: image-source method (pyroomacoustics) in shoebox rooms from small
  offices to halls, target RT60 0.2--1.0 s, varied source--mic distances;
  cut where the energy decay curve reaches -60 dB (at most ``max_len`` s),
  peak-normalised so the direct path is 1.
* Noise: white, pink and brown noise (spectral shaping) and babble of
  3--7 talkers of distinct speakers, each looping their training
  utterances.

Next to each CSV lies an ``*_info.csv`` with what was simulated (room,
absorption, distance, measured RT60; noise kind, babble source IDs).

Why one file over 500 lines: the impulse responses, the noises and their
CSV files are one versioned material (``MATERIAL_VERSION`` keys them all);
changing one generator changes what every later run trains on.

Authors
 * speechbrain-emoinv developers 2026
"""

import csv
import json
import math
import os
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf
from speechbrain.utils.logger import get_logger

from speechbrain_emoinv.atomic_files import write_csv, write_text
from speechbrain_emoinv.data.audio_checks import TARGET_SR

logger = get_logger(__name__)

# Bump when the generated material changes for the same options, so that
# prepare_augment_material regenerates instead of skipping.
MATERIAL_VERSION = 1

AUGMENT_CSV_HEADER = ["ID", "duration", "wav", "wav_format", "wav_opts"]
SPEED_OF_SOUND = 343.0
NOISE_COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}

# (name, length range, width range, height range, RT60 range, max distance)
ROOM_TYPES = (
    ("office", (3.0, 5.0), (2.5, 4.0), (2.4, 3.0), (0.2, 0.5), 2.5),
    ("room", (5.0, 10.0), (4.0, 8.0), (2.7, 3.5), (0.3, 0.8), 4.0),
    ("hall", (10.0, 20.0), (8.0, 15.0), (3.5, 7.0), (0.6, 1.0), 6.0),
)
# Samples kept before the direct path (the fractional-delay filter of
# pyroomacoustics smears the direct impulse over a few samples either side).
PRE_DIRECT = 32
# Distance kept between sources/microphones and the walls (m).
WALL_MARGIN = 0.5


def _rng(seed, *stream):
    """Independent, reproducible generator per item (stable across runs)."""
    return np.random.default_rng([int(seed), *[int(s) for s in stream]])


def _write_augment_csv(csv_path, rows):
    """Writes ``rows`` of (ID, duration, wav path) atomically."""
    write_csv(
        csv_path,
        AUGMENT_CSV_HEADER,
        [
            dict(ID=i, duration=f"{d:.4f}", wav=str(w), wav_format="wav")
            for i, d, w in rows
        ],
    )


def _write_info_csv(csv_path, header, rows):
    """Writes a plain side CSV describing the generated files."""
    write_csv(csv_path, header, rows)


def _remove_stale(folder, pattern):
    """Removes files this module wrote earlier (a smaller run leaves none)."""
    for path in Path(folder).glob(pattern):
        path.unlink()


def energy_decay_curve(rir):
    """Schroeder backward-integrated energy decay curve in dB (0 dB at t=0).

    Arguments
    ---------
    rir : numpy.ndarray
        1-D impulse response.

    Returns
    -------
    numpy.ndarray
        Remaining energy from each sample on, relative to the total, in dB.

    Example
    -------
    >>> edc = energy_decay_curve(np.array([1.0, 0.0, 0.0]))
    >>> float(edc[0]), bool(edc[1] < -200)
    (0.0, True)
    """
    energy = np.cumsum(np.asarray(rir, dtype=np.float64)[::-1] ** 2)[::-1]
    return 10.0 * np.log10(np.maximum(energy / energy[0], 1e-30))


def estimate_rt60(rir, sample_rate):
    """Estimates the reverberation time from the energy decay curve.

    A line is fitted to the Schroeder curve between -5 and -25 dB (T20)
    and extrapolated to -60 dB; the fit ignores the tail, so a truncated
    RIR still gives its true slope.

    Kept rather than ``pyroomacoustics.experimental.measure_rt60``, which
    fits from its first point under -5 dB and gives slightly other values:
    :func:`make_rirs` sets the wall absorption from this estimate, so the
    generated RIRs would change.

    Arguments
    ---------
    rir : numpy.ndarray
        1-D impulse response.
    sample_rate : int
        Sampling rate of ``rir`` in Hz.

    Returns
    -------
    float
        RT60 in seconds (``nan`` when the curve never reaches the range).

    Example
    -------
    >>> fs = 16000
    >>> t = np.arange(fs) / fs
    >>> noise = np.random.default_rng(0).standard_normal(fs)
    >>> rir = noise * 10 ** (-3 * t / 0.5)  # -60 dB after 0.5 s
    >>> round(estimate_rt60(rir, fs), 1)
    0.5
    """
    edc = energy_decay_curve(rir)
    above, below = edc <= -5.0, edc <= -25.0
    if not below.any():
        return float("nan")
    start, stop = int(np.argmax(above)), int(np.argmax(below))
    if stop - start < 2:
        return float("nan")
    t = np.arange(start, stop) / sample_rate
    slope = np.polyfit(t, edc[start:stop], 1)[0]
    return float(-60.0 / slope) if slope < 0 else float("nan")


def simulate_rir(
    room_dim,
    absorption,
    source,
    mic,
    sample_rate=16000,
    max_order=50,
    max_len=1.0,
):
    """Simulates one shoebox RIR, cut and peak-normalised.

    Arguments
    ---------
    room_dim : sequence of float
        Room length, width and height in metres.
    absorption : float
        Energy absorption coefficient of every wall, in (0, 1].
    source : sequence of float
        Source position (m).
    mic : sequence of float
        Microphone position (m).
    sample_rate : int
        Sampling rate in Hz.
    max_order : int
        Largest image-source order (caps the cost; the late tail thins out
        beyond what this order covers).
    max_len : float
        Longest kept response in seconds.

    Returns
    -------
    rir : numpy.ndarray
        float32 response, starting ``PRE_DIRECT`` samples before the direct
        path, cut where the energy decay reaches -60 dB or at ``max_len``,
        with peak absolute value 1.
    direct_index : int
        Sample index of the direct path in ``rir``.

    Example
    -------
    >>> rir, direct = simulate_rir([4, 3, 2.5], 0.3, [1, 1, 1.2], [2, 2, 1.2])
    >>> direct == PRE_DIRECT, int(np.argmax(np.abs(rir))) == direct
    (True, True)
    >>> float(np.abs(rir).max())
    1.0
    """
    import pyroomacoustics as pra

    room = pra.ShoeBox(
        list(room_dim),
        fs=sample_rate,
        materials=pra.Material(float(absorption)),
        max_order=int(max_order),
        air_absorption=False,
    )
    room.add_source(list(source))
    room.add_microphone(list(mic))
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float64)

    # pyroomacoustics delays every image by half its fractional-delay filter
    distance = float(np.linalg.norm(np.subtract(source, mic)))
    global_delay = pra.constants.get("frac_delay_length") // 2
    direct = int(round(distance / SPEED_OF_SOUND * sample_rate)) + global_delay
    first = max(0, direct - PRE_DIRECT)
    rir = rir[first:]
    direct -= first

    # Cut at -60 dB of the decay curve, or at max_len
    edc = energy_decay_curve(rir)
    below = np.flatnonzero(edc <= -60.0)
    end = int(below[0]) if below.size else rir.size
    end = min(end, int(max_len * sample_rate))
    rir = rir[:end]
    # Short fade-out: an abrupt end would add a click to the convolution
    fade = min(int(0.01 * sample_rate), max(0, end - direct - 1))
    if fade > 0:
        rir[-fade:] *= np.hanning(2 * fade)[fade:]
    rir = rir / np.abs(rir).max()
    return rir.astype(np.float32), direct


def _draw_room(rng, room_type):
    """Draws room size, target RT60, and source/mic positions."""
    _, length, width, height, rt60_range, max_dist = room_type
    dims = np.array(
        [rng.uniform(*length), rng.uniform(*width), rng.uniform(*height)]
    )
    rt60 = rng.uniform(*rt60_range)
    low, high = WALL_MARGIN, dims - WALL_MARGIN
    mic = rng.uniform(low, high)
    # Rejection sampling: a direction and distance that keep the source
    # inside the room; the distance shrinks when it cannot fit.
    dist_high = max_dist
    for attempt in range(1000):
        dist = rng.uniform(0.5, dist_high)
        direction = rng.standard_normal(3)
        direction[2] *= 0.3  # talkers and mics sit at similar heights
        direction /= np.linalg.norm(direction)
        source = mic + dist * direction
        if np.all(source >= low) and np.all(source <= high):
            break
        if attempt % 50 == 49:
            dist_high = max(0.6, 0.8 * dist_high)
    else:  # pragma: no cover - the room always fits 0.5 m
        source = mic + np.array([0.5, 0.0, 0.0])
    return dims, rt60, source, mic


def _absorption_for(rt60, dims):
    """Wall absorption for a target RT60 (Sabine), kept physically valid."""
    import pyroomacoustics as pra

    while True:
        try:
            absorption, _ = pra.inverse_sabine(rt60, list(dims))
            return float(absorption), rt60
        except ValueError:
            # The room is too small for so short an RT60: lengthen it
            rt60 *= 1.1


def make_rirs(
    out_dir,
    n_rirs=60,
    sample_rate=16000,
    seed=1234,
    max_order=50,
    max_len=1.0,
):
    """Simulates ``n_rirs`` room impulse responses and lists them in a CSV.

    Room types cycle through small office, room and hall; each draws its
    size, a target RT60 (0.2--1.0 s overall), the wall absorption that gives
    it (Sabine) and a source--microphone distance (0.5--6 m). WAVs (24-bit)
    go to ``out_dir/rirs/``; ``out_dir/rirs_info.csv`` records the draws and
    the measured RT60.

    Arguments
    ---------
    out_dir : str or Path
        Folder for ``rirs.csv``, ``rirs_info.csv`` and ``rirs/``.
    n_rirs : int
        Number of impulse responses.
    sample_rate : int
        Sampling rate in Hz.
    seed : int
        Random seed; the same seed gives the same files, byte for byte.
    max_order : int
        Largest image-source order (bounds the run time).
    max_len : float
        Longest kept response in seconds.

    Returns
    -------
    Path
        ``out_dir/rirs.csv`` (``ID,duration,wav,wav_format,wav_opts``), for
        ``AddReverb``.

    Example
    -------
    >>> from speechbrain.dataio.dataio import load_data_csv
    >>> rows = load_data_csv(make_rirs(getfixture("tmp_path"), n_rirs=2))
    >>> sorted(rows)
    ['rir_0000', 'rir_0001']
    """
    out_dir = Path(out_dir)
    wav_dir = out_dir / "rirs"
    wav_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale(wav_dir, "rir_*.wav")
    rows, info = [], []
    for i in range(n_rirs):
        rng = _rng(seed, 1, i)
        room_type = ROOM_TYPES[i % len(ROOM_TYPES)]
        dims, rt60, source, mic = _draw_room(rng, room_type)
        absorption, rt60 = _absorption_for(rt60, dims)
        rir, direct = simulate_rir(
            dims, absorption, source, mic, sample_rate, max_order, max_len
        )
        # Sabine's formula misjudges ISM decay in flat or long rooms (e.g.
        # floor-ceiling flutter): one corrective step towards the target.
        measured = estimate_rt60(rir, sample_rate)
        if abs(measured / rt60 - 1.0) > 0.15:
            absorption, _ = _absorption_for(rt60 * rt60 / measured, dims)
            rir, direct = simulate_rir(
                dims, absorption, source, mic, sample_rate, max_order, max_len
            )
        utt_id = f"rir_{i:04d}"
        wav = (wav_dir / f"{utt_id}.wav").resolve()
        # 24-bit: ample range for a -60 dB tail, and unlike float WAVs no
        # time-stamped PEAK chunk, so the same seed gives the same bytes
        sf.write(wav, rir, sample_rate, subtype="PCM_24")
        duration = rir.size / sample_rate
        rows.append((utt_id, duration, wav))
        info.append(
            {
                "ID": utt_id,
                "room_type": room_type[0],
                "room_dim": " ".join(f"{d:.2f}" for d in dims),
                "absorption": f"{absorption:.4f}",
                "target_rt60": f"{rt60:.3f}",
                "measured_rt60": f"{estimate_rt60(rir, sample_rate):.3f}",
                "distance": f"{np.linalg.norm(source - mic):.3f}",
                "direct_index": direct,
                "duration": f"{duration:.4f}",
            }
        )
    _write_info_csv(
        out_dir / "rirs_info.csv", list(info[0]) if info else ["ID"], info
    )
    csv_path = out_dir / "rirs.csv"
    _write_augment_csv(csv_path, rows)
    return csv_path


def coloured_noise(n_samples, colour, rng, sample_rate=16000):
    """Gaussian noise with a power spectrum falling as ``1 / f**exponent``.

    White (0), pink (1) and brown (2) noise; bins below 20 Hz are zeroed
    so brown noise does not turn into sub-audio drift.

    Arguments
    ---------
    n_samples : int
        Length in samples.
    colour : str or float
        ``"white"``, ``"pink"``, ``"brown"`` or the exponent itself.
    rng : numpy.random.Generator
        Random source.
    sample_rate : int
        Sampling rate in Hz (sets where 20 Hz falls).

    Returns
    -------
    numpy.ndarray
        float64 noise with unit RMS.

    Example
    -------
    >>> x = coloured_noise(16000, "pink", np.random.default_rng(0))
    >>> x.shape, round(float(np.sqrt(np.mean(x**2))), 3)
    ((16000,), 1.0)
    """
    exponent = NOISE_COLOURS.get(colour, colour)
    spectrum = np.fft.rfft(rng.standard_normal(n_samples))
    freqs = np.fft.rfftfreq(n_samples, d=1.0 / sample_rate)
    gain = np.zeros_like(freqs)
    keep = freqs >= 20.0
    gain[keep] = freqs[keep] ** (-float(exponent) / 2.0)
    noise = np.fft.irfft(spectrum * gain, n=n_samples)
    return noise / np.sqrt(np.mean(noise**2))


def _read_sources(babble_sources):
    """Babble sources as dicts with ID, wav, start, stop and spk_id.

    ``babble_sources`` is a manifest CSV path or a list of such dicts.
    """
    if babble_sources is None:
        return []
    if isinstance(babble_sources, (str, os.PathLike)):
        with open(babble_sources, newline="", encoding="utf-8") as f:
            babble_sources = list(csv.DictReader(f, skipinitialspace=True))
    sources = []
    for k, row in enumerate(babble_sources):
        start = row.get("start")
        stop = row.get("stop")
        sources.append(
            {
                "ID": str(row.get("ID", k)),
                "wav": str(row["wav"]),
                "start": int(start) if start not in (None, "") else 0,
                "stop": int(stop) if stop not in (None, "") else None,
                "spk_id": str(row["spk_id"]),
            }
        )
    return sources


def _load_source(source, sample_rate, cache):
    """Reads one utterance segment as mono float64 at ``sample_rate``."""
    key = (source["wav"], source["start"], source["stop"])
    if key not in cache:
        audio, rate = sf.read(
            source["wav"],
            start=source["start"],
            stop=source["stop"],
            dtype="float64",
            always_2d=True,
        )
        audio = audio.mean(axis=1)
        if rate != sample_rate:
            from scipy.signal import resample_poly

            g = math.gcd(int(rate), int(sample_rate))
            audio = resample_poly(audio, sample_rate // g, rate // g)
        cache[key] = audio - audio.mean()
    return cache[key]


def _talker_stream(utts, n_samples, rng, sample_rate, cache):
    """One talker: their utterances, looped to ``n_samples``, unit RMS."""
    used, pieces, total = [], [], 0
    order = rng.permutation(len(utts))
    k = 0
    while total < n_samples:
        utt = utts[order[k % len(order)]]
        audio = _load_source(utt, sample_rate, cache)
        if audio.size == 0:
            if k >= len(order) and total == 0:
                return None, used
            k += 1
            continue
        if k < len(order):
            used.append(utt["ID"])
        pieces.append(audio)
        total += audio.size
        k += 1
    stream = np.concatenate(pieces)
    # Random offset: talkers should not all start speaking together
    offset = int(rng.integers(0, stream.size))
    stream = np.roll(stream, -offset)[:n_samples]
    rms = np.sqrt(np.mean(stream**2))
    if rms <= 0:
        return None, used
    return stream / rms, used


def _make_babble(speakers, n_samples, rng, sample_rate, cache):
    """Sum of 3--7 talkers (fewer if the list is short) of distinct speakers."""
    spk_ids = sorted(speakers)
    n_talkers = min(int(rng.integers(3, 8)), len(spk_ids))
    chosen = rng.choice(len(spk_ids), size=n_talkers, replace=False)
    mixture = np.zeros(n_samples)
    used_ids, used_spks = [], []
    for idx in chosen:
        spk = spk_ids[idx]
        stream, used = _talker_stream(
            speakers[spk], n_samples, rng, sample_rate, cache
        )
        if stream is None:
            continue
        mixture += stream
        used_ids.extend(used)
        used_spks.append(spk)
    return mixture, used_ids, used_spks


def make_noises(
    out_dir,
    n_noises=30,
    babble_sources=None,
    sample_rate=16000,
    seed=1234,
    duration=8.0,
):
    """Generates coloured and babble noise and lists it in a CSV.

    Without babble sources (or with fewer than two speakers) every noise is
    coloured, cycling white, pink, brown. Otherwise the first half
    (``round(n_noises / 2)``) are babble, each mixing 3--7
    talkers of distinct speakers at equal level (a talker's utterances are
    looped to fill ``duration``). All are 16-bit mono WAVs peak-normalised
    to 0.9, in ``out_dir/noises/``; ``out_dir/noises_info.csv`` records the
    kind, speakers and source utterance IDs.

    Arguments
    ---------
    out_dir : str or Path
        Folder for ``noises.csv``, ``noises_info.csv`` and ``noises/``.
    n_noises : int
        Number of noise files, babble first.
    babble_sources : str, Path, list of dict, or None
        Manifest CSV (``ID,duration,wav,start,stop,spk_id,...``) or a list
        of dicts with ``wav``, ``spk_id`` and optional ``ID``, ``start``,
        ``stop`` (samples). None: coloured noise only.
    sample_rate : int
        Sampling rate in Hz (sources are resampled to it).
    seed : int
        Random seed; the same seed and sources give the same files.
    duration : float
        Length of each noise in seconds; make it longer than the training
        chunks, since ``AddNoise`` zero-pads a noise that is too short.

    Returns
    -------
    Path
        ``out_dir/noises.csv``, columns as :func:`make_rirs`'s, for
        ``AddNoise``.

    Example
    -------
    >>> from speechbrain.dataio.dataio import load_data_csv
    >>> tmp = getfixture("tmp_path")
    >>> rows = load_data_csv(make_noises(tmp, n_noises=3, duration=1.0))
    >>> sorted(rows)
    ['brown_0002', 'pink_0001', 'white_0000']
    >>> rows["white_0000"]["duration"]
    1.0
    """
    out_dir = Path(out_dir)
    wav_dir = out_dir / "noises"
    wav_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale(wav_dir, "*_[0-9][0-9][0-9][0-9].wav")
    n_samples = int(round(duration * sample_rate))

    speakers = {}
    for source in _read_sources(babble_sources):
        speakers.setdefault(source["spk_id"], []).append(source)
    n_babble = 0
    if len(speakers) >= 2:
        n_babble = round(n_noises / 2)
    elif babble_sources is not None:
        logger.warning(
            "Babble needs utterances of at least two speakers; "
            "making coloured noise only."
        )

    colours = list(NOISE_COLOURS)
    cache, rows, info = {}, [], []
    for i in range(n_noises):
        rng = _rng(seed, 2, i)
        used_ids, used_spks = [], []
        if i < n_babble:
            kind = "babble"
            noise, used_ids, used_spks = _make_babble(
                speakers, n_samples, rng, sample_rate, cache
            )
        else:
            kind = colours[(i - n_babble) % len(colours)]
            noise = coloured_noise(n_samples, kind, rng, sample_rate)
        peak = np.abs(noise).max()
        if peak > 0:
            noise = 0.9 * noise / peak
        utt_id = f"{kind}_{i:04d}"
        wav = (wav_dir / f"{utt_id}.wav").resolve()
        sf.write(wav, noise.astype(np.float32), sample_rate, subtype="PCM_16")
        rows.append((utt_id, n_samples / sample_rate, wav))
        info.append(
            {
                "ID": utt_id,
                "kind": kind,
                "n_talkers": len(used_spks),
                "spk_ids": " ".join(used_spks),
                "source_ids": " ".join(used_ids),
            }
        )
    header = ["ID", "kind", "n_talkers", "spk_ids", "source_ids"]
    _write_info_csv(out_dir / "noises_info.csv", header, info)
    csv_path = out_dir / "noises.csv"
    _write_augment_csv(csv_path, rows)
    return csv_path


def _file_crc(path):
    """CRC32 of a file's bytes (detects an edited training manifest)."""
    crc = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            crc = zlib.crc32(block, crc)
    return crc


def _csv_complete(csv_path):
    """True when the CSV exists and every WAV it lists exists."""
    if not Path(csv_path).is_file():
        return False
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return bool(rows) and all(Path(row["wav"]).is_file() for row in rows)


def prepare_augment_material(
    save_folder,
    train_csv=None,
    n_rirs=60,
    n_noises=30,
    seed=1234,
    noise_duration=8.0,
):
    """Makes the RIR and noise CSVs once; skips when already done.

    The options (and a checksum of ``train_csv``) are saved in
    ``save_folder/augment_material.json`` after everything else is written;
    a later call with the same options whose outputs all exist does nothing.
    Deterministic and idempotent, so it is safe under ``run_on_main``.
    The material is made at ``audio_checks.TARGET_SR``, the rate of every
    prepared folder.

    Arguments
    ---------
    save_folder : str or Path
        Output folder.
    train_csv : str, Path or None
        Training manifest the babble is mixed from; None: no babble.
    n_rirs : int
        Number of simulated impulse responses.
    n_noises : int
        Number of noise files (half babble when ``train_csv`` is given).
    seed : int
        Random seed.
    noise_duration : float
        Length of each noise in seconds.

    Returns
    -------
    dict
        ``{"rir_csv": str, "noise_csv": str}``, for ``AddReverb`` and
        ``AddNoise``.

    Example
    -------
    >>> tmp = getfixture("tmp_path")
    >>> paths = prepare_augment_material(
    ...     tmp, n_rirs=2, n_noises=2, noise_duration=1.0
    ... )
    >>> again = prepare_augment_material(
    ...     tmp, n_rirs=2, n_noises=2, noise_duration=1.0
    ... )
    >>> sorted(paths), paths == again
    (['noise_csv', 'rir_csv'], True)
    """
    save_folder = Path(save_folder)
    save_folder.mkdir(parents=True, exist_ok=True)
    opts = {
        "version": MATERIAL_VERSION,
        "n_rirs": int(n_rirs),
        "n_noises": int(n_noises),
        "seed": int(seed),
        "sample_rate": TARGET_SR,
        "noise_duration": float(noise_duration),
        "train_csv": str(Path(train_csv).resolve()) if train_csv else None,
        "train_csv_crc": _file_crc(train_csv) if train_csv else None,
    }
    paths = {
        "rir_csv": str((save_folder / "rirs.csv").resolve()),
        "noise_csv": str((save_folder / "noises.csv").resolve()),
    }
    opts_file = save_folder / "augment_material.json"
    if opts_file.is_file():
        with open(opts_file, encoding="utf-8") as f:
            done = json.load(f) == opts
        if done and all(_csv_complete(p) for p in paths.values()):
            logger.info("Augmentation material already in %s", save_folder)
            return paths
        opts_file.unlink()

    logger.info("Making augmentation material in %s", save_folder)
    make_rirs(save_folder, n_rirs=n_rirs, sample_rate=TARGET_SR, seed=seed)
    make_noises(
        save_folder,
        n_noises=n_noises,
        babble_sources=train_csv,
        sample_rate=TARGET_SR,
        seed=seed,
        duration=noise_duration,
    )
    write_text(opts_file, json.dumps(opts, indent=2))
    return paths
