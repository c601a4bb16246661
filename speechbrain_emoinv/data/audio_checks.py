"""Audio checks shared by every ``prepare_*`` function.

Each input file gets one verdict (see ``docs/data.md``):

==============  ============================================================
issue           handling
==============  ============================================================
missing         skipped, counted and listed in ``prepare_report.json``
empty           (0-byte file) skipped, counted, listed
unreadable      (corrupt header/data) skipped, counted, listed
non_finite      (NaN or inf samples) skipped, counted, listed
too_short       (< :data:`MIN_DURATION` s) skipped, counted, listed
silent          (peak <= :data:`SILENCE_THRESHOLD`) skipped, counted, listed
downmixed       (multi-channel) mean of channels, 16 kHz copy written
resampled       (rate != 16 kHz) polyphase resampling, copy written
==============  ============================================================

With ``on_bad_audio="error"`` the skip cases raise
:class:`AudioCheckError` naming the file instead. Converted copies are
written under the prepare function's ``save_folder`` and the manifest
points at them, so the recipe always reads 16 kHz mono.

Authors: speechbrain-emoinv contributors
"""

import json
import multiprocessing as mp
import os
from collections import defaultdict
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly
from speechbrain.utils.logger import get_logger

from speechbrain_emoinv.atomic_files import write_text

logger = get_logger(__name__)

TARGET_SR = 16000
MIN_DURATION = 0.1  # seconds; shorter clips are "too_short"
SILENCE_THRESHOLD = 1e-4  # peak at most this (full scale 1.0): "silent"
# Longest audio one forward pass of the tools sees: a longer clip is
# embedded as the mean of equal windows of at most this length.
WINDOW_SECONDS = 60.0
SKIP_ISSUES = (
    "missing",
    "empty",
    "unreadable",
    "non_finite",
    "too_short",
    "silent",
)
CONVERT_ISSUES = ("downmixed", "resampled")


class AudioCheckError(ValueError):
    """A bad audio file met with ``on_bad_audio="error"``."""


def check_audio(path, converted_path=None):
    """Checks one file; converts it to 16 kHz mono when needed.

    Arguments
    ---------
    path : str or Path
        Audio file (any format soundfile reads).
    converted_path : str or Path or None
        Where a resampled/downmixed copy goes (required if one is needed).

    Returns
    -------
    dict
        ``wav`` (file to use), ``n_samples``, ``duration``, ``issues``
        (list of issue names; a skip issue means "do not use").

    Example
    -------
    >>> tmp = getfixture("tmp_path")
    >>> sig = np.sin(np.arange(44100) / 10.0).astype("float32")
    >>> sf.write(tmp / "a.wav", np.stack([sig, sig], 1), 44100)
    >>> r = check_audio(tmp / "a.wav", converted_path=tmp / "c" / "a.wav")
    >>> r["issues"], r["n_samples"], r["wav"].endswith("c/a.wav")
    (['downmixed', 'resampled'], 16000, True)
    >>> sf.write(tmp / "z.wav", np.zeros(16000, "float32"), 16000)
    >>> check_audio(tmp / "z.wav")["issues"]
    ['silent']
    """
    path = Path(path)
    result = dict(wav=str(path), n_samples=0, duration=0.0, issues=[])
    issues = result["issues"]
    if not path.is_file():
        issues.append("missing")
        return result
    if path.stat().st_size == 0:
        issues.append("empty")
        return result
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises several types
        issues.append("unreadable")
        result["detail"] = str(err)[:200]
        return result
    if not np.isfinite(x).all():
        issues.append("non_finite")
        return result
    if x.shape[1] > 1:
        x = x.mean(axis=1, keepdims=True)
        issues.append("downmixed")
    x = x[:, 0]
    if sr != TARGET_SR:
        g = gcd(int(sr), TARGET_SR)
        x = resample_poly(x, TARGET_SR // g, int(sr) // g).astype("float32")
        issues.append("resampled")
    result["n_samples"] = len(x)
    result["duration"] = len(x) / TARGET_SR
    bad = clip_issue(x, TARGET_SR)
    if bad:
        issues.append(bad)
        return result
    if issues:
        if converted_path is None:
            raise AudioCheckError(
                f"{path}: needs conversion ({', '.join(issues)}) but no "
                "converted_path was given"
            )
        converted_path = Path(converted_path)
        converted_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = converted_path.with_name(f".{converted_path.name}.tmp.wav")
        sf.write(str(tmp), np.clip(x, -1.0, 1.0), TARGET_SR, subtype="PCM_16")
        os.replace(tmp, converted_path)
        result["wav"] = str(converted_path.resolve())
    else:
        result["wav"] = str(path.resolve())
    return result


def clip_issue(x, sample_rate):
    """``"too_short"``, ``"silent"`` or None for a mono signal.

    Shorter than :data:`MIN_DURATION` seconds is ``too_short``; an absolute
    peak of at most :data:`SILENCE_THRESHOLD` is ``silent``.

    Arguments
    ---------
    x : numpy.ndarray or torch.Tensor
        Samples (full scale 1.0).
    sample_rate : int
        Its rate.

    Returns
    -------
    str or None

    Example
    -------
    >>> clip_issue(np.ones(800), 16000), clip_issue(np.zeros(16000), 16000)
    ('too_short', 'silent')
    >>> clip_issue(np.ones(16000), 16000) is None
    True
    """
    if len(x) < MIN_DURATION * sample_rate:
        return "too_short"
    if float(abs(x).max()) <= SILENCE_THRESHOLD:
        return "silent"
    return None


def inside(folder, name):
    """``folder / name``, checked to stay inside ``folder``.

    Arguments
    ---------
    folder : str or Path
        Folder the result must stay in.
    name : str
        Relative file name derived from input data (e.g. ``<ID>.wav``).

    Returns
    -------
    Path

    Example
    -------
    >>> inside("/save/converted", "a.wav").as_posix()
    '/save/converted/a.wav'
    >>> inside("/save/converted", "a/../../../x.wav")
    Traceback (most recent call last):
    ...
    ValueError: a/../../../x.wav: derived path leaves /save/converted
    """
    folder = Path(folder)
    path = folder / name
    root = os.path.abspath(folder)
    if os.path.commonpath([root, os.path.abspath(path)]) != root or (
        os.path.abspath(path) == root
    ):
        raise ValueError(f"{name}: derived path leaves {folder}")
    return path


class PrepareReport:
    """Counts and lists everything a prepare function did not take as is.

    Arguments
    ---------
    corpus : str
        Corpus name, stored in the report.

    Example
    -------
    >>> rep = PrepareReport("toy")
    >>> rep.add("silent", "/x/a.wav")
    >>> rep.add("resampled", "/x/b.wav", "48000 Hz")
    >>> rep.counts()
    {'resampled': 1, 'silent': 1}
    """

    def __init__(self, corpus):
        self.corpus = corpus
        self.items = defaultdict(list)
        self.info = {}

    def add(self, issue, where, detail=""):
        """Records one occurrence of ``issue`` at file/row ``where``."""
        item = {"file": str(where)}
        if detail:
            item["detail"] = str(detail)
        self.items[issue].append(item)

    def counts(self):
        """Issue name -> number of occurrences (sorted by name)."""
        return {k: len(v) for k, v in sorted(self.items.items())}

    def as_dict(self):
        """JSON-able content of the report."""
        return dict(
            corpus=self.corpus,
            counts=self.counts(),
            skip_issues=list(SKIP_ISSUES),
            info=self.info,
            items={k: v for k, v in sorted(self.items.items())},
        )

    def save(self, path):
        """Writes the report as JSON (atomically) and prints a summary."""
        write_text(path, json.dumps(self.as_dict(), indent=1))
        logger.info(self.summary())

    def summary(self):
        """One printable line per issue with a few examples.

        Example
        -------
        >>> rep = PrepareReport("toy")
        >>> rep.add("missing", "a.wav")
        >>> print(rep.summary())
        [prepare toy] missing: 1 (e.g. a.wav)
        """
        if not self.items:
            return f"[prepare {self.corpus}] no bad input found"
        lines = []
        for issue, items in sorted(self.items.items()):
            eg = ", ".join(i["file"] for i in items[:3])
            lines.append(
                f"[prepare {self.corpus}] {issue}: {len(items)} (e.g. {eg})"
            )
        return "\n".join(lines)


def check_files(
    entries,
    report,
    converted_dir,
    on_bad_audio="skip",
    num_workers=1,
):
    """Checks many files; records issues in ``report``.

    Arguments
    ---------
    entries : list of (str, str)
        ``(utterance ID, audio path)``.
    report : PrepareReport
        Receives every issue.
    converted_dir : str or Path
        Converted copies go to ``<converted_dir>/<ID>.wav``.
    on_bad_audio : str
        ``"skip"`` (count, list and leave out) or ``"error"`` (raise).
    num_workers : int
        Processes for the checks.

    Returns
    -------
    dict
        ID -> result of :func:`check_audio`, for usable files only.

    Example
    -------
    >>> tmp = getfixture("tmp_path")
    >>> sf.write(tmp / "ok.wav", np.ones(3200, "float32") * 0.1, 16000)
    >>> rep = PrepareReport("toy")
    >>> out = check_files(
    ...     [("a", tmp / "ok.wav"), ("b", tmp / "no.wav")], rep, tmp / "conv"
    ... )
    >>> sorted(out), rep.counts()
    (['a'], {'missing': 1})
    """
    if on_bad_audio not in ("skip", "error"):
        raise ValueError("on_bad_audio must be 'skip' or 'error'")
    converted_dir = Path(converted_dir)
    jobs = [
        (str(p), str(inside(converted_dir, f"{uid}.wav"))) for uid, p in entries
    ]
    if num_workers and num_workers > 1 and len(jobs) > 64:
        with mp.get_context("fork").Pool(num_workers) as pool:
            results = pool.starmap(check_audio, jobs, chunksize=32)
    else:
        results = [check_audio(*j) for j in jobs]
    usable = {}
    for (uid, path), res in zip(entries, results, strict=True):
        skip = [i for i in res["issues"] if i in SKIP_ISSUES]
        if skip and on_bad_audio == "error":
            raise AudioCheckError(
                f"{path}: bad audio ({skip[0]}"
                + (f": {res['detail']}" if "detail" in res else "")
                + ")"
            )
        for issue in res["issues"]:
            report.add(issue, path, res.get("detail", ""))
        if not skip:
            usable[uid] = res
    return usable
