"""Prepares RAVDESS (speech part).

Layout: ``<data_folder>/Actor_NN/MM-VV-EE-II-SS-RR-AA.wav`` (modality,
vocal channel, emotion, intensity, statement, repetition, actor; odd actors
male). Only audio-only speech (``03-01-``) is used; song files are left
out and counted (``not_speech``). Audio is 48 kHz: resampled copies are
written (counted as ``resampled``).

Authors: speechbrain-emoinv contributors
"""

import re

from speechbrain_emoinv.data.prepared_folder import audio_glob, run_prepare

_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def prepare_ravdess(data_folder, save_folder, **kwargs):
    """Writes RAVDESS's prepared folder ``save_folder`` and returns it.

    Arguments
    ---------
    data_folder : str or Path
        Folder holding ``Actor_01`` ... ``Actor_24``.
    save_folder, **kwargs
        See :func:`~speechbrain_emoinv.data.prepared_folder.run_prepare`.

    Raises
    ------
    ValueError
        On a malformed file name or an actor field that disagrees with its
        folder (file named).
    """

    def collect(report, add):
        for wav in audio_glob(data_folder, "Actor_*/*.wav", report):
            m = _NAME.match(wav.stem)
            actor_dir = wav.parent.name.split("_")[-1]
            if not m or m.group(7) != actor_dir:
                raise ValueError(
                    f"{wav}: RAVDESS file name must be 7 two-digit "
                    f"fields ending with the actor ({actor_dir})"
                )
            modality, channel, emo, _, stmt, _, actor = m.groups()
            if (modality, channel) != ("03", "01"):
                report.add("not_speech", str(wav))
                continue
            add(
                f"ravdess-{wav.stem}",
                wav,
                f"ravdess-{actor}",
                emo,
                text_id=f"stmt{stmt}",
                gender="m" if int(actor) % 2 else "f",
                lang="en",
            )

    return run_prepare("ravdess", data_folder, save_folder, collect, **kwargs)
