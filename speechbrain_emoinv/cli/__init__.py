"""Command-line tools; :func:`run_main` makes each behave like a Unix tool.

Exit status 0 on success, 1 on an error, 2 on a usage error (argparse),
130 when interrupted (Ctrl-C), 141 when the output's reader has gone
(nothing said); results go to stdout, diagnostics to
stderr; an error is one line (``<prog>: error: <message>``), its traceback
only with ``--debug``.
"""

import argparse
import os
import sys


def make_parser(prog, description, model=False, backend=False):
    """``ArgumentParser`` with the shared ``--debug`` flag.

    Arguments
    ---------
    prog, description : str
        As in ``argparse.ArgumentParser``.
    model : bool
        Add the required ``--model`` (an exported model folder).
    backend : bool
        Add ``--backend`` (the embedding path, default ``auto``).

    Returns
    -------
    argparse.ArgumentParser

    Example
    -------
    >>> make_parser("x", "y").parse_args(["--debug"]).debug
    True
    >>> make_parser("x", "y", model=True).parse_args(["--model", "m"]).model
    'm'
    >>> make_parser("x", "y", backend=True).parse_args([]).backend
    'auto'
    """
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument(
        "--debug", action="store_true", help="show the traceback of an error"
    )
    if model:
        p.add_argument("--model", required=True, help="exported model folder")
    if backend:
        p.add_argument(
            "--backend",
            choices=["auto", "onnx", "pytorch"],
            default="auto",
            help="embedding path: onnx = onnxruntime on the folder's "
            "embedding.onnx (emoinv-export; fastest on CPUs), pytorch = "
            "SpeechBrain; auto = onnx when it can run, else pytorch with a "
            "note",
        )
    return p


def positive_int(text):
    """An integer above 0 (argparse type): sizes and counts.

    Example
    -------
    >>> positive_int("16")
    16
    >>> positive_int("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: not a positive integer: '0'
    """
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return int(text)


def run_main(prog, run, argv=None):
    """Calls ``run(argv)``; returns the exit status.

    Arguments
    ---------
    prog : str
        Tool name, prefixed to the error line.
    run : callable
        Parses ``argv`` and does the work; raises on failure.
    argv : list of str or None
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 on an error (one line on stderr), 130 on Ctrl-C
        (``KeyboardInterrupt``, one line), 141 and nothing said when the
        output's reader has gone (``BrokenPipeError``). A usage error
        (argparse's ``SystemExit``, status 2) is raised, not returned.

    Example
    -------
    >>> def run(argv):
    ...     raise ValueError("data.csv:3: bad number")
    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     status = run_main("tool", run, [])
    >>> status, err.getvalue()
    (1, 'tool: error: data.csv:3: bad number\\n')
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        run(argv)
    except KeyboardInterrupt:
        if "--debug" in argv:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader stopped early (``| head``): quiet, as a tool killed
        # by SIGPIPE; stdout goes to /dev/null so the exit flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as err:
        if "--debug" in argv:
            raise
        text = " ".join(str(err).split()) or type(err).__name__
        if not isinstance(err, OSError | ValueError):
            text = f"{type(err).__name__}: {text}"
        print(f"{prog}: error: {text}", file=sys.stderr)
        return 1
    return 0
