"""Compiled loops of the replay buffers: the sum-tree's leaf updates and prefix-sum search, and
n-step returns (each a dozen numpy calls over a (batch, n) window otherwise)."""

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


@numba.njit(cache=True)
def n_step_returns(reward: np.ndarray, terminated: np.ndarray, ended: np.ndarray, rows: np.ndarray,
                   cols: np.ndarray, n: int, gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each (row, col): Σ_j γ^j r over up to ``n`` steps, stopping after the step where the episode
    ended; the bootstrap discount (0 if that end was a termination, else γ^steps); the bootstrap row."""
    size = reward.shape[0]
    batch = rows.shape[0]
    returns = np.empty(batch, dtype=np.float32)
    discount = np.empty(batch, dtype=np.float32)
    boot = np.empty(batch, dtype=np.int64)
    for i in range(batch):
        row, col = rows[i], cols[i]
        total, steps = 0.0, 0
        for j in range(n):
            slot = (row + j) % size
            total += np.float64(reward[slot, col]) * gamma ** j
            steps += 1
            if ended[slot, col]:
                break
        returns[i] = total
        discount[i] = 0.0 if terminated[(row + steps - 1) % size, col] else gamma ** steps
        boot[i] = row + steps
    return returns, discount, boot
