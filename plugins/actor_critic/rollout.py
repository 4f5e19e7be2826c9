"""Acting state and rollout storage for recurrent agents on vectorized environments.

The acting state is what the LSTM needs between steps: its (h, c), the last action and reward, and
whether each environment just started an episode. A rollout records T steps plus the state at its
start, so learning can unroll the LSTM exactly as acting did.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

import numpy as np
import torch

from plugins.actor_critic.core import CoreState


@dataclass
class ActingState:
    core: CoreState
    prev_action: torch.Tensor  # long (B,), −1 at an episode's first step
    prev_reward: torch.Tensor  # float (B,)
    first: torch.Tensor  # bool (B,): the next step is an episode's first

    @classmethod
    def fresh(cls, batch: int, lstm_size: int, device: torch.device | str = "cpu") -> "ActingState":
        zeros = torch.zeros(batch, lstm_size, device=device)
        return cls(CoreState(zeros, zeros.clone()), torch.full((batch,), -1, dtype=torch.long, device=device),
                   torch.zeros(batch, device=device), torch.ones(batch, dtype=torch.bool, device=device))

    def advance(self, action: torch.Tensor, reward: torch.Tensor, done: torch.Tensor) -> None:
        """After a step: remember (action, reward); environments whose episode ended start afresh."""
        keep = ~done
        self.core = self.core.masked(keep)
        self.prev_action = torch.where(keep, action, torch.full_like(action, -1))
        self.prev_reward = torch.where(keep, reward, torch.zeros_like(reward))
        self.first = done.clone()

    def clone(self) -> "ActingState":
        return ActingState(CoreState(self.core.h.clone(), self.core.c.clone()), self.prev_action.clone(),
                           self.prev_reward.clone(), self.first.clone())

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"h": self.core.h, "c": self.core.c, "prev_action": self.prev_action,
                "prev_reward": self.prev_reward, "first": self.first}

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> "ActingState":
        return cls(CoreState(state["h"], state["c"]), state["prev_action"], state["prev_reward"], state["first"])


@dataclass
class Batch:
    """A time-major (T, B) sequence for learning, with the LSTM state at its start."""

    obs: torch.Tensor
    prev_action: torch.Tensor
    prev_reward: torch.Tensor
    first: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    next_obs: torch.Tensor
    behaviour_log_prob: torch.Tensor
    task: torch.Tensor
    start_state: CoreState

    @property
    def ends(self) -> torch.Tensor:
        return self.terminated | self.truncated

    @staticmethod
    def concat(batches: list["Batch"]) -> "Batch":
        """Join batches of the same length along the environment axis."""
        joined = {f.name: torch.cat([getattr(b, f.name) for b in batches], dim=1)
                  for f in fields(Batch) if f.name != "start_state"}
        state = CoreState(torch.cat([b.start_state.h for b in batches]), torch.cat([b.start_state.c for b in batches]))
        return Batch(**joined, start_state=state)

    def to(self, device: torch.device | str) -> "Batch":
        moved = {f.name: getattr(self, f.name).to(device) for f in fields(Batch) if f.name != "start_state"}
        return Batch(**moved, start_state=CoreState(self.start_state.h.to(device), self.start_state.c.to(device)))


STEP_KEYS = ("obs", "prev_action", "prev_reward", "first", "action", "behaviour_log_prob",
             "reward", "terminated", "truncated", "next_obs")


class Rollout:
    """T steps of every environment, recorded as acting happens (act fills half a step, observe the rest)."""

    def __init__(self, start: ActingState):
        self.start_state = CoreState(start.core.h.clone(), start.core.c.clone())
        self.steps: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.steps)

    def record_act(self, obs: torch.Tensor, state: ActingState, action: torch.Tensor, log_prob: torch.Tensor) -> None:
        self.steps.append({"obs": obs, "prev_action": state.prev_action.clone(), "prev_reward": state.prev_reward.clone(),
                           "first": state.first.clone(), "action": action, "behaviour_log_prob": log_prob})

    def record_observe(self, reward: torch.Tensor, terminated: torch.Tensor, truncated: torch.Tensor,
                       next_obs: torch.Tensor) -> None:
        self.steps[-1].update(reward=reward, terminated=terminated, truncated=truncated, next_obs=next_obs)

    def batch(self, task: int = 0) -> Batch:
        stacked = {key: torch.stack([s[key] for s in self.steps]) for key in STEP_KEYS}
        stacked["task"] = torch.full(stacked["reward"].shape, task, dtype=torch.long, device=stacked["reward"].device)
        return Batch(**stacked, start_state=self.start_state)

    def state_dict(self) -> dict[str, Any]:
        return {"h": self.start_state.h, "c": self.start_state.c, "steps": self.steps}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.start_state = CoreState(state["h"], state["c"])
        self.steps = [dict(step) for step in state["steps"]]


def as_tensor(x: np.ndarray, device: torch.device | str, dtype: torch.dtype | None = None) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), device=device, dtype=dtype)
