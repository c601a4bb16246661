"""Checkpointable running means of named values (e.g. loss parts).

SpeechBrain checkpoints its own running training loss; the parts of a
composite loss need the same, or a run resumed inside an epoch logs means
over only the steps after the restart.

Authors
 * speechbrain-emoinv contributors 2026
"""

import torch
from speechbrain.utils.checkpoints import (
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)


@register_checkpoint_hooks
class RunningMeans:
    """Sums and counts of named values since the last :meth:`clear`.

    Example
    -------
    >>> meter = RunningMeans()
    >>> meter.add("aam", 2.0)
    >>> meter.add("aam", 4.0)
    >>> meter.means()
    {'aam': 3.0}
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.ckpt")
    >>> meter._save(path)
    >>> other = RunningMeans()
    >>> other._load(path)
    >>> other.means()
    {'aam': 3.0}
    """

    def __init__(self):
        self.sums, self.counts = {}, {}

    def add(self, key, value):
        """Adds one value of ``key``.

        Arguments
        ---------
        key : str
            Name of the value.
        value : float
            The value.
        """
        self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.counts[key] = self.counts.get(key, 0) + 1

    def clear(self):
        """Forgets everything (e.g. at the start of an epoch)."""
        self.sums, self.counts = {}, {}

    def means(self):
        """Means since the last clear.

        Returns
        -------
        dict
            ``key -> mean``.
        """
        return {k: v / self.counts[k] for k, v in self.sums.items()}

    @mark_as_saver
    def _save(self, path):
        torch.save({"sums": self.sums, "counts": self.counts}, path)

    @mark_as_loader
    def _load(self, path, end_of_epoch=False):
        state = torch.load(path, weights_only=True)
        self.sums, self.counts = state["sums"], state["counts"]
