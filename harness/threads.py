"""The thread pools of a worker process: torch's intra-op pool and numpy's OpenBLAS.

Why both: a worker limited to one torch thread still had numpy's OpenBLAS pool sized to the
machine's cores when numpy loaded. Its idle threads spin after each product, so a worker burned the
other core (in-process CartPole: the numpy update 0.45 → 0.97 ms, CPU time 1.5–2x wall time), and a
two-thread product sums in another order, so results depended on the machine.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import numpy as np


@functools.cache
def _openblas() -> ctypes.CDLL | None:
    """numpy's bundled OpenBLAS (the scipy-openblas build of numpy's wheels), None for another BLAS."""
    libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for path in sorted(libs.glob("libscipy_openblas*")):
        try:
            lib = ctypes.CDLL(str(path))  # already loaded by numpy: this returns the same library
        except OSError:
            return None
        calls = ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_")
        return lib if all(hasattr(lib, name) for name in calls) else None
    return None


def blas_threads() -> int | None:
    """How many threads numpy's OpenBLAS uses (None for another BLAS)."""
    lib = _openblas()
    return None if lib is None else int(lib.scipy_openblas_get_num_threads64_())


def limit_threads(threads: int) -> None:
    """Size torch's intra-op pool and numpy's OpenBLAS pool to ``threads``."""
    import torch

    torch.set_num_threads(threads)
    lib = _openblas()
    if lib is not None:
        lib.scipy_openblas_set_num_threads64_(ctypes.c_int(threads))
