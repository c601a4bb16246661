"""Prepares Dusha (crowd part), the paper's emotional corpus.

Layout: ``<data_folder>/crowd_train`` and ``crowd_test``, each with
``wavs/<hash>.wav`` and markup ``raw_*.jsonl`` (or ``raw_*.tsv``): one row
per annotator, fields ``hash_id``, ``audio_path``, ``speaker_text``,
``speaker_emo`` (the emotion the speaker was asked to act: our label),
``source_id`` (the speaker), ... Rows of one file are folded into one
utterance (counted in the report's ``info.rows_folded``); rows of one file
that disagree on speaker, emotion or text raise an error naming both rows.

Split: speakers of ``crowd_test`` are the eval speakers (all their files,
from both parts); valid is a seeded share of the others.

Authors: speechbrain-emoinv contributors
"""

import csv
import json
import zlib
from pathlib import Path

from speechbrain_emoinv.data.prepared_folder import run_prepare

PARTS = ("crowd_train", "crowd_test")
_KEYS = ("hash_id", "audio_path", "source_id")  # must be non-empty
_PRESENT = ("speaker_text", "speaker_emo")  # may be empty


def read_markup(path):
    """Rows of a Dusha markup file (``.jsonl`` or ``.tsv``).

    Arguments
    ---------
    path : str or Path
        Markup file.

    Returns
    -------
    list of (str, dict)
        ``("<file>:<line>", row)``.

    Raises
    ------
    ValueError
        On a malformed line or a missing field (file and line named).

    Example
    -------
    >>> p = getfixture("tmp_path") / "raw_x.jsonl"
    >>> _ = p.write_text('{"hash_id": "a"}\\n')
    >>> read_markup(p)
    Traceback (most recent call last):
    ...
    ValueError: ...raw_x.jsonl:1: missing field(s) audio_path, source_id, speaker_text, speaker_emo
    >>> p = p.with_suffix(".tsv")
    >>> cols = "hash_id audio_path source_id speaker_text speaker_emo"
    >>> _ = p.write_text(
    ...     cols.replace(" ", "\\t")
    ...     + "\\n"
    ...     + 'h1\\ta.wav\\ts1\\t"quote\\tneutral\\n'
    ...     + "h2\\tb.wav\\ts2\\ttext\\tsad\\n"
    ... )
    >>> [
    ...     (w.split(":")[-1], r["hash_id"], r["speaker_text"])
    ...     for w, r in read_markup(p)
    ... ]
    [('2', 'h1', '"quote'), ('3', 'h2', 'text')]
    """
    path = Path(path)
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        if path.suffix == ".tsv":
            # Tab-separated lines, no quoting: a text that starts with a
            # quote mark must not swallow the lines after it.
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            items = ((reader.line_num, row) for row in reader)
        else:
            items = enumerate(f, 1)
        for num, item in items:
            where = f"{path}:{num}"
            if isinstance(item, str):
                if not item.strip():
                    continue
                try:
                    item = json.loads(item)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{where}: malformed JSON line ({err})")
                if not isinstance(item, dict):
                    raise ValueError(f"{where}: malformed line (no object)")
            if None in item:
                raise ValueError(f"{where}: malformed row (too many fields)")
            missing = [k for k in _KEYS if item.get(k) in (None, "")]
            missing += [k for k in _PRESENT if k not in item]
            if missing:
                raise ValueError(
                    f"{where}: missing field(s) {', '.join(missing)}"
                )
            rows.append((where, item))
    return rows


def prepare_dusha(data_folder, save_folder, parts=PARTS, **kwargs):
    """Writes the prepared folder of Dusha's crowd part and returns it.

    Arguments
    ---------
    data_folder : str or Path
        Dusha root (holds ``crowd_train/``, ``crowd_test/``).
    parts : sequence of str
        Sub-folders to read.
    save_folder, **kwargs
        See :func:`~speechbrain_emoinv.data.prepared_folder.run_prepare`; an
        ``eval_speakers`` option replaces the default (the ``crowd_test``
        speakers).
    """

    def collect(report, add):
        root = Path(data_folder)
        files, test_spk, folded = {}, set(), 0
        for part in parts:
            if not (root / part).is_dir():
                raise FileNotFoundError(
                    f"{root / part}: no such Dusha part (give the parts you "
                    "have, e.g. --parts=[crowd_train])"
                )
            marks = sorted((root / part).glob("raw_*.jsonl")) + sorted(
                (root / part).glob("raw_*.tsv")
            )
            if not marks:
                raise FileNotFoundError(f"{root / part}: no raw_*.jsonl/.tsv")
            for mark in marks:
                for where, row in read_markup(mark):
                    key = str(row["hash_id"])
                    val = (
                        str(row["source_id"]),
                        row["speaker_emo"],
                        str(row["speaker_text"] or ""),
                        root / part / row["audio_path"],
                    )
                    if key in files:
                        if files[key][0] != val:
                            raise ValueError(
                                f"{where}: row of {key} disagrees with "
                                f"{files[key][1]} (speaker/emotion/text/path)"
                            )
                        folded += 1
                        continue
                    files[key] = (val, where)
                    if part == "crowd_test":
                        test_spk.add(f"dusha-{row['source_id']}")
        report.info["rows_folded"] = folded
        for key, ((spk, emo, text, wav), where) in sorted(files.items()):
            words = " ".join(text.lower().split())
            tid = f"t{zlib.crc32(words.encode()):08x}" if words else ""
            add(
                f"dusha-{key}",
                wav,
                f"dusha-{spk}",
                emo or "",
                where,
                text_id=tid,  # empty: unknown sentence
                lang="ru",
            )
        return dict(eval_speakers=sorted(test_spk) or None)

    return run_prepare(
        "dusha",
        data_folder,
        save_folder,
        collect,
        extra=dict(parts=list(parts)),
        **kwargs,
    )
