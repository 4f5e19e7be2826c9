"""A minimal uniform replay buffer for continuous actions (float32 action arrays).

Used by SAC and TD3 until the public buffers in ``harness.replay`` cover continuous actions. Rows
are whole transitions; ``state_dict`` keeps only the filled rows, so checkpoints stay small.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

FIELDS = ("obs", "action", "reward", "next_obs", "terminated")


class ContinuousReplay:
    def __init__(self, capacity: int, obs_dim: int, act_dim: int):
        self.capacity = capacity
        self.data = {
            "obs": np.zeros((capacity, obs_dim), np.float32),
            "action": np.zeros((capacity, act_dim), np.float32),
            "reward": np.zeros(capacity, np.float32),
            "next_obs": np.zeros((capacity, obs_dim), np.float32),
            "terminated": np.zeros(capacity, np.float32),
        }
        self.position = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray,
            terminated: np.ndarray) -> None:
        """Add a batch of rows (one per vectorized environment)."""
        n = len(reward)
        rows = (self.position + np.arange(n)) % self.capacity
        for name, value in zip(FIELDS, (obs, action, reward, next_obs, terminated)):
            self.data[name][rows] = value
        self.position = (self.position + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator, device: torch.device) -> dict[str, torch.Tensor]:
        index = rng.integers(0, self.size, size=batch_size)
        return {name: torch.as_tensor(array[index], device=device) for name, array in self.data.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"position": self.position, "size": self.size,
                "data": {name: array[: self.size].copy() for name, array in self.data.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.position, self.size = state["position"], state["size"]
        for name, array in state["data"].items():
            self.data[name][: len(array)] = array
