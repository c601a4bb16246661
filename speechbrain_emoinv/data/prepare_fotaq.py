"""Acted English dialogue of *Flight of the Amazon Queen* (Debian main).

The game ships one resource file, ``queen.1c``: a table (``QTBL``) of
named entries followed by their bytes. Speech entries (``*.SB``) are MP3
clips at 11.025 kHz. Dialogue lines are named ``NNhhhhP#`` (the person
spoke) or ``NNhhhhJ#`` (the hero, Joe), where ``NN`` is the talk key of a
``.DOG`` dialogue file and the character is that file's name without its
trailing digits (``SPARKY3.DOG`` -> ``SPARKY``); ``JOE*.SB`` are Joe's
other lines. Cut-scene and intro clips name no speaker: counted as
``unlabelled``, never used. Layout facts from ScummVM's
``engines/queen`` (resource table and talk-file header).

Actors voice several characters, so characters are merged into voices by
the committed table ``fotaq_voices.json`` (made by
``tools/fotaq_voices.py``: a pretrained external encoder, agglomerative
clustering of character centroids; the decision and its purity check are
in that file). Emotion is not labelled: ``unknown``.

Authors: speechbrain-emoinv contributors
"""

import json
import re
import struct
from pathlib import Path

from speechbrain_emoinv.data.manifest import candidate

DATA_FOLDER = "/usr/share/scummvm/flight-of-the-amazon-queen"
VOICES_FILE = Path(__file__).with_name("fotaq_voices.json")
_HEADER = struct.Struct(">4s6sBBBH")  # QTBL, version, floppy, demo, codec, n
_ENTRY = struct.Struct(">12sBII")  # name, bundle, offset, size
_DOG_HEADER = 20  # bytes before a .DOG file's talk header
_DIALOGUE = re.compile(r"^(\d\d)[0-9A-FSX]{4}([PJ])\d\.SB$")


def read_table(path):
    """Reads the resource table of ``queen.1c``.

    Arguments
    ---------
    path : str or Path
        The resource file.

    Returns
    -------
    dict
        Entry name -> ``(offset, size)``.

    Raises
    ------
    ValueError
        When the file has no ``QTBL`` table or an entry lies outside it.

    Example
    -------
    >>> p = getfixture("tmp_path") / "queen.1c"
    >>> write_table(p, {"A.DOG": b"xy"})
    >>> read_table(p)
    {'A.DOG': (36, 2)}
    """
    data = Path(path).read_bytes()
    if len(data) < _HEADER.size or data[:4] != b"QTBL":
        raise ValueError(f"{path}: not a Flight of the Amazon Queen table")
    n = _HEADER.unpack_from(data)[-1]
    table = {}
    for i in range(n):
        raw, _, offset, size = _ENTRY.unpack_from(
            data, _HEADER.size + i * _ENTRY.size
        )
        name = raw.split(b"\0")[0].decode("ascii")
        if offset + size > len(data):
            raise ValueError(f"{path}: entry {name} ends past the file")
        table[name] = (offset, size)
    return table


def write_table(path, entries):
    """Writes a ``queen.1c``-style file (used to fake the layout in tests).

    Arguments
    ---------
    path : str or Path
        File to write.
    entries : dict
        Entry name -> bytes.
    """
    head = _HEADER.pack(b"QTBL", b"CEM10\0", 0, 0, 1, len(entries))
    offset = len(head) + len(entries) * _ENTRY.size
    table, body = b"", b""
    for name, blob in entries.items():
        table += _ENTRY.pack(name.encode("ascii"), 1, offset, len(blob))
        offset += len(blob)
        body += blob
    Path(path).write_bytes(head + table + body)


def character_of_clips(table, read):
    """Maps each speech entry to its character (or None if unlabelled).

    Arguments
    ---------
    table : dict
        Entry name -> ``(offset, size)``, from :func:`read_table`.
    read : callable
        ``read(name)`` -> the entry's bytes.

    Returns
    -------
    dict
        ``*.SB`` name -> character name or None.
    """
    person = {}
    for name in table:
        if name.endswith(".DOG"):
            key = struct.unpack(">h", read(name)[_DOG_HEADER + 4 :][:2])[0]
            person[f"{key:02d}"] = re.sub(r"\d+$", "", name[:-4])
    out = {}
    for name in table:
        if not name.endswith(".SB"):
            continue
        m = _DIALOGUE.match(name)
        if m and m.group(2) == "J" or name.startswith("JOE"):
            out[name] = "JOE"
        else:
            out[name] = person.get(m.group(1)) if m else None
    return out


def load_voices(path=VOICES_FILE):
    """Character -> voice table (see ``tools/fotaq_voices.py``)."""
    return json.loads(Path(path).read_text())["voice_of_character"]


def collect_fotaq(data_folder, work_folder, report, voices=None):
    """Lists the labelled dialogue clips as manifest candidates.

    The MP3 clips are written once to ``<work_folder>/fotaq/`` (the audio
    checks then convert them to 16 kHz WAV).

    Arguments
    ---------
    data_folder : str or Path
        Folder holding ``queen.1c``.
    work_folder : str or Path
        Where the extracted clips go.
    report : PrepareReport
        Receives ``unlabelled`` (no speaker) and ``unmapped_character``.
    voices : dict or None
        Character -> voice (default: the committed table).

    Returns
    -------
    list of dict
        Candidates (speaker ``fotaq-<voice>``, emotion ``unknown``).
    """
    path = Path(data_folder) / "queen.1c"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: apt-get install flight-of-the-amazon-queen"
        )
    voices = load_voices() if voices is None else voices
    table = read_table(path)
    with open(path, "rb") as f:

        def read(name):
            offset, size = table[name]
            f.seek(offset)
            return f.read(size)

        character = character_of_clips(table, read)
        out_dir = Path(work_folder) / "fotaq"
        out_dir.mkdir(parents=True, exist_ok=True)
        cands = []
        for name, who in sorted(character.items()):
            if who is None:
                report.add("unlabelled", f"{path}:{name}")
                continue
            if who not in voices:
                report.add("unmapped_character", f"{path}:{name}", who)
                continue
            clip = out_dir / f"{name[:-3]}.mp3"
            if not clip.is_file() or clip.stat().st_size != table[name][1]:
                clip.write_bytes(read(name))
            cands.append(
                candidate(
                    f"fotaq-{name[:-3]}",
                    clip,
                    f"fotaq-{voices[who]}",
                    "unknown",
                    "fotaq",
                    text_id=name[:-3],
                    lang="en",
                )
            )
    return cands
