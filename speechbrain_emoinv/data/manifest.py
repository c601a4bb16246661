"""The manifest format: its columns, and writing, reading and checking rows.

A manifest is the SpeechBrain CSV of one split of a prepared folder
(header :data:`FIELDS`, ``docs/interfaces.md``); the evaluation tools also
read any CSV with the :data:`REQUIRED_FIELDS` columns
(``read_manifest(path, strict=False)``). The prepared folder itself is
written by ``prepared_folder.py``.

Authors: speechbrain-emoinv contributors
"""

import csv
import os
from pathlib import Path

from speechbrain_emoinv.atomic_files import write_csv
from speechbrain_emoinv.data.emotions import CANONICAL

FIELDS = (
    "ID",
    "duration",
    "wav",
    "start",
    "stop",
    "spk_id",
    "emotion",
    "text_id",
    "gender",
    "lang",
    "corpus",
    "simulated",
)
# Columns the evaluation tools need (``read_manifest(path, strict=False)``).
REQUIRED_FIELDS = ("ID", "wav", "start", "stop", "spk_id", "emotion")


class EmptyManifestError(ValueError):
    """A manifest with a header but no rows (``read_manifest``, lenient)."""


def candidate(
    uid,
    wav,
    spk_id,
    emotion,
    corpus,
    text_id="",
    gender="",
    lang="",
    simulated=0,
):
    """One utterance before its audio is checked.

    Arguments
    ---------
    uid : str
        Unique utterance ID, a safe file name (see :func:`check_id`).
    wav : str or Path
        Audio file.
    spk_id : str
        Corpus-prefixed speaker id.
    emotion : str
        Canonical label (see ``emotions.py``).
    corpus : str
        Corpus name.
    text_id : str
        Sentence id, empty when unknown.
    gender : str
        ``m``, ``f`` or empty.
    lang : str
        ISO code or empty.
    simulated : int
        1 for simulated speakers.

    Returns
    -------
    dict

    Example
    -------
    >>> candidate("u1", "/a.wav", "x-1", "sad", "toy")["emotion"]
    'sad'
    >>> candidate("u 1", "/a.wav", "x-1", "sad", "toy")
    Traceback (most recent call last):
    ...
    ValueError: /a.wav: utterance ID 'u 1' contains whitespace or a comma
    """
    check_id(uid, wav)
    if emotion not in CANONICAL:
        raise ValueError(f"{wav}: emotion {emotion!r} is not canonical")
    if gender not in ("m", "f", ""):
        raise ValueError(f"{wav}: gender must be m, f or empty: {gender!r}")
    return dict(
        ID=uid,
        wav=str(wav),
        spk_id=spk_id,
        emotion=emotion,
        text_id=text_id,
        gender=gender,
        lang=lang,
        corpus=corpus,
        simulated=int(simulated),
    )


def check_id(uid, where):
    """Raises unless ``uid`` is a safe file name and a trial-list token.

    IDs name converted copies (``converted/<ID>.wav``) and are the
    whitespace-separated tokens of trial lists, so an ID must not be
    empty, start with a dot, or hold a path separator, whitespace, a
    control character or a comma (``a/../../x`` would escape its folder).

    Arguments
    ---------
    uid : str
        Utterance ID.
    where : str or Path
        File or row named in the message.

    Example
    -------
    >>> check_id("esd-0011_000001", "x.csv:2")
    >>> check_id("a/../../../x", "raw.jsonl:3")
    Traceback (most recent call last):
    ...
    ValueError: raw.jsonl:3: utterance ID 'a/../../../x' contains a path separator or starts with a dot
    """
    if not uid or any(c.isspace() or c == "," for c in uid):
        raise ValueError(
            f"{where}: utterance ID {uid!r} contains whitespace or a comma"
        )
    if "/" in uid or "\\" in uid or uid.startswith("."):
        raise ValueError(
            f"{where}: utterance ID {uid!r} contains a path separator or "
            "starts with a dot"
        )
    if not uid.isprintable():
        raise ValueError(
            f"{where}: utterance ID {uid!r} contains a control character"
        )


def file_stamp(path):
    """``[size, mtime_ns]`` of a file, or None when it cannot be read.

    Example
    -------
    >>> file_stamp("/nonexistent.wav") is None
    True
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def check_duplicate_ids(cands):
    """Raises ``ValueError`` naming both files of a duplicated ID.

    Arguments
    ---------
    cands : list of dict
        Candidates or manifest rows.

    Example
    -------
    >>> c = [dict(ID="a", wav="1.wav"), dict(ID="a", wav="2.wav")]
    >>> check_duplicate_ids(c)
    Traceback (most recent call last):
    ...
    ValueError: duplicate utterance ID 'a': 1.wav and 2.wav
    """
    seen = {}
    for c in cands:
        if c["ID"] in seen:
            raise ValueError(
                f"duplicate utterance ID {c['ID']!r}: "
                f"{seen[c['ID']]} and {c['wav']}"
            )
        seen[c["ID"]] = c["wav"]


def write_manifest(rows, path):
    """Writes a manifest CSV (header :data:`FIELDS`) atomically.

    Arguments
    ---------
    rows : list of dict
        Manifest rows.
    path : str or Path
        Output CSV.

    Example
    -------
    >>> p = getfixture("tmp_path") / "m.csv"
    >>> write_manifest([], p)
    >>> p.read_text().strip() == ",".join(FIELDS)
    True
    """
    write_csv(path, FIELDS, rows)


def read_manifest(path, strict=True):
    """Reads and checks a manifest CSV.

    Arguments
    ---------
    path : str or Path
        CSV written by :func:`write_manifest`, or (``strict=False``) any
        SpeechBrain CSV with the :data:`REQUIRED_FIELDS` columns.
    strict : bool
        True (a prepared folder): the header must be :data:`FIELDS`, every
        number written and every emotion canonical. False (a CSV handed to
        the evaluation tools): the :data:`REQUIRED_FIELDS` columns suffice,
        in any order, other columns are kept, emotions are taken as
        written, a blank ``start`` reads 0, a blank or missing ``stop`` -1
        and ``duration`` 0.0, and the file must have at least one row.

    Returns
    -------
    list of dict
        One dict per row; ``start``/``stop`` as int, ``duration`` as float,
        the other columns as written.

    Raises
    ------
    FileNotFoundError
        When ``path`` is not a file.
    ValueError
        On a wrong header, a malformed row or a bad number, an unknown
        emotion, an unsafe (:func:`check_id`) or duplicate ID (file and
        line named).

    Example
    -------
    >>> p = getfixture("tmp_path") / "m.csv"
    >>> _ = p.write_text(",".join(FIELDS) + "\\na,1.0,/a.wav,0,16000\\n")
    >>> read_manifest(p)
    Traceback (most recent call last):
    ...
    ValueError: ...m.csv:2: malformed row: expected 12 fields, got 5
    >>> _ = p.write_text(
    ...     "ID,wav,start,stop,spk_id,emotion\\nu1,/a.wav,0,8,s1,ang\\n"
    ... )
    >>> row = read_manifest(p, strict=False)[0]
    >>> row["stop"], row["duration"], row["emotion"]
    (8, 0.0, 'ang')
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found")
    blank = {} if strict else {"start": 0, "stop": -1, "duration": 0.0}
    rows, first_seen = [], {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None) or []
        if strict and tuple(header) != FIELDS:
            raise ValueError(f"{path}:1: header must be {','.join(FIELDS)}")
        missing = [k for k in REQUIRED_FIELDS if k not in header]
        if missing:
            raise ValueError(f"{path}:1: manifest lacks columns {missing}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"{where}: malformed row: expected {len(header)} "
                    f"fields, got {len(row)}"
                )
            rec = dict(zip(header, row, strict=True))
            try:
                for key, kind in (
                    ("start", int),
                    ("stop", int),
                    ("duration", float),
                ):
                    text = rec.get(key)
                    rec[key] = (
                        blank[key] if key in blank and not text else kind(text)
                    )
            except (TypeError, ValueError):
                raise ValueError(f"{where}: malformed row: bad number")
            check_id(rec["ID"], where)
            if strict and rec["emotion"] not in CANONICAL:
                raise ValueError(f"{where}: unknown emotion {rec['emotion']!r}")
            if rec["ID"] in first_seen:
                raise ValueError(
                    f"{where}: duplicate utterance ID {rec['ID']!r}: "
                    f"{first_seen[rec['ID']]} and {rec['wav']}"
                )
            first_seen[rec["ID"]] = rec["wav"]
            rows.append(rec)
    if not rows and not strict:
        raise EmptyManifestError(f"{path}: manifest has no rows")
    return rows


def is_manifest(path):
    """True when a CSV's header holds the :data:`REQUIRED_FIELDS` columns.

    Tells a manifest from another table in the same folder (e.g. an
    augmentation list) without reading past the header.

    Arguments
    ---------
    path : str or Path
        CSV file.

    Returns
    -------
    bool

    Example
    -------
    >>> p = getfixture("tmp_path") / "m.csv"
    >>> _ = p.write_text(",".join(FIELDS) + "\\n")
    >>> is_manifest(p)
    True
    >>> _ = p.write_text("noise,wav\\n")
    >>> is_manifest(p)
    False
    """
    with open(path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), None) or []
    return all(k in header for k in REQUIRED_FIELDS)
