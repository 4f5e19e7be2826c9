"""A plain single-file Atari DQN written like CleanRL's ``dqn_atari.py``: the baseline of
benchmarks/dqn_atari_throughput.py.

CleanRL's structure with gymnasium's own Atari wrappers in place of Stable-Baselines3's: a one-env
``SyncVectorEnv`` of ``RecordEpisodeStatistics`` → ``AtariPreprocessing`` (30 no-op starts, frame
skip 4 with max-pooling, 84x84 grayscale) → reward clipping → ``FrameStackObservation(4)``, the
Nature CNN (inputs / 255), an SB3-style replay buffer with ``optimize_memory_usage`` (each stacked
observation stored once; next_obs is the following slot), ε-greedy acting with one forward pass per
greedy step, Huber loss and Adam, with ``dqn_atari.py``'s Nature settings (batch 32, one update per 4
steps, lr 1e-4, target copy every 1,000 steps, ε 1 → 0.01 over 10% of 10M steps).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import ale_py
import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

gym.register_envs(ale_py)


@dataclass
class Args:
    env_id: str = "ALE/Breakout-v5"
    seed: int = 1
    total_timesteps: int = 10_000_000
    learning_rate: float = 1e-4
    buffer_size: int = 1_000_000
    gamma: float = 0.99
    target_network_frequency: int = 1_000
    batch_size: int = 32
    start_e: float = 1.0
    end_e: float = 0.01
    exploration_fraction: float = 0.10
    learning_starts: int = 80_000
    train_frequency: int = 4


class QNetwork(nn.Module):
    def __init__(self, envs: gym.vector.VectorEnv):
        super().__init__()
        self.network = nn.Sequential(
            nn.Conv2d(4, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(),
            nn.Linear(512, int(envs.single_action_space.n)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x / 255.0)


class ReplayBuffer:
    """SB3's ``ReplayBuffer(optimize_memory_usage=True)``: next_obs of slot i is the obs of slot i+1."""

    def __init__(self, size: int, obs_shape: tuple[int, ...], device: torch.device):
        self.observations = np.zeros((size, 1, *obs_shape), np.uint8)
        self.actions = np.zeros((size, 1, 1), np.int64)
        self.rewards = np.zeros((size, 1), np.float32)
        self.dones = np.zeros((size, 1), np.float32)
        self.buffer_size, self.pos, self.full, self.device = size, 0, False, device

    def add(self, obs, next_obs, action, reward, done) -> None:
        self.observations[self.pos] = np.array(obs)
        self.observations[(self.pos + 1) % self.buffer_size] = np.array(next_obs)
        self.actions[self.pos] = np.array(action).reshape(1, 1)
        self.rewards[self.pos] = np.array(reward)
        self.dones[self.pos] = np.array(done)
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full, self.pos = True, 0

    def sample(self, batch_size: int):
        if self.full:  # slot pos holds the newest next_obs, not a transition's obs
            batch_inds = (np.random.randint(1, self.buffer_size, size=batch_size) + self.pos) % self.buffer_size
        else:
            batch_inds = np.random.randint(0, self.pos, size=batch_size)
        data = (self.observations[batch_inds, 0], self.actions[batch_inds, 0],
                self.observations[(batch_inds + 1) % self.buffer_size, 0], self.dones[batch_inds],
                self.rewards[batch_inds])
        return tuple(torch.tensor(array, device=self.device) for array in data)


def make_env(env_id: str, seed: int):
    def thunk():
        env = gym.make(env_id, frameskip=1, repeat_action_probability=0.0)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84)
        env = gym.wrappers.ClipReward(env, -1.0, 1.0)
        env = gym.wrappers.FrameStackObservation(env, 4)
        env.action_space.seed(seed)
        return env
    return thunk


def linear_schedule(start_e: float, end_e: float, duration: float, t: int) -> float:
    slope = (end_e - start_e) / duration
    return max(slope * t + start_e, end_e)


def train(args: Args, device: torch.device | None = None) -> dict[str, float]:
    """Trains; returns steps/s over the whole run and over the learning phase alone (wall and CPU time)."""
    device = device or torch.device("cpu")
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    envs = gym.vector.SyncVectorEnv([make_env(args.env_id, args.seed)],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    q_network = QNetwork(envs).to(device)
    optimizer = optim.Adam(q_network.parameters(), lr=args.learning_rate)
    target_network = QNetwork(envs).to(device)
    target_network.load_state_dict(q_network.state_dict())
    rb = ReplayBuffer(args.buffer_size, envs.single_observation_space.shape, device)

    start_time = time.perf_counter()
    learning_start_time, learning_start_cpu = start_time, time.process_time()
    obs, _ = envs.reset(seed=args.seed)
    for global_step in range(args.total_timesteps):
        if global_step == args.learning_starts:
            learning_start_time, learning_start_cpu = time.perf_counter(), time.process_time()
        epsilon = linear_schedule(args.start_e, args.end_e, args.exploration_fraction * 10_000_000, global_step)
        if random.random() < epsilon:
            actions = np.array([envs.single_action_space.sample() for _ in range(envs.num_envs)])
        else:
            q_values = q_network(torch.Tensor(obs).to(device))
            actions = torch.argmax(q_values, dim=1).cpu().numpy()
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        real_next_obs = next_obs.copy()
        for idx in np.flatnonzero(infos.get("_final_obs", ())):
            real_next_obs[idx] = infos["final_obs"][idx]
        rb.add(obs, real_next_obs, actions, rewards, terminations)
        obs = next_obs

        if global_step > args.learning_starts:
            if global_step % args.train_frequency == 0:
                observations, actions_b, next_observations, dones, rewards_b = rb.sample(args.batch_size)
                with torch.no_grad():
                    target_max, _ = target_network(next_observations).max(dim=1)
                    td_target = rewards_b.flatten() + args.gamma * target_max * (1 - dones.flatten())
                old_val = q_network(observations).gather(1, actions_b).squeeze()
                loss = F.smooth_l1_loss(td_target, old_val)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if global_step % args.target_network_frequency == 0:
                target_network.load_state_dict(q_network.state_dict())
    end, end_cpu = time.perf_counter(), time.process_time()
    envs.close()
    learning_steps = args.total_timesteps - args.learning_starts
    return {"sps": args.total_timesteps / (end - start_time),
            "learning_sps": learning_steps / (end - learning_start_time),
            "learning_cpu_sps": learning_steps / (end_cpu - learning_start_cpu)}
