"""Stateless partner draws: same speaker, another emotion.

Draws are keyed by ``(seed, epoch, row)`` through numpy's ``SeedSequence``
(:func:`speechbrain_emoinv.stable_random.stable_uniform`), so DataLoader
workers, DDP ranks and a resumed run draw the same partners, whatever order
they visit the rows in.

Authors
 * speechbrain-emoinv contributors
"""

import logging

import numpy as np

from speechbrain_emoinv.data.emotions import NEUTRAL
from speechbrain_emoinv.stable_random import stable_uniform

__all__ = ["PairSampler"]

logger = logging.getLogger(__name__)
# Last key of the partner and twin draws. A data pipeline that keys its
# crops by the same seed, epoch and row needs other salts: a shared key
# would tie each partner to where its anchor is cropped.
PARTNER_SALT, TWIN_SALT = 4, 5


class PairSampler:
    """Draws, for each dataset row, a partner row of the same speaker.

    ``partner_emotion="other"``: a row of any other emotion of the speaker.
    ``partner_emotion="neutral"`` (the original CopyPaste): a neutral row for
    an emotional anchor, an emotional row for a neutral one.
    ``partner_emotion="emotional"``: a row of another non-neutral emotion
    (for a neutral anchor, any emotional row): pairs of two different
    emotions, the hardest trials. Rows whose
    speaker has no such row fall back to the next rule that can be met
    (other emotion, then same emotion, then the row itself); they are
    counted in ``n_fallback`` and announced with a warning.

    ``partner(index, twin=True)`` draws another row of the same speaker and
    emotion, for a parallel sample that shares no audio with its anchor.

    Arguments
    ---------
    spk_ids : list
        Speaker id of each row.
    emotions : list
        Emotion label of each row.
    partner_emotion : str
        ``"other"``, ``"neutral"`` or ``"emotional"``.
    seed : int
        Seed of the draws.

    Example
    -------
    >>> sampler = PairSampler(
    ...     ["a", "a", "a", "b", "b"],
    ...     ["neutral", "angry", "sad", "neutral", "neutral"],
    ...     partner_emotion="neutral",
    ... )
    >>> sampler.partner(1), sampler.partner(2), sampler.partner(0) in (1, 2)
    (0, 0, True)
    >>> sampler.partner(3), sampler.n_fallback, sampler.partner(3, twin=True)
    (4, 2, 4)
    >>> emo = PairSampler(["a"] * 3, ["angry", "sad", "neutral"], "emotional")
    >>> emo.partner(0), emo.partner(1), emo.partner(2) in (0, 1)
    (1, 0, True)
    """

    def __init__(self, spk_ids, emotions, partner_emotion="other", seed=1234):
        if partner_emotion not in ("other", "neutral", "emotional"):
            raise ValueError(
                "partner_emotion must be 'other', 'neutral' or 'emotional': "
                f"{partner_emotion!r}"
            )
        if len(spk_ids) != len(emotions) or not len(spk_ids):
            raise ValueError(
                f"{len(spk_ids)} speaker ids and {len(emotions)} emotions: "
                "need as many, at least one"
            )
        self.seed, self.epoch = int(seed), 0
        self._key = list(zip(spk_ids, emotions, strict=True))
        groups = {}  # (speaker, emotion) -> rows
        for row, key in enumerate(self._key):
            groups.setdefault(key, []).append(row)
        self._twins = {k: np.array(v) for k, v in groups.items()}
        emotions_of = {}
        for spk, emo in groups:
            emotions_of.setdefault(spk, []).append(emo)
        self._partners = {}  # (speaker, emotion) -> partner rows
        self.n_fallback = 0
        for spk, emo in groups:
            others = [e for e in emotions_of[spk] if e != emo]
            wanted = others
            if partner_emotion == "neutral":
                wanted = [
                    e for e in others if (e == NEUTRAL) != (emo == NEUTRAL)
                ]
            elif partner_emotion == "emotional":
                wanted = [e for e in others if e != NEUTRAL]
            rule = next(r for r in (wanted, others, [emo]) if r)
            rows = sorted(r for e in rule for r in groups[(spk, e)])
            self._partners[(spk, emo)] = np.array(rows)
            if rule is not wanted:
                self.n_fallback += len(groups[(spk, emo)])
        if self.n_fallback:
            logger.warning(
                "PairSampler: %d of %d rows have no partner_emotion=%s row "
                "of their speaker; they get the next best row of the speaker",
                self.n_fallback,
                len(self._key),
                partner_emotion,
            )

    def partner(self, index, epoch=None, twin=False):
        """Partner row of ``index``, or its twin.

        Arguments
        ---------
        index : int
            Anchor row.
        epoch : int, optional
            Epoch of the draw (default ``self.epoch``).
        twin : bool
            Draw another row of the anchor's speaker and emotion instead
            (the row itself when there is none).

        Returns
        -------
        int
        """
        key = self._key[index]
        rows = self._twins[key] if twin else self._partners[key]
        own = int(np.searchsorted(rows, index))
        inside = int(own < len(rows) and rows[own] == index)
        if len(rows) == inside:
            return index
        epoch = self.epoch if epoch is None else epoch
        salt = TWIN_SALT if twin else PARTNER_SALT
        u = stable_uniform(self.seed, epoch, index, salt)
        k = int(u * (len(rows) - inside))
        if inside and k >= own:
            k += 1  # skip the anchor itself
        return int(rows[k])
