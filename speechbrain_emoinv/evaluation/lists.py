"""Trial lists as index arrays into a manifest, and speaker lists.

Formats are those of ``docs/interfaces.md``. Files are parsed by the data
layer (``data.manifest.read_manifest``, ``data.trials.iter_trial_lines``);
this module turns them into the arrays the scorer works on. Every error
names the file and, for trial lists, the line.

Authors
 * speechbrain-emoinv contributors 2025
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechbrain_emoinv.data.emotions import UNKNOWN
from speechbrain_emoinv.data.trials import iter_trial_lines


@dataclass
class TrialList:
    """A parsed trial list: index arrays into one manifest.

    Arguments
    ---------
    name : str
        List name (file stem, e.g. ``cross``).
    labels : numpy.ndarray
        Boolean, True = target trial.
    enrol : numpy.ndarray
        Row index of the enrolment utterance.
    test : numpy.ndarray
        Row index of the test utterance.
    enrol_emotion : numpy.ndarray
        Enrolment emotion labels (str).
    test_emotion : numpy.ndarray
        Test emotion labels (str).
    n_excluded : int
        Trials dropped by a speaker exclusion.
    """

    name: str
    labels: np.ndarray
    enrol: np.ndarray
    test: np.ndarray
    enrol_emotion: np.ndarray
    test_emotion: np.ndarray
    n_excluded: int = 0

    def __len__(self):
        return self.labels.size

    def subset(self, keep):
        """The trials where ``keep`` is True (others counted excluded)."""
        return TrialList(
            self.name,
            self.labels[keep],
            self.enrol[keep],
            self.test[keep],
            self.enrol_emotion[keep],
            self.test_emotion[keep],
            self.n_excluded + int((~keep).sum()),
        )


def read_trial_list(path, index, rows=None):
    """Reads a trial list as index arrays into a manifest.

    The file is parsed by :func:`speechbrain_emoinv.data.trials.iter_trial_lines`
    (``<label> <enrol ID> <test ID> [<enrol emo> <test emo>]``, blank and
    ``#`` lines skipped); with three columns (VoxCeleb format) the emotions
    come from ``rows``.

    Arguments
    ---------
    path : str or Path
        Trial list file.
    index : dict
        Utterance ID -> row number in the manifest.
    rows : list of dict or None
        Manifest rows (for emotions of 3-column lists).

    Returns
    -------
    TrialList
        The parsed list.

    Raises
    ------
    ValueError
        On a malformed line or an utterance not in ``index`` (file and
        line named), an empty list, or a list with one class only.

    Example
    -------
    >>> p = getfixture("tmpdir") / "t.txt"
    >>> _ = p.write("1 a b neutral angry\\n0 a c neutral neutral\\n")
    >>> t = read_trial_list(p, {"a": 0, "b": 1, "c": 2})
    >>> t.labels.tolist(), t.test.tolist(), t.test_emotion.tolist()
    ([True, False], [1, 2], ['angry', 'neutral'])
    >>> _ = p.write("1 a x\\n")
    >>> read_trial_list(p, {"a": 0})
    Traceback (most recent call last):
    ...
    ValueError: ...t.txt:1: unknown utterance 'x' (not in the manifest)
    """
    path = Path(path)
    labels, enrol, test, e_emo, t_emo = [], [], [], [], []
    for line_no, label, e_id, t_id, e_e, t_e in iter_trial_lines(path):
        for utt in (e_id, t_id):
            if utt not in index:
                raise ValueError(
                    f"{path}:{line_no}: unknown utterance {utt!r} "
                    "(not in the manifest)"
                )
        i, j = index[e_id], index[t_id]
        labels.append(label == 1)
        enrol.append(i)
        test.append(j)
        if e_e is None:
            e_e = rows[i]["emotion"] if rows else UNKNOWN
            t_e = rows[j]["emotion"] if rows else UNKNOWN
        e_emo.append(e_e)
        t_emo.append(t_e)
    if not labels:
        raise ValueError(f"{path}: empty trial list")
    out = TrialList(
        path.stem,
        np.array(labels, dtype=bool),
        np.array(enrol, dtype=np.int64),
        np.array(test, dtype=np.int64),
        np.array(e_emo),
        np.array(t_emo),
    )
    check_two_classes(out, path)
    return out


def check_two_classes(trials, where):
    """Raises unless a list has both target and non-target trials.

    Arguments
    ---------
    trials : TrialList
        The list.
    where : str or Path
        Name for the message.
    """
    n_pos = int(trials.labels.sum())
    if n_pos == 0 or n_pos == len(trials):
        kind = "target" if n_pos else "non-target"
        raise ValueError(
            f"{where}: all {len(trials)} trials are {kind}; a verification "
            "list needs both classes"
        )


def read_speaker_list(spec, known=None, where="the data"):
    """Speaker ids from ``@file`` (one per line) or ``a,b,c``.

    Arguments
    ---------
    spec : str or Path or None
        ``@path`` of a file, or a comma-separated list.
    known : set of str or None
        Speakers of the data; any other listed id is an error (a typo or
        a file path without ``@`` would otherwise exclude nothing).
    where : str
        Name of the data, for the message.

    Returns
    -------
    set of str
        Speaker ids (empty when ``spec`` is None).

    Raises
    ------
    ValueError
        On an id not in ``known`` (the message says what was meant).
    FileNotFoundError
        On a missing ``@file``.

    Example
    -------
    >>> sorted(read_speaker_list("s1,s2"))
    ['s1', 's2']
    >>> read_speaker_list("lists/train.txt", known={"s1"})
    Traceback (most recent call last):
    ...
    ValueError: speaker list 'lists/train.txt': unknown speaker(s) ['lists/train.txt'] (not in the data); a file of speaker ids is given as @lists/train.txt
    """
    if spec is None:
        return set()
    spec = str(spec)
    if spec.startswith("@"):
        path = Path(spec[1:])
        if not path.is_file():
            raise FileNotFoundError(f"{path}: speaker list not found")
        names = set(path.read_text(encoding="utf-8").split())
    else:
        names = {s for s in spec.split(",") if s}
    unknown = sorted(names - known) if known is not None else []
    if unknown:
        hint = ""
        if not spec.startswith("@") and (
            Path(spec).is_file() or "/" in spec or spec.endswith(".txt")
        ):
            hint = f"; a file of speaker ids is given as @{spec}"
        raise ValueError(
            f"speaker list {spec!r}: unknown speaker(s) {unknown[:5]}"
            + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            + f" (not in {where}){hint}"
        )
    return names


def exclude_speakers(trials, rows, speakers):
    """Drops trials whose enrolment or test speaker is in ``speakers``.

    Arguments
    ---------
    trials : TrialList
        The list.
    rows : list of dict
        Manifest rows the indices refer to.
    speakers : set of str
        Speakers to drop.

    Returns
    -------
    TrialList
        Remaining trials; ``n_excluded`` counts the dropped ones.

    Example
    -------
    >>> t = TrialList(
    ...     "x",
    ...     np.array([True, False]),
    ...     np.array([0, 0]),
    ...     np.array([0, 1]),
    ...     np.array(["n", "n"]),
    ...     np.array(["n", "n"]),
    ... )
    >>> rows = [{"spk_id": "a"}, {"spk_id": "b"}]
    >>> exclude_speakers(t, rows, {"b"}).n_excluded
    1
    """
    if not speakers:
        return trials
    banned = np.array([r["spk_id"] in speakers for r in rows])
    keep = ~(banned[trials.enrol] | banned[trials.test])
    return trials.subset(keep)
