#!/usr/bin/env python3
"""Merges Flight of the Amazon Queen characters into voices (actors).

One actor voices several characters, so a character is not a speaker.
This script decides, once, which characters share a voice and commits the
decision to ``speechbrain_emoinv/data/fotaq_voices.json`` (read by
``prepare_fotaq``):

1. up to ``--clips`` dialogue clips per character (evenly spaced over its
   sorted clip names) are embedded by an external pretrained encoder that
   never saw this game (Resemblyzer's GE2E, weights inside its wheel);
2. "same voice" is calibrated on the data: every character's clips are
   split in two halves (odd / even), and the cosine between the two half
   centroids is what one voice scores against itself; the merge
   threshold is the ``--quantile`` of those split-half cosines;
3. characters are merged by average-linkage agglomerative clustering of
   their centroids (scikit-learn), cosine distance cut at that threshold;
4. purity check: every clip is assigned to the nearest voice centroid
   (its own clip left out of its centroid); the share assigned to its
   own voice is reported per voice and overall.

Run (needs ``.venv-resemblyzer`` set up as ``benchmarks/reference_resemblyzer.py``
says, with the ``.pth`` onto ``.venv``: this script imports speechbrain)::

    .venv-resemblyzer/bin/python -m tools.fotaq_voices

Authors: speechbrain-emoinv contributors
"""

import io
import json
from collections import defaultdict
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from speechbrain_emoinv.data import prepare_fotaq
from speechbrain_emoinv.data.prepared_folder import spread
from tools import voice_calibration as vc


def main():
    """Embeds, clusters, checks purity and writes the voice table."""
    ap = vc.calibration_parser(
        __doc__.split("\n")[0], prepare_fotaq.DATA_FOLDER, 40
    )
    ap.add_argument("--out", default=str(prepare_fotaq.VOICES_FILE))
    args = ap.parse_args()
    from resemblyzer import VoiceEncoder, preprocess_wav
    from sklearn.cluster import AgglomerativeClustering

    path = Path(args.data) / "queen.1c"
    table = prepare_fotaq.read_table(path)
    blob = path.read_bytes()

    def read(name):
        offset, size = table[name]
        return blob[offset : offset + size]

    clips = defaultdict(list)
    for name, who in sorted(
        prepare_fotaq.character_of_clips(table, read).items()
    ):
        if who is not None:
            clips[who].append(name)
    encoder = VoiceEncoder("cpu", verbose=False)
    emb = {}
    for who, names in sorted(clips.items()):
        vecs = []
        for name in spread(names, args.clips):
            x, sr = sf.read(io.BytesIO(read(name)), dtype="float32")
            g = gcd(sr, 16000)
            x = resample_poly(x, 16000 // g, sr // g)
            wav = preprocess_wav(x, source_sr=16000)
            if len(wav) >= 8000:  # at least 0.5 s of speech after VAD
                vecs.append(encoder.embed_utterance(wav))
        emb[who] = np.stack(vecs)
        print(f"{who}: {len(names)} clips, {len(vecs)} embedded")

    chars = sorted(c for c in emb if len(emb[c]) >= 4)
    halves, threshold = vc.split_half_threshold(emb, chars, args.quantile)
    cent = vc.unit(np.stack([emb[c].mean(0) for c in chars]))
    labels = AgglomerativeClustering(
        n_clusters=None,
        metric="cosine",
        linkage="average",
        distance_threshold=1 - threshold,
    ).fit_predict(cent)
    groups = defaultdict(list)
    for c, lab in zip(chars, labels, strict=True):
        groups[lab].append(c)
    voice_of = {}
    for members in groups.values():
        name = "_".join(sorted(members)).lower()
        for c in members:
            voice_of[c] = name
    # Purity: nearest voice centroid of each clip, leave-one-out.
    voices = sorted(set(voice_of.values()))
    x = np.concatenate([vc.unit(emb[c]) for c in chars])
    y = np.concatenate(
        [[voices.index(voice_of[c])] * len(emb[c]) for c in chars]
    )
    sums = np.stack([x[y == v].sum(0) for v in range(len(voices))])
    counts = np.bincount(y, minlength=len(voices)).astype(float)
    own = sums[y] - x
    cent_all = np.repeat(sums[None], len(x), 0)
    cent_all[np.arange(len(x)), y] = own
    n_all = np.repeat(counts[None], len(x), 0)
    n_all[np.arange(len(x)), y] -= 1
    sims = np.einsum(
        "nd,nvd->nv", x, vc.unit(cent_all / np.maximum(n_all, 1)[..., None])
    )
    hit = sims.argmax(1) == y
    purity = {
        v: round(float(hit[y == i].mean()), 3) for i, v in enumerate(voices)
    }
    pairs = sorted(
        (float(cent[i] @ cent[j]), chars[i], chars[j])
        for i in range(len(chars))
        for j in range(i + 1, len(chars))
    )[::-1][:12]
    out = dict(
        procedure=(
            "tools/fotaq_voices.py: Resemblyzer GE2E embeddings of up to "
            f"{args.clips} clips per character; merge threshold = the "
            f"{args.quantile} quantile of split-half (odd/even clips) "
            "centroid cosines of single characters; average-linkage "
            "agglomerative clustering of character centroids"
        ),
        threshold_cosine=round(threshold, 4),
        split_half_cosine=dict(
            zip(chars, [round(h, 4) for h in halves], strict=True)
        ),
        closest_character_pairs=[[round(s, 4), a, b] for s, a, b in pairs],
        n_clips={c: len(clips[c]) for c in sorted(clips)},
        left_out_too_few_clips=sorted(set(clips) - set(chars)),
        voice_of_character=dict(sorted(voice_of.items())),
        purity_nearest_voice=dict(purity, overall=round(float(hit.mean()), 3)),
    )
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(
        f"threshold cosine {threshold:.3f}; {len(voices)} voices from {len(chars)} characters"
    )
    for v in voices:
        print(f"  {v}: purity {purity[v]:.3f}")
    print(f"overall purity {hit.mean():.3f}; written {args.out}")


if __name__ == "__main__":
    main()
