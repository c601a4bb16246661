"""A SpeechBrain Checkpointer whose checkpoints survive a kill mid-save.

SpeechBrain 1.1.2 writes a checkpoint's ``CKPT.yaml`` -- the file that makes
a folder a checkpoint -- *before* the parameter files. A run killed while
saving (SIGKILL, out of memory, a pre-empted node) therefore leaves a folder
that looks complete, and the rerun fails to load it (``EOFError`` from a
truncated file). Here the meta file is written under a temporary name and
renamed into place after every parameter file is on disk (synced), so an
interrupted save is simply not a checkpoint and the rerun resumes from the
previous one. Such leftovers (``CKPT.yaml.partial``) are removed when the
next run starts recovering, and at once when a save fails (a full disk
gets its space back); the failure names the folder and the free space.

A checkpoint that is complete but does not load (a file damaged later) is
an error naming it; with ``fallback=True`` (the recipe's ``ckpt_fallback``
key, ``--ckpt_fallback=True``) it is set aside as ``corrupt-CKPT+...`` and
the previous checkpoint is recovered instead.

Authors
 * speechbrain-emoinv contributors 2026
"""

import functools
import logging
import os
import shutil

import torch
from speechbrain.core import INTRA_EPOCH_CKPT_FLAG
from speechbrain.utils.checkpoints import (
    METAFNAME,
    Checkpointer,
    average_checkpoints,
)
from speechbrain.utils.distributed import if_main_process

from speechbrain_emoinv.atomic_files import error_cause, fsync_file, write_error
from speechbrain_emoinv.run_guard import RunError

logger = logging.getLogger(__name__)
PARTIAL_SUFFIX = ".partial"
CORRUPT_PREFIX = "corrupt-"


class CorruptCheckpointError(RunError):
    """A checkpoint that does not load."""


class AtomicCheckpointer(Checkpointer):
    """:class:`speechbrain.utils.checkpoints.Checkpointer` that commits a
    checkpoint by renaming its meta file last.

    Arguments
    ---------
    *args, **kwargs
        Those of SpeechBrain's ``Checkpointer``.
    fallback : bool
        A checkpoint that does not load: set it aside and recover the
        previous one (True), or stop with an error naming it (False).

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

    def __init__(self, *args, fallback=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fallback = fallback

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
        try:
            ckpt = super().save_checkpoint(*args, **kwargs)
        except Exception as err:
            partial = self.remove_partial() if if_main_process() else []
            raise write_error(
                partial[0] if partial else self.checkpoints_dir, err
            ) from err
        if if_main_process() and ckpt is not None:
            for path in ckpt.path.iterdir():
                fsync_file(path)
            meta = ckpt.path / METAFNAME
            os.replace(meta.with_name(METAFNAME + PARTIAL_SUFFIX), meta)
        return ckpt

    def remove_partial(self):
        """Removes the folders of interrupted saves (main process only).

        Returns
        -------
        list of Path
            The removed folders.

        Example
        -------
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> (folder / "CKPT+x").mkdir()
        >>> _ = (folder / "CKPT+x" / "CKPT.yaml.partial").write_text("")
        >>> [p.name for p in AtomicCheckpointer(folder).remove_partial()]
        ['CKPT+x']
        """
        partial = sorted(
            path.parent
            for path in self.checkpoints_dir.glob(
                f"CKPT*/{METAFNAME}{PARTIAL_SUFFIX}"
            )
            if not (path.parent / METAFNAME).exists()
        )
        for folder in partial:
            shutil.rmtree(folder)
        if partial:
            logger.warning(
                "Removed %d interrupted checkpoint save(s) in %s: %s",
                len(partial),
                self.checkpoints_dir,
                ", ".join(p.name for p in partial),
            )
        return partial

    def recover_if_possible(
        self, importance_key=None, max_key=None, min_key=None, **kwargs
    ):
        """Recovers the chosen checkpoint, as SpeechBrain does; first
        removes interrupted saves. A checkpoint that does not load is an
        error naming it, or with ``fallback`` set aside for the next one.

        Arguments
        ---------
        importance_key, max_key, min_key, **kwargs
            As for ``Checkpointer.recover_if_possible``.

        Returns
        -------
        Checkpoint or None
            The recovered checkpoint.
        """
        if if_main_process():
            self.remove_partial()
        aside = []
        while True:
            chosen = self.find_checkpoint(
                importance_key, max_key, min_key, **kwargs
            )
            if chosen is None and aside:
                # Part of the state may come from a corrupt checkpoint.
                raise CorruptCheckpointError(
                    f"{self.checkpoints_dir}: no checkpoint that loads is "
                    f"left (set aside: {', '.join(aside)}); remove the "
                    "folder to train from the start"
                )
            if chosen is None:
                logger.info("Would load a checkpoint here, but none found.")
                return None
            try:
                self.load_checkpoint(chosen)
                return chosen
            except Exception as err:
                if not self.fallback:
                    raise CorruptCheckpointError(
                        f"{chosen.path}: checkpoint does not load "
                        f"({error_cause(err)}); rerun with "
                        "--ckpt_fallback=True to set it aside and resume "
                        "from the previous checkpoint"
                    ) from err
            aside.append(CORRUPT_PREFIX + chosen.path.name)
            if if_main_process():
                os.rename(chosen.path, chosen.path.with_name(aside[-1]))
            logger.warning(
                "Checkpoint %s does not load: set aside as %s, trying the "
                "previous one",
                chosen.path,
                aside[-1],
            )


def save_epoch_checkpoint(checkpointer, meta, n):
    """Saves the end-of-epoch checkpoint (``meta`` holds its ``EER``);
    keeps the best by EER and the last ``n`` end-of-epoch ones.

    The epoch's intra-epoch checkpoints are removed: the new one supersedes
    them, and in SpeechBrain's plain ``save_and_keep_only`` they count among
    the ``n`` most recent, so an end-of-epoch checkpoint that
    :func:`average_last` needs would be deleted in their place.

    Example
    -------
    >>> import tempfile
    >>> net = torch.nn.Linear(1, 1)
    >>> ckpter = AtomicCheckpointer(tempfile.mkdtemp(), {"net": net})
    >>> for eer in (30.0, 10.0, 25.0, 20.0):
    ...     _ = ckpter.save_checkpoint(
    ...         meta={INTRA_EPOCH_CKPT_FLAG: True}, end_of_epoch=False
    ...     )
    ...     save_epoch_checkpoint(ckpter, {"EER": eer}, n=2)
    >>> sorted(c.meta["EER"] for c in ckpter.list_checkpoints())
    [10.0, 20.0, 25.0]
    """
    checkpointer.save_and_keep_only(
        meta=meta,
        min_keys=["EER"],
        num_to_keep=n,
        ckpt_predicate=lambda c: INTRA_EPOCH_CKPT_FLAG not in c.meta,
    )
    checkpointer.delete_checkpoints(
        num_to_keep=0,
        ckpt_predicate=lambda c: INTRA_EPOCH_CKPT_FLAG in c.meta,
    )


def average_last(checkpointer, model, n):
    """Loads into ``model`` (the ``embedding_model`` recoverable) the
    average of the last ``n`` end-of-epoch checkpoints (those with an
    ``EER`` in their meta); returns their folder names."""
    ckpts = checkpointer.find_checkpoints(
        ckpt_predicate=lambda c: "EER" in c.meta, max_num_checkpoints=n
    )
    load = functools.partial(torch.load, map_location="cpu", weights_only=True)
    state = average_checkpoints(ckpts, "embedding_model", load)
    model.load_state_dict(state)
    names = [c.path.name for c in ckpts]
    logger.info("Averaged %d checkpoints: %s", len(ckpts), names)
    return names
