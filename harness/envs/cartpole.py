"""CartPole-v1 for N environments in one numpy pass, with same-step autoreset.

Why: stepping N gymnasium ``CartPoleEnv`` copies is N Python calls through four wrappers, each with
an ``action_space.contains`` check (~40 µs per environment step on this project's CPU); for a fast
learner that was a fifth of a vectorized CartPole run. Here the physics of all copies is a dozen
array operations per step.

It is the same environment as ``SameStepVectorEnv`` over ``gym.make("CartPole-v1")`` (the harness's
path for every other gymnasium id): the same equations and thresholds as gymnasium's ``CartPoleEnv``
(Euler integration, ±12°, ±2.4, reward 1 per step, truncation at 500 steps), the same per-copy
random generators (``seed + i``, as ``SyncVectorEnv`` seeds them) drawing the same reset states, and
the same ``final_obs`` / ``_final_obs`` info at episode ends (CartPole's own infos are empty). ``tests/test_envs_vector.py`` checks
both produce the same observations, rewards and episode ends over thousands of steps.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector.utils import batch_space


class CartPoleVectorEnv(gym.vector.VectorEnv):
    metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}

    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    theta_threshold = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def __init__(self, num_envs: int, max_episode_steps: int = 500):
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.total_mass = self.masspole + self.masscart
        self.polemass_length = self.masspole * self.length
        high = np.array([self.x_threshold * 2, np.finfo(np.float32).max, self.theta_threshold * 2,
                         np.finfo(np.float32).max], dtype=np.float32)
        self.single_observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.single_action_space = gym.spaces.Discrete(2)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.state = np.zeros((4, num_envs), dtype=np.float64)  # x, ẋ, θ, θ̇ of every copy
        self.elapsed = np.zeros(num_envs, dtype=np.int64)
        self.rngs = [seeding.np_random(None)[0] for _ in range(num_envs)]

    def _reset_env(self, i: int) -> None:
        self.state[:, i] = self.rngs[i].uniform(low=-0.05, high=0.05, size=(4,))
        self.elapsed[i] = 0

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        seeds = seed if isinstance(seed, list) else [None if seed is None else seed + i for i in range(self.num_envs)]
        for i, env_seed in enumerate(seeds):
            if env_seed is not None:
                self.rngs[i] = seeding.np_random(env_seed)[0]
            self._reset_env(i)
        return self.state.T.astype(np.float32), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or actions.dtype.kind not in "iu" or actions.min() < 0 or actions.max() > 1:
            raise ValueError(f"CartPole actions must be {self.num_envs} values in {{0, 1}}, got {actions!r}")
        x, x_dot, theta, theta_dot = self.state  # rows: one operation covers every copy
        force = np.where(actions == 1, self.force_mag, -self.force_mag)
        costheta, sintheta = np.cos(theta), np.sin(theta)
        temp = (force + self.polemass_length * np.square(theta_dot) * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * np.square(costheta) / self.total_mass))
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        self.state = np.array((x + self.tau * x_dot, x_dot + self.tau * xacc,
                               theta + self.tau * theta_dot, theta_dot + self.tau * thetaacc))
        terminated = (np.abs(self.state[0]) > self.x_threshold) | (np.abs(self.state[2]) > self.theta_threshold)
        self.elapsed += 1
        truncated = self.elapsed >= self.max_episode_steps
        rewards = np.ones(self.num_envs, dtype=np.float64)
        observations = self.state.T.astype(np.float32)
        infos: dict[str, Any] = {}
        done = terminated | truncated
        if done.any():
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(done):
                final_obs[i] = observations[i].copy()
                self._reset_env(i)
                observations[i] = self.state[:, i]
            infos = {"final_obs": final_obs, "_final_obs": done.copy()}
        return observations, rewards, terminated, truncated, infos
