"""Random draws that depend only on their keys.

:func:`stable_uniform` and :func:`stable_seed` depend only on their keys,
so DataLoader workers, DDP ranks and a resumed run draw the same values
without any generator state to save. :func:`check_range` and
:func:`uniform_in` serve the ratio ranges of CopyPaste and EM.

Authors
 * speechbrain-emoinv contributors 2026
"""

import zlib

import numpy as np
import torch


def stable_uniform(*keys):
    """A uniform float in [0, 1) determined by non-negative integer keys.

    Arguments
    ---------
    *keys : int
        E.g. ``seed, epoch, row``; seeds numpy's ``SeedSequence``.

    Returns
    -------
    float

    Example
    -------
    >>> stable_uniform(1, 2, 3) == stable_uniform(1, 2, 3)
    True
    >>> stable_uniform(1, 2, 3) == stable_uniform(1, 2, 4)
    False
    """
    return float(np.random.default_rng([int(k) for k in keys]).random())


def stable_seed(*parts):
    """A 32-bit seed from strings and numbers (``zlib.crc32`` of them).

    Python's ``hash()`` of a string is salted per process; this is not.

    Arguments
    ---------
    *parts : object
        Joined with ``:`` and hashed.

    Returns
    -------
    int

    Example
    -------
    >>> stable_seed(1234, "spk1_utt001")
    4090883477
    """
    return zlib.crc32(":".join(str(p) for p in parts).encode("utf-8"))


def check_range(name, bounds):
    """``(low, high)`` as floats, checked ``0 <= low <= high <= 1``.

    Arguments
    ---------
    name : str
        Argument name, quoted in the error.
    bounds : sequence of float
        The range.

    Returns
    -------
    tuple of float

    Example
    -------
    >>> check_range("span_ratio", [0.3, 0.7])
    (0.3, 0.7)
    """
    low, high = (float(b) for b in bounds)
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"{name} must satisfy 0 <= low <= high <= 1: {bounds}")
    return low, high


def uniform_in(bounds, n, device=None):
    """``n`` float64 draws uniform in ``[low, high)`` (torch's generator).

    Arguments
    ---------
    bounds : tuple of float
        ``(low, high)``.
    n : int
        Number of draws.
    device : torch.device, optional
        Device of the result.

    Returns
    -------
    torch.Tensor

    Example
    -------
    >>> u = uniform_in((0.2, 0.4), 1000)
    >>> bool(u.min() >= 0.2 and u.max() < 0.4)
    True
    """
    low, high = bounds
    u = torch.rand(n, device=device, dtype=torch.float64)
    return low + (high - low) * u
