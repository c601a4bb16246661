"""Emotional speaker-verification trial lists.

Categories (text-independent: enrol and test never share a ``text_id``):

* ``neutral``: neutral enrol, neutral test;
* ``cross``: neutral enrol, emotional test;
* ``emo_emo``: emotional enrol, emotional test;
* ``merged``: the union of the three (or, for a corpus without emotion
  labels, trials drawn over all utterances).

With ``lists`` (e.g. the real-speech lists ``real_read`` and
``real_acted``), one list per name is drawn over the rows of the named
corpora instead, and ``merged`` is their union.

Each category (or named list) holds up to ``n_trials`` trials (an odd
number rounds down to even), half targets (same speaker) and half
non-targets, and ``merged`` their union; ``hard_fraction`` of the non-targets pair speakers of the
same gender (when the genders are known). Line format
(``docs/interfaces.md``)::

    <label 1|0> <enrol ID> <test ID> <enrol emotion> <test emotion>

Sampling is vectorised (numpy rejection sampling) and seeded.

Authors: speechbrain-emoinv contributors
"""

from pathlib import Path

import numpy as np

from speechbrain_emoinv.atomic_files import write_text
from speechbrain_emoinv.data.emotions import NEUTRAL, UNKNOWN
from speechbrain_emoinv.stable_random import stable_seed

CATEGORIES = ("neutral", "cross", "emo_emo", "merged")


def _codes(values):
    """Integer codes of a list of strings (empty string -> -1)."""
    uniq = sorted({v for v in values if v})
    table = {v: i for i, v in enumerate(uniq)}
    return np.array([table.get(v, -1) for v in values], dtype=np.int64)


def _sample(enrol, test, spk, text, key, n, target, rng, taken, max_rounds=30):
    """Draws up to ``n`` distinct (enrol, test) index pairs.

    Test candidates are grouped by ``key`` (speaker for targets, gender
    for hard non-targets, a constant for easy ones); each round draws
    enrol indices, then a test index uniformly within the enrol's group,
    and rejects same-utterance, same-text and wrong-speaker pairs and
    pairs already ``taken`` (unordered).
    """
    if n <= 0 or len(enrol) == 0 or len(test) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    enrol = enrol[key[enrol] >= 0]
    test = test[key[test] >= 0]
    if len(enrol) == 0 or len(test) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    order = np.argsort(key[test], kind="stable")
    pool, pool_key = test[order], key[test][order]
    n_all = len(spk)
    out = []
    have = 0
    for _ in range(max_rounds):
        m = 4 * (n - have) + 16
        e = enrol[rng.integers(0, len(enrol), m)]
        lo = np.searchsorted(pool_key, key[e], "left")
        cnt = np.searchsorted(pool_key, key[e], "right") - lo
        ok = cnt > 0
        e, lo, cnt = e[ok], lo[ok], cnt[ok]
        t = pool[lo + (rng.random(len(e)) * cnt).astype(np.int64)]
        same_spk = spk[e] == spk[t]
        ok = (e != t) & (same_spk if target else ~same_spk)
        ok &= (text[e] < 0) | (text[e] != text[t])
        e, t = e[ok], t[ok]
        code = np.minimum(e, t) * n_all + np.maximum(e, t)
        _, first = np.unique(code, return_index=True)
        first = np.sort(first)
        e, t, code = e[first], t[first], code[first]
        fresh = ~np.isin(code, np.fromiter(taken, np.int64, len(taken)))
        e, t, code = e[fresh][: n - have], t[fresh][: n - have], code[fresh]
        taken.update(code[: len(e)].tolist())
        out.append(np.stack([e, t], 1))
        have += len(e)
        if have >= n:
            break
    return np.concatenate(out)


def make_trials(
    rows, n_trials=2000, hard_fraction=0.5, seed=1234, report=None, lists=None
):
    """Builds the trial lists of one split.

    Arguments
    ---------
    rows : list of dict
        Manifest rows (``ID``, ``spk_id``, ``emotion``, ``text_id``,
        ``gender``).
    n_trials : int
        Trials per category (targets = ``n_trials // 2``); ``merged``
        holds the union.
    hard_fraction : float
        Share of non-targets drawn from same-gender speakers.
    seed : int
        Seed.
    report : PrepareReport or None
        Receives ``trials_short`` when fewer trials than asked exist.
    lists : dict or None
        List name -> corpus names whose rows it is drawn over (instead of
        the emotion categories).

    Returns
    -------
    dict
        Category -> list of ``(label, enrol ID, test ID, enrol emotion,
        test emotion)``.

    Example
    -------
    >>> rows = [
    ...     dict(ID=f"{s}_{e}_{t}", spk_id=s, emotion=e, text_id=t, gender=g)
    ...     for s, g in (("a", "m"), ("b", "m"), ("c", "f"))
    ...     for e in ("neutral", "angry")
    ...     for t in ("t1", "t2", "t3")
    ... ]
    >>> tr = make_trials(rows, n_trials=8, seed=1)
    >>> [len(tr[c]) for c in ("neutral", "cross", "emo_emo", "merged")]
    [8, 8, 8, 24]
    >>> lab, e, t, ee, te = tr["cross"][0]
    >>> lab, ee, te, e.split("_")[0] == t.split("_")[0]
    (1, 'neutral', 'angry', True)
    """
    ids = [r["ID"] for r in rows]
    emos = np.array([r["emotion"] for r in rows])
    spk = _codes([r["spk_id"] for r in rows])
    text = _codes([r.get("text_id", "") for r in rows])
    gender = _codes([r.get("gender", "") for r in rows])
    const = np.zeros(len(rows), dtype=np.int64)
    neutral = np.flatnonzero(emos == NEUTRAL)
    emotional = np.flatnonzero((emos != NEUTRAL) & (emos != UNKNOWN))
    specs = {
        "neutral": (neutral, neutral),
        "cross": (neutral, emotional),
        "emo_emo": (emotional, emotional),
    }
    if lists:
        corpus = np.array([r["corpus"] for r in rows])
        specs = {}
        for name, corpora in lists.items():
            idx = np.flatnonzero(np.isin(corpus, list(corpora)))
            specs[name] = (idx, idx)
    elif len(neutral) == 0 and len(emotional) == 0:
        # No emotion labels (e.g. VoxCeleb): one list over everything.
        specs = {"merged": (np.arange(len(rows)), np.arange(len(rows)))}
    out = {c: [] for c in (*CATEGORIES, *specs)}
    for cat, (enrol, test) in specs.items():
        rng = np.random.default_rng(stable_seed(seed, "trials", cat))
        taken = set()
        tar = _sample(
            enrol, test, spk, text, spk, n_trials // 2, True, rng, taken
        )
        # As many non-targets as targets were found: always balanced.
        n_non = len(tar)
        n_hard = int(round(hard_fraction * n_non))
        hard = _sample(
            enrol, test, spk, text, gender, n_hard, False, rng, taken
        )
        easy = _sample(
            enrol, test, spk, text, const, n_non - len(hard), False, rng, taken
        )
        # Keep the list balanced when non-targets ran short.
        tar = tar[: len(hard) + len(easy)]
        got = len(tar) + len(hard) + len(easy)
        if report is not None and got < n_trials:
            report.add(
                "trials_short",
                cat,
                f"{got} of {n_trials} ({len(tar)} targets, "
                f"{len(hard)} same-gender non-targets)",
            )
        for label, pairs in ((1, tar), (0, hard), (0, easy)):
            out[cat].extend(
                (label, ids[e], ids[t], str(emos[e]), str(emos[t]))
                for e, t in pairs.tolist()
            )
    if "neutral" in specs:
        out["merged"] = out["neutral"] + out["cross"] + out["emo_emo"]
    elif lists:
        out["merged"] = [t for name in lists for t in out[name]]
    return out


def write_trials(trials, folder):
    """Writes ``<folder>/<category>.txt`` for every non-empty category.

    A category without trials (e.g. the emotional lists of VoxCeleb, whose
    emotion is unknown) gets no file -- an evaluator scores every file it
    finds and refuses empty lists -- and every other ``.txt`` of the
    folder, a list of an earlier preparation, is removed.

    Arguments
    ---------
    trials : dict
        Output of :func:`make_trials`.
    folder : str or Path
        Target folder (created).

    Example
    -------
    >>> d = getfixture("tmp_path")
    >>> write_trials({"merged": [(1, "a", "b", "neutral", "sad")]}, d)
    >>> (d / "merged.txt").read_text()
    '1 a b neutral sad\\n'
    >>> write_trials({"real_acted": [(0, "a", "c", "", "")]}, d)
    >>> write_trials({"real_read": [(0, "a", "c", "", "")]}, d)
    >>> sorted(p.name for p in d.iterdir())  # the earlier lists are gone
    ['real_read.txt']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = set()
    for cat, trs in trials.items():
        if trs:
            lines = "".join(" ".join(map(str, tr)) + "\n" for tr in trs)
            write_text(folder / f"{cat}.txt", lines)
            written.add(f"{cat}.txt")
    for stale in folder.glob("*.txt"):
        if stale.name not in written:
            stale.unlink()


def trial_files(data_dir, split):
    """The trial lists of a prepared folder's split
    (``<data_dir>/trials/<split>/*.txt``, as :func:`write_trials` wrote
    them), sorted; none when the split has no trial.

    Example
    -------
    >>> d = getfixture("tmp_path")
    >>> write_trials({"merged": [(1, "a", "b", "", "")]}, d / "trials" / "eval")
    >>> [p.name for p in trial_files(d, "eval")], trial_files(d, "valid")
    (['merged.txt'], [])
    """
    return sorted((Path(data_dir) / "trials" / split).glob("*.txt"))


def iter_trial_lines(path):
    """Parses a trial file line by line (the one trial-list parser).

    Lines: ``<label 1|0> <enrol ID> <test ID> [<enrol emo> <test emo>]``
    (3 columns: VoxCeleb format). Blank lines and lines starting with
    ``#`` are skipped.

    Arguments
    ---------
    path : str or Path
        Trial file.

    Yields
    ------
    tuple
        ``(line number, label, enrol ID, test ID, enrol emotion, test
        emotion)``; label an int, emotions None on 3-column lines.

    Raises
    ------
    ValueError
        On a malformed line, naming file and line number.

    Example
    -------
    >>> p = getfixture("tmp_path") / "t.txt"
    >>> _ = p.write_text("# comment\\n1 a b neutral sad\\n\\n0 a c\\n")
    >>> list(iter_trial_lines(p))
    [(2, 1, 'a', 'b', 'neutral', 'sad'), (4, 0, 'a', 'c', None, None)]
    >>> _ = p.write_text("2 a b\\n")
    >>> list(iter_trial_lines(p))
    Traceback (most recent call last):
    ...
    ValueError: ...t.txt:1: malformed trial line '2 a b': label must be 0 or 1, got '2'
    """
    for num, line in text_lines(path):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        where = f"{path}:{num}: malformed trial line {line.strip()!r}"
        if len(words) not in (3, 5):
            raise ValueError(
                f"{where}: expected 3 or 5 columns (<1|0> <enrol> "
                f"<test> [<emo> <emo>]), got {len(words)}"
            )
        if words[0] not in ("0", "1"):
            raise ValueError(f"{where}: label must be 0 or 1, got {words[0]!r}")
        emotions = words[3:] if len(words) == 5 else [None, None]
        yield (num, int(words[0]), words[1], words[2], *emotions)


def text_lines(path):
    """Numbered lines of a UTF-8 text file (trial lists).

    A byte-order mark (as some editors write) is skipped; a file in
    another encoding (e.g. latin-1) is an error naming it.

    Arguments
    ---------
    path : str or Path
        Text file.

    Yields
    ------
    tuple
        ``(line number, line)``, numbered from 1.

    Example
    -------
    >>> p = getfixture("tmp_path") / "t.txt"
    >>> _ = p.write_bytes("\\ufeffa.wav b.wav\\n".encode())
    >>> list(text_lines(p))
    [(1, 'a.wav b.wav\\n')]
    >>> _ = p.write_bytes("caf\\xe9.wav b.wav\\n".encode("latin-1"))
    >>> list(text_lines(p))
    Traceback (most recent call last):
    ...
    ValueError: ...t.txt: not UTF-8 text (a byte 0xe9): save it as UTF-8
    """
    with open(path, encoding="utf-8-sig") as f:
        try:
            yield from enumerate(f, 1)
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{path}: not UTF-8 text (a byte "
                f"{err.object[err.start]:#x}): save it as UTF-8"
            ) from None


def read_trials(path):
    """The trials of a file as tuples, emotion ``unknown`` where not given.

    Arguments
    ---------
    path : str or Path
        Trial file; parsed (and malformed lines reported, with file and
        line) by :func:`iter_trial_lines`.

    Returns
    -------
    list of (int, str, str, str, str)
        ``(label, enrol ID, test ID, enrol emotion, test emotion)``.

    Example
    -------
    >>> p = getfixture("tmp_path") / "t.txt"
    >>> _ = p.write_text("1 a b neutral sad\\n0 a c\\n")
    >>> read_trials(p)
    [(1, 'a', 'b', 'neutral', 'sad'), (0, 'a', 'c', 'unknown', 'unknown')]
    """
    return [
        (label, enrol, test, e_emo or UNKNOWN, t_emo or UNKNOWN)
        for _, label, enrol, test, e_emo, t_emo in iter_trial_lines(path)
    ]
