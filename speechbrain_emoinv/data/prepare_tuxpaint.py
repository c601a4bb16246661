"""Spoken stamp descriptions of Tux Paint (``tuxpaint-stamps-default``).

Read speech, one volunteer per language (the file name's ``_desc_<lang>``
suffix): ``<stamp>_desc_<lang>.ogg``
(``<stamp>_desc.ogg`` is English), 44.1 kHz Vorbis. Left out and counted:
the ``symbols/`` stamps (partly other speakers), French (two voices in one
folder, ``ambiguous_speaker``), languages with fewer than ``min_clips``
clips (``too_few_clips``), Brazilian Portuguese (school children, several
voices: ``ambiguous_speaker``) and names that do not parse (``bad_name``).

Authors: speechbrain-emoinv contributors
"""

import re
from collections import defaultdict

from speechbrain_emoinv.data.manifest import candidate
from speechbrain_emoinv.data.prepared_folder import installed_folder

DATA_FOLDER = "/usr/share/tuxpaint/stamps"
AMBIGUOUS = {"fr": "two voices in one folder", "pt_br": "school children"}
_NAME = re.compile(r"^(.+)_desc(?:_([a-z]{2,3}(?:_[a-z]{2})?))?\.(ogg|wav)$")


def collect_tuxpaint(data_folder, report, min_clips=20):
    """Lists the description clips as manifest candidates.

    Arguments
    ---------
    data_folder : str or Path
        Tux Paint's ``stamps`` folder.
    report : PrepareReport
        Receives what is left out (see the module docstring).
    min_clips : int
        Languages with fewer clips are left out.

    Returns
    -------
    list of dict
        Candidates (speaker ``tuxpaint-<lang>``, emotion ``neutral``).

    Example
    -------
    >>> from speechbrain_emoinv.data.audio_checks import PrepareReport
    >>> root = getfixture("tmp_path")
    >>> for n in ("a/cat_desc_es.ogg", "a/cat_desc.ogg", "symbols/x_desc.ogg"):
    ...     (root / n).parent.mkdir(exist_ok=True)
    ...     (root / n).touch()
    >>> rep = PrepareReport("tuxpaint")
    >>> [c["spk_id"] for c in collect_tuxpaint(root, rep, min_clips=1)]
    ['tuxpaint-en', 'tuxpaint-es']
    >>> rep.counts()
    {'symbols_stamp': 1}
    """
    root = installed_folder(data_folder, "tuxpaint-stamps-default")
    by_lang = defaultdict(list)
    for path in sorted(root.rglob("*")):
        if "_desc" not in path.name or not path.is_file():
            continue
        m = _NAME.match(path.name.lower())
        if "symbols" in path.relative_to(root).parts:
            report.add("symbols_stamp", path)
        elif not m:
            report.add("bad_name", path)
        elif (m.group(2) or "en") in AMBIGUOUS:
            report.add("ambiguous_speaker", path, AMBIGUOUS[m.group(2)])
        else:
            by_lang[m.group(2) or "en"].append((path, m.group(1)))
    cands = []
    for lang, items in sorted(by_lang.items()):
        if len(items) < min_clips:
            for path, _ in items:
                report.add("too_few_clips", path, f"{lang}: {len(items)}")
            continue
        for path, stamp in items:
            stem = f"{path.parent.name}-{stamp}"
            cands.append(
                candidate(
                    f"tuxpaint-{lang}-{stem}",
                    path,
                    f"tuxpaint-{lang}",
                    "neutral",
                    "tuxpaint",
                    text_id=stamp,
                    lang=lang,
                )
            )
    return cands
