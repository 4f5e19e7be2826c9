"""A worker's thread pools: torch's and numpy's OpenBLAS are both sized by ``limit_threads``."""

from __future__ import annotations

import numpy as np
import torch

from harness.threads import blas_threads, limit_threads


def test_limit_threads_sizes_torch_and_openblas_pools():
    before = torch.get_num_threads()
    try:
        for threads in (2, 1):
            limit_threads(threads)
            assert torch.get_num_threads() == threads
            assert blas_threads() in (threads, None)  # None: a numpy built on another BLAS
            a = np.arange(64 * 64, dtype=np.float32).reshape(64, 64) / 4096
            np.testing.assert_allclose(a @ a.T, (a.astype(np.float64) @ a.T.astype(np.float64)), rtol=1e-5)
    finally:
        limit_threads(before)  # this test process's own setting, for the tests that follow
