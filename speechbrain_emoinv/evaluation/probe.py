"""Emotion-leakage probe: how much emotion a speaker embedding carries.

A linear classifier (logistic regression on standardised, L2-normalised
embeddings) predicts the emotion; folds are speaker-disjoint
(``GroupKFold``), so it cannot succeed by recognising the speaker. Chance
is the majority class of the training fold applied to the test fold.
The within-speaker cosine across emotions against within one emotion
measures the same leakage geometrically (equal = emotion-invariant).

Authors
 * speechbrain-emoinv contributors 2025
"""

import numpy as np
import torch


def _codes(values):
    uniq, codes = np.unique(np.asarray(values), return_inverse=True)
    return uniq, codes


def within_speaker_cosine(emb, speakers, emotions):
    """Mean cosine of same-speaker pairs, same vs different emotion.

    Pair sums come from group sums (for unit vectors the sum of
    ``e_i . e_j`` over ordered pairs i != j of a group G is
    ``|sum_G e|^2 - |G|``), so no pair is enumerated: O(N D).

    Arguments
    ---------
    emb : torch.Tensor or numpy.ndarray
        Embeddings ``[N, D]``.
    speakers : sequence of str
        Speaker of each row.
    emotions : sequence of str
        Emotion of each row.

    Returns
    -------
    dict
        ``same_emotion`` and ``cross_emotion`` mean cosines (None where no
        pair exists), their ``gap``, and the pair counts.

    Example
    -------
    >>> e = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> r = within_speaker_cosine(e, ["a", "a", "a"], ["n", "n", "x"])
    >>> r["same_emotion"], r["cross_emotion"], r["n_cross_pairs"]
    (1.0, 0.0, 2)
    """
    emb = torch.nn.functional.normalize(
        torch.as_tensor(np.asarray(emb), dtype=torch.float64), dim=1
    )
    _, spk = _codes(speakers)
    _, emo = _codes(emotions)
    n_emo = int(emo.max()) + 1

    def pair_stats(group):
        group = torch.as_tensor(group)
        n_groups = int(group.max()) + 1
        sums = torch.zeros(n_groups, emb.shape[1], dtype=emb.dtype)
        sums.index_add_(0, group, emb)
        counts = torch.bincount(group, minlength=n_groups).double()
        total = float((sums.pow(2).sum(1) - counts).sum())
        pairs = float((counts * (counts - 1)).sum())
        return total, pairs

    spk_sum, spk_pairs = pair_stats(spk)
    same_sum, same_pairs = pair_stats(spk * n_emo + emo)
    cross_sum, cross_pairs = spk_sum - same_sum, spk_pairs - same_pairs
    same = same_sum / same_pairs if same_pairs else None
    cross = cross_sum / cross_pairs if cross_pairs else None
    gap = same - cross if same is not None and cross is not None else None
    return {
        "same_emotion": same,
        "cross_emotion": cross,
        "gap": gap,
        "n_same_pairs": int(same_pairs // 2),
        "n_cross_pairs": int(cross_pairs // 2),
    }


def emotion_leakage(emb, speakers, emotions, n_splits=5, seed=0):
    """Speaker-disjoint linear probe for emotion, plus cosine statistics.

    Arguments
    ---------
    emb : torch.Tensor or numpy.ndarray
        Embeddings ``[N, D]`` of evaluation speakers.
    speakers : sequence of str
        Speaker of each row (the CV groups).
    emotions : sequence of str
        Emotion of each row (the probe's target).
    n_splits : int
        Folds (capped at the number of speakers).
    seed : int
        Seed of the classifier.

    Returns
    -------
    dict
        ``accuracy``, ``chance_accuracy`` (majority class), ``balanced_
        accuracy``, ``chance_balanced_accuracy`` (1 / classes), ``n_folds``,
        ``classes``, and the ``within_speaker_cosine`` statistics; the
        probe keys are None (with a ``skipped`` reason) when fewer than
        two emotions or two speakers are present.

    Example
    -------
    >>> g = torch.Generator().manual_seed(0)
    >>> spk = [f"s{i // 10}" for i in range(40)]
    >>> emo = ["n" if i % 2 else "a" for i in range(40)]
    >>> e = torch.randn(40, 6, generator=g)
    >>> e[:, 0] += torch.tensor([3.0 if x == "a" else -3.0 for x in emo])
    >>> r = emotion_leakage(e, spk, emo, n_splits=2)
    >>> r["accuracy"] > 0.9, r["chance_accuracy"]
    (True, 0.5)
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = torch.nn.functional.normalize(
        torch.as_tensor(np.asarray(emb), dtype=torch.float32), dim=1
    ).numpy()
    classes, y = _codes(emotions)
    _, groups = _codes(speakers)
    out = {
        "classes": classes.tolist(),
        "n_utterances": int(x.shape[0]),
        "n_speakers": int(groups.max()) + 1,
        "within_speaker_cosine": within_speaker_cosine(x, speakers, emotions),
    }
    n_folds = min(n_splits, out["n_speakers"])
    if classes.size < 2 or n_folds < 2:
        out.update(
            accuracy=None,
            chance_accuracy=None,
            balanced_accuracy=None,
            chance_balanced_accuracy=None,
            n_folds=0,
            skipped="needs >= 2 emotions and >= 2 speakers",
        )
        return out
    pred = np.empty_like(y)
    chance = np.empty_like(y)
    for train, test in GroupKFold(n_splits=n_folds).split(x, y, groups):
        clf = make_pipeline(
            StandardScaler(),
            LogisticRegression(max_iter=2000, random_state=seed),
        )
        if np.unique(y[train]).size < 2:
            pred[test] = y[train][0]
        else:
            pred[test] = clf.fit(x[train], y[train]).predict(x[test])
        chance[test] = np.bincount(y[train]).argmax()
    recalls = [(pred[y == c] == c).mean() for c in range(classes.size)]
    out.update(
        accuracy=float((pred == y).mean()),
        chance_accuracy=float((chance == y).mean()),
        balanced_accuracy=float(np.mean(recalls)),
        chance_balanced_accuracy=1.0 / classes.size,
        n_folds=n_folds,
    )
    return out
