"""IVR prompts of Asterisk's eight prompt packages (Debian main).

``asterisk-core-sounds-{en,es,fr,it,ru}-g722`` (raw G.722, 16 kHz) and
``asterisk-prompt-{es-co,fr-armelle,it-menardi-wav}`` (raw GSM at 8 kHz,
or WAV) lay one folder per voice under ``sounds/``. Allison records both
``en_US`` and ``es_MX``: one speaker, two languages. Raw G.722 and GSM are
decoded once with ``ffmpeg`` into ``<work_folder>/asterisk/``.

Authors: speechbrain-emoinv contributors
"""

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from speechbrain_emoinv.data.manifest import candidate
from speechbrain_emoinv.data.prepared_folder import installed_folder

DATA_FOLDER = "/usr/share/asterisk/sounds"
# folder -> (speaker, language, gender)
VOICES = {
    "en_US_f_Allison": ("allison", "en", "f"),
    "es_MX_f_Allison": ("allison", "es", "f"),
    "fr_CA_f_June": ("june", "fr", "f"),
    "it_IT_m_Carlo": ("carlo", "it", "m"),
    "ru_RU_f_IvrvoiceRU": ("ivrvoice", "ru", "f"),
    "es": ("es-co", "es", ""),
    "fr": ("armelle", "fr", "f"),
    "it_IT_f_Menardi": ("menardi", "it", "f"),
}
RAW_FORMATS = {".g722": ["-f", "g722"], ".gsm": ["-f", "gsm"]}


def decode(jobs):
    """Decodes raw G.722 / GSM prompts to WAV with one ffmpeg call.

    Arguments
    ---------
    jobs : list of (Path, Path)
        ``(source, WAV to write)``. A WAV is given its source's mtime and
        kept while the two agree (a replaced source is decoded again: the
        prepared folder's key reads the WAV, not the source).
    """
    jobs = [(src, Path(dst)) for src, dst in jobs if not _current(src, dst)]
    if not jobs:
        return
    cmd = ["ffmpeg", "-v", "error", "-y"]
    for src, _ in jobs:
        cmd += [*RAW_FORMATS[Path(src).suffix], "-i", str(src)]
    for i, (_, dst) in enumerate(jobs):
        dst.parent.mkdir(parents=True, exist_ok=True)
        cmd += ["-map", f"{i}:a", str(dst.with_name(f".{dst.name}.tmp.wav"))]
    subprocess.run(cmd, check=True)
    for src, dst in jobs:
        tmp = dst.with_name(f".{dst.name}.tmp.wav")
        stamp = os.stat(src).st_mtime_ns
        os.utime(tmp, ns=(stamp, stamp))
        tmp.replace(dst)


def _current(src, dst):
    """Whether ``dst`` is the decoded copy of ``src`` as it is now."""
    try:
        return os.stat(dst).st_mtime_ns == os.stat(src).st_mtime_ns
    except FileNotFoundError:
        return False


def collect_asterisk(data_folder, work_folder, report, num_workers=2):
    """Lists the prompts of every known voice folder as candidates.

    Arguments
    ---------
    data_folder : str or Path
        Asterisk's ``sounds`` folder.
    work_folder : str or Path
        Where decoded WAV copies go.
    report : PrepareReport
        Receives ``unknown_format`` and ``decode_failed``.
    num_workers : int
        Parallel ffmpeg processes.

    Returns
    -------
    list of dict
        Candidates (speaker ``asterisk-<voice>``, emotion ``neutral``).
    """
    root = installed_folder(data_folder, "asterisk-core-sounds-en-g722")
    jobs, cands = [], []
    for folder, (voice, lang, gender) in VOICES.items():
        for path in sorted((root / folder).rglob("*")):
            if not path.is_file():
                continue
            suffix = path.suffix.lower()
            rel = path.relative_to(root / folder).with_suffix("")
            stem = "-".join(rel.parts)
            wav = path
            if suffix in RAW_FORMATS:
                wav = Path(work_folder) / "asterisk" / folder / f"{stem}.wav"
                jobs.append((path, wav))
            elif suffix != ".wav":
                report.add("unknown_format", path)
                continue
            cands.append(
                candidate(
                    f"asterisk-{voice}-{lang}-{stem}",
                    wav,
                    f"asterisk-{voice}",
                    "neutral",
                    "asterisk",
                    text_id=stem,
                    gender=gender,
                    lang=lang,
                )
            )
    # One ffmpeg process per batch of prompts: starting one per file costs
    # more than the decoding. A failing batch is retried file by file.
    batches = [jobs[i : i + 100] for i in range(0, len(jobs), 100)]
    with ThreadPoolExecutor(num_workers) as pool:
        failed = [
            b
            for b, ok in zip(batches, pool.map(_try, batches), strict=True)
            if not ok
        ]
    for job in (j for b in failed for j in b):
        if not _try([job]):  # the audio check then counts it as missing
            report.add("decode_failed", job[0], "ffmpeg could not decode it")
    return cands


def _try(jobs):
    try:
        decode(jobs)
    except subprocess.CalledProcessError:
        return False
    return True
