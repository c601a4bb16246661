"""Validation of the recipe: verification on the validation speakers.

Each epoch's checkpoint is chosen by the EER of the validation trial list
(``valid_trials``), scored here by cosine on the embeddings of the
validation pass.

Authors
 * speechbrain-emoinv contributors 2026
"""

import numpy as np
import torch

from speechbrain_emoinv.data.manifest import read_manifest
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
