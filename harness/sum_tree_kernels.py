"""Compiled loops of :class:`harness.replay.SumTree` (leaf updates and prefix-sum search)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def update(tree: np.ndarray, size: int, index: np.ndarray, value: np.ndarray) -> None:
    """Set each leaf, then recompute (never increment) its ancestors, so totals cannot drift."""
    for i in range(index.shape[0]):
        node = index[i] + size
        tree[node] = value[i]
        node >>= 1
        while node >= 1:
            tree[node] = tree[2 * node] + tree[2 * node + 1]
            node >>= 1


@numba.njit(cache=True)
def find(tree: np.ndarray, size: int, mass: np.ndarray) -> np.ndarray:
    """For each mass, descend right whenever it is at least the left subtree's sum."""
    out = np.empty(mass.shape[0], dtype=np.int64)
    for i in range(mass.shape[0]):
        m = mass[i]
        node = 1
        while node < size:
            left = 2 * node
            if m >= tree[left]:
                m -= tree[left]
                node = left + 1
            else:
                node = left
        out[i] = node - size
    return out
