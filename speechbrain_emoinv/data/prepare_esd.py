"""Prepares ESD (Emotional Speech Dataset).

Layout: ``<data_folder>/<spk>/<Emotion>/[<subset>/]<spk>_<utt>.wav``;
speakers 0001-0010 Mandarin, 0011-0020 English; other folders at the root
are left out and counted (``not_speaker_folder``). The 350 sentences are
read in every emotion (utterance n of an emotion block is sentence
``(n - 1) % 350 + 1``), giving ``text_id`` ``<lang>-<sentence>``.

Authors: speechbrain-emoinv contributors
"""

import re
from pathlib import Path

from speechbrain_emoinv.data.prepared_folder import audio_glob, run_prepare

_NAME = re.compile(r"^(\d{4})_(\d{6})$")


def prepare_esd(data_folder, save_folder, speaker_genders=None, **kwargs):
    """Writes ESD's prepared folder ``save_folder`` and returns it.

    Arguments
    ---------
    data_folder : str or Path
        ESD root (holds ``0001`` ... ``0020``).
    speaker_genders : dict or None
        Speaker folder (``"0011"``) -> ``m``/``f``; ESD's file names do not
        carry gender, so it stays empty unless given.
    save_folder, **kwargs
        See :func:`~speechbrain_emoinv.data.prepared_folder.run_prepare`.

    Raises
    ------
    ValueError
        On a file name that is not ``<spk>_<6 digits>.wav`` under its
        speaker folder.
    """
    genders = dict(speaker_genders or {})

    def collect(report, add):
        root = Path(data_folder)
        for spk_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            if not re.fullmatch(r"\d{4}", spk_dir.name):
                report.add("not_speaker_folder", str(spk_dir), "not 4 digits")
                continue
            lang = "zh" if int(spk_dir.name) <= 10 else "en"
            for emo_dir in sorted(p for p in spk_dir.iterdir() if p.is_dir()):
                for wav in audio_glob(emo_dir, "**/*.wav", report):
                    m = _NAME.match(wav.stem)
                    if not m or m.group(1) != spk_dir.name:
                        raise ValueError(
                            f"{wav}: ESD file name must be "
                            f"{spk_dir.name}_<6 digits>.wav"
                        )
                    sent = (int(m.group(2)) - 1) % 350 + 1
                    add(
                        f"esd-{wav.stem}",
                        wav,
                        f"esd-{spk_dir.name}",
                        emo_dir.name,
                        text_id=f"{lang}-{sent:03d}",
                        gender=genders.get(spk_dir.name, ""),
                        lang=lang,
                    )

    return run_prepare(
        "esd",
        data_folder,
        save_folder,
        collect,
        extra=dict(speaker_genders=genders),
        **kwargs,
    )
