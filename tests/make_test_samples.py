#!/usr/bin/env python3
"""Writes ``tests/samples/<Dataset>/``: the tiny fake corpora on which the
rows of ``tests/recipes/<Dataset>.csv`` run (as SpeechBrain's recipe tests
run on ``tests/samples``). Tones, not speech; deterministic, so
``tests/integration/test_recipes_corpora.py`` checks the committed copy against a fresh
build.

Usage::

    python tests/make_test_samples.py

Authors
 * speechbrain-emoinv contributors 2026
"""

import shutil
from pathlib import Path

from fake_corpora import BUILDERS, SAMPLES

ROOT = Path(__file__).resolve().parents[1]


def main():
    """(Re)builds every sample corpus."""
    for name, build in BUILDERS.items():
        out = SAMPLES / name
        shutil.rmtree(out, ignore_errors=True)
        build(out)
        print(out.relative_to(ROOT))


if __name__ == "__main__":
    main()
