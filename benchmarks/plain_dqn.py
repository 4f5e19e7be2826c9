"""A plain single-file DQN written like CleanRL's ``dqn.py``: the baseline the harness's value family
is measured against (benchmarks/dqn_throughput.py).

It keeps CleanRL's structure and its defaults: a one-env ``SyncVectorEnv`` with
``RecordEpisodeStatistics``, a Stable-Baselines3-style replay buffer (obs and next_obs both stored,
copied in on ``add`` and copied out to tensors on ``sample``), ε-greedy acting with one forward pass
per step, the 120-84 MLP, MSE TD loss, Adam, and the hyperparameters of ``dqn.py``'s ``Args``
(lr 2.5e-4, buffer 10k, batch 128, one update per 10 steps, target copy every 500 steps, ε 1 → 0.05
over half the run, learning from step 10k). Only the TensorBoard writer is left out.
``HYPER`` gives the same settings in the harness's ``dqn`` vocabulary, so both sides do the same work.

    python benchmarks/plain_dqn.py --env CartPole-v1 --steps 100000 --seed 0
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
    seed: int = 1
    total_timesteps: int = 500_000
    learning_rate: float = 2.5e-4
    buffer_size: int = 10_000
    gamma: float = 0.99
    tau: float = 1.0
    target_network_frequency: int = 500
    batch_size: int = 128
    start_e: float = 1.0
    end_e: float = 0.05
    exploration_fraction: float = 0.5
    learning_starts: int = 10_000
    train_frequency: int = 10


def harness_hyper(args: Args) -> dict:
    """The same algorithm in the harness's ``dqn`` hyperparameters."""
    return {"lr": args.learning_rate, "adam_eps": 1e-8, "buffer_size": args.buffer_size, "gamma": args.gamma,
            "tau": args.tau, "target_update_every": args.target_network_frequency, "batch_size": args.batch_size,
            "eps_start": args.start_e, "eps_end": args.end_e,
            "eps_decay_steps": int(args.exploration_fraction * args.total_timesteps),
            "learning_starts": args.learning_starts, "train_every": args.train_frequency, "loss": "mse",
            "max_grad_norm": 0.0, "hidden": (120, 84)}


class QNetwork(nn.Module):
    def __init__(self, envs: gym.vector.VectorEnv):
        super().__init__()
        self.network = nn.Sequential(
            nn.Linear(int(np.prod(envs.single_observation_space.shape)), 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, int(envs.single_action_space.n)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)


class ReplayBuffer:
    """Stable-Baselines3's ``ReplayBuffer`` as CleanRL uses it (``handle_timeout_termination=False``)."""

    def __init__(self, size: int, obs_shape: tuple[int, ...], n_envs: int, device: torch.device):
        self.observations = np.zeros((size, n_envs, *obs_shape), np.float32)
        self.next_observations = np.zeros((size, n_envs, *obs_shape), np.float32)
        self.actions = np.zeros((size, n_envs, 1), np.int64)
        self.rewards = np.zeros((size, n_envs), np.float32)
        self.dones = np.zeros((size, n_envs), np.float32)
        self.buffer_size, self.n_envs, self.pos, self.full, self.device = size, n_envs, 0, False, device

    def add(self, obs, next_obs, action, reward, done) -> None:
        self.observations[self.pos] = np.array(obs)
        self.next_observations[self.pos] = np.array(next_obs)
        self.actions[self.pos] = np.array(action).reshape((self.n_envs, 1))
        self.rewards[self.pos] = np.array(reward)
        self.dones[self.pos] = np.array(done)
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full, self.pos = True, 0

    def sample(self, batch_size: int):
        batch_inds = np.random.randint(0, self.buffer_size if self.full else self.pos, size=batch_size)
        env_inds = np.random.randint(0, self.n_envs, size=batch_size)
        data = (self.observations[batch_inds, env_inds], self.actions[batch_inds, env_inds],
                self.next_observations[batch_inds, env_inds], self.dones[batch_inds, env_inds].reshape(-1, 1),
                self.rewards[batch_inds, env_inds].reshape(-1, 1))
        return tuple(torch.tensor(array, device=self.device) for array in data)


def make_env(env_id: str, seed: int):
    def thunk():
        env = gym.make(env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env.action_space.seed(seed)
        return env
    return thunk


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


def train(args: Args, device: torch.device | None = None) -> tuple[QNetwork, float, float]:
    """Trains; returns the network and the training steps per second of wall and of CPU time."""
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
    rb = ReplayBuffer(args.buffer_size, envs.single_observation_space.shape, envs.num_envs, device)

    start_time, start_cpu = time.perf_counter(), time.process_time()
    obs, _ = envs.reset(seed=args.seed)
    for global_step in range(args.total_timesteps):
        epsilon = linear_schedule(args.start_e, args.end_e, args.exploration_fraction * args.total_timesteps,
                                  global_step)
        if random.random() < epsilon:
            actions = np.array([envs.single_action_space.sample() for _ in range(envs.num_envs)])
        else:
            q_values = q_network(torch.Tensor(obs).to(device))
            actions = torch.argmax(q_values, dim=1).cpu().numpy()
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        real_next_obs = next_obs.copy()  # the true final observation where an episode ended
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
                loss = F.mse_loss(td_target, old_val)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if global_step % args.target_network_frequency == 0:
                for target_param, q_param in zip(target_network.parameters(), q_network.parameters()):
                    target_param.data.copy_(args.tau * q_param.data + (1.0 - args.tau) * target_param.data)
    sps = args.total_timesteps / (time.perf_counter() - start_time)
    cpu_sps = args.total_timesteps / (time.process_time() - start_cpu)
    envs.close()
    return q_network, sps, cpu_sps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    cli = parser.parse_args()
    torch.set_num_threads(1)
    args = Args(env_id=cli.env, total_timesteps=cli.steps, seed=cli.seed)
    q_network, sps, _ = train(args)
    print(f"{args.env_id}: {sps:,.0f} steps/s, evaluation return "
          f"{evaluate(q_network, args.env_id, 10, 10_000, torch.device('cpu')):.1f}")


if __name__ == "__main__":
    main()
