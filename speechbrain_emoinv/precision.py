"""Training precision: bf16 where the machine computes it natively.

SpeechBrain trains in mixed precision with ``--precision=bf16`` (autocast;
evaluation keeps ``--eval_precision=fp32``). On a CPU with bf16 units
(AVX-512 BF16 or AMX) a training step of our ECAPA-TDNN runs about 1.5x
faster than in fp32 (``benchmarks/profile_step.py``); on a CPU without
them bf16 is emulated and slower than fp32, so the default is chosen per
machine. A command-line ``--precision`` overrides it.

Authors
 * speechbrain-emoinv contributors 2026
"""

from pathlib import Path

import torch

# /proc/cpuinfo flags of native bf16 arithmetic (x86).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def native_precision(cpuinfo="/proc/cpuinfo"):
    """``"bf16"`` when this machine's training device computes bf16
    natively (a CUDA GPU that supports it, else a CPU with bf16 units),
    otherwise ``"fp32"``.

    Arguments
    ---------
    cpuinfo : str or Path
        Linux's CPU description (absent elsewhere: fp32).

    Returns
    -------
    str
        A value of SpeechBrain's ``--precision``.

    Example
    -------
    >>> native_precision() in ("bf16", "fp32")
    True
    >>> import tempfile, pathlib
    >>> old = pathlib.Path(tempfile.mkdtemp()) / "cpuinfo"
    >>> _ = old.write_text("flags\\t\\t: fpu avx2 avx512f\\n")
    >>> torch.cuda.is_available() or native_precision(old) == "fp32"
    True
    """
    if torch.cuda.is_available():
        native = torch.cuda.is_bf16_supported(including_emulation=False)
        return "bf16" if native else "fp32"
    path = Path(cpuinfo)
    flags = path.read_text().split() if path.is_file() else []
    return "bf16" if any(f in flags for f in BF16_CPU_FLAGS) else "fp32"
