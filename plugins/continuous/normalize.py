"""Running statistics for observation and reward normalization, kept in the agent's state_dict."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


class RunningMeanStd:
    """Mean and variance of everything seen so far (Chan et al.'s parallel update, batch at a time)."""

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = epsilon

    def update(self, batch: np.ndarray) -> None:
        batch = np.asarray(batch, np.float64)
        batch_mean, batch_var, n = batch.mean(axis=0), batch.var(axis=0), batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total
        self.count = total

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": self.count}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.mean, self.var, self.count = state["mean"].copy(), state["var"].copy(), state["count"]


class ObservationNormalizer:
    """(obs − mean) / std, clipped; statistics update only on training observations."""

    def __init__(self, shape: tuple[int, ...], enabled: bool = True, clip: float = 10.0, epsilon: float = 1e-8):
        self.rms = RunningMeanStd(shape)
        self.enabled, self.clip, self.epsilon = enabled, clip, epsilon

    def __call__(self, obs: np.ndarray, update: bool = False) -> np.ndarray:
        if not self.enabled:
            return np.asarray(obs, np.float32)
        if update:
            self.rms.update(obs)
        normalized = (obs - self.rms.mean) / np.sqrt(self.rms.var + self.epsilon)
        return np.clip(normalized, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return self.rms.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rms.load_state_dict(state)


class RewardScaler:
    """Divides rewards by the running std of the discounted return (as in the PPO implementations:
    the return's scale, not the reward's, is what the value function must fit)."""

    def __init__(self, num_envs: int, gamma: float, enabled: bool = True, clip: float = 10.0, epsilon: float = 1e-8):
        self.rms = RunningMeanStd(())
        self.discounted = np.zeros(num_envs, np.float64)
        self.gamma, self.enabled, self.clip, self.epsilon = gamma, enabled, clip, epsilon

    def __call__(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        if not self.enabled:
            return np.asarray(reward, np.float32)
        self.discounted = self.discounted * self.gamma + reward
        self.rms.update(self.discounted)
        self.discounted[done] = 0.0
        return np.clip(reward / np.sqrt(self.rms.var + self.epsilon), -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {"rms": self.rms.state_dict(), "discounted": self.discounted.copy()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rms.load_state_dict(state["rms"])
        self.discounted = state["discounted"].copy()
