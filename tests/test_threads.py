"""A worker's CPU settings: torch's and numpy's OpenBLAS pools are both sized by ``limit_threads``;
``flushing_denormals`` flushes subnormal floats on the thread and the threads it starts, then restores."""

from __future__ import annotations

import threading

import numpy as np
import torch

from harness.threads import blas_threads, denormals_flushed, flushing_denormals, limit_threads


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


def _smallest_normal_halved() -> float:
    return float(np.float32(np.finfo(np.float32).tiny) * np.float32(0.5))


def test_flushing_denormals_reaches_started_threads_and_restores_the_mode():
    assert not denormals_flushed() and _smallest_normal_halved() == 2.0 ** -127  # IEEE: a subnormal result
    seen_in_thread: list[bool] = []
    with flushing_denormals() as supported:
        if supported:
            assert denormals_flushed() and _smallest_normal_halved() == 0.0
            # denormals-are-zero too: a subnormal operand counts as 0 in torch's kernels
            assert torch.tensor([2.0 ** -130]).mul(4.0).item() == 0.0
        worker = threading.Thread(target=lambda: seen_in_thread.append(denormals_flushed()))
        worker.start()
        worker.join()
        with flushing_denormals():  # nested: leaves the outer block's mode in place
            pass
        assert denormals_flushed() == supported
    assert seen_in_thread == [supported]
    assert not denormals_flushed() and torch.tensor([2.0 ** -130]).mul(4.0).item() == 2.0 ** -128
