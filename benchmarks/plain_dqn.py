"""A plain single-file DQN in the style of CleanRL's ``dqn.py`` / ``dqn_atari.py``: the baseline the
harness's value family is measured against (benchmarks/dqn_throughput.py).

One environment, a replay buffer of whole transitions (obs and next_obs both stored, as
Stable-Baselines3's buffer used by CleanRL does), ε-greedy acting, a target network, Huber loss, Adam.
The hyperparameters are the harness's "classic" preset so that both sides do the same work.

    python benchmarks/plain_dqn.py --env CartPole-v1 --steps 60000 --seed 0
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


@dataclass
class Args:
    env_id: str = "CartPole-v1"
    seed: int = 0
    total_timesteps: int = 60_000
    learning_rate: float = 5e-4
    buffer_size: int = 50_000
    gamma: float = 0.99
    target_network_frequency: int = 500
    batch_size: int = 64
    start_e: float = 1.0
    end_e: float = 0.05
    exploration_steps: int = 10_000
    learning_starts: int = 1_000
    train_frequency: int = 2
    max_grad_norm: float = 10.0
    hidden: int = 128


class QNetwork(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int, hidden: int):
        super().__init__()
        self.network = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, n_actions))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)


class ReplayBuffer:
    """Whole transitions in preallocated numpy arrays, sampled uniformly (as SB3's ReplayBuffer)."""

    def __init__(self, size: int, obs_shape: tuple[int, ...], device: torch.device):
        self.obs = np.zeros((size, *obs_shape), np.float32)
        self.next_obs = np.zeros((size, *obs_shape), np.float32)
        self.actions = np.zeros(size, np.int64)
        self.rewards = np.zeros(size, np.float32)
        self.dones = np.zeros(size, np.float32)
        self.size, self.pos, self.full, self.device = size, 0, False, device

    def add(self, obs, next_obs, action, reward, done) -> None:
        self.obs[self.pos], self.next_obs[self.pos] = obs, next_obs
        self.actions[self.pos], self.rewards[self.pos], self.dones[self.pos] = action, reward, done
        self.pos = (self.pos + 1) % self.size
        self.full = self.full or self.pos == 0

    def sample(self, batch_size: int):
        idx = np.random.randint(0, self.size if self.full else self.pos, size=batch_size)
        to = lambda a: torch.as_tensor(a[idx], device=self.device)  # noqa: E731
        return to(self.obs), to(self.actions), to(self.next_obs), to(self.dones), to(self.rewards)


def linear_schedule(start_e: float, end_e: float, duration: int, t: int) -> float:
    slope = (end_e - start_e) / duration
    return max(slope * t + start_e, end_e)


def evaluate(q_network: QNetwork, env_id: str, episodes: int, seed: int, device: torch.device) -> float:
    env = gym.make(env_id)
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done, total = False, 0.0
        while not done:
            with torch.no_grad():
                action = int(q_network(torch.Tensor(obs).to(device)).argmax().item())
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def train(args: Args, device: torch.device | None = None) -> tuple[QNetwork, float]:
    """Trains and returns the network and the training steps per second."""
    device = device or torch.device("cpu")
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    env = gym.make(args.env_id)
    env.action_space.seed(args.seed)
    q_network = QNetwork(int(np.prod(env.observation_space.shape)), env.action_space.n, args.hidden).to(device)
    optimizer = optim.Adam(q_network.parameters(), lr=args.learning_rate)
    target_network = QNetwork(int(np.prod(env.observation_space.shape)), env.action_space.n, args.hidden).to(device)
    target_network.load_state_dict(q_network.state_dict())
    rb = ReplayBuffer(args.buffer_size, env.observation_space.shape, device)

    start_time = time.perf_counter()
    obs, _ = env.reset(seed=args.seed)
    for global_step in range(args.total_timesteps):
        epsilon = linear_schedule(args.start_e, args.end_e, args.exploration_steps, global_step)
        if random.random() < epsilon:
            action = env.action_space.sample()
        else:
            q_values = q_network(torch.Tensor(obs).to(device))
            action = int(torch.argmax(q_values).cpu().numpy())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        rb.add(obs, next_obs, action, reward, terminated)  # next_obs is the true final obs at episode ends
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()

        if global_step > args.learning_starts:
            if global_step % args.train_frequency == 0:
                observations, actions, next_observations, dones, rewards = rb.sample(args.batch_size)
                with torch.no_grad():
                    target_max, _ = target_network(next_observations).max(dim=1)
                    td_target = rewards + args.gamma * target_max * (1 - dones)
                old_val = q_network(observations).gather(1, actions.unsqueeze(1)).squeeze()
                loss = F.smooth_l1_loss(td_target, old_val)
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(q_network.parameters(), args.max_grad_norm)
                optimizer.step()
            if global_step % args.target_network_frequency == 0:
                target_network.load_state_dict(q_network.state_dict())
    sps = args.total_timesteps / (time.perf_counter() - start_time)
    env.close()
    return q_network, sps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--steps", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=0)
    cli = parser.parse_args()
    torch.set_num_threads(1)
    args = Args(env_id=cli.env, total_timesteps=cli.steps, seed=cli.seed)
    q_network, sps = train(args)
    print(f"{args.env_id}: {sps:,.0f} steps/s, evaluation return {evaluate(q_network, args.env_id, 10, 10_000, torch.device('cpu')):.1f}")


if __name__ == "__main__":
    main()
