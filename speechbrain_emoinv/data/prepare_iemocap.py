"""Prepares IEMOCAP (five sessions, ten actors).

Labels from ``Session<n>/dialog/EmoEvaluation/*.txt`` lines
``[start - end]<TAB><utt><TAB><label><TAB>[V, A, D]``; audio in
``Session<n>/sentences/wav/<dialog>/<utt>.wav``. The speaker is the
session plus the letter that opens the utterance's last field
(``Ses01F_impro01_M003`` is the male actor of session 1: ``iemocap-Ses01M``).
Default split: session 5 actors eval, session 4 actors valid.

Authors: speechbrain-emoinv contributors
"""

import re
from pathlib import Path

from speechbrain_emoinv.data.prepared_folder import run_prepare

_LINE = re.compile(
    r"^\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\s+(Ses\d\d[FM]\S*)\s+(\S+)\s+\["
)
_UTT = re.compile(r"^(Ses\d\d)[FM]_.*_([FM])\d+$")


def read_emo_evaluation(path):
    """``(utterance, label, "<file>:<line>")`` of an EmoEvaluation file.

    Arguments
    ---------
    path : str or Path
        ``dialog/EmoEvaluation/<dialog>.txt``.

    Returns
    -------
    list of (str, str, str)

    Raises
    ------
    ValueError
        On a ``[``-line that does not parse (file and line named).

    Example
    -------
    >>> p = getfixture("tmp_path") / "Ses01F_impro01.txt"
    >>> _ = p.write_text(
    ...     "% header\\n\\n[6.29 - 8.23]\\tSes01F_impro01_F000"
    ...     "\\tneu\\t[2.5, 2.5, 2.5]\\nC-E1:\\tNeutral;\\t()\\n"
    ... )
    >>> read_emo_evaluation(p)[0][:2]
    ('Ses01F_impro01_F000', 'neu')
    """
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for num, line in enumerate(f, 1):
            if not line.startswith("["):
                continue
            m = _LINE.match(line)
            if not m or not _UTT.match(m.group(1)):
                raise ValueError(
                    f"{path}:{num}: malformed EmoEvaluation line "
                    f"{line.strip()!r}"
                )
            out.append((m.group(1), m.group(2), f"{path}:{num}"))
    return out


def prepare_iemocap(data_folder, save_folder, **kwargs):
    """Writes IEMOCAP's prepared folder ``save_folder`` and returns it.

    Arguments
    ---------
    data_folder : str or Path
        IEMOCAP root (holds ``Session1`` ... ``Session5``).
    save_folder, **kwargs
        See :func:`~speechbrain_emoinv.data.prepared_folder.run_prepare`.
    """

    def collect(report, add):
        root = Path(data_folder)
        spk = set()
        for sess in sorted(root.glob("Session[1-5]")):
            evals = sorted((sess / "dialog" / "EmoEvaluation").glob("*.txt"))
            for txt in evals:
                for utt, label, where in read_emo_evaluation(txt):
                    ses, letter = _UTT.match(utt).groups()
                    dialog = utt.rsplit("_", 1)[0]
                    wav = sess / "sentences" / "wav" / dialog / f"{utt}.wav"
                    cand = add(
                        f"iemocap-{utt}",
                        wav,
                        f"iemocap-{ses}{letter}",
                        label,
                        where,
                        gender=letter.lower(),
                        lang="en",
                    )
                    if cand:
                        spk.add(cand["spk_id"])
        ev = sorted(s for s in spk if s.startswith("iemocap-Ses05"))
        va = sorted(s for s in spk if s.startswith("iemocap-Ses04"))
        return dict(eval_speakers=ev or None, valid_speakers=va or None)

    return run_prepare("iemocap", data_folder, save_folder, collect, **kwargs)
