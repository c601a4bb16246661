"""What ``fotaq_voices.py`` and ``real_voice_aliases.py`` share.

Both embed up to ``--clips`` evenly spaced clips per voice with an external
encoder and calibrate "same voice" on the data: the threshold is the
``--quantile`` of every voice's split-half (odd / even clips) centroid
cosine.

Authors: speechbrain-emoinv contributors
"""

import argparse
from pathlib import Path

import numpy as np

# The scripts run from a checkout (``python -m tools.<script>`` from its
# root, which puts the package on the path), not an installed package.
ROOT = Path(__file__).resolve().parents[1]


def calibration_parser(description, data, clips):
    """Parser with ``--data``, ``--clips`` and ``--quantile``.

    Arguments
    ---------
    description : str
        Shown by ``--help``.
    data : str
        Default ``--data``.
    clips : int
        Default ``--clips``.

    Returns
    -------
    argparse.ArgumentParser

    Example
    -------
    >>> calibration_parser("x", "d", 30).parse_args([]).quantile
    0.05
    """
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", default=data)
    ap.add_argument("--clips", type=int, default=clips)
    ap.add_argument("--quantile", type=float, default=0.05)
    return ap


def unit(v):
    """``v`` scaled to unit length along its last axis."""
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def split_half_threshold(emb, voices, quantile):
    """Split-half centroid cosines of ``voices`` and their quantile.

    Arguments
    ---------
    emb : dict
        Voice -> ``[clips, D]`` embeddings.
    voices : list
        Keys of ``emb`` to calibrate on.
    quantile : float
        Of the cosines, the merge threshold.

    Returns
    -------
    halves : list of float
        One cosine per voice.
    threshold : float

    Example
    -------
    >>> e = {
    ...     "a": np.array([[1.0, 0], [1, 0]]),
    ...     "b": np.array([[1.0, 0], [0, 1]]),
    ... }
    >>> split_half_threshold(e, ["a", "b"], 0.0)
    ([1.0, 0.0], 0.0)
    """
    halves = [
        float(unit(emb[v][0::2].mean(0)) @ unit(emb[v][1::2].mean(0)))
        for v in voices
    ]
    return halves, float(np.quantile(halves, quantile))
