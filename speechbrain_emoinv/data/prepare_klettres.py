"""Spoken letters and syllables of KLettres (``klettres-data``).

``<lang>/alpha/*.ogg`` (letters) and ``<lang>/syllab/*.ogg`` (syllables or
short words): Vorbis, 22-128 kHz, under 1 s of speech a clip (some padded
to about 2 s). One volunteer per language folder (measured: centroids of
an external speaker encoder, pitch, encoder versions), except in
:data:`VOICES`: in ``de`` a woman reads the letters
(``klettres-de_letters``) and a man the syllables and the later letter
``sz`` (``klettres-de``); ``da/syllab/ad-23`` .. ``ad-27`` are another
recording (noise floor -30 dB instead of -104 dB, higher pitch), left out
as ``ambiguous_speaker``. ``en`` (a man) and ``en_GB`` (a woman) are two
people; ``ar``, ``pt_BR`` and ``tn`` are children (``pt_BR`` and ``tn``
sound alike to the encoder but were encoded ten years apart). Two ``he``
clips repeat others with other Ogg serial numbers: a file whose decoded
samples were already seen is a ``duplicate_clip`` (samples are compared
only between files of equal size). ``id`` and ``nn`` ship no audio.

Authors: speechbrain-emoinv contributors
"""

import hashlib
from collections import Counter

import soundfile as sf

from speechbrain_emoinv.data.manifest import candidate
from speechbrain_emoinv.data.prepared_folder import installed_folder

DATA_FOLDER = "/usr/share/klettres"
# "<folder>/<sub>" or "<folder>/<sub>/<file>" -> speaker after "klettres-"
# (default: the folder); None: left out.
VOICES = {
    "de/alpha": "de_letters",
    "de/alpha/sz.ogg": "de",
    **{f"da/syllab/ad-{i}.ogg": None for i in range(23, 28)},
}


def collect_klettres(data_folder, report):
    """Lists the letter and syllable clips as manifest candidates.

    Arguments
    ---------
    data_folder : str or Path
        KLettres' data folder (language folders).
    report : PrepareReport
        Receives ``ambiguous_speaker`` and ``duplicate_clip``.

    Returns
    -------
    list of dict
        Candidates (speaker ``klettres-<folder>``, see :data:`VOICES`;
        emotion ``neutral``; ``text_id`` the file name).

    Example
    -------
    >>> import numpy as np
    >>> from speechbrain_emoinv.data.audio_checks import PrepareReport
    >>> root = getfixture("tmp_path")
    >>> clips = {
    ...     "de/alpha/a": 1,
    ...     "de/alpha/sz": 2,
    ...     "en_GB/alpha/a": 3,
    ...     "en_GB/alpha/b": 3,
    ...     "da/syllab/ad-23": 4,
    ... }
    >>> for n, k in clips.items():
    ...     (root / n).parent.mkdir(parents=True, exist_ok=True)
    ...     sf.write(root / f"{n}.ogg", np.full(800, k / 8, "f4"), 8000)
    >>> rep = PrepareReport("klettres")
    >>> [c["spk_id"] for c in collect_klettres(root, rep)]
    ['klettres-de_letters', 'klettres-de', 'klettres-en_gb']
    >>> rep.counts()
    {'ambiguous_speaker': 1, 'duplicate_clip': 1}
    """
    root = installed_folder(data_folder, "klettres-data")
    paths = sorted(root.glob("*/*/*.ogg"))
    sizes = Counter(p.stat().st_size for p in paths)
    seen, cands = {}, []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        folder, sub = rel.split("/")[:2]
        key = rel if rel in VOICES else f"{folder}/{sub}"
        spk = VOICES.get(key, folder.lower())
        if spk is None:
            report.add("ambiguous_speaker", path, "another recording")
            continue
        digest = sizes[path.stat().st_size] > 1 and samples_digest(path)
        if digest in seen:
            report.add(
                "duplicate_clip", path, f"same samples as {seen[digest]}"
            )
            continue
        if digest:
            seen[digest] = path
        cands.append(
            candidate(
                f"klettres-{folder}-{sub}-{path.stem}",
                path,
                f"klettres-{spk}",
                "neutral",
                "klettres",
                text_id=path.stem,
                lang=folder.split("_")[0],
            )
        )
    return cands


def samples_digest(path):
    """SHA-1 of a file's decoded 16-bit samples, None when unreadable.

    Example
    -------
    >>> samples_digest("/nonexistent.ogg") is None
    True
    """
    try:
        x, _ = sf.read(str(path), dtype="int16")
    except RuntimeError:  # counted by the audio checks
        return None
    return hashlib.sha1(x.tobytes()).hexdigest()
