"""Canonical emotion vocabulary and the per-corpus label maps onto it.

Every manifest's ``emotion`` column holds one of :data:`CANONICAL`. Corpus
labels are mapped here, in one place, so the documented table in
``docs/data.md`` and the code cannot drift apart.

Decisions worth knowing:

* RAVDESS ``calm`` -> ``neutral``: RAVDESS records calm as a low-arousal
  baseline next to neutral; keeping it apart would leave neutral with half
  the takes of the other emotions. (Common practice in emotion recognition.)
* Dusha ``positive`` -> ``happy``; IEMOCAP ``exc`` (excited) -> ``happy``.
* IEMOCAP ``xxx`` (annotators did not agree) -> ``unknown``; ``fru`` ->
  ``frustrated``; ``oth`` -> ``other``.
* ``unknown`` marks "no emotion label" (VoxCeleb); trial lists keep such
  utterances out of the neutral / cross / emo_emo categories.

Authors: speechbrain-emoinv contributors
"""

NEUTRAL = "neutral"
UNKNOWN = "unknown"

CANONICAL = (
    "neutral",
    "angry",
    "happy",
    "sad",
    "fear",
    "surprise",
    "disgust",
    "frustrated",
    "other",
    "unknown",
)

# Labels as they appear in each corpus (matched case-insensitively).
CORPUS_MAPS = {
    "mbrola": {e: e for e in CANONICAL if e != UNKNOWN},
    "esd": {
        "neutral": "neutral",
        "angry": "angry",
        "happy": "happy",
        "sad": "sad",
        "surprise": "surprise",
    },
    "cremad": {
        "ang": "angry",
        "dis": "disgust",
        "fea": "fear",
        "hap": "happy",
        "neu": "neutral",
        "sad": "sad",
    },
    "ravdess": {
        "01": "neutral",
        "02": "neutral",  # calm
        "03": "happy",
        "04": "sad",
        "05": "angry",
        "06": "fear",
        "07": "disgust",
        "08": "surprise",
    },
    "dusha": {
        "neutral": "neutral",
        "angry": "angry",
        "sad": "sad",
        "positive": "happy",
    },
    "iemocap": {
        "neu": "neutral",
        "ang": "angry",
        "hap": "happy",
        "exc": "happy",
        "sad": "sad",
        "fea": "fear",
        "sur": "surprise",
        "dis": "disgust",
        "fru": "frustrated",
        "oth": "other",
        "xxx": "unknown",
    },
    "voxceleb": {},
}


class UnknownEmotionError(ValueError):
    """A corpus label that the corpus map does not know."""


def map_emotion(corpus, label, where=""):
    """Maps a corpus emotion label onto the canonical vocabulary.

    Arguments
    ---------
    corpus : str
        Key of :data:`CORPUS_MAPS` (e.g. ``"cremad"``).
    label : str
        The label as written in the corpus (case-insensitive).
    where : str
        File/row the label came from, quoted in the error message.

    Returns
    -------
    str
        Canonical label.

    Raises
    ------
    UnknownEmotionError
        When the label is not in the corpus map.

    Example
    -------
    >>> map_emotion("dusha", "positive")
    'happy'
    >>> map_emotion("ravdess", "02")
    'neutral'
    >>> map_emotion("cremad", "XYZ", where="a.wav")
    Traceback (most recent call last):
    ...
    speechbrain_emoinv.data.emotions.UnknownEmotionError: unknown cremad emotion label 'XYZ' in a.wav (known: ang, dis, fea, hap, neu, sad)
    """
    table = CORPUS_MAPS[corpus]
    key = str(label).strip().lower()
    if key not in table:
        known = ", ".join(sorted(table))
        raise UnknownEmotionError(
            f"unknown {corpus} emotion label {label!r} in {where or '?'} "
            f"(known: {known})"
        )
    return table[key]


def is_emotional(label):
    """True for a canonical label that is an emotion other than neutral.

    Arguments
    ---------
    label : str
        Canonical label.

    Returns
    -------
    bool

    Example
    -------
    >>> [is_emotional(e) for e in ("neutral", "angry", "unknown")]
    [False, True, False]
    """
    return label not in (NEUTRAL, UNKNOWN)
