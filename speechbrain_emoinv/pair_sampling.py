"""Stateless partner draws: same speaker, different emotion.

Every anchor row of a dataset gets a partner row from the same speaker,
spoken with another emotion, uniformly over all such rows. The draw for
``(seed, epoch, index)`` comes from a stable integer hash
(:func:`speechbrain_emoinv.stable_random.stable_hash`, splitmix64), not
from a shared random stream nor Python's salted ``hash()``: DataLoader
workers, DDP ranks and a resumed run all draw the same partner, whatever
order they visit the anchors in.

Authors
 * speechbrain-emoinv contributors
"""

import logging

import numpy as np

from speechbrain_emoinv.stable_random import stable_hash

__all__ = ["PairSampler"]

logger = logging.getLogger(__name__)


class PairSampler:
    """Draws a same-speaker, other-emotion partner for each dataset row.

    Rows are grouped per speaker and, inside a speaker, per emotion, into
    one index array; each row knows its speaker's block and its own
    emotion's sub-block, so a draw is O(1): a uniform position among the
    speaker's rows outside the row's emotion sub-block.

    A speaker with a single emotion cannot give a different-emotion partner:
    its rows (*fallback anchors*, known at construction and announced once
    with a ``logging`` warning) get another row of the same speaker, or
    themselves when the speaker has one row; such draws are counted.

    Partners are indices into the whole dataset, so with DDP only the
    anchors are sharded (by the distributed sampler) and every rank draws
    the same partner for the same anchor.

    Arguments
    ---------
    spk_ids : list
        Speaker id of each row (any hashable values).
    emotions : list
        Emotion label of each row.
    seed : int
        Seed of the draws.

    Example
    -------
    >>> sampler = PairSampler(
    ...     ["a", "a", "a", "b", "b"], ["neu", "ang", "ang", "neu", "sad"]
    ... )
    >>> sampler.partner(0) in (1, 2)  # the other-emotion rows of "a"
    True
    >>> sampler.partner(3), sampler.partner(4)
    (4, 3)
    >>> sampler.n_fallback_anchors
    0
    """

    def __init__(self, spk_ids, emotions, seed=1234):
        spk_ids, emotions = list(spk_ids), list(emotions)
        if len(spk_ids) != len(emotions):
            raise ValueError(
                f"{len(spk_ids)} speaker ids but {len(emotions)} emotions"
            )
        if not spk_ids:
            raise ValueError("PairSampler needs at least one row")
        self.seed = int(seed)
        self.epoch = 0
        n_rows = len(spk_ids)

        spk_codes = {s: i for i, s in enumerate(dict.fromkeys(spk_ids))}
        emo_codes = {e: i for i, e in enumerate(dict.fromkeys(emotions))}
        spk = np.array([spk_codes[s] for s in spk_ids], dtype=np.int64)
        emo = np.array([emo_codes[e] for e in emotions], dtype=np.int64)
        # rows sorted by (speaker, emotion, row): contiguous blocks
        order = np.lexsort((np.arange(n_rows), emo, spk))
        self._order = order.astype(np.int64)
        pos = np.empty(n_rows, dtype=np.int64)
        pos[order] = np.arange(n_rows)

        s_sorted, e_sorted = spk[order], emo[order]
        spk_change = np.r_[True, s_sorted[1:] != s_sorted[:-1]]
        grp_change = spk_change | np.r_[True, e_sorted[1:] != e_sorted[:-1]]
        spk_start = np.maximum.accumulate(
            np.where(spk_change, np.arange(n_rows), 0)
        )
        grp_start = np.maximum.accumulate(
            np.where(grp_change, np.arange(n_rows), 0)
        )
        spk_size = np.bincount(spk)[s_sorted]
        grp_id = np.cumsum(grp_change) - 1
        grp_size = np.bincount(grp_id)[grp_id]
        n_emos_spk = np.bincount(s_sorted, weights=grp_change).astype(np.int64)

        # per row (in dataset order)
        self._spk_start = spk_start[pos]
        self._spk_size = spk_size[pos]
        self._grp_off = (grp_start - spk_start)[pos]  # inside speaker block
        self._grp_size = grp_size[pos]
        self._pos_in_spk = pos - self._spk_start
        self._fallback = n_emos_spk[spk] < 2

        self.n_anchors = n_rows
        self.n_speakers = len(spk_codes)
        self.n_fallback_anchors = int(self._fallback.sum())
        self.n_fallback_speakers = int((n_emos_spk < 2).sum())
        self._draws = 0
        self._fallback_draws = 0
        if self.n_fallback_anchors:
            logger.warning(
                "PairSampler: %d of %d rows (%d of %d speakers) have a "
                "speaker with a single emotion; their partners are other "
                "rows of the same speaker (same emotion)",
                self.n_fallback_anchors,
                n_rows,
                self.n_fallback_speakers,
                self.n_speakers,
            )

    def set_epoch(self, epoch):
        """Sets the epoch used when ``partner`` gets no ``epoch``.

        Arguments
        ---------
        epoch : int
            Epoch number.

        Example
        -------
        >>> s = PairSampler(["a"] * 4, ["x", "y", "x", "y"])
        >>> s.set_epoch(5)
        >>> s.partner(0) == s.partner(0, epoch=5)
        True
        """
        self.epoch = int(epoch)

    def partner(self, index, epoch=None):
        """Partner row of ``index`` for ``epoch`` (default: ``self.epoch``).

        Arguments
        ---------
        index : int
            Anchor row in the whole dataset.
        epoch : int, optional
            Epoch; defaults to the one set by ``set_epoch``.

        Returns
        -------
        int
            Row of the same speaker with a different emotion (or, for a
            fallback anchor, another row of the speaker / itself).
        """
        index = int(index)
        if not 0 <= index < self.n_anchors:
            raise IndexError(f"row {index} outside [0, {self.n_anchors})")
        epoch = self.epoch if epoch is None else int(epoch)
        self._draws += 1
        size = int(self._spk_size[index])
        if self._fallback[index]:
            self._fallback_draws += 1
            if size == 1:
                return index
            u = int(stable_hash(self.seed, epoch, index)) % (size - 1)
            own = int(self._pos_in_spk[index])
            u = u + 1 if u >= own else u
        else:
            g_size = int(self._grp_size[index])
            u = int(stable_hash(self.seed, epoch, index)) % (size - g_size)
            g_off = int(self._grp_off[index])
            u = u + g_size if u >= g_off else u
        return int(self._order[int(self._spk_start[index]) + u])

    def stats(self):
        """Counts for the report of a training run.

        Returns
        -------
        dict
            ``anchors``, ``speakers``, ``fallback_anchors``,
            ``fallback_speakers`` (known up front), ``draws`` and
            ``fallback_draws`` (in this process).

        Example
        -------
        >>> s = PairSampler(["a", "a", "b"], ["neu", "ang", "neu"])
        >>> _ = s.partner(2)
        >>> s.stats()["fallback_draws"], s.stats()["fallback_anchors"]
        (1, 1)
        """
        return {
            "anchors": self.n_anchors,
            "speakers": self.n_speakers,
            "fallback_anchors": self.n_fallback_anchors,
            "fallback_speakers": self.n_fallback_speakers,
            "draws": self._draws,
            "fallback_draws": self._fallback_draws,
        }
