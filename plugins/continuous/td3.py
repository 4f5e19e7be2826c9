"""Twin Delayed DDPG (Fujimoto et al. 2018, "Addressing Function Approximation Error in Actor-Critic
Methods").

Three changes to DDPG: the target takes the minimum of twin Q-networks (clipped double Q), the target
action is smoothed with clipped Gaussian noise, and the actor and targets update only every
``policy_delay`` critic steps. Exploration adds Gaussian noise to the deterministic action. One
learning step, top to bottom, is :meth:`TD3Agent.update`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from harness.plugin import Algorithm, EnvSpec
from plugins.continuous.common import polyak_, set_lr
from plugins.continuous.critics import TwinQ
from plugins.continuous.heads import DeterministicPolicy
from plugins.continuous.offpolicy import OffPolicyAgent


@dataclass
class TD3Config:
    hidden: tuple[int, ...] = (256, 256)
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    batch_size: int = 256
    buffer_size: int = 1_000_000
    learning_starts: int = 25_000  # uniform random actions before this many steps, then learning
    updates_per_step: float = 1.0  # critic gradient steps per environment step
    exploration_noise: float = 0.1  # std of the behaviour noise, in units of half the action range
    policy_noise: float = 0.2  # std of the target-smoothing noise
    noise_clip: float = 0.5  # the smoothing noise is clipped to ±noise_clip
    policy_delay: int = 2  # critic steps per actor (and target) step


class TD3Agent(OffPolicyAgent):
    config: TD3Config

    def build(self) -> None:
        c = self.config
        self.actor = DeterministicPolicy(self.obs_dim, self.act_dim, c.hidden).to(self.device)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic = TwinQ(self.obs_dim, self.act_dim, c.hidden).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=c.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=c.critic_lr)
        self.parts = {"actor": self.actor, "actor_target": self.actor_target, "critic": self.critic,
                      "critic_target": self.critic_target, "actor_optimizer": self.actor_optimizer,
                      "critic_optimizer": self.critic_optimizer}

    def noise(self, like: torch.Tensor, std: float) -> torch.Tensor:
        return torch.randn(like.shape, generator=self.rngs.torch, device=like.device) * std

    def explore_action(self, obs: torch.Tensor) -> torch.Tensor:
        action = self.actor(obs)
        return (action + self.noise(action, self.config.exploration_noise)).clamp(-1.0, 1.0)

    def greedy_action(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)

    def update(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c = self.config
        obs, action, reward = batch["obs"], batch["action"], batch["reward"]
        next_obs, discount = batch["next_obs"], batch["discount"]  # discount: γ, or 0 if terminated

        # Critic: clipped double-Q target at a smoothed target action; no bootstrap if terminated.
        with torch.no_grad():
            next_action = self.actor_target(next_obs)
            smoothing = self.noise(next_action, c.policy_noise).clamp(-c.noise_clip, c.noise_clip)
            next_action = (next_action + smoothing).clamp(-1.0, 1.0)
            target = reward + discount * self.critic_target.min(next_obs, next_action)
        q1, q2 = self.critic(obs, action)
        critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        metrics = {"critic_loss": critic_loss.detach(), "q": q1.detach().mean()}

        # Delayed actor and target updates: the actor climbs Q1, then both targets follow.
        if (self.updates + 1) % c.policy_delay == 0:
            actor_loss = -self.critic.q1(obs, self.actor(obs)).mean()
            self.actor_optimizer.zero_grad()
            actor_loss.backward()
            self.actor_optimizer.step()
            polyak_(self.actor_target.parameters(), self.actor.parameters(), c.tau)
            polyak_(self.critic_target.parameters(), self.critic.parameters(), c.tau)
            metrics["actor_loss"] = actor_loss.detach()
        return metrics

    def apply_hyperparameters(self) -> None:
        set_lr(self.actor_optimizer, self.config.actor_lr)
        set_lr(self.critic_optimizer, self.config.critic_lr)


def make_td3(spec: EnvSpec, config: TD3Config, seed: int, fabric: Any) -> TD3Agent:
    return TD3Agent(spec, config, seed, fabric)


PRESETS: dict[str, dict[str, Any]] = {
    # The authors' reference implementation (github.com/sfujimoto/TD3, also CleanRL's td3_continuous_action).
    "mujoco": {"hidden": (256, 256), "actor_lr": 3e-4, "critic_lr": 3e-4, "gamma": 0.99, "tau": 0.005,
               "batch_size": 256, "buffer_size": 1_000_000, "learning_starts": 25_000, "updates_per_step": 1.0,
               "exploration_noise": 0.1, "policy_noise": 0.2, "noise_clip": 0.5, "policy_delay": 2},
    # Small budgets (Pendulum, InvertedPendulum in CI): learn after 1k steps, faster rates.
    "pendulum": {"hidden": (128, 128), "actor_lr": 1e-3, "critic_lr": 1e-3, "gamma": 0.99, "tau": 0.01,
                 "batch_size": 128, "buffer_size": 100_000, "learning_starts": 1_000, "updates_per_step": 1.0,
                 "exploration_noise": 0.1, "policy_noise": 0.2, "noise_clip": 0.5, "policy_delay": 2},
}

td3 = Algorithm(
    name="td3",
    summary="TD3: twin Q, target policy smoothing, delayed policy updates (Fujimoto et al. 2018)",
    config=TD3Config,
    make_agent=make_td3,
    observations=("vector",),
    actions=("continuous",),
    presets=PRESETS,
    search_space={"actor_lr": ("log_float", 1e-5, 3e-3), "critic_lr": ("log_float", 1e-5, 3e-3),
                  "gamma": ("float", 0.95, 0.999), "tau": ("log_float", 1e-3, 5e-2),
                  "exploration_noise": ("float", 0.05, 0.5), "policy_delay": ("categorical", [1, 2, 3])},
)
