"""espeak-ng's MBROLA phoneme lines, their rewrite per style, the accents.

Authors: speechbrain-emoinv contributors
"""

import subprocess

import numpy as np
from scipy.signal import detrend

ACCENT_SHARE = 1 / 3  # accented share of an utterance's syllables


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
        Output of ``styles.draw_style``.
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
