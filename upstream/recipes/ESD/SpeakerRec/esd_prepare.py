"""Data preparation for the Emotional Speech Dataset (ESD).

ESD (Zhou et al., ICASSP 2021) has 10 Mandarin (0001-0010) and 10 English
(0011-0020) speakers, each reading the same 350 sentences in five emotions:

    <data_folder>/<speaker>/<Emotion>/[<subset>/]<speaker>_<6 digits>.wav

(the ``train``/``evaluation``/``test`` subfolders of some releases are
optional). The CSVs have the columns ``ID, duration, wav, spk_id,
emotion``. Per speaker and emotion, the last ``valid_ratio`` of the files
in name order (the same sentences in every emotion) go to ``valid.csv``,
the rest to ``train.csv``; ``test_speakers`` go to ``test.csv`` only.

Download: https://github.com/HLTSingapore/Emotional-Speech-Data

Authors
 * speechbrain-emoinv contributors 2026
"""

import csv
import math
import os
import re

from speechbrain.dataio.dataio import load_pkl, read_audio_info, save_pkl
from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)
SPLITS = ("train", "valid", "test")
OPT_FILE = "opt_esd_prepare.pkl"
FILE_NAME = re.compile(r"(\d{4})_\d{6}\.wav")


def prepare_esd(
    data_folder, save_folder, valid_ratio=0.1, test_speakers=(), skip_prep=False
):
    """Writes ``train.csv``, ``valid.csv`` and ``test.csv`` of ESD.

    Arguments
    ---------
    data_folder : str
        ESD root (holds the speaker folders ``0001`` ... ``0020``).
    save_folder : str
        Where the CSVs are written.
    valid_ratio : float
        Share of each speaker's files per emotion kept for validation.
    test_speakers : list of str
        Speaker folders (``"0019"``) kept out of training and validation.
    skip_prep : bool
        If True, does nothing. The CSVs of an earlier call with the same
        arguments are kept; other arguments write them anew.

    Raises
    ------
    FileNotFoundError
        When ``data_folder`` holds no ESD file.

    Example
    -------
    >>> prepare_esd("ESD", "results/save", skip_prep=True)
    """
    if skip_prep:
        return
    csvs = {s: os.path.join(save_folder, f"{s}.csv") for s in SPLITS}
    conf = {
        "data_folder": data_folder,
        "valid_ratio": valid_ratio,
        "test_speakers": sorted(test_speakers),
    }
    opt_file = os.path.join(save_folder, OPT_FILE)
    files = [*csvs.values(), opt_file]
    if all(map(os.path.isfile, files)) and load_pkl(opt_file) == conf:
        logger.info("ESD CSVs found in %s, skipping preparation", save_folder)
        return
    rows = {split: [] for split in SPLITS}
    others = []
    for speaker in sorted(os.listdir(data_folder)):
        speaker_dir = os.path.join(data_folder, speaker)
        if not (re.fullmatch(r"\d{4}", speaker) and os.path.isdir(speaker_dir)):
            others.append(speaker)
            continue
        for emotion in sorted(os.listdir(speaker_dir)):
            wavs = list_wavs(os.path.join(speaker_dir, emotion), speaker)
            n_valid = math.ceil(len(wavs) * valid_ratio) if len(wavs) > 1 else 0
            for i, wav in enumerate(wavs):
                split = "valid" if i >= len(wavs) - n_valid else "train"
                if speaker in test_speakers:
                    split = "test"
                info = read_audio_info(wav)
                rows[split].append(
                    {
                        "ID": os.path.basename(wav)[:-4],
                        "duration": info.num_frames / info.sample_rate,
                        "wav": wav,
                        "spk_id": speaker,
                        "emotion": emotion.lower(),
                    }
                )
    if others:
        logger.warning(
            "%s: %d entries are not speaker folders (4 digits), skipped: %s",
            data_folder,
            len(others),
            ", ".join(others),
        )
    if not rows["train"]:
        raise FileNotFoundError(
            f"no ESD file (<speaker>/<Emotion>/<speaker>_<6 digits>.wav) "
            f"under {data_folder}"
        )
    os.makedirs(save_folder, exist_ok=True)
    if os.path.isfile(opt_file):  # the CSVs about to change are not its
        os.remove(opt_file)
    for split, path in csvs.items():
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows["train"][0]))
            writer.writeheader()
            writer.writerows(rows[split])
        logger.info("%s: %d utterances", path, len(rows[split]))
    save_pkl(conf, opt_file)  # last: a preparation cut short is redone


def list_wavs(emotion_dir, speaker):
    """ESD files of ``speaker`` under ``emotion_dir``, in name order.

    Arguments
    ---------
    emotion_dir : str
        A speaker's emotion folder (with or without subset folders).
    speaker : str
        The speaker folder's name.

    Returns
    -------
    list of str
    """
    found = []
    for root, _, files in os.walk(emotion_dir):
        for name in files:
            match = FILE_NAME.fullmatch(name)
            if match and match.group(1) == speaker:
                found.append(os.path.join(root, name))
    return sorted(found, key=os.path.basename)
