"""Soft Actor-Critic (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications").

Twin Q-networks with Polyak-averaged targets, a tanh-squashed Gaussian policy whose log-probability
includes the change-of-variables correction, and automatic tuning of the entropy temperature α
towards a target entropy of −|A|. One learning step, top to bottom, is :meth:`SACAgent.update`.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from harness.plugin import Algorithm, EnvSpec
from plugins.continuous.common import polyak_, set_lr
from plugins.continuous.critics import TwinQ
from plugins.continuous.heads import TanhGaussianPolicy
from plugins.continuous.offpolicy import OffPolicyAgent


@dataclass
class SACConfig:
    hidden: tuple[int, ...] = (256, 256)
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005  # target smoothing: target ← (1 − τ)·target + τ·online
    batch_size: int = 256
    buffer_size: int = 1_000_000
    learning_starts: int = 10_000  # uniform random actions before this many steps, then learning
    updates_per_step: float = 1.0  # gradient steps per environment step
    autotune: bool = True  # learn α; otherwise α stays at ``alpha``
    alpha: float = 1.0  # initial (or fixed) temperature
    target_entropy: float | None = None  # None: −|A|, the paper's heuristic


class Temperature(nn.Module):
    """α = exp(log α), learned through log α so it stays positive."""

    def __init__(self, alpha: float):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.tensor(math.log(alpha)))


class SACAgent(OffPolicyAgent):
    config: SACConfig

    def build(self) -> None:
        c = self.config
        self.actor = TanhGaussianPolicy(self.obs_dim, self.act_dim, c.hidden).to(self.device)
        self.critic = TwinQ(self.obs_dim, self.act_dim, c.hidden).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.temperature = Temperature(c.alpha).to(self.device)
        self.target_entropy = -float(self.act_dim) if c.target_entropy is None else c.target_entropy
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=c.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=c.critic_lr)
        self.alpha_optimizer = torch.optim.Adam(self.temperature.parameters(), lr=c.alpha_lr)
        self.parts = {"actor": self.actor, "critic": self.critic, "critic_target": self.critic_target,
                      "temperature": self.temperature, "actor_optimizer": self.actor_optimizer,
                      "critic_optimizer": self.critic_optimizer, "alpha_optimizer": self.alpha_optimizer}

    def explore_action(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor.sample(obs, self.rngs.torch)[0]

    def greedy_action(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor.mode(obs)

    def update(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c = self.config
        obs, action, reward = batch["obs"], batch["action"], batch["reward"]
        next_obs, discount = batch["next_obs"], batch["discount"]  # discount: γ, or 0 if terminated
        alpha = self.temperature.log_alpha.exp().detach()

        # Critic: soft Bellman target from the target twins, bootstrapping unless terminated.
        with torch.no_grad():
            next_action, next_log_prob = self.actor.sample(next_obs, self.rngs.torch)
            next_q = self.critic_target.min(next_obs, next_action) - alpha * next_log_prob
            target = reward + discount * next_q
        q1, q2 = self.critic(obs, action)
        critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()

        # Actor: maximise E[min Q(s, a) − α log π(a|s)] with reparameterized actions.
        new_action, log_prob = self.actor.sample(obs, self.rngs.torch)
        actor_loss = (alpha * log_prob - self.critic.min(obs, new_action)).mean()
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        self.actor_optimizer.step()

        # Temperature: raise α when the policy's entropy is below the target, lower it when above.
        if c.autotune:
            alpha_loss = -(self.temperature.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
            self.alpha_optimizer.zero_grad()
            alpha_loss.backward()
            self.alpha_optimizer.step()

        polyak_(self.critic_target.parameters(), self.critic.parameters(), c.tau)
        return {"critic_loss": critic_loss.detach(), "actor_loss": actor_loss.detach(), "alpha": alpha,
                "entropy": -log_prob.detach().mean(), "q": q1.detach().mean()}

    def apply_hyperparameters(self) -> None:
        c = self.config
        self.target_entropy = -float(self.act_dim) if c.target_entropy is None else c.target_entropy
        if not c.autotune:  # a fixed temperature is the configured one
            with torch.no_grad():
                self.temperature.log_alpha.fill_(math.log(c.alpha))
        set_lr(self.actor_optimizer, self.config.actor_lr)
        set_lr(self.critic_optimizer, self.config.critic_lr)
        set_lr(self.alpha_optimizer, self.config.alpha_lr)


def make_sac(spec: EnvSpec, config: SACConfig, seed: int, fabric: Any) -> SACAgent:
    return SACAgent(spec, config, seed, fabric)


PRESETS: dict[str, dict[str, Any]] = {
    # Haarnoja et al. 2018b, Table 1 (and softlearning's 10k initial exploration steps).
    "mujoco": {"hidden": (256, 256), "actor_lr": 3e-4, "critic_lr": 3e-4, "alpha_lr": 3e-4, "gamma": 0.99,
               "tau": 0.005, "batch_size": 256, "buffer_size": 1_000_000, "learning_starts": 10_000,
               "updates_per_step": 1.0, "autotune": True, "alpha": 1.0},
    # Small budgets (Pendulum, InvertedPendulum in CI): learn after 1k steps, faster rates.
    "pendulum": {"hidden": (128, 128), "actor_lr": 1e-3, "critic_lr": 1e-3, "alpha_lr": 1e-3, "gamma": 0.99,
                 "tau": 0.01, "batch_size": 128, "buffer_size": 100_000, "learning_starts": 1_000,
                 "updates_per_step": 1.0, "autotune": True, "alpha": 1.0},
}

sac = Algorithm(
    name="sac",
    summary="Soft Actor-Critic: twin Q, tanh-Gaussian policy, automatic entropy tuning (Haarnoja et al. 2018)",
    config=SACConfig,
    make_agent=make_sac,
    observations=("vector",),
    actions=("continuous",),
    presets=PRESETS,
    search_space={"actor_lr": ("log_float", 1e-5, 3e-3), "critic_lr": ("log_float", 1e-5, 3e-3),
                  "alpha_lr": ("log_float", 1e-5, 3e-3), "gamma": ("float", 0.95, 0.999),
                  "tau": ("log_float", 1e-3, 5e-2), "batch_size": ("categorical", [64, 128, 256, 512])},
)
