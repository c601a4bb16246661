"""A SpeechBrain Checkpointer whose checkpoints survive a kill mid-save.

SpeechBrain 1.1.2 writes a checkpoint's ``CKPT.yaml`` -- the file that makes
a folder a checkpoint -- *before* the parameter files. A run killed while
saving (SIGKILL, out of memory, a pre-empted node) therefore leaves a folder
that looks complete, and the rerun fails to load it (``EOFError`` from a
truncated file). Here the meta file is written under a temporary name and
renamed into place after every parameter file is on disk, so an interrupted
save is simply not a checkpoint and the rerun resumes from the previous one.

Authors
 * speechbrain-emoinv contributors 2026
"""

import logging
import os

from speechbrain.utils.checkpoints import METAFNAME, Checkpointer
from speechbrain.utils.distributed import if_main_process

logger = logging.getLogger(__name__)
PARTIAL_SUFFIX = ".partial"


class AtomicCheckpointer(Checkpointer):
    """:class:`speechbrain.utils.checkpoints.Checkpointer` that commits a
    checkpoint by renaming its meta file last.

    Arguments are those of SpeechBrain's ``Checkpointer``.

    Example
    -------
    >>> import tempfile, torch
    >>> model = torch.nn.Linear(2, 2)
    >>> folder = tempfile.mkdtemp()
    >>> ckpter = AtomicCheckpointer(folder, recoverables={"model": model})
    >>> ckpt = ckpter.save_checkpoint()
    >>> sorted(p.name for p in ckpt.path.iterdir())
    ['CKPT.yaml', 'model.ckpt']
    >>> ckpter.find_checkpoint().path == ckpt.path
    True
    """

    def _save_checkpoint_metafile(
        self, fpath, meta_to_include={}, end_of_epoch=True
    ):
        partial = fpath.with_name(fpath.name + PARTIAL_SUFFIX)
        return super()._save_checkpoint_metafile(
            partial, meta_to_include, end_of_epoch
        )

    def save_checkpoint(self, *args, **kwargs):
        """Saves every recoverable, then commits the checkpoint.

        Arguments
        ---------
        *args, **kwargs
            As for ``Checkpointer.save_checkpoint``.

        Returns
        -------
        Checkpoint or None
            The saved checkpoint (None on non-main processes).
        """
        ckpt = super().save_checkpoint(*args, **kwargs)
        if if_main_process() and ckpt is not None:
            meta = ckpt.path / METAFNAME
            os.replace(meta.with_name(METAFNAME + PARTIAL_SUFFIX), meta)
        return ckpt
