"""Files and folders that are either whole or absent.

A model file, an export folder or a cache entry is written under a
temporary name in its own folder, flushed to disk (``fsync``) and renamed
into place (``os.replace``, atomic on POSIX). A run killed mid-write, out
of memory or out of disk therefore never leaves a truncated file under the
final name that a later run would trust. A failed write is an
:class:`WriteError` naming the file, the free space on its disk and what
to do.

Authors
 * speechbrain-emoinv contributors 2026
"""

import contextlib
import csv
import os
import shutil
from pathlib import Path


class WriteError(OSError):
    """A file could not be written (disk full, permissions, ...)."""


def write_error(path, err):
    """:class:`WriteError` for a failed write of ``path``.

    Arguments
    ---------
    path : str or Path
        The file or folder being written.
    err : BaseException
        What the writer raised.

    Returns
    -------
    WriteError
        One line: the path, the cause, the free space, what to do.

    Example
    -------
    >>> import errno
    >>> err = OSError(errno.ENOSPC, "No space left on device")
    >>> msg = str(write_error("/tmp/x.ckpt", err))
    >>> msg.startswith("/tmp/x.ckpt: could not be written ([Errno 28] No")
    True
    >>> "MB free on its disk" in msg
    True
    """
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free / 2**20
    return WriteError(
        f"{path}: could not be written ({error_cause(err)}); {free:.0f} MB "
        "free on its disk: free space (or fix the permissions) and rerun "
        "the same command"
    )


def error_cause(err):
    """Short one-line cause of an exception: its type (unless an
    ``OSError``, whose text names the errno) and first sentence.

    Example
    -------
    >>> error_cause(RuntimeError("PytorchStreamReader failed. Details."))
    'RuntimeError: PytorchStreamReader failed'
    >>> error_cause(OSError(28, "No space left on device"))
    '[Errno 28] No space left on device'
    >>> error_cause(EOFError())
    'EOFError'
    """
    first = " ".join(str(err).split(". ")[0].split())[:200]
    if isinstance(err, OSError) and first:
        return first
    return ": ".join([type(err).__name__, *([first] if first else [])])


def fsync_file(path):
    """Flushes a written file to disk."""
    with open(path, "rb") as fin:
        os.fsync(fin.fileno())


@contextlib.contextmanager
def write_errors_named(path):
    """Turns any error raised inside into a :class:`WriteError` of
    ``path`` (see :func:`write_error`); wrap writes only.

    Example
    -------
    >>> with write_errors_named("/x/m.ckpt"):
    ...     raise RuntimeError("basic_ios::clear: iostream error")
    Traceback (most recent call last):
    ...
    speechbrain_emoinv.atomic_files.WriteError: /x/m.ckpt: could not be written (RuntimeError: basic_ios::clear: iostream error); ...
    """
    try:
        yield
    except WriteError:
        raise
    except Exception as err:
        raise write_error(path, err) from err


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path next to ``path``; when the block succeeds
    the file there is synced and renamed to ``path``, otherwise removed.

    Arguments
    ---------
    path : str or Path
        Final file name.

    Yields
    ------
    Path
        Where to write (same folder, hidden name).

    Example
    -------
    >>> d = getfixture("tmp_path")
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("whole")
    >>> (d / "a.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('whole', ['a.txt'])
    >>> with atomic_path(d / "b.txt") as tmp:
    ...     _ = tmp.write_text("half")
    ...     raise OSError(28, "No space left on device")
    Traceback (most recent call last):
    ...
    OSError: [Errno 28] No space left on device
    >>> sorted(p.name for p in d.iterdir())
    ['a.txt']
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        with write_errors_named(path):
            fsync_file(tmp)
            os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt too: no leftover
        tmp.unlink(missing_ok=True)
        raise


def write_text(path, text):
    """Writes a UTF-8 text file atomically (see :func:`atomic_path`);
    a failure is a :class:`WriteError` naming it.

    Example
    -------
    >>> p = getfixture("tmp_path") / "t.yaml"
    >>> write_text(p, "a: 1\\n").read_text()
    'a: 1\\n'
    """
    with atomic_path(path) as tmp, write_errors_named(path):
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_csv(path, fieldnames, rows):
    """Writes dict rows under a header row atomically (see
    :func:`atomic_path`); a failure is a :class:`WriteError` naming it.

    Example
    -------
    >>> p = getfixture("tmp_path") / "t.csv"
    >>> rows = [{"ID": "a", "wav": "a.wav"}]
    >>> write_csv(p, ["ID", "wav"], rows).read_text().splitlines()
    ['ID,wav', 'a,a.wav']
    """
    with atomic_path(path) as tmp, write_errors_named(path):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(rows)
    return Path(path)


def torch_save(obj, path):
    """``torch.save`` atomically (see :func:`atomic_path`); a failure is a
    :class:`WriteError` naming the file.

    Example
    -------
    >>> import torch
    >>> p = getfixture("tmp_path") / "x.pt"
    >>> torch.load(torch_save({"a": torch.ones(2)}, p))["a"].tolist()
    [1.0, 1.0]
    """
    import torch

    with atomic_path(path) as tmp, write_errors_named(path):
        torch.save(obj, tmp)
    return Path(path)


def replace_folder(tmp, final):
    """Puts the finished folder ``tmp`` in the place of ``final``.

    The old folder is renamed aside, the new one renamed in, the old one
    removed: ``final`` is at no time a mix of both (a kill between the two
    renames leaves it absent, never half-written).

    Arguments
    ---------
    tmp : str or Path
        The complete new folder (same parent as ``final``).
    final : str or Path
        Its name.

    Example
    -------
    >>> d = getfixture("tmp_path")
    >>> (d / "new").mkdir()
    >>> (d / "m").mkdir()
    >>> _ = (d / "new" / "a").write_text("new")
    >>> _ = (d / "m" / "stale").write_text("old")
    >>> replace_folder(d / "new", d / "m")
    >>> sorted(p.name for p in (d / "m").iterdir()), len(list(d.iterdir()))
    (['a'], 1)
    """
    tmp, final = Path(tmp), Path(final)
    for file in tmp.iterdir():
        if file.is_file():
            fsync_file(file)
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        os.rename(final, old)
    os.rename(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def leftovers(final):
    """Temporary names :func:`atomic_path` and :func:`replace_folder` may
    have left next to ``final`` when killed (``.<name>.tmp-*`` and
    ``.<name>.old-*``).

    Example
    -------
    >>> d = getfixture("tmp_path")
    >>> _ = (d / ".m.tmp-12").write_text("")
    >>> [p.name for p in leftovers(d / "m")]
    ['.m.tmp-12']
    """
    final = Path(final)
    return sorted(final.parent.glob(f".{final.name}.tmp-*")) + sorted(
        final.parent.glob(f".{final.name}.old-*")
    )
