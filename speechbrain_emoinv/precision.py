"""Training precision: bf16 where the machine computes it natively.

SpeechBrain trains in mixed precision with ``--precision=bf16`` (autocast;
evaluation keeps ``--eval_precision=fp32``). On a CPU with bf16 units
(AVX-512 BF16 or AMX) a training step of our ECAPA-TDNN runs about 1.5x
faster than in fp32 (``benchmarks/profile_step.py``); on a CPU without
them bf16 is emulated and slower than fp32, so the default is chosen per
machine. A command-line ``--precision`` overrides it.

The choice looks at the machine, not at the device the run uses
(SpeechBrain's ``--device``): where ``torch.cuda.is_available()``, the
GPU decides, even for a run with ``--device=cpu``; such a run passes
``--precision=fp32`` too (or ``bf16`` where its CPU has bf16 units).

Authors
 * speechbrain-emoinv contributors 2026
"""

from pathlib import Path

import torch

# /proc/cpuinfo flags of native bf16 arithmetic (x86).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def native_precision(cpuinfo="/proc/cpuinfo"):
    """``"bf16"`` when this machine computes bf16 natively, otherwise
    ``"fp32"``: with a CUDA GPU present (``torch.cuda.is_available()``),
    whether that GPU supports bf16 without emulation; without one, whether
    the CPU has bf16 units. SpeechBrain's ``--device`` is not consulted.

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
