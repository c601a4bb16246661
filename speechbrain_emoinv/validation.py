"""Validation of the recipe: verification on the validation speakers.

Each epoch's checkpoint is chosen by the EER of the validation trial list
(``valid_trials``), scored here by cosine on the embeddings of the
validation pass.

Authors
 * speechbrain-emoinv contributors 2026
"""

import itertools
import os

import numpy as np
import torch

from speechbrain_emoinv.atomic_files import write_text
from speechbrain_emoinv.data.manifest import read_manifest
from speechbrain_emoinv.data.trials import iter_trial_lines
from speechbrain_emoinv.evaluation.lists import read_trial_list
from speechbrain_emoinv.metrics import compute_eer
from speechbrain_emoinv.scoring import cosine_scores


def validation_stats(scores, labels, corpus):
    """Validation statistics: ``EER`` (%) and ``threshold`` of the whole
    list, the checkpoint criterion (``benchmarks/tuning.md`` §4: its trials
    hold as many real as simulated ones); with both corpora also each
    one's EER and their mean, ``score``, which ``pick_mix`` weighs
    against the start.

    Example
    -------
    Each corpus separates its speakers, on scales the pooled list mixes:

    >>> scores = np.array([0.9, 0.8, 0.3, 0.2])
    >>> labels = np.array([True, False, True, False])
    >>> corpus = np.array(["real", "real", "simulated", "simulated"])
    >>> stats = validation_stats(scores, labels, corpus)
    >>> stats["EER"], stats["EER real"], stats["EER simulated"], stats["score"]
    (50.0, 0.0, 0.0, 0.0)
    """
    eer, threshold = compute_eer(scores, labels)
    stats = {"EER": 100 * eer, "threshold": threshold}
    kinds = sorted(set(corpus))
    if len(kinds) > 1:
        for c in kinds:
            stats[f"EER {c}"] = (
                100 * compute_eer(scores[corpus == c], labels[corpus == c])[0]
            )
        stats["score"] = sum(stats[f"EER {c}"] for c in kinds) / len(kinds)
    return stats


def score_trials(embeddings, trial_file, manifest):
    """Cosine scores, labels and corpus (``real`` / ``simulated``, after
    the enrolment row's ``simulated`` column; ``all`` without it) of a
    trial list."""
    ids = list(embeddings)
    trials = read_trial_list(trial_file, {u: i for i, u in enumerate(ids)})
    emb = torch.stack([embeddings[u] for u in ids])
    scores = cosine_scores(emb, trials.enrol, trials.test, ids=ids)
    names = {"0": "real", "1": "simulated"}
    kind = {
        r["ID"]: names.get(r.get("simulated"), "all")
        for r in read_manifest(manifest, strict=False)
    }
    corpus = np.array([kind[ids[i]] for i in trials.enrol])
    return scores, trials.labels, corpus


def debug_trials(trial_file, n_clips, out_file):
    """The validation trials a SpeechBrain ``--debug`` run can score.

    ``--debug`` embeds only the first ``debug_batches`` validation batches,
    while a trial list names clips of the whole validation set (a corpus's
    own copy, not the tiny sample: ``unknown utterance`` after the first
    epoch). This keeps at most ``n_clips`` clips, those of trials taken
    from the top of the list, target and non-target in turn, and writes
    every trial among them to ``out_file``.

    Arguments
    ---------
    trial_file : str or Path
        The validation trial list.
    n_clips : int
        Clips the debug run embeds (``debug_batches`` x batch size).
    out_file : str or Path
        Where the kept trials go.

    Returns
    -------
    set
        IDs of the kept clips (the validation set to keep).

    Example
    -------
    >>> d = getfixture("tmp_path")
    >>> _ = (d / "t.txt").write_text("1 a b\\n1 c d\\n0 a e\\n0 c e\\n")
    >>> sorted(debug_trials(d / "t.txt", 3, d / "debug.txt"))
    ['a', 'b', 'e']
    >>> (d / "debug.txt").read_text()
    '1 a b\\n0 a e\\n'
    """
    lines = list(iter_trial_lines(trial_file))
    targets = [ln for ln in lines if ln[1] == 1]
    others = [ln for ln in lines if ln[1] == 0]
    keep = set()
    for pair in itertools.zip_longest(targets, others):
        for line in filter(None, pair):
            new = {line[2], line[3]} - keep
            if len(keep) + len(new) <= n_clips:
                keep |= new
    kept = [ln for ln in lines if ln[2] in keep and ln[3] in keep]
    write_text(
        out_file,
        "".join(
            " ".join(str(x) for x in ln[1:] if x is not None) + "\n"
            for ln in kept
        ),
    )
    return keep


def debug_validation(valid, hparams, run_opts):
    """The validation set of a run: under SpeechBrain's ``--debug``, the
    clips of :func:`debug_trials` (as many as ``debug_batches`` validation
    batches hold), with ``hparams["valid_trials"]`` pointed at their list
    (``valid_trials_debug.txt`` in the output folder); else ``valid``."""
    if not run_opts.get("debug"):
        return valid
    batch_size = hparams["valid_dataloader_options"].get("batch_size", 1)
    n_clips = run_opts.get("debug_batches", 2) * batch_size
    path = os.path.join(hparams["output_folder"], "valid_trials_debug.txt")
    keep = debug_trials(hparams["valid_trials"], n_clips, path)
    hparams["valid_trials"] = path
    return valid.filtered_sorted(key_test={"id": lambda uid: uid in keep})
