"""What limits learning on ``nav_maze_static_01`` at small budgets: perception or exploration?

A diagnostic, not a speed benchmark. It trains the ``a2c`` agent with the maze learning test's
settings (tests/test_maze_learning.py: PopArt, lr 1e-3, gradient clip 40, entropy cost 0.01; here
T = 20 and 16 environments) on the level's own rules, but observing the agent's **pose** instead of
pixels: a one-hot of its grid cell and (cos, sin) of its heading. Perception is then solved; what
is left is reinforcement learning. Two arms:

- ``plain``: the environment's reward only;
- ``count``: plus a count-based exploration bonus β/√n(cell, heading bin), heading in 16 bins
  (an oracle count: it reads the pose, which a pixel agent cannot).

Every ``--report`` steps it prints the mean return and goal visits of the last 32 finished
episodes. docs/maze.md ("Why apples line the corridors") reports runs: on the first version of the
map (6 apples near the spawn points) ``plain`` never found the goal and ``count`` learned the route
by about 1M steps; on the current map, apples along the corridors, ``plain`` learns it by 300-400k.
Pose observations skip rendering, so a million steps take about three minutes on one core.

    python benchmarks/maze_exploration.py [--steps 1200000] [--seed 0] [--beta 0.3] [--arms plain count]
"""

from __future__ import annotations

import argparse
import math
import time

import gymnasium as gym
import numpy as np
import torch

from harness.envs.maze import MazeConfig, MazeVectorEnv
from harness.plugin import EnvSpec, Transition
from harness.run import true_next_obs
from plugins.actor_critic.a2c import A2CAgent, A2CConfig

LEVEL = "nav_maze_static_01"
HEADING_BINS = 16
HYPER = {"lr": 1e-3, "rollout_length": 20, "max_grad_norm": 40.0, "entropy_cost": 0.01, "popart": True,
         "hidden": (128,)}


class PoseMaze(MazeVectorEnv):
    """The maze with the pose as observation: one-hot grid cell, then cos and sin of the heading."""

    def __init__(self, num_envs: int):
        super().__init__(LEVEL, num_envs, MazeConfig(width=8, height=8), render_observations=False)
        rows, cols = self.walls.shape[1:]
        self.single_observation_space = gym.spaces.Box(-1.0, 1.0, (rows * cols + 2,), np.float32)

    def cells(self) -> np.ndarray:
        return self.pos[:, 1].astype(np.int64) * self.walls.shape[2] + self.pos[:, 0].astype(np.int64)

    def _observe(self) -> np.ndarray:
        obs = np.zeros((self.num_envs, self.single_observation_space.shape[0]), np.float32)
        obs[np.arange(self.num_envs), self.cells()] = 1.0
        obs[:, -2], obs[:, -1] = np.cos(self.heading), np.sin(self.heading)
        return obs

    def _render(self, envs: np.ndarray | slice = slice(None)) -> np.ndarray:
        return self._observe()[envs]


def run(arm: str, steps: int, seed: int, beta: float, report: int, num_envs: int = 16) -> None:
    torch.manual_seed(seed)
    env = PoseMaze(num_envs)
    obs, _ = env.reset(seed=seed)
    spec = EnvSpec(f"pose:{LEVEL}", env.single_observation_space, env.single_action_space, num_envs)
    agent = A2CAgent(spec, A2CConfig(**HYPER), seed, None)
    counts = np.zeros(env.walls.shape[1] * env.walls.shape[2] * HEADING_BINS, np.int64)
    episode_return, episode_goals = np.zeros(num_envs), np.zeros(num_envs)
    returns: list[float] = []
    goals: list[float] = []
    start = time.perf_counter()
    for step in range(1, steps // num_envs + 1):
        action = agent.act(obs)
        next_obs, reward, terminated, truncated, info = env.step(action)
        done = terminated | truncated
        true_next = true_next_obs(next_obs, done, info)
        learn_reward = reward
        if arm == "count":  # after the step: the pose reached (before any reset, which is rare)
            heading_bin = (env.heading / (2 * math.pi) * HEADING_BINS).astype(np.int64) % HEADING_BINS
            key = env.cells() * HEADING_BINS + heading_bin
            np.add.at(counts, key, 1)
            learn_reward = reward + beta / np.sqrt(counts[key])
        agent.observe(Transition(obs, action, learn_reward, true_next, terminated, truncated))
        episode_return += reward
        episode_goals += reward >= 10
        for i in np.flatnonzero(done):
            returns.append(float(episode_return[i]))
            goals.append(float(episode_goals[i]))
            episode_return[i] = episode_goals[i] = 0.0
        obs = next_obs
        if (step * num_envs) % report < num_envs:
            print(f"{arm:5} seed {seed} {step * num_envs:>9,} steps: return {np.mean(returns[-32:]):6.2f}, "
                  f"goals per episode {np.mean(goals[-32:]):5.2f} (last 32 episodes), "
                  f"{time.perf_counter() - start:5.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--beta", type=float, default=0.3)
    parser.add_argument("--report", type=int, default=100_000)
    parser.add_argument("--arms", nargs="+", default=["plain", "count"], choices=["plain", "count"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    for arm in args.arms:
        run(arm, args.steps, args.seed, args.beta, args.report)


if __name__ == "__main__":
    main()
