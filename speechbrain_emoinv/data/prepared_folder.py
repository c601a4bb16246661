"""The prepared folder shared by all corpora, and the preparers' helpers.

Every ``prepare_<corpus>`` function lists candidate utterances
(``manifest.candidate``), then calls :func:`write_prepared_folder`, which
checks the audio (``audio_checks``), splits by speaker, writes the CSVs
(``manifest.write_manifest``), speaker lists, trial lists and
``prepare_report.json`` of ``docs/interfaces.md``, and stores the options
so that a second call is skipped (:func:`skip`, safe under
``run_on_main``). Most preparers go through :func:`run_prepare`.

Why one file over 500 lines: the folder's layout, its staleness key
(``inputs_digest``) and the shared ``run_prepare`` flow change together;
every ``prepare_<corpus>`` ends in this file (``write_prepared_folder``
or ``run_prepare``).

Authors: speechbrain-emoinv contributors
"""

import hashlib
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from speechbrain.utils.logger import get_logger

from speechbrain_emoinv.data.audio_checks import PrepareReport, check_files
from speechbrain_emoinv.data.emotions import UNKNOWN
from speechbrain_emoinv.data.manifest import (
    candidate,
    check_duplicate_ids,
    check_id,
    file_stamp,
    write_manifest,
)
from speechbrain_emoinv.stable_random import stable_seed

logger = get_logger(__name__)

SPLITS = ("train", "valid", "eval")
TRIAL_SPLITS = ("valid", "eval")
OPTIONS_FILE = "prepare_options.json"

# Audio formats a corpus may hold that the WAV preparers do not read.
OTHER_AUDIO = (".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac")


def audio_glob(folder, pattern, report=None):
    """Sorted files matching ``pattern`` with ``.wav`` in any letter case.

    Arguments
    ---------
    folder : str or Path
        Folder to search in.
    pattern : str
        Glob ending in ``.wav`` (e.g. ``Actor_*/*.wav``); ``**`` recurses.
    report : PrepareReport or None
        Receives ``other_format`` for each file of the pattern in another
        audio format (:data:`OTHER_AUDIO`), which is left out.

    Returns
    -------
    list of Path

    Example
    -------
    >>> d = getfixture("tmp_path")
    >>> for n in ("a.wav", "b.WAV", "c.txt", "d.flac"):
    ...     _ = (d / n).write_text("")
    >>> rep = PrepareReport("toy")
    >>> [p.name for p in audio_glob(d, "*.wav", rep)], rep.counts()
    (['a.wav', 'b.WAV'], {'other_format': 1})
    """
    if not pattern.endswith(".wav"):
        raise ValueError(f"audio pattern must end with .wav: {pattern!r}")
    if report is not None:
        for path in sorted(Path(folder).glob(pattern[:-4] + ".*")):
            if path.suffix.lower() in OTHER_AUDIO:
                report.add("other_format", path, "not read: convert to WAV")
    return sorted(Path(folder).glob(pattern[:-4] + ".[wW][aA][vV]"))


def installed_folder(folder, package):
    """``folder`` as a Path; raises naming the package that installs it.

    Arguments
    ---------
    folder : str or Path
        Folder a Debian package installs (e.g. real-speech sources).
    package : str
        That package, named in the error.

    Returns
    -------
    Path

    Example
    -------
    >>> installed_folder("/nonexistent", "ktuberling-data")
    Traceback (most recent call last):
    ...
    FileNotFoundError: /nonexistent not found: apt-get install ktuberling-data
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} not found: apt-get install {package}")
    return root


def inputs_digest(cands, extra=None):
    """Digest of the candidates and their audio files' sizes and mtimes.

    Stored in a prepared folder's options, so a changed, added, removed
    or touched input file (or a changed label) invalidates the folder.

    Arguments
    ---------
    cands : list of dict
        Output of :func:`candidate` (the listing of input files).
    extra : object
        Other JSON-able inputs (e.g. an official trial list).

    Returns
    -------
    str
        The first 16 hex digits of a SHA-256.

    Example
    -------
    >>> c = [candidate("u1", "/nonexistent.wav", "s", "sad", "toy")]
    >>> inputs_digest(c) == inputs_digest(c), len(inputs_digest(c))
    (True, 16)
    """
    digest = hashlib.sha256()
    for c in cands:
        # None when missing: counted when the audio is checked.
        stat = file_stamp(c["wav"])
        digest.update(json.dumps([c, stat], sort_keys=True).encode())
    digest.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


class SplitError(ValueError):
    """A listed validation or evaluation speaker the corpus lacks, or one
    listed in both splits."""


def split_speakers(
    speakers,
    valid_speakers=None,
    eval_speakers=None,
    valid_fraction=0.1,
    eval_fraction=0.2,
    seed=1234,
):
    """Assigns each speaker to train / valid / eval.

    Listed speakers go where listed; the others are shuffled (seeded) and
    fill each unlisted split with round(fraction x all speakers) of them
    (``eval_fraction`` / ``valid_fraction``; at least two each when there
    are >= 5 speakers, one with 3 or 4).

    Arguments
    ---------
    speakers : iterable of str
        All speaker ids.
    valid_speakers, eval_speakers : iterable of str or None
        Fixed lists (unknown ids raise :class:`SplitError`).
    valid_fraction, eval_fraction : float
        Shares of the speakers when no list is given.
    seed : int
        Shuffle seed.

    Returns
    -------
    dict
        Speaker -> split.

    Example
    -------
    >>> s = split_speakers([f"s{i}" for i in range(10)], eval_speakers=["s3"])
    >>> (
    ...     sorted(k for k, v in s.items() if v == "eval"),
    ...     list(s.values()).count("valid"),
    ... )
    (['s3'], 2)
    >>> s = split_speakers([f"s{i}" for i in range(12)])  # 10 %, 20 % of 12
    >>> [list(s.values()).count(k) for k in ("train", "valid", "eval")]
    [8, 2, 2]
    """
    speakers = sorted(set(speakers))
    split = {}
    for name, fixed in (("eval", eval_speakers), ("valid", valid_speakers)):
        for spk in fixed or ():
            if spk not in speakers:
                raise SplitError(
                    f"{name} speaker {spk!r} is not in the data: list "
                    "speakers of this corpus with --eval_speakers=[...] and "
                    "--valid_speakers=[...]"
                )
            if spk in split:
                raise SplitError(f"speaker {spk!r} listed in two splits")
            split[spk] = name
    rest = [s for s in speakers if s not in split]
    rng = np.random.default_rng(stable_seed(seed, "split"))
    rest = [rest[i] for i in rng.permutation(len(rest))]
    for name, fixed, frac in (
        ("eval", eval_speakers, eval_fraction),
        ("valid", valid_speakers, valid_fraction),
    ):
        if fixed is not None:
            continue
        n = int(round(frac * len(speakers)))
        if frac > 0 and len(speakers) >= 3:
            # two at least where there are enough: trials need two speakers
            n = max(n, 2 if len(speakers) >= 5 else 1)
        n = min(n, max(len(rest) - 1, 0))
        for spk in rest[:n]:
            split[spk] = name
        rest = rest[n:]
    for spk in rest:
        split[spk] = "train"
    return split


def spread(items, n):
    """Up to ``n`` of ``items``, evenly spaced (first and last kept).

    Example
    -------
    >>> spread(list("abcdefg"), 3), spread(list("ab"), 3)
    (['a', 'd', 'g'], ['a', 'b'])
    """
    pick = np.linspace(0, len(items) - 1, min(n, len(items)))
    return [items[i] for i in sorted(set(pick.round().astype(int)))]


def skip(save_folder, options):
    """True when ``save_folder`` is complete and made with ``options``.

    Arguments
    ---------
    save_folder : str or Path
        Prepared folder.
    options : dict
        JSON-able options of the prepare call.

    Returns
    -------
    bool

    Example
    -------
    >>> skip("/nonexistent", {})
    False
    """
    save_folder = Path(save_folder)
    needed = [save_folder / f"{s}.csv" for s in SPLITS]
    needed += [save_folder / f"{s}_speakers.txt" for s in SPLITS]
    # The options file is written last, after the trial lists (of which an
    # empty category has none), so its presence means a complete folder.
    needed += [save_folder / "prepare_report.json", save_folder / OPTIONS_FILE]
    if not all(p.is_file() for p in needed):
        return False
    saved = json.loads((save_folder / OPTIONS_FILE).read_text())
    return saved == json.loads(json.dumps(options))


def _single_emotion(rows, report):
    """Lists speakers with one emotion only (kept, counted); a corpus
    without emotion labels (VoxCeleb: all ``unknown``) has none to list."""
    emos = defaultdict(set)
    for r in rows:
        if r["emotion"] != UNKNOWN:
            emos[r["spk_id"]].add(r["emotion"])
    for spk in sorted(emos):
        if len(emos[spk]) == 1:
            report.add("single_emotion_speaker", spk, next(iter(emos[spk])))


def write_prepared_folder(
    cands,
    save_folder,
    split_of,
    options,
    report=None,
    n_trials=2000,
    hard_fraction=0.5,
    seed=1234,
    on_bad_audio="skip",
    num_workers=1,
    official_trials=None,
    lists=None,
):
    """Checks audio and writes the prepared folder of ``docs/interfaces.md``.

    Arguments
    ---------
    cands : list of dict
        Output of :func:`candidate`.
    save_folder : str or Path
        Prepared folder.
    split_of : dict
        Speaker -> ``train`` / ``valid`` / ``eval``.
    options : dict
        Stored for :func:`skip`.
    report : PrepareReport or None
        Existing report to extend (corpus-specific issues).
    n_trials : int
        Trials per category.
    hard_fraction : float
        Same-gender share of the non-targets.
    seed : int
        Trial seed.
    on_bad_audio : str
        ``"skip"`` or ``"error"`` (see ``audio_checks``).
    num_workers : int
        Processes for the audio checks.
    official_trials : dict or None
        Split -> list of trial tuples replacing the generated ``merged``
        list of that split (e.g. VoxCeleb's official list); trials whose
        utterances were skipped are dropped and counted.
    lists : dict or None
        Trial lists by corpus instead of by emotion (``make_trials``).

    Returns
    -------
    dict
        Split -> manifest rows.
    """
    from speechbrain_emoinv.data.trials import make_trials, write_trials

    save_folder = Path(save_folder)
    save_folder.mkdir(parents=True, exist_ok=True)
    # Written last: until then the folder is incomplete (a rewrite cut
    # short must not pass for the folder of the earlier options).
    (save_folder / OPTIONS_FILE).unlink(missing_ok=True)
    corpus = cands[0]["corpus"] if cands else "unknown"
    report = report or PrepareReport(corpus)
    check_duplicate_ids(cands)
    for c in cands:
        if c["spk_id"] not in split_of:
            raise ValueError(f"{c['wav']}: speaker {c['spk_id']} has no split")
    usable = check_files(
        [(c["ID"], c["wav"]) for c in cands],
        report,
        save_folder / "converted",
        on_bad_audio=on_bad_audio,
        num_workers=num_workers,
    )
    rows = {s: [] for s in SPLITS}
    for c in cands:
        res = usable.get(c["ID"])
        if res is None:
            continue
        row = dict(c)
        row.update(
            duration=f"{res['duration']:.4f}",
            wav=res["wav"],
            start=0,
            stop=res["n_samples"],
        )
        rows[split_of[c["spk_id"]]].append(row)
    all_rows = [r for s in SPLITS for r in rows[s]]
    _single_emotion(all_rows, report)
    for s in SPLITS:
        write_manifest(rows[s], save_folder / f"{s}.csv")
        spks = sorted({k for k, v in split_of.items() if v == s})
        (save_folder / f"{s}_speakers.txt").write_text(
            "".join(f"{k}\n" for k in spks)
        )
    for s in TRIAL_SPLITS:
        sub = PrepareReport(corpus)
        trials = make_trials(
            rows[s], n_trials, hard_fraction, seed, sub, lists=lists
        )
        for issue, items in sub.items.items():
            for it in items:
                report.add(issue, f"{s}/{it['file']}", it.get("detail", ""))
        if official_trials and s in official_trials:
            known = {r["ID"]: r["emotion"] for r in rows[s]}
            kept = []
            for lab, e, t, *_ in official_trials[s]:
                if e in known and t in known:
                    kept.append((lab, e, t, known[e], known[t]))
                else:
                    report.add("trial_dropped", f"{s}: {lab} {e} {t}")
            trials["merged"] = kept
        write_trials(trials, save_folder / "trials" / s)
    report.info.update(
        n_rows={s: len(rows[s]) for s in SPLITS},
        n_speakers={s: len({r["spk_id"] for r in rows[s]}) for s in SPLITS},
        hours={
            s: round(sum(float(r["duration"]) for r in rows[s]) / 3600, 4)
            for s in SPLITS
        },
    )
    report.save(save_folder / "prepare_report.json")
    (save_folder / OPTIONS_FILE).write_text(json.dumps(options, indent=1))
    return rows


COMMON_DEFAULTS = dict(
    valid_speakers=None,
    eval_speakers=None,
    valid_fraction=0.1,
    eval_fraction=0.2,
    seed=1234,
    n_trials=2000,
    hard_fraction=0.5,
    on_bad_audio="skip",
    on_unknown_emotion="error",
    num_workers=1,
)


def emotion_or_skip(corpus, label, where, report, policy):
    """Maps a label; unknown ones raise or are skipped and counted.

    Arguments
    ---------
    corpus : str
        Corpus key of ``emotions.CORPUS_MAPS``.
    label : str
        Label as written.
    where : str
        File/row, for the message and the report.
    report : PrepareReport
        Receives ``unknown_emotion`` when skipped.
    policy : str
        ``"error"`` (default of the prepare functions) or ``"skip"``.

    Returns
    -------
    str or None
        Canonical label, or None when skipped.

    Example
    -------
    >>> rep = PrepareReport("toy")
    >>> emotion_or_skip("cremad", "BOR", "x.wav", rep, "skip") is None
    True
    >>> rep.counts()
    {'unknown_emotion': 1}
    """
    from speechbrain_emoinv.data.emotions import (
        UnknownEmotionError,
        map_emotion,
    )

    try:
        return map_emotion(corpus, label, where)
    except UnknownEmotionError as err:
        if policy != "skip":
            raise
        report.add("unknown_emotion", where, str(err))
        return None


def run_prepare(corpus, data_folder, save_folder, collect, extra=None, **kw):
    """Shared body of the ``prepare_<corpus>`` functions.

    Calls ``collect(report, add)``, which lists the corpus' utterances
    with ``add(uid, wav, spk_id, label, where=None, **fields)`` and
    returns None or a dict of default ``eval_speakers`` /
    ``valid_speakers`` and ``official_trials``. ``add`` maps ``label``
    (:func:`emotion_or_skip`; None for an unlabelled corpus: ``unknown``),
    appends the :func:`candidate` and returns it, or None when skipped.
    Then skips when the folder was made with the same options and inputs
    (:func:`inputs_digest`), otherwise splits by speaker and writes the
    prepared folder.

    Arguments
    ---------
    corpus : str
        Corpus name.
    data_folder : str or Path
        Corpus root.
    save_folder : str or Path
        Prepared folder.
    collect : callable
        See above.
    extra : dict or None
        Corpus-specific options (stored for :func:`skip`).
    **kw
        Any of :data:`COMMON_DEFAULTS`.

    Returns
    -------
    Path
        ``save_folder``.
    """
    unknown = set(kw) - set(COMMON_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}")
    opts = {**COMMON_DEFAULTS, **kw}
    stored = {
        k: sorted(v) if isinstance(v, (list, tuple, set)) else v
        for k, v in opts.items()
        if k != "num_workers"
    }
    options = dict(
        corpus=corpus,
        data_folder=str(Path(data_folder).resolve()),
        **(extra or {}),
        **stored,
    )
    save_folder = Path(save_folder)
    if not Path(data_folder).is_dir():
        raise FileNotFoundError(f"{corpus} data_folder {data_folder} not found")
    report = PrepareReport(corpus)
    cands = []

    def add(uid, wav, spk_id, label, where=None, **fields):
        check_id(uid, where or wav)  # the markup row where there is one
        emo = "unknown"
        if label is not None:
            where = where or str(wav)
            policy = opts["on_unknown_emotion"]
            emo = emotion_or_skip(corpus, label, where, report, policy)
            if emo is None:
                return None
        cands.append(candidate(uid, wav, spk_id, emo, corpus, **fields))
        return cands[-1]

    got = collect(report, add) or {}
    if not cands:
        raise ValueError(f"no {corpus} utterances found under {data_folder}")
    # The listing of inputs (labels, file sizes and mtimes) is part of the
    # key: a folder made from other audio or markup is never reused.
    options["inputs"] = inputs_digest(cands, got.get("official_trials"))
    if skip(save_folder, options):
        logger.info(
            f"[prepare {corpus}] {save_folder} already prepared, skipping"
        )
        return save_folder
    split_of = split_speakers(
        [c["spk_id"] for c in cands],
        valid_speakers=opts["valid_speakers"] or got.get("valid_speakers"),
        eval_speakers=opts["eval_speakers"] or got.get("eval_speakers"),
        valid_fraction=opts["valid_fraction"],
        eval_fraction=opts["eval_fraction"],
        seed=opts["seed"],
    )
    write_prepared_folder(
        cands,
        save_folder,
        split_of,
        options,
        report=report,
        n_trials=opts["n_trials"],
        hard_fraction=opts["hard_fraction"],
        seed=opts["seed"],
        on_bad_audio=opts["on_bad_audio"],
        num_workers=opts["num_workers"],
        official_trials=got.get("official_trials"),
    )
    return save_folder
