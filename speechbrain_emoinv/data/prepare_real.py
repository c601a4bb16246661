"""Real recorded voices from Debian packages: the stage-1 corpus.

No speech corpus can be downloaded here, but Debian *main* ships real
recordings inside other packages (``tools/install_system_deps.sh``
installs them). Five sources, one collector each (stage 1 picks some:
``real_sources`` in ``hparams/emoinv.yaml``):

============  =================================  ========================
source        what                               voices
============  =================================  ========================
tuxpaint      read stamp descriptions            one per language
asterisk      read IVR prompts (8 packages)      7 (Allison: en and es)
ktuberling    read single words                  one per language folder
fotaq         acted game dialogue (English)      characters merged into
                                                 voices
klettres      read letters and syllables         one per language folder
                                                 (``de``: two)
============  =================================  ========================

Speaker ids are voices: read voices that two packages share are merged by
the committed table ``real_voice_aliases.json`` (``tools/
real_voice_aliases.py``), game characters by ``fotaq_voices.json``.
The split is speaker-disjoint and fixed by the caller (``real_valid_speakers``
and ``real_eval_speakers`` in ``hparams/emoinv.yaml``, so the stage-1
cache key covers it): acted voices and a few read voices evaluate,
including Allison (her English and Spanish prompts give cross-language
target trials) and other English and Spanish voices (same-language
impostors). Trial lists (text-independent) per split: ``real_read``,
``real_acted`` and ``merged`` (their union). Emotion: ``neutral`` for
read prompts, ``unknown`` for the unlabelled acted lines.

Authors: speechbrain-emoinv contributors
"""

import json
import os
from pathlib import Path

from speechbrain.utils.logger import get_logger

from speechbrain_emoinv.data.audio_checks import PrepareReport
from speechbrain_emoinv.data.prepare_asterisk import collect_asterisk
from speechbrain_emoinv.data.prepare_fotaq import collect_fotaq
from speechbrain_emoinv.data.prepare_klettres import collect_klettres
from speechbrain_emoinv.data.prepare_ktuberling import collect_ktuberling
from speechbrain_emoinv.data.prepare_tuxpaint import collect_tuxpaint
from speechbrain_emoinv.data.prepared_folder import (
    inputs_digest,
    skip,
    split_speakers,
    write_prepared_folder,
)

logger = get_logger(__name__)

# Read voices two packages share (tools/real_voice_aliases.py): id -> id.
ALIASES_FILE = Path(__file__).with_name("real_voice_aliases.json")
# Every source's installed folder; a new source goes last (a voice of a
# later source is an alias of an earlier one, so adding a source renames
# no voice of the others).
SOURCES = {
    "tuxpaint": "/usr/share/tuxpaint/stamps",
    "asterisk": "/usr/share/asterisk/sounds",
    "ktuberling": "/usr/share/ktuberling/sounds",
    "fotaq": "/usr/share/scummvm/flight-of-the-amazon-queen",
    "klettres": "/usr/share/klettres",
}
LISTS = {
    "real_read": ("tuxpaint", "asterisk", "ktuberling", "klettres"),
    "real_acted": ("fotaq",),
}


def collect_real(sources, work_folder, report, num_workers=2):
    """Candidates of every source in ``sources`` (name -> folder).

    Arguments
    ---------
    sources : dict
        Source name (keys of :data:`SOURCES`) -> its installed folder.
    work_folder : str or Path
        Where decoded or extracted clips are written.
    report : PrepareReport
        Receives what each collector leaves out.
    num_workers : int
        Parallel decoders.

    Returns
    -------
    list of dict
    """
    cands = []
    for name, folder in sources.items():
        if name == "tuxpaint":
            cands += collect_tuxpaint(folder, report)
        elif name == "asterisk":
            cands += collect_asterisk(folder, work_folder, report, num_workers)
        elif name == "ktuberling":
            cands += collect_ktuberling(folder, report)
        elif name == "fotaq":
            cands += collect_fotaq(folder, work_folder, report)
        elif name == "klettres":
            cands += collect_klettres(folder, report)
        else:
            raise ValueError(f"unknown real-speech source {name!r}")
    return cands


def prepare_real(
    save_folder,
    valid_speakers,
    eval_speakers,
    sources=None,
    n_trials=3000,
    seed=1234,
    num_workers=None,
):
    """Writes the prepared folder of the real voices (16 kHz mono copies).

    Arguments
    ---------
    save_folder : str or Path
        Prepared folder (``docs/interfaces.md``); decoded and converted
        clips go under it too.
    valid_speakers, eval_speakers : sequence of str
        Fixed speaker split; every other voice trains.
    sources : dict or None
        Source -> folder (default: every source of :data:`SOURCES`).
    n_trials : int
        Trials per list and split.
    seed : int
        Trial seed.
    num_workers : int or None
        Processes for decoding and checks (default: the usable cores).

    Returns
    -------
    Path
        ``save_folder``.
    """
    save_folder = Path(save_folder)
    sources = dict(SOURCES if sources is None else sources)
    options = dict(
        corpus="real",
        sources={k: str(Path(v).resolve()) for k, v in sources.items()},
        valid_speakers=sorted(valid_speakers),
        eval_speakers=sorted(eval_speakers),
        n_trials=n_trials,
        seed=seed,
    )
    num_workers = num_workers or len(os.sched_getaffinity(0))
    report = PrepareReport("real")
    # Listing (and decoding once) comes first: a changed input invalidates.
    cands = collect_real(sources, save_folder / "sources", report, num_workers)
    alias = json.loads(ALIASES_FILE.read_text())["alias"]
    for c in cands:
        c["spk_id"] = alias.get(c["spk_id"], c["spk_id"])
    options["inputs"] = inputs_digest(cands)
    if skip(save_folder, options):
        logger.info(f"[prepare real] {save_folder} already prepared, skipping")
        return save_folder
    write_prepared_folder(
        cands,
        save_folder,
        split_speakers(
            [c["spk_id"] for c in cands], valid_speakers, eval_speakers
        ),
        options,
        report=report,
        n_trials=n_trials,
        seed=seed,
        num_workers=num_workers,
        lists={k: v for k, v in LISTS.items() if set(v) & set(sources)},
    )
    return save_folder
