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
   another emotion;
4. the recipes: ``recipes/ESD/SpeakerRec/`` (the method on an emotional
   corpus, importing only ``speechbrain``), a section added to the
   VoxCeleb speaker README, its row in ``tests/recipes/ESD.csv`` and the
   tiny ESD-shaped sample corpus the row trains on.

The recipes' source is ``upstream/``, a mirror of SpeechBrain's tree: our
own recipe (``train_speaker_embeddings.py`` and the package) cannot go
upstream, and a folder outside the package, laid out as upstream's, keeps
what must import only ``speechbrain`` apart and makes the copy a plain
one (``upstream/ruff.toml`` gives it upstream's import groups). In
``upstream/``, a ``<file>.section`` is inserted into upstream's ``<file>``
(before its "About SpeechBrain" heading), a ``tests/recipes/*.csv`` is
merged into upstream's (same header, rows added once), anything else is
copied; the sample audio (``tests/samples/ESD/``: periodic integer
waveforms, two speakers, two emotions) is generated here, no audio file is
committed.

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
import csv
import io
import re
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "speechbrain_emoinv"
UPSTREAM = ROOT / "upstream"  # the recipes, laid out as SpeechBrain's tree

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
    ("recipes: emotion-invariant ECAPA-TDNN on ESD", "recipes"),
]
# Files of upstream/ that are not copied.
NOT_COPIED = ("ruff.toml", "__pycache__", ".ruff_cache", ".pyc")
SECTION_BEFORE = "# **About SpeechBrain**"
SAMPLES = "tests/samples/ESD"
# A new recipe-test CSV has the header of this one (speaker recognition).
CSV_LIKE = "tests/recipes/VoxCeleb.csv"
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
# The patches' author where git has no user identity (``git am`` keeps it).
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


def sample_wavs(rate=16000, seconds=0.5):
    """``{path: bytes}`` of the tiny ESD-shaped corpus of the recipe test:
    speakers 0011 and 0012 (sawtooth periods of 128 and 80 samples),
    Neutral and Angry (louder second half), two utterances each, 16-bit
    mono WAV; integer arithmetic only, so the bytes are the same on every
    machine.

    Example
    -------
    >>> wavs = sample_wavs()
    >>> len(wavs), sorted(wavs)[0]
    (8, 'tests/samples/ESD/0011/Angry/0011_000351.wav')
    """
    files = {}
    n = int(rate * seconds)
    for speaker, period in (("0011", 128), ("0012", 80)):
        for emotion, first, loud in (("Neutral", 1, 1), ("Angry", 351, 3)):
            for k in range(2):
                samples = bytearray()
                for t in range(n):
                    amp = 4000 * (loud if 2 * t >= n else 1)
                    phase = (t + k * period // 4) % period
                    value = amp * (2 * phase - period) // period
                    samples += value.to_bytes(2, "little", signed=True)
                out = io.BytesIO()
                with wave.open(out, "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(rate)
                    w.writeframes(bytes(samples))
                name = f"{speaker}/{emotion}/{speaker}_{first + k:06d}.wav"
                files[f"{SAMPLES}/{name}"] = out.getvalue()
    return files


def merged_csv(theirs, ours, source, sibling=None):
    """Upstream's recipe-test CSV text ``theirs`` with the rows of ``ours``
    added once; when upstream has none yet (``theirs`` None), ``ours``,
    whose header must then be that of upstream's ``sibling`` CSV text.

    Raises
    ------
    PatchError
        When the headers differ.

    Example
    -------
    >>> merged_csv("a,b\\n1,2\\n", "a,b\\n1,2\\n3,4\\n", "x.csv")
    'a,b\\n1,2\\n3,4\\n'
    >>> merged_csv(
    ...     None, "a,c\\n", "x.csv", "a,b\\n"
    ... )  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    PatchError: x.csv: header differs from upstream's
    """
    our_rows = list(csv.reader(io.StringIO(ours)))
    their_rows = list(csv.reader(io.StringIO(theirs or sibling or ours)))
    if their_rows[0] != our_rows[0]:
        raise PatchError(f"{source}: header differs from upstream's")
    if theirs is None:
        return ours
    out = io.StringIO()
    # upstream's rows as they are, ours in upstream's quoting
    out.write(theirs if theirs.endswith("\n") else theirs + "\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(r for r in our_rows[1:] if r not in their_rows)
    return out.getvalue()


def with_section(theirs, section, source):
    """Upstream's file text ``theirs`` with ``section`` inserted before its
    "About SpeechBrain" heading (at the end when it has none).

    Raises
    ------
    PatchError
        When upstream has no such file.

    Example
    -------
    >>> with_section("# A\\n# **About SpeechBrain**\\n", "## B\\n", "R.md")
    '# A\\n## B\\n\\n# **About SpeechBrain**\\n'
    """
    if theirs is None:
        raise PatchError(f"{source}: upstream has no file to add it to")
    at = theirs.find(SECTION_BEFORE)
    if at < 0:
        return theirs.rstrip("\n") + "\n\n" + section
    return theirs[:at] + section.rstrip("\n") + "\n\n" + theirs[at:]


def recipe_files(work):
    """``{upstream path: text or bytes}`` of the recipe patch, made from
    ``upstream/`` and the files of the checkout ``work`` it adds to."""

    def upstream_text(path):
        target = work / path
        return target.read_text(encoding="utf-8") if target.is_file() else None

    files = {}
    for source in sorted(UPSTREAM.rglob("*")):
        rel = source.relative_to(UPSTREAM).as_posix()
        if not source.is_file() or any(x in rel for x in NOT_COPIED):
            continue
        text = source.read_text(encoding="utf-8")
        if rel.endswith(".section"):
            rel = rel.removesuffix(".section")
            text = with_section(upstream_text(rel), text, source)
        elif rel.startswith("tests/recipes/") and rel.endswith(".csv"):
            text = merged_csv(
                upstream_text(rel), text, source, upstream_text(CSV_LIKE)
            )
        files[rel] = rewrite(text, source)
    return {**files, **sample_wavs()}


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
        # the user's identity, where set, authors the pull request
        who = subprocess.run(
            ["git", "config", "user.email"], cwd=work, capture_output=True
        )
        author = AUTHOR if who.returncode else []
        for subject, modules in COMMITS:
            files = {}
            if modules == "recipes":
                files = recipe_files(work)
            else:
                for module in modules:
                    files.update(files_of(module))
            for path, content in files.items():
                (work / path).parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, bytes):
                    (work / path).write_bytes(content)
                else:
                    (work / path).write_text(content)
            sort_imports(work, [p for p in files if p.endswith(".py")])
            git(work, "add", "--force", *files)
            body = "Generated by speechbrain-emoinv tools/upstream_patch.py."
            git(work, *author, "commit", "--quiet", "-m", subject, "-m", body)
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
