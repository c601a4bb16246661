"""Training data of the two stages: real voices and simulated voices.

Stage 1 (:func:`prepare_pretrain`) trains on the union of both corpora's
training manifests. Stage 2 (:func:`prepare_finetune`) trains on the
simulated emotional voices (and rehearses the real ones when
``rehearsal_annotation`` names their train.csv; off by default) and
validates on the validation voices of both. Each corpus is prepared once (skipped when
already prepared); evaluation stays on each corpus's own lists.

Authors: speechbrain-emoinv contributors
"""

from collections import Counter
from pathlib import Path

from speechbrain.utils.logger import get_logger

from speechbrain_emoinv.atomic_files import write_text
from speechbrain_emoinv.data.manifest import read_manifest, write_manifest
from speechbrain_emoinv.data.prepare_mbrola import prepare_mbrola
from speechbrain_emoinv.data.prepare_real import SOURCES, prepare_real
from speechbrain_emoinv.data.prepared_folder import spread
from speechbrain_emoinv.data.trials import read_trials

logger = get_logger(__name__)


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
    train_csv : str or Path or None
        Output manifest (None: both corpora prepared, nothing written).
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
    if train_csv is None:
        return {}
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
    logger.info(f"[prepare pretrain] {train_csv}: {counts}")
    return counts


def prepare_finetune(
    valid_csv, valid_trials, real_folder, sim_folder, **corpora
):
    """Stage-2 data: both corpora prepared, and one validation set of both.

    Stage 2 trains on the simulated emotional voices (and the real training
    voices with ``rehearsal_annotation``: the real ``train.csv``). Its
    checkpoint and threshold are chosen on the validation voices of both
    corpora: ``valid_trials`` holds as many trials of each corpus's
    ``merged`` list (the longer one thinned evenly), so that real and
    simulated voices weigh alike in the validation EER, and ``valid_csv``
    the utterances they use.

    Arguments
    ---------
    valid_csv, valid_trials : str or Path
        Output manifest and trial list of the joint validation.
    real_folder, sim_folder : str or Path
        The two prepared corpora, as in :func:`prepare_pretrain`.
    **corpora
        ``real_valid_speakers``, ``real_eval_speakers``, ``real_sources``
        and ``sim_data``, as in :func:`prepare_pretrain`.

    Returns
    -------
    int
        Validation trials of each corpus.
    """
    prepare_pretrain(
        None,
        sim_styles="all",
        real_folder=real_folder,
        sim_folder=sim_folder,
        **corpora,
    )
    return write_joint_validation(
        valid_csv, valid_trials, [real_folder, sim_folder]
    )


def write_joint_validation(valid_csv, valid_trials, prepared_folders):
    """One validation set of several prepared corpora, each weighing alike.

    Arguments
    ---------
    valid_csv, valid_trials : str or Path
        Output manifest (the validation rows that the trials use) and trial
        list: as many trials of each corpus's ``trials/valid/merged.txt``
        (the longer lists thinned evenly, in order).
    prepared_folders : list of str or Path
        Prepared folders (``docs/interfaces.md``).

    Returns
    -------
    int
        Trials taken from each corpus.

    """
    lists = [
        read_trials(Path(f) / "trials" / "valid" / "merged.txt")
        for f in prepared_folders
    ]
    n = min(len(t) for t in lists)
    trials = [tr for t in lists for tr in spread(t, n)]
    used = {u for tr in trials for u in tr[1:3]}
    rows = [
        r
        for f in prepared_folders
        for r in read_manifest(Path(f) / "valid.csv")
        if r["ID"] in used
    ]
    write_manifest(rows, valid_csv)
    write_text(
        valid_trials, "".join(" ".join(map(str, tr)) + "\n" for tr in trials)
    )
    return n
