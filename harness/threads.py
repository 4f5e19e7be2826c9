"""The CPU settings of a worker process: torch's intra-op pool, numpy's OpenBLAS, and subnormal floats.

Why both pools: a worker limited to one torch thread still had numpy's OpenBLAS pool sized to the
machine's cores when numpy loaded. Its idle threads spin after each product, so a worker burned the
other core (in-process CartPole: the numpy update 0.45 → 0.97 ms, CPU time 1.5–2x wall time), and a
two-thread product sums in another order, so results depended on the machine.

Why flush subnormals: Adam's moments of a parameter whose gradient is (nearly) always zero, a dead
ReLU unit's say, decay geometrically through the subnormal range (below 1.2e-38 in float32): the first
moment for ~150 steps, the second for ~16,000. On Intel CPUs an arithmetic instruction that reads or
produces a subnormal takes a microcode assist of ~100 cycles. After 3,000 updates of Rainbow on
CartPole, a fifth of the moments were subnormal and its fused Adam step took 0.40 ms instead of
0.03; MinAtar's Rainbow update took 4.7 ms instead of 3.7. With flush-to-zero and
denormals-are-zero, such values count as 0. What that changes is far below a parameter's rounding:
an Adam step made of a subnormal moment is < 1e-30 in size. TensorFlow sets the same mode in its
CPU threads.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Iterator
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


def denormals_flushed() -> bool:
    """Whether this thread's CPU flushes subnormal float results to zero (its MXCSR's FTZ bit)."""
    smallest_normal = np.finfo(np.float32).tiny
    return bool(np.float32(smallest_normal) * np.float32(0.5) == 0.0)


@contextlib.contextmanager
def flushing_denormals() -> Iterator[bool]:
    """Flush subnormal floats to zero (FTZ and DAZ) on this thread for the block, and on the threads
    it starts (they inherit the mode); the mode before is restored after. Yields whether the CPU
    supports it (x86 with SSE3; elsewhere nothing changes)."""
    import torch

    before = denormals_flushed()
    supported = torch.set_flush_denormal(True)
    try:
        yield supported
    finally:
        if supported and not before:
            torch.set_flush_denormal(False)
