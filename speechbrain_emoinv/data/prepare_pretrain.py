"""Stage-1 training data: real voices plus the simulated training voices.

Prepares both corpora (each skipped when already prepared) and writes the
union of their training manifests. Validation and evaluation stay on the
real voices' own splits and lists.

Authors: speechbrain-emoinv contributors
"""

from collections import Counter
from pathlib import Path

from speechbrain_emoinv.data.manifest import (
    read_manifest,
    spread,
    write_manifest,
)
from speechbrain_emoinv.data.prepare_mbrola import prepare_mbrola
from speechbrain_emoinv.data.prepare_real import SOURCES, prepare_real


def prepare_pretrain(
    train_csv,
    real_folder,
    real_valid_speakers,
    real_eval_speakers,
    real_sources,
    sim_folder,
    sim_data,
    sim_styles,
    real_per_voice=None,
):
    """Writes ``train_csv``: real training voices + simulated ones.

    Arguments
    ---------
    train_csv : str or Path
        Output manifest.
    real_folder : str or Path
        Prepared folder of :func:`prepare_real`.
    real_valid_speakers, real_eval_speakers : sequence of str
        The real voices' fixed split (every other voice trains).
    real_sources : sequence of str
        Real-speech sources used (keys of ``prepare_real.SOURCES``).
    sim_folder, sim_data : str or Path
        Prepared and corpus folders of the simulated corpus.
    sim_styles : str
        ``all`` or ``neutral`` (simulated rows kept).
    real_per_voice : int or None
        At most this many rows per real voice, spread evenly over its rows
        in ID order (None: all). Stage 2 mixes a few real voices' rows into
        the emotional corpus without letting them outnumber it.

    Returns
    -------
    dict
        Rows per corpus.
    """
    if sim_styles not in ("all", "neutral"):
        raise ValueError(f"sim_styles must be all or neutral: {sim_styles!r}")
    unknown = sorted(set(real_sources) - set(SOURCES))
    if unknown:
        raise ValueError(
            f"unknown real_sources {unknown}: choose from {list(SOURCES)}"
        )
    prepare_real(
        real_folder,
        real_valid_speakers,
        real_eval_speakers,
        sources={name: SOURCES[name] for name in real_sources},
    )
    prepare_mbrola(sim_data, sim_folder)
    rows = read_manifest(Path(real_folder) / "train.csv")
    if real_per_voice:
        by_voice = {}
        for r in sorted(rows, key=lambda r: r["ID"]):
            by_voice.setdefault(r["spk_id"], []).append(r)
        rows = [r for v in by_voice.values() for r in spread(v, real_per_voice)]
    sim = read_manifest(Path(sim_folder) / "train.csv")
    rows += [r for r in sim if sim_styles == "all" or r["emotion"] == "neutral"]
    Path(train_csv).parent.mkdir(parents=True, exist_ok=True)
    write_manifest(rows, train_csv)
    counts = dict(Counter(r["corpus"] for r in rows))
    print(f"[prepare pretrain] {train_csv}: {counts}")
    return counts
