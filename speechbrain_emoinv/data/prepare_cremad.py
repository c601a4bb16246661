"""Prepares CREMA-D.

Layout: ``<data_folder>/AudioWAV/<actor>_<sentence>_<EMO>_<level>.wav``;
optional ``VideoDemographics.csv`` (``ActorID``, ``Sex``) gives genders.

Authors: speechbrain-emoinv contributors
"""

import csv
import re
from pathlib import Path

from speechbrain_emoinv.data.prepared_folder import audio_glob, run_prepare

_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def read_demographics(path):
    """Actor -> gender from CREMA-D's ``VideoDemographics.csv``.

    Arguments
    ---------
    path : str or Path
        The CSV (``ActorID``, ``Sex`` columns).

    Returns
    -------
    dict
        Actor ID -> ``m`` or ``f``.

    Example
    -------
    >>> p = getfixture("tmp_path") / "d.csv"
    >>> _ = p.write_text("ActorID,Age,Sex\\n1001,51,Male\\n1002,21,Female\\n")
    >>> read_demographics(p)
    {'1001': 'm', '1002': 'f'}
    """
    out = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        for row in reader:
            where = f"{path}:{reader.line_num}"
            try:
                sex = row["Sex"].strip().lower()
                out[row["ActorID"].strip()] = {"male": "m", "female": "f"}[sex]
            except (KeyError, AttributeError):
                raise ValueError(f"{where}: malformed row {row}")
    return out


def prepare_cremad(data_folder, save_folder, **kwargs):
    """Writes CREMA-D's prepared folder ``save_folder`` and returns it.

    Arguments
    ---------
    data_folder : str or Path
        CREMA-D root (holds ``AudioWAV/``).
    save_folder, **kwargs
        See :func:`~speechbrain_emoinv.data.prepared_folder.run_prepare`.

    Raises
    ------
    ValueError
        On a file name not matching the CREMA-D pattern (file named).
    """

    def collect(report, add):
        root = Path(data_folder)
        demo = root / "VideoDemographics.csv"
        genders = read_demographics(demo) if demo.is_file() else {}
        for wav in audio_glob(root / "AudioWAV", "*.wav", report):
            m = _NAME.match(wav.stem)
            if not m:
                raise ValueError(
                    f"{wav}: CREMA-D file name must be "
                    "<actor>_<SENT>_<EMO>_<LV>.wav"
                )
            actor, sentence, emo, _ = m.groups()
            add(
                f"cremad-{wav.stem}",
                wav,
                f"cremad-{actor}",
                emo,
                text_id=sentence,
                gender=genders.get(actor, ""),
                lang="en",
            )

    return run_prepare("cremad", data_folder, save_folder, collect, **kwargs)
