#!/usr/bin/env python3
"""Finds read voices that two Debian packages share (one person, two ids).

A volunteer may record for two packages (e.g. Tux Paint, KTuberling and
KLettres in one language): two speaker ids, one voice, which would put one
person on both sides of a split and make impostor trials of one voice.
Like ``tools/fotaq_voices.py`` (whose calibration this reuses), the
decision is made once and committed to
``speechbrain_emoinv/data/real_voice_aliases.json`` (read by
``prepare_real``):

1. up to ``--clips`` utterances per read voice of the prepared real corpus
   (every split) are embedded by Resemblyzer's GE2E encoder;
2. the threshold is the ``--quantile`` of the voices' split-half
   (odd / even clips) centroid cosines;
3. two voices of different sources whose centroids are at least that
   similar become one speaker, the closest pair first: the voice of the
   source listed later in ``prepare_real.SOURCES`` becomes an alias of the
   other (adding a source renames no voice of the earlier ones).

Run after a ``prepare_real`` of every source (``sources=None``, also those
stage 1 leaves out; needs ``.venv-resemblyzer``)::

    .venv-resemblyzer/bin/python -m tools.real_voice_aliases --data DIR

Authors: speechbrain-emoinv contributors
"""

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.data.prepare_real import ALIASES_FILE, SOURCES
from speechbrain_emoinv.data.prepared_folder import spread
from tools import voice_calibration as vc


def merge_voices(pairs, threshold, sources=tuple(SOURCES)):
    """Alias table of the voice pairs at least ``threshold`` similar.

    Arguments
    ---------
    pairs : list of (float, str, str)
        Cosine and the two voice ids (``<source>-...``), closest first.
    threshold : float
        Merge threshold.
    sources : sequence of str
        Source order: a voice of a later source becomes the alias.

    Returns
    -------
    dict
        Voice id -> the id it is merged into.

    Example
    -------
    >>> pairs = [
    ...     (0.97, "klettres-de", "ktuberling-de"),
    ...     (0.96, "klettres-de", "tuxpaint-en"),
    ...     (0.95, "ktuberling-de", "tuxpaint-de"),
    ...     (0.90, "klettres-en", "tuxpaint-en"),
    ... ]
    >>> merge_voices(pairs, 0.95)
    {'klettres-de': 'tuxpaint-de', 'ktuberling-de': 'tuxpaint-de'}
    """
    rank = {source: i for i, source in enumerate(sources)}
    alias = {}
    for cos, *pair in pairs:
        if cos >= threshold:
            a, b = sorted(pair, key=lambda v: rank[v.split("-")[0]])
            alias.setdefault(b, alias.get(a, a))
    for b in alias:  # an alias of a voice that became an alias itself
        while alias[b] in alias:
            alias[b] = alias[alias[b]]
    return alias


def main():
    """Embeds, calibrates, compares voices across sources, writes."""
    ap = vc.calibration_parser(
        __doc__.split("\n")[0], str(vc.ROOT / "data/real/prepared"), 30
    )
    args = ap.parse_args()
    from resemblyzer import VoiceEncoder, preprocess_wav

    by_voice = defaultdict(list)
    for split in ("train", "valid", "eval"):
        for r in read_manifest(Path(args.data) / f"{split}.csv"):
            if r["corpus"] != "fotaq":
                by_voice[r["spk_id"]].append(r["wav"])
    encoder = VoiceEncoder("cpu", verbose=False)
    emb = {}
    for voice, wavs in sorted(by_voice.items()):
        vecs = [
            encoder.embed_utterance(preprocess_wav(sf.read(wav)[0], 16000))
            for wav in spread(wavs, args.clips)
        ]
        emb[voice] = np.stack([v for v in vecs if np.isfinite(v).all()])
        print(f"{voice}: {len(wavs)} clips, {len(emb[voice])} embedded")

    voices = sorted(emb)
    _, threshold = vc.split_half_threshold(emb, voices, args.quantile)
    cent = {v: vc.unit(emb[v].mean(0)) for v in voices}
    pairs = sorted(
        (float(cent[a] @ cent[b]), a, b)
        for i, a in enumerate(voices)
        for b in voices[i + 1 :]
        if a.split("-")[0] != b.split("-")[0]
    )[::-1]
    alias = merge_voices(pairs, threshold)
    out = dict(
        procedure=(
            "tools/real_voice_aliases.py: Resemblyzer GE2E centroids of up to "
            f"{args.clips} clips per read voice; threshold = the "
            f"{args.quantile} quantile of split-half centroid cosines; voices "
            "of different sources at least that similar are one speaker "
            "(the id of the source later in prepare_real.SOURCES is the alias)"
        ),
        threshold_cosine=round(threshold, 4),
        closest_cross_source_pairs=[
            [round(c, 4), a, b] for c, a, b in pairs[:10]
        ],
        alias=alias,
    )
    Path(ALIASES_FILE).write_text(json.dumps(out, indent=1) + "\n")
    print(f"threshold {threshold:.3f}; aliases {alias}; top pairs {pairs[:5]}")


if __name__ == "__main__":
    main()
