"""Statistics of the benchmarks: mean and spread over seeds, paired
t-intervals, and the paired bootstrap of relative EER changes over
evaluation speakers and seeds.

Named ``stats``, not ``statistics``: ``python benchmarks/<script>.py``
puts this folder on ``sys.path``, where a ``statistics.py`` would hide the
standard library's module.

Authors
 * speechbrain-emoinv contributors 2026
"""

import functools

import numpy as np

from speechbrain_emoinv.metrics import compute_eer


def describe(values):
    """Mean, sample std (None with one value), n and the values; the Nones
    in ``values`` left out.

    Example
    -------
    >>> describe([1.0, None, 3.0])
    {'mean': 2.0, 'std': 1.4142135623730951, 'n': 2, 'values': [1.0, 3.0]}
    >>> describe([None])["n"]
    0
    """
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "n": 0, "values": []}
    arr = np.asarray(values, dtype=float)
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if len(arr) > 1 else None,
        "n": len(arr),
        "values": [float(v) for v in arr],
    }


def t_half_width(diffs):
    """Half the width of the 95 % t-interval of the mean of ``diffs``
    (2 or more paired differences).

    Example
    -------
    >>> round(float(t_half_width([1.0, 2.0, 3.0])), 2)  # t(0.975, 2) / sqrt(3)
    2.48
    """
    from scipy import stats  # only the scripts that print intervals need it

    d = np.asarray(diffs, dtype=float)
    return stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))


def run_eers(path, lst, n_boot, seed):
    """EER (%) of one run's list on all data, then under each speaker draw.

    Draw ``b`` picks the list's evaluation speakers with replacement (the
    same draws for every run: one RNG seed, the same speakers); a trial's
    weight is the number of times its ENROLMENT speaker was drawn
    (``compute_eer`` with weights: a trial of weight w counts as w copies).

    Arguments
    ---------
    path : Path
        A ``scores.npz`` with ``<lst>/score``, ``label``, ``enrol_spk``.
    lst : str
        The list.
    n_boot : int
        Number of draws.
    seed : int
        RNG seed of the draws.

    Returns
    -------
    eers : numpy.ndarray
        ``1 + n_boot`` values: all data first.
    trials : tuple of numpy.ndarray
        Labels and enrolment speakers (to check that runs are paired).
    """
    return _run_eers(path, path.stat().st_mtime_ns, lst, n_boot, seed)


@functools.cache
def _run_eers(path, mtime_ns, lst, n_boot, seed):
    # Cached on the file's path and time: a pass re-aggregates after every
    # run, and the committed runs never change.
    with np.load(path) as run:
        scores, labels, enrol = (
            run[f"{lst}/{key}"] for key in ("score", "label", "enrol_spk")
        )
    speakers, spk_index = np.unique(enrol, return_inverse=True)
    draws = np.random.default_rng(seed).integers(
        len(speakers), size=(n_boot, len(speakers))
    )
    eers = [100 * compute_eer(scores, labels)[0]]
    for draw in draws:
        counts = np.bincount(draw, minlength=len(speakers))
        eers.append(100 * compute_eer(scores, labels, counts[spk_index])[0])
    return np.array(eers), (labels, enrol)


def paired_change(files, lst, n_boot, seed):
    """Relative EER change (%) of a row vs a base on ``lst``, paired by
    seed, with a 95 % percentile bootstrap interval.

    The statistic is the mean over seeds of
    ``100 (EER_row - EER_base) / EER_base``; the point estimate uses all
    data. Each of the ``n_boot`` resamples draws the seeds with replacement
    and the evaluation speakers with replacement (``run_eers``: both runs of
    a seed under the same speaker weights). Resamples where a base EER is
    0 are undefined: left out of the interval and counted.

    Arguments
    ---------
    files : dict
        ``{seed: (row's scores.npz, base's scores.npz)}``, the seeds both
        have finished.
    lst : str
        The list.
    n_boot : int
        Number of resamples.
    seed : int
        RNG seed: ``seed`` draws the speakers, ``seed + 1`` the seeds.

    Returns
    -------
    dict
        ``seeds``, ``n``, ``point`` (NaN where a base EER is 0); with 2 or
        more seeds also ``n_undefined`` and, when some resample is
        defined, ``lo`` and ``hi``.
    """
    changes = []
    for path, base_path in files.values():
        (eer, trials), (eer_base, trials_base) = (
            run_eers(p, lst, n_boot, seed) for p in (path, base_path)
        )
        if not all(map(np.array_equal, trials, trials_base)):
            raise ValueError(f"{path} and {base_path}: {lst} has other trials")
        with np.errstate(divide="ignore", invalid="ignore"):
            changes.append(100 * (eer - eer_base) / eer_base)
    changes = np.array(changes)  # seeds x (1 + n_boot)
    with np.errstate(invalid="ignore"):
        point = float(changes[:, 0].mean())
    out = {
        "seeds": list(files),
        "n": len(files),
        "point": point if np.isfinite(point) else float("nan"),
    }
    if len(files) >= 2:
        picks = np.random.default_rng(seed + 1).integers(
            len(files), size=(n_boot, len(files))
        )
        stats = np.take_along_axis(changes[:, 1:].T, picks, axis=1).mean(1)
        defined = np.isfinite(stats)
        out["n_undefined"] = int(sum(~defined))
        if defined.any():  # else no interval: the verdict stays pending
            lo, hi = np.percentile(stats[defined], [2.5, 97.5])
            out.update(lo=float(lo), hi=float(hi))
    return out
