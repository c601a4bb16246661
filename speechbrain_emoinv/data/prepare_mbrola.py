"""Prepares the simulated MBROLA emotional corpus (generating it if needed).

The speaker split is fixed (``mbrola.voices.EVAL_VOICES`` /
``VALID_VOICES``; simulated copies follow their source voice).

Authors: speechbrain-emoinv contributors
"""

import csv
import os
from pathlib import Path

from speechbrain.utils.logger import get_logger

from speechbrain_emoinv.data.audio_checks import PrepareReport
from speechbrain_emoinv.data.emotions import map_emotion
from speechbrain_emoinv.data.manifest import candidate
from speechbrain_emoinv.data.mbrola.corpus import (
    GENERATOR_VERSION,
    METADATA_FIELDS,
    generate_corpus,
)
from speechbrain_emoinv.data.mbrola.voices import voice_split
from speechbrain_emoinv.data.prepared_folder import (
    inputs_digest,
    skip,
    write_prepared_folder,
)

logger = get_logger(__name__)


def read_metadata(data_folder):
    """Reads ``metadata.csv`` of a generated corpus into candidates.

    Arguments
    ---------
    data_folder : str or Path
        Folder written by ``generate_corpus``.

    Returns
    -------
    (list of dict, dict)
        Candidates and speaker -> split.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing metadata; malformed row or unknown style (file:line).
    """
    data_folder = Path(data_folder)
    path = data_folder / "metadata.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: generate the corpus first "
            "(emoinv-make-corpus or prepare_mbrola(..., generate=True))"
        )
    cands, split_of = [], {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != METADATA_FIELDS:
            raise ValueError(f"{path}:1: unexpected header")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row or None in row.values():
                raise ValueError(f"{where}: malformed row")
            emotion = map_emotion("mbrola", row["emotion"], where)
            cands.append(
                candidate(
                    row["ID"],
                    data_folder / row["wav"],
                    row["spk_id"],
                    emotion,
                    "mbrola",
                    text_id=row["text_id"],
                    gender=row["gender"],
                    lang=row["lang"],
                    # Synthetic speech, every voice (the corpus's own
                    # column marks the vocal-tract copies only).
                    simulated=1,
                )
            )
            split = voice_split(row["voice"])
            if row["split"] != split:
                raise ValueError(
                    f"{where}: split {row['split']!r} differs from the "
                    f"fixed split {split!r} of voice {row['voice']}"
                )
            split_of[row["spk_id"]] = split
    return cands, split_of


def prepare_mbrola(
    data_folder,
    save_folder,
    size="default",
    num_workers=None,
    seed=1234,
    generate=True,
    n_trials=4000,
    hard_fraction=0.5,
    on_bad_audio="skip",
):
    """Generates (when needed) and prepares the MBROLA corpus.

    Writes ``train.csv valid.csv eval.csv``, the speaker lists,
    ``trials/{valid,eval}/{neutral,cross,emo_emo,merged}.txt`` and
    ``prepare_report.json`` into ``save_folder``; a second call with the
    same options does nothing.

    Arguments
    ---------
    data_folder : str or Path
        Corpus folder (generated here when ``generate``).
    save_folder : str or Path
        Prepared folder.
    size : str
        ``tiny``, ``default`` or ``full``.
    num_workers : int or None
        Processes (default: the usable cores).
    seed : int
        Corpus and trial seed.
    generate : bool
        Generate or complete the corpus first (resumable, fast when done).
    n_trials : int
        Trials per category and split.
    hard_fraction : float
        Same-gender share of the non-target trials.
    on_bad_audio : str
        ``"skip"`` (counted) or ``"error"``.

    Returns
    -------
    Path
        ``save_folder``.

    Example
    -------
    >>> from speechbrain_emoinv.data.mbrola.corpus import SIZES
    >>> tmp = getfixture("tmp_path")
    >>> SIZES["doc"] = dict(
    ...     voices=("us1", "us2", "us3"),
    ...     styles=("neutral", "sad"),
    ...     n_sentences=2,
    ...     vtl_factors=(),
    ...     variation=1.0,
    ... )
    >>> out = prepare_mbrola(
    ...     tmp / "c", tmp / "p", size="doc", num_workers=1, n_trials=4
    ... )
    >>> (out / "eval_speakers.txt").read_text()
    'mb-us2\\n'
    >>> del SIZES["doc"]
    """
    save_folder = Path(save_folder)
    options = dict(
        corpus="mbrola",
        manifest="simulated=1 on every row",  # 0 on most rows before 2026-12-05
        # A corpus of an older generator is made again (generate_corpus).
        generator_version=GENERATOR_VERSION,
        data_folder=str(Path(data_folder).resolve()),
        size=size,
        seed=seed,
        n_trials=n_trials,
        hard_fraction=hard_fraction,
        on_bad_audio=on_bad_audio,
    )
    # The key holds the listing of the corpus files (inputs_digest), so a
    # changed corpus is prepared again.
    if (Path(data_folder) / "metadata.csv").is_file():
        cands, _ = read_metadata(data_folder)
        options["inputs"] = inputs_digest(cands)
        if skip(save_folder, options):
            logger.info(
                f"[prepare mbrola] {save_folder} already prepared, skipping"
            )
            return save_folder
    if num_workers is None:
        num_workers = len(os.sched_getaffinity(0))
    if generate:
        generate_corpus(data_folder, size, num_workers, seed)
    cands, split_of = read_metadata(data_folder)
    options["inputs"] = inputs_digest(cands)
    write_prepared_folder(
        cands,
        save_folder,
        split_of,
        options,
        report=PrepareReport("mbrola"),
        n_trials=n_trials,
        hard_fraction=hard_fraction,
        seed=seed,
        on_bad_audio=on_bad_audio,
        num_workers=num_workers,
    )
    return save_folder
