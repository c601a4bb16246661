"""``run_evaluation``: exported model + prepared data folder -> results.

Embeds the split's manifest (and a capped training cohort) through the
exported folder, scores every list in ``trials/<split>/`` with cosine,
s-norm and AS-norm, and writes ``results.json``, ``results.md``, the four
figures and ``scores.npz`` (per list: cosine scores, labels and the two
speakers of each trial, for bootstraps over speakers). Embeddings are
cached per model and manifest, so a second run only re-scores.

Authors
 * speechbrain-emoinv contributors 2025
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np

from speechbrain_emoinv.data.audio_checks import MIN_DURATION
from speechbrain_emoinv.data.manifest import EmptyManifestError, read_manifest
from speechbrain_emoinv.data.trials import trial_files
from speechbrain_emoinv.evaluation.embedding import BATCH_SIZE
from speechbrain_emoinv.evaluation.lists import (
    check_two_classes,
    exclude_speakers,
    read_speaker_list,
    read_trial_list,
)
from speechbrain_emoinv.evaluation.report import (
    emotion_matrix,
    list_order,
    matrix_table,
    metrics_table,
    render_markdown,
    score_list,
)
from speechbrain_emoinv.pretrained import model_fingerprint, read_metadata
from speechbrain_emoinv.scoring import EmbeddingCache, manifest_key, score_all

CLIP_ISSUES = ("too_short", "silent")


def sample_cohort(rows, size, seed=0):
    """Up to ``size`` rows spread evenly over speakers (deterministic).

    Rows are dealt round-robin across speakers (shuffled within each
    speaker with ``seed``), so every training speaker is represented.

    Arguments
    ---------
    rows : list of dict
        Training manifest rows.
    size : int
        Cap on the cohort.
    seed : int
        Shuffle seed.

    Returns
    -------
    list of dict
        The cohort rows.

    Example
    -------
    >>> rows = [{"ID": str(i), "spk_id": "ab"[i % 2]} for i in range(6)]
    >>> sorted(r["spk_id"] for r in sample_cohort(rows, 4))
    ['a', 'a', 'b', 'b']
    """
    rng = np.random.default_rng(seed)
    spk = np.array([r["spk_id"] for r in rows])
    perm = rng.permutation(len(rows))
    # Rank of each row within its speaker, after shuffling.
    order = perm[np.argsort(spk[perm], kind="stable")]
    sorted_spk = spk[order]
    first = np.searchsorted(sorted_spk, sorted_spk, side="left")
    rank = np.arange(len(rows)) - first
    pick = order[np.lexsort((sorted_spk, rank))][:size]
    return [rows[i] for i in np.sort(pick)]


def _write_manifest(rows, path):
    keys = list(rows[0].keys())
    with open(path, "w", newline="", encoding="utf-8") as fout:
        writer = csv.DictWriter(fout, keys)
        writer.writeheader()
        writer.writerows(rows)


class _Embedder:
    """Loads the model on the first cache miss only."""

    def __init__(self, model_dir, cache_dir, backend, device, batch_size):
        from speechbrain_emoinv.evaluation.embedding import embedding_key

        self.model_dir, self.device = model_dir, device
        self.backend, self.batch_size = backend, batch_size
        self.fingerprint = model_fingerprint(model_dir)
        self.model = None
        self.cache = EmbeddingCache(
            cache_dir, embedding_key(self.fingerprint, backend, batch_size)
        )
        self.issues = {}  # ID -> too_short / silent, over every manifest

    def __call__(self, manifest_path, rows, progress=False):
        from speechbrain_emoinv.evaluation.embedding import (
            embed_manifest,
            load_embedder,
        )

        issues = {}

        def compute():
            if self.model is None:
                self.model = load_embedder(
                    self.model_dir, self.backend, device=self.device
                )
                if self.model.fingerprint != self.fingerprint:
                    raise RuntimeError(
                        f"{self.model_dir}: the model changed during the run"
                    )
            work = self.cache.cache_dir / (
                "partial_" + manifest_key(manifest_path)
            )
            return embed_manifest(
                self.model,
                rows,
                work,
                batch_size=self.batch_size,
                progress=progress,
                issues=issues,
            )

        ids, emb = self.cache.get(manifest_path, compute, issues)
        if ids != [r["ID"] for r in rows]:
            raise RuntimeError(f"{manifest_path}: cached ids do not match")
        self.issues.update(issues)
        return emb


def pick_backend(model_dir, backend, device, prog):
    """:func:`~speechbrain_emoinv.evaluation.embedding.resolve_backend`,
    with a one-line note on stderr when ``auto`` falls back to PyTorch."""
    from speechbrain_emoinv.evaluation.embedding import resolve_backend

    name, reason = resolve_backend(model_dir, backend, device)
    if reason:
        print(
            f"{prog}: note: embedding with PyTorch: {reason}", file=sys.stderr
        )
    return name


def warn_clips(issues, prog="emoinv-eval"):
    """Counts short and silent clips and warns about them on stderr."""
    counts = {k: sum(v == k for v in issues.values()) for k in CLIP_ISSUES}
    if issues:
        eg = ", ".join(f"{i} ({v})" for i, v in sorted(issues.items())[:3])
        print(
            f"{prog}: warning: {len(issues)} clips are too short "
            f"(< {MIN_DURATION} s) or silent, their scores are unreliable: "
            f"{counts['too_short']} too_short, {counts['silent']} silent "
            f"(e.g. {eg})",
            file=sys.stderr,
        )
    return {**counts, "ids": sorted(issues)}


def run_evaluation(
    model_dir,
    data_dir,
    out_dir,
    split="eval",
    cohort="train",
    exclude=None,
    cohort_size=2000,
    topk=300,
    cache_dir=None,
    device="cpu",
    batch_size=BATCH_SIZE,
    backend="pytorch",
    plots=True,
    probe=True,
    projection="tsne",
    seed=0,
    log=print,
):
    """Evaluates an exported model on a prepared data folder.

    Arguments
    ---------
    model_dir : str or Path
        Exported folder (``export_pretrained``).
    data_dir : str or Path
        Prepared data folder (``<split>.csv``, ``trials/<split>/*.txt``).
    out_dir : str or Path
        Where results and figures go.
    split : str
        ``eval`` or ``valid``.
    cohort : str or None
        Manifest split for s-norm / AS-norm (None = raw cosine only).
    exclude : str or set or None
        Speakers whose trials are dropped: ``@file``, ``a,b`` or a set;
        each must be a speaker of the split or of the folder's
        ``*_speakers.txt`` lists (else ``ValueError``).
    cohort_size : int
        Cap on cohort utterances.
    topk : int
        AS-norm top-k.
    cache_dir : str or Path or None
        Embedding cache (default ``out_dir/embedding_cache``).
    device : str
        Torch device for embedding.
    batch_size : int
        Utterances per forward pass (PyTorch; onnxruntime embeds each
        utterance alone).
    backend : str
        ``pytorch`` (the recipe's and benchmarks' path), ``onnx`` or
        ``auto`` (``emoinv-eval``'s default: ``embedding.resolve_backend``;
        a fall-back to PyTorch is noted on stderr).
    plots : bool
        Write the four PNG figures.
    probe : bool
        Run the emotion-leakage probe.
    projection : str
        ``tsne`` or ``pca`` for ``embeddings_2d.png``.
    seed : int
        Seed of cohort sampling and the probe (the 2-D projection keeps
        its own fixed seed).
    log : callable
        Printer for the table and notes.

    Returns
    -------
    dict
        What ``results.json`` holds.
    """
    model_dir, data_dir = Path(model_dir), Path(data_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache_dir) if cache_dir else out_dir / "embedding_cache"

    manifest = data_dir / f"{split}.csv"
    rows = read_manifest(manifest, strict=False)
    lists, banned = read_lists(data_dir, split, rows, exclude)
    n_dropped = sum(t.n_excluded for t in lists.values())
    if banned:
        log(
            f"excluded {n_dropped} trials touching {len(banned)} listed "
            f"speakers: "
            + ", ".join(f"{n} {t.n_excluded}" for n, t in lists.items())
        )

    backend = pick_backend(model_dir, backend, device, "emoinv-eval")
    embed = _Embedder(model_dir, cache_dir, backend, device, batch_size)
    emb = embed(manifest, rows)
    cohort_rows = []
    if cohort:
        cohort_rows = sample_cohort(
            read_cohort(data_dir / f"{cohort}.csv"), cohort_size, seed
        )
    cohort_emb = None
    if len(cohort_rows) >= 2:
        _write_manifest(cohort_rows, out_dir / "cohort.csv")
        cohort_emb = embed(out_dir / "cohort.csv", cohort_rows)
    elif cohort:
        print(
            f"emoinv-eval: note: no usable cohort in "
            f"{data_dir / f'{cohort}.csv'}: cosine scores only",
            file=sys.stderr,
        )
    short_or_silent = warn_clips(embed.issues)

    ids = [r["ID"] for r in rows]
    scores = {
        name: score_all(emb, t.enrol, t.test, cohort_emb, topk, ids)
        for name, t in lists.items()
    }
    results_lists = score_lists(lists, scores, read_metadata(model_dir))
    merged = "merged" if "merged" in lists else list_order(lists)[-1]
    matrix = emotion_matrix(lists[merged], scores[merged]["cosine"])
    keep = [r["spk_id"] not in banned for r in rows]
    kept_rows = [r for r, k in zip(rows, keep, strict=True) if k]
    leak = None
    if probe:
        from speechbrain_emoinv.evaluation.probe import emotion_leakage

        leak = emotion_leakage(
            emb[keep],
            [r["spk_id"] for r in kept_rows],
            [r["emotion"] for r in kept_rows],
            seed=seed,
        )
    results = {
        "split": split,
        "model": {
            "dir": str(model_dir.resolve()),
            "fingerprint": embed.fingerprint,
            "backend": backend,
        },
        "data_dir": str(data_dir.resolve()),
        "cohort": {
            "split": cohort,
            "n_utterances": len(cohort_rows),
            "topk": topk if cohort_emb is not None else None,
        },
        "excluded": {"n_speakers": len(banned), "n_trials": n_dropped},
        "short_or_silent_clips": short_or_silent,
        "lists": results_lists,
        "emotion_gap": emotion_gap(results_lists, next(iter(scores.values()))),
        "eer_matrix": matrix,
        "leakage_probe": leak,
        "table": metrics_table(results_lists),
        "plots": [],
    }
    if plots:
        from speechbrain_emoinv.evaluation.plots import write_plots

        results["plots"] = write_plots(
            out_dir,
            lists,
            {n: s["cosine"] for n, s in scores.items()},
            merged,
            matrix,
            emb[keep].numpy(),
            kept_rows,
            projection,
        )
    write_results(out_dir, results, lists, scores, rows)
    for line in summary_lines(results):
        log(line)
    return results


def read_lists(data_dir, split, rows, exclude=None):
    """The split's trial lists, less the trials of excluded speakers.

    Arguments
    ---------
    data_dir : Path
        Prepared data folder.
    split : str
        ``eval`` or ``valid``.
    rows : list of dict
        The split's manifest rows.
    exclude : str or set or None
        See :func:`run_evaluation`.

    Returns
    -------
    lists : dict
        List name -> trials (``lists.read_trial_list``).
    banned : set
        The excluded speakers.
    """
    index = {r["ID"]: i for i, r in enumerate(rows)}
    files = trial_files(data_dir, split)
    if not files:
        raise FileNotFoundError(
            f"{data_dir / 'trials' / split}: no trial lists"
        )
    known = {r["spk_id"] for r in rows}
    for spk_list in sorted(data_dir.glob("*_speakers.txt")):
        known.update(spk_list.read_text(encoding="utf-8").split())
    banned = read_speaker_list(
        ",".join(sorted(exclude)) if isinstance(exclude, set) else exclude,
        known,
        f"{data_dir / f'{split}.csv'} or the speaker lists of {data_dir}",
    )
    lists = {}
    for path in files:
        trials = exclude_speakers(
            read_trial_list(path, index, rows), rows, banned
        )
        if len(trials) == 0:
            raise ValueError(f"{path}: every trial touches an excluded speaker")
        check_two_classes(trials, f"{path} (after exclusion)")
        lists[trials.name] = trials
    return lists, banned


def read_cohort(manifest):
    """Rows of the cohort manifest, or none when the file is missing or a
    header alone (the train.csv of an evaluation-only folder)."""
    try:
        return read_manifest(manifest, strict=False)
    except (FileNotFoundError, EmptyManifestError):
        return []


def score_lists(lists, scores, meta):
    """Metrics per list and normalisation, at the model's stored threshold
    and calibration (``meta``: the folder's metadata)."""
    return {
        name: score_list(
            trials,
            scores[name],
            meta.get("verification_threshold"),
            meta.get("score_calibration"),
        )
        for name, trials in lists.items()
    }


def emotion_gap(results_lists, norms):
    """EER(cross) - EER(neutral) in points for each of ``norms`` (None when
    either list is missing).

    Example
    -------
    >>> emotion_gap(
    ...     {
    ...         "cross": {"cosine": {"eer": 7.0}},
    ...         "neutral": {"cosine": {"eer": 5.5}},
    ...     },
    ...     ["cosine"],
    ... )
    {'cosine': 1.5}
    """
    if not {"cross", "neutral"} <= set(results_lists):
        return dict.fromkeys(norms)
    cross, neutral = results_lists["cross"], results_lists["neutral"]
    return {n: cross[n]["eer"] - neutral[n]["eer"] for n in norms}


def write_results(out_dir, results, lists, scores, rows):
    """``results.json``, ``results.md`` and ``scores.npz`` (per list:
    cosine scores, labels and the two speakers of each trial)."""
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    spk = np.array([r["spk_id"] for r in rows])
    np.savez_compressed(
        out_dir / "scores.npz",
        **{
            f"{name}/{field}": value
            for name, t in lists.items()
            for field, value in (
                ("score", scores[name]["cosine"]),
                ("label", t.labels),
                ("enrol_spk", spk[t.enrol]),
                ("test_spk", spk[t.test]),
            )
        },
    )
    (out_dir / "results.md").write_text(render_markdown(results))


def summary_lines(results):
    """What ``run_evaluation`` logs: the metrics table, the emotion gap,
    the emotion matrix and the leakage probe's headline."""
    gap = results["emotion_gap"]
    lines = [
        results["table"],
        "emotion gap (EER cross - neutral, points): "
        + ", ".join(
            f"{n} {'n/a' if g is None else f'{g:+.2f}'}" for n, g in gap.items()
        ),
        "EER % by enrolment x test emotion (cosine)\n\n"
        + matrix_table(results["eer_matrix"]),
    ]
    leak = results["leakage_probe"]
    cos = (leak or {}).get("within_speaker_cosine") or {}
    if leak and leak["accuracy"] is not None and cos.get("cross_emotion"):
        lines.append(
            f"emotion probe accuracy {leak['accuracy']:.3f} (chance "
            f"{leak['chance_accuracy']:.3f}); within-speaker cosine same "
            f"emotion {cos['same_emotion']:.3f} vs across "
            f"{cos['cross_emotion']:.3f}"
        )
    return lines
