"""Stateless, stable random numbers keyed by integers (and seeds from strings).

A draw that depends only on its key -- e.g. (seed, epoch, row) -- is the same
in every DataLoader worker, on every DDP rank and after a resumed run, with
no generator state to save or share. Python's ``hash()`` is salted per
process, so it cannot serve here; this uses the splitmix64 finaliser
(:func:`stable_hash`, :func:`stable_uniform` over integer keys) and CRC-32
(:func:`stable_seed`, a generator seed from strings and numbers).

Authors
 * speechbrain-emoinv contributors 2026
"""

import zlib

import numpy as np

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix64(x):
    """One splitmix64 step on uint64 scalars or arrays (wrap-around).

    Arguments
    ---------
    x : numpy.uint64 or numpy.ndarray of uint64
        State(s).

    Returns
    -------
    numpy.uint64 or numpy.ndarray
        The well-mixed 64-bit output for each state.

    Example
    -------
    >>> hex(int(splitmix64(np.uint64(0))))  # reference: state 0
    '0xe220a8397b1dcdaf'
    """
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return x ^ (x >> np.uint64(31))


def stable_hash(*keys):
    """Hashes integer keys (scalars or broadcastable arrays) to uint64.

    Arguments
    ---------
    *keys : int or array_like of int
        Non-negative integers, e.g. ``seed, epoch, index``.

    Returns
    -------
    numpy.ndarray or numpy.uint64
        One 64-bit hash per broadcast element.

    Example
    -------
    >>> int(stable_hash(1, 2, 3)) == int(stable_hash(1, 2, 3))
    True
    >>> int(stable_hash(1, 2, 3)) == int(stable_hash(1, 2, 4))
    False
    """
    h = np.uint64(0x243F6A8885A308D3)
    for key in keys:
        k = np.asarray(key).astype(np.uint64)
        h = splitmix64(h ^ splitmix64(k))
    return h


def stable_uniform(*keys):
    """Uniform float(s) in [0, 1) determined by the integer keys.

    Arguments
    ---------
    *keys : int or array_like of int
        As for :func:`stable_hash`.

    Returns
    -------
    float or numpy.ndarray
        53-bit uniform value(s) in [0, 1).

    Example
    -------
    >>> u = stable_uniform(1234, 0, np.arange(10000))
    >>> bool(0.0 <= u.min() and u.max() < 1.0)
    True
    >>> round(float(u.mean()), 1)
    0.5
    """
    h = stable_hash(*keys)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def stable_seed(*parts):
    """A 32-bit seed from strings, stable across processes and runs.

    Arguments
    ---------
    *parts : object
        Joined with ``:`` and hashed with ``zlib.crc32``.

    Returns
    -------
    int

    Example
    -------
    >>> stable_seed(1234, "mb-us1_angry_s001")
    2799691573
    """
    return zlib.crc32(":".join(str(p) for p in parts).encode("utf-8"))
