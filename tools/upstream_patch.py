#!/usr/bin/env python3
"""Writes the method's components as a patch series against SpeechBrain.

Our package stays the source: each component module is copied where
SpeechBrain keeps such things, with its imports rewritten to the new
places, and its unit tests go to ``tests/unittests/``. Every patch is
generated, never edited by hand:

1. ``speechbrain/augment/``: CopyPaste parallel samples and emotion-aware
   masking (with the keyed random draws they share, in
   ``speechbrain/utils/``);
2. ``speechbrain/nnet/loss/erl_loss.py``: AAM-softmax plus the cosine pair
   term (ERL);
3. ``speechbrain/dataio/pair_sampling.py``: same-speaker partners of
   another emotion.

The series is made in a scratch clone of the checkout (the checkout itself
is only read) and written with ``git format-patch``; ``git am`` applies it.
``tools/upstream_checks.py`` runs SpeechBrain's own checks on it.

Usage::

    python -m tools.upstream_patch --speechbrain ~/speechbrain
    python -m tools.upstream_patch --speechbrain ~/speechbrain --out patches

Authors
 * speechbrain-emoinv contributors 2026
"""

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "speechbrain_emoinv"

# Our module -> its place in SpeechBrain.
PLACES = {
    "stable_random": "speechbrain/utils/stable_random.py",
    "copypaste": "speechbrain/augment/copypaste.py",
    "emotion_masking": "speechbrain/augment/emotion_masking.py",
    "erl_loss": "speechbrain/nnet/loss/erl_loss.py",
    "pair_sampling": "speechbrain/dataio/pair_sampling.py",
}
# One commit per upstream area: subject, modules.
COMMITS = [
    (
        "augment: CopyPaste parallel samples and emotion-aware masking",
        ["stable_random", "copypaste", "emotion_masking"],
    ),
    ("nnet: ERL loss (AAM-softmax plus a cosine pair term)", ["erl_loss"]),
    ("dataio: PairSampler (same-speaker partners)", ["pair_sampling"]),
]
# Imports of our package outside the components, replaced by what they
# bring: module -> (old, new) pairs, each of which must be found, so that a
# changed import fails loudly.
REPLACED = {
    "pair_sampling": [
        ("from speechbrain_emoinv.data.emotions import NEUTRAL\n", ""),
        (
            '__all__ = ["PairSampler"]\n',
            '__all__ = ["PairSampler"]\n\nNEUTRAL = "neutral"  # label of '
            "neutral rows\n",
        ),
    ],
}
AUTHOR = ["-c", "user.name=speechbrain-emoinv", "-c", "user.email=<>"]


class PatchError(Exception):
    """A source file cannot be carried over as it is."""


def dotted(path):
    """``speechbrain/augment/copypaste.py`` -> ``speechbrain.augment.copypaste``.

    Example
    -------
    >>> dotted("speechbrain/nnet/loss/erl_loss.py")
    'speechbrain.nnet.loss.erl_loss'
    """
    return path.removesuffix(".py").replace("/", ".")


def rewrite(text, source, replaced=()):
    """``text`` of ``source`` with our imports pointing at SpeechBrain,
    after the ``(old, new)`` replacements of ``replaced``.

    Raises
    ------
    PatchError
        When a replacement is not found, or an import of our package is
        left that has no upstream place.

    Example
    -------
    >>> rewrite("from speechbrain_emoinv.copypaste import CopyPaste\\n", "x.py")
    'from speechbrain.augment.copypaste import CopyPaste\\n'
    >>> rewrite("pairs = list(zip(a, b, strict=True))", "y.py")
    'pairs = list(zip(a, b))'
    """
    for old, new in replaced:
        if old not in text:
            raise PatchError(f"{source}: {old.strip()!r} not found")
        text = text.replace(old, new)
    # SpeechBrain supports Python 3.8; zip's strict= came in 3.10.
    text = re.sub(r"(zip\(.*), strict=True\)", r"\1)", text)
    for module, path in PLACES.items():
        text = re.sub(rf"\b{PACKAGE}\.{module}\b", dotted(path), text)
    left = sorted(set(re.findall(rf"\b{PACKAGE}(?:\.\w+)*", text)))
    if left:
        raise PatchError(f"{source}: no upstream place for {', '.join(left)}")
    return text


def files_of(module):
    """``{upstream path: text}`` of one component and its unit tests."""
    source = ROOT / PACKAGE / f"{module}.py"
    files = {
        PLACES[module]: rewrite(
            source.read_text(), source, REPLACED.get(module, ())
        )
    }
    test = ROOT / "tests" / "unit" / f"test_{module}.py"
    if test.is_file():
        files[f"tests/unittests/test_{module}.py"] = rewrite(
            test.read_text(), test
        )
    return files


def git(cwd, *args):
    """Runs git in ``cwd``; returns its stdout."""
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def sort_imports(folder, paths):
    """Import groups as SpeechBrain's ruff wants them (``speechbrain`` is
    first-party there, third-party here)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--quiet",
            "--fix",
            "--select",
            "I",
            "--config",
            "lint.isort.known-first-party = ['speechbrain']",
            "--config",
            "lint.isort.combine-as-imports = true",
            *paths,
        ],
        cwd=folder,
        check=True,
    )


def write_series(checkout, out):
    """Commits the components onto ``checkout``'s HEAD in a scratch clone
    and writes them as patches into ``out``.

    Returns
    -------
    list of Path
        The patch files, in order.
    """
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.patch"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "speechbrain"
        git(tmp, "clone", "--quiet", "--shared", str(checkout), str(work))
        base = git(work, "rev-parse", "HEAD").strip()
        for subject, modules in COMMITS:
            files = {}
            for module in modules:
                files.update(files_of(module))
            for path, text in files.items():
                (work / path).parent.mkdir(parents=True, exist_ok=True)
                (work / path).write_text(text)
            sort_imports(work, list(files))
            git(work, "add", *files)
            body = "Generated by speechbrain-emoinv tools/upstream_patch.py."
            git(work, *AUTHOR, "commit", "--quiet", "-m", subject, "-m", body)
        names = git(work, "format-patch", "-o", str(out), base)
    return [Path(line) for line in names.split()]


# What writing or applying the series may raise: a one-line error each.
FAILURES = (PatchError, subprocess.CalledProcessError)


def failure_text(err):
    """``error: ...`` for one of :data:`FAILURES` (git's own message for a
    failed git command)."""
    detail = getattr(err, "stderr", None) or err
    return f"error: {str(detail).strip()}"


def main(argv=None):
    """Command line: ``--speechbrain CHECKOUT [--out DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speechbrain", required=True, type=Path)
    parser.add_argument("--out", type=Path, default=Path("upstream_patches"))
    args = parser.parse_args(argv)
    if not (args.speechbrain / "speechbrain" / "augment").is_dir():
        print(
            f"error: {args.speechbrain} is not a SpeechBrain checkout "
            "(no speechbrain/augment/)",
            file=sys.stderr,
        )
        return 2
    try:
        patches = write_series(args.speechbrain, args.out)
    except FAILURES as err:
        print(failure_text(err), file=sys.stderr)
        return 1
    for patch in patches:
        print(patch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
