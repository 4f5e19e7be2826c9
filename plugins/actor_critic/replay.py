"""A small replay of recent experience for UNREAL's auxiliary tasks (Jaderberg et al. 2016).

Each environment's column is a ring of its last ``capacity`` steps, written in lockstep, so a
sequence of consecutive steps is a slice of one column. Frames stay uint8.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

FIELDS = ("obs", "next_obs", "action", "reward", "prev_action", "prev_reward", "first", "terminated", "truncated")


class SequenceReplay:
    def __init__(self, capacity: int, num_envs: int):
        self.capacity, self.num_envs = capacity, num_envs
        self.data: dict[str, np.ndarray] = {}
        self.head = 0  # next physical row to write
        self.count = 0  # rows written, up to capacity

    def add(self, step: Mapping[str, np.ndarray]) -> None:
        """One step of every environment: arrays with a leading axis of ``num_envs``."""
        if not self.data:
            self.data = {k: np.zeros((self.capacity, *np.shape(step[k])), dtype=np.asarray(step[k]).dtype)
                         for k in FIELDS}
        for key in FIELDS:
            self.data[key][self.head] = step[key]
        self.head = (self.head + 1) % self.capacity
        self.count = min(self.count + 1, self.capacity)

    def physical(self, logical: np.ndarray) -> np.ndarray:
        """Row of the ``logical``-th oldest stored step."""
        return (self.head - self.count + logical) % self.capacity

    def sequences(self, length: int, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray] | None:
        """``batch`` random windows of ``length`` consecutive steps, time-major (length, batch, ...)."""
        if self.count < length:
            return None
        starts = rng.integers(0, self.count - length + 1, size=batch)
        envs = rng.integers(0, self.num_envs, size=batch)
        rows = self.physical(starts[None, :] + np.arange(length)[:, None])
        return {k: v[rows, envs[None, :]] for k, v in self.data.items()}

    def frames_before(self, logical: np.ndarray, envs: np.ndarray, history: int) -> np.ndarray:
        """Observations at logical steps t − history + 1 … t (shape: batch, history, ...)."""
        offsets = np.arange(-history + 1, 1)
        rows = self.physical(logical[:, None] + offsets[None, :])
        return self.data["obs"][rows, envs[:, None]]

    def column(self, key: str) -> np.ndarray:
        """A field for all stored steps in logical order (count, num_envs, ...)."""
        return self.data[key][self.physical(np.arange(self.count))]

    def state_dict(self) -> dict[str, Any]:
        return {"data": self.data, "head": self.head, "count": self.count}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.data = {k: np.array(v) for k, v in state["data"].items()}
        self.head, self.count = state["head"], state["count"]


def to_torch(arrays: Mapping[str, np.ndarray], device: torch.device | str) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v, device=device) for k, v in arrays.items()}
