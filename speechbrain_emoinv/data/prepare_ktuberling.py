"""Single spoken words of KTuberling (``ktuberling-data``).

One volunteer per language folder under ``sounds/`` (WAV, Vorbis or Opus,
8-48 kHz). The four ``sr*`` folders hold identical copies: files whose
bytes were already seen are counted as ``duplicate_clip`` and left out.
The ``fi`` and ``nl`` folders sound like one person and share one speaker
id (``SAME_SPEAKER``).

Authors: speechbrain-emoinv contributors
"""

import hashlib

from speechbrain_emoinv.data.manifest import candidate
from speechbrain_emoinv.data.prepared_folder import installed_folder

DATA_FOLDER = "/usr/share/ktuberling/sounds"
AUDIO = {".wav", ".ogg", ".opus"}
SAME_SPEAKER = {"nl": "fi"}


def collect_ktuberling(data_folder, report):
    """Lists the word clips as manifest candidates.

    Arguments
    ---------
    data_folder : str or Path
        KTuberling's ``sounds`` folder.
    report : PrepareReport
        Receives ``duplicate_clip``.

    Returns
    -------
    list of dict
        Candidates (speaker ``ktuberling-<lang>``, ``nl`` as ``fi``;
        emotion ``neutral``).

    Example
    -------
    >>> from speechbrain_emoinv.data.audio_checks import PrepareReport
    >>> root = getfixture("tmp_path")
    >>> clips = {"sr/a.ogg": b"x", "sr@latin/a.ogg": b"x", "nl/b.WAV": b"y"}
    >>> for n, data in clips.items():
    ...     (root / n).parent.mkdir(exist_ok=True)
    ...     _ = (root / n).write_bytes(data)
    >>> rep = PrepareReport("ktuberling")
    >>> [c["spk_id"] for c in collect_ktuberling(root, rep)]
    ['ktuberling-fi', 'ktuberling-sr']
    >>> rep.counts()
    {'duplicate_clip': 1}
    """
    root = installed_folder(data_folder, "ktuberling-data")
    seen, cands = {}, []
    for path in sorted(root.glob("*/*")):
        if path.suffix.lower() not in AUDIO or not path.is_file():
            continue
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
        if digest in seen:
            report.add("duplicate_clip", path, f"same bytes as {seen[digest]}")
            continue
        seen[digest] = path
        folder = path.parent.name
        lang = folder.split("@")[0]
        spk = SAME_SPEAKER.get(lang, lang)
        cands.append(
            candidate(
                f"ktuberling-{folder.replace('@', '_')}-{path.stem}",
                path,
                f"ktuberling-{spk}",
                "neutral",
                "ktuberling",
                text_id=path.stem,
                lang=lang,
            )
        )
    return cands
