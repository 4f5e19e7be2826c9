"""Small gymnasium environments for the actor-critic tests, registered on import of this package.

- ``actor_critic/DelayedChain-v0``: a corridor whose real reward (1) is at its far end, with half
  of it for quitting at once. A short horizon prefers quitting (γ^(length−1) < 1/2: γ < 0.87 for
  length 6); going to the end pays twice as much: the task needs a longer horizon, which is what
  meta-gradient γ should discover. Short enough for a random policy to find the goal.
- ``actor_critic/ScaledCartPole-v1``: CartPole with rewards multiplied by ``scale`` (1000 by
  default), for PopArt: the same task, on a reward scale a fixed-scale agent is not tuned for.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class DelayedChain(gym.Env):
    """Positions 0 … length−1, observed one-hot. Action 1 advances (reward 0); action 0 quits: reward
    ``quit_reward`` and the episode ends. Reaching the last position pays ``goal_reward`` and ends it."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, length: int = 6, quit_reward: float = 0.5, goal_reward: float = 1.0):
        self.length, self.quit_reward, self.goal_reward = length, quit_reward, goal_reward
        self.observation_space = spaces.Box(0.0, 1.0, (length,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.position = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.length, np.float32)
        obs[self.position] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.position = 0
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if int(action) == 0:
            return self._obs(), self.quit_reward, True, False, {}
        self.position += 1
        if self.position == self.length - 1:
            return self._obs(), self.goal_reward, True, False, {}
        return self._obs(), 0.0, False, False, {}


class ScaleReward(gym.RewardWrapper):
    def __init__(self, env: gym.Env, scale: float):
        super().__init__(env)
        self.scale = scale

    def reward(self, reward: float) -> float:
        return reward * self.scale


def scaled_cartpole(scale: float = 1000.0, **kwargs: Any) -> gym.Env:
    from gymnasium.envs.classic_control import CartPoleEnv

    return ScaleReward(CartPoleEnv(**kwargs), scale)


def register() -> None:
    if "actor_critic/DelayedChain-v0" not in gym.registry:
        gym.register("actor_critic/DelayedChain-v0", entry_point=DelayedChain, max_episode_steps=100)
    if "actor_critic/ScaledCartPole-v1" not in gym.registry:
        gym.register("actor_critic/ScaledCartPole-v1", entry_point=scaled_cartpole, max_episode_steps=500)
