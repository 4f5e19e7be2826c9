"""Proximal Policy Optimization (Schulman et al. 2017) with GAE(λ) (Schulman et al. 2016).

The agent collects ``num_steps`` steps from each vectorized environment, computes advantages with
GAE(λ) — bootstrapping from the value of the true final observation where an episode was truncated,
not where it terminated — and then runs ``update_epochs`` passes of minibatch Adam on the clipped
surrogate objective plus a (optionally clipped) value loss. Observations and rewards are normalized
with running statistics that are part of the agent's state. Discrete actions use a categorical
policy, continuous ones a Gaussian with a state-independent log-std acting in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from harness.plugin import Agent, Algorithm, EnvSpec, PluginError, Transition
from plugins.continuous.common import ActionScale, Rngs, build_seeded, set_lr
from plugins.continuous.critics import ValueNetwork
from plugins.continuous.heads import CategoricalPolicy, GaussianPolicy
from plugins.continuous.normalize import ObservationNormalizer, RewardScaler
from plugins.continuous.offpolicy import set_config


@dataclass
class PPOConfig:
    hidden: tuple[int, ...] = (64, 64)
    lr: float = 3e-4
    num_steps: int = 2048  # rollout length per environment (the paper's horizon T)
    gamma: float = 0.99
    gae_lambda: float = 0.95
    update_epochs: int = 10
    minibatch_size: int = 64
    clip_coef: float = 0.2  # ε: the ratio π/π_old is kept within [1 − ε, 1 + ε]
    clip_value: bool = False  # also clip the value update to ±clip_coef around the old values
    value_coef: float = 0.5
    entropy_coef: float = 0.0
    max_grad_norm: float = 0.5
    normalize_advantages: bool = True  # per minibatch
    normalize_observations: bool = True
    normalize_rewards: bool = True  # divide by the running std of the discounted return
    init_log_std: float = 0.0
    target_kl: float | None = None  # stop the epochs early once the approximate KL exceeds this


# ------------------------------------------------------------------------------ the two formulas

def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, terminated: np.ndarray,
        truncated: np.ndarray, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Generalized advantage estimates and λ-returns for arrays shaped (time, envs).

    ``next_values[t]`` is V of the true successor of step t (the final observation where the episode
    ended). δ_t = r_t + γ·V(s'_t)·(1 − terminated_t) − V(s_t); A_t = δ_t + γλ·(1 − done_t)·A_{t+1}:
    a truncated step still bootstraps from V(s'_t), but no advantage flows across an episode end.
    """
    not_terminated = 1.0 - terminated.astype(np.float64)
    not_done = 1.0 - np.logical_or(terminated, truncated).astype(np.float64)
    deltas = rewards + gamma * next_values * not_terminated - values
    advantages = np.zeros_like(deltas, dtype=np.float64)
    running = np.zeros(deltas.shape[1:], np.float64)
    for t in reversed(range(len(deltas))):
        running = deltas[t] + gamma * lam * not_done[t] * running
        advantages[t] = running
    return advantages, advantages + values


def clipped_surrogate(log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor,
                      clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's loss −E[min(r·A, clip(r, 1 − ε, 1 + ε)·A)], r = π/π_old; also returns r.

    Where r has left [1 − ε, 1 + ε] in the direction that A rewards, the clipped term is the minimum
    and is constant in θ, so that sample contributes no gradient."""
    ratio = torch.exp(log_prob - old_log_prob)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * advantages
    return -torch.minimum(unclipped, clipped).mean(), ratio


# --------------------------------------------------------------------------------------- agent

class PPOAgent(Agent):
    def __init__(self, spec: EnvSpec, config: PPOConfig, seed: int, fabric: Any):
        self.config = config
        self.device = fabric.device
        self.discrete = spec.action_kind == "discrete"
        self.scale = None if self.discrete else ActionScale(spec.action_space)
        self.obs_dim = int(np.prod(spec.observation_space.shape))
        self.num_envs = spec.num_envs
        self.rngs = Rngs(seed, self.device)
        self.obs_norm = ObservationNormalizer((self.obs_dim,), config.normalize_observations)
        self.reward_scaler = RewardScaler(spec.num_envs, config.gamma, config.normalize_rewards)

        def build() -> tuple[nn.Module, nn.Module]:
            if self.discrete:
                policy: nn.Module = CategoricalPolicy(self.obs_dim, int(spec.action_space.n), config.hidden)
            else:
                policy = GaussianPolicy(self.obs_dim, int(spec.action_space.shape[0]), config.hidden, config.init_log_std)
            return policy.to(self.device), ValueNetwork(self.obs_dim, config.hidden).to(self.device)

        self.policy, self.value = build_seeded(seed, build)
        self.optimizer = torch.optim.Adam([*self.policy.parameters(), *self.value.parameters()], lr=config.lr, eps=1e-5)

        T, N = config.num_steps, spec.num_envs
        action_shape = () if self.discrete else (int(spec.action_space.shape[0]),)
        self.rollout = {
            "obs": np.zeros((T, N, self.obs_dim), np.float32),
            "action": np.zeros((T, N, *action_shape), np.int64 if self.discrete else np.float32),
            "log_prob": np.zeros((T, N), np.float32),
            "reward": np.zeros((T, N), np.float32),
            "next_obs": np.zeros((T, N, self.obs_dim), np.float32),
            "terminated": np.zeros((T, N), bool),
            "truncated": np.zeros((T, N), bool),
        }
        self.position = 0  # next row of the rollout
        self.env_steps = 0
        self.updates = 0
        self.pending: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # from act to observe

    # -------------------------------------------------------------------------------- acting
    @torch.no_grad()
    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        obs_n = self.obs_norm(obs, update=explore)
        obs_t = torch.as_tensor(obs_n, device=self.device)
        if explore:
            action, log_prob = self.policy.sample(obs_t, self.rngs.torch)
            action = action.cpu().numpy()
            self.pending = (obs_n, action, log_prob.cpu().numpy())
        else:
            action = self.policy.mode(obs_t).cpu().numpy()
        return action if self.discrete else self.scale.to_env(action)

    def observe(self, t: Transition) -> Mapping[str, float] | None:
        if self.pending is None:
            raise RuntimeError("PPO: observe() needs a preceding act(obs, explore=True)")
        obs_n, action, log_prob = self.pending
        row = self.rollout
        i = self.position
        row["obs"][i], row["action"][i], row["log_prob"][i] = obs_n, action, log_prob
        row["reward"][i] = self.reward_scaler(t.reward, t.done)
        row["next_obs"][i] = self.obs_norm(t.next_obs)
        row["terminated"][i], row["truncated"][i] = t.terminated, t.truncated
        self.pending = None
        self.position += 1
        self.env_steps += len(t.reward)
        if self.position < self.config.num_steps:
            return None
        self.position = 0
        return self.learn()

    # ------------------------------------------------------------------------------- learning
    def learn(self) -> dict[str, float]:
        c = self.config
        r = self.rollout
        T, N = r["reward"].shape
        with torch.no_grad():
            values = self.value(torch.as_tensor(r["obs"], device=self.device)).cpu().numpy()
            next_values = self.value(torch.as_tensor(r["next_obs"], device=self.device)).cpu().numpy()
        advantages, returns = gae(r["reward"], values, next_values, r["terminated"], r["truncated"],
                                  c.gamma, c.gae_lambda)

        def flat(array: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
            return torch.as_tensor(array.reshape(T * N, *array.shape[2:]), dtype=dtype, device=self.device)

        obs, actions, old_log_prob = flat(r["obs"]), flat(r["action"]), flat(r["log_prob"])
        adv_all, ret_all, old_values = (flat(a, torch.float32) for a in (advantages, returns, values))
        batch = T * N
        sums = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "approx_kl": 0.0, "clip_fraction": 0.0}
        steps = 0
        for _ in range(c.update_epochs):
            order = torch.as_tensor(self.rngs.numpy.permutation(batch), device=self.device)
            for start in range(0, batch, c.minibatch_size):
                idx = order[start:start + c.minibatch_size]
                log_prob, entropy = self.policy.log_prob_entropy(obs[idx], actions[idx])
                adv = adv_all[idx]
                if c.normalize_advantages and len(idx) > 1:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                policy_loss, ratio = clipped_surrogate(log_prob, old_log_prob[idx], adv, c.clip_coef)

                value = self.value(obs[idx])
                value_loss = (value - ret_all[idx]).pow(2)
                if c.clip_value:
                    clipped = old_values[idx] + (value - old_values[idx]).clamp(-c.clip_coef, c.clip_coef)
                    value_loss = torch.maximum(value_loss, (clipped - ret_all[idx]).pow(2))
                value_loss = 0.5 * value_loss.mean()

                loss = policy_loss + c.value_coef * value_loss - c.entropy_coef * entropy.mean()
                self.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_([*self.policy.parameters(), *self.value.parameters()], c.max_grad_norm)
                self.optimizer.step()

                with torch.no_grad():
                    log_ratio = log_prob - old_log_prob[idx]
                    approx_kl = ((ratio - 1.0) - log_ratio).mean()  # Schulman's low-variance estimator
                    sums["policy_loss"] += policy_loss.item()
                    sums["value_loss"] += value_loss.item()
                    sums["entropy"] += entropy.mean().item()
                    sums["approx_kl"] += approx_kl.item()
                    sums["clip_fraction"] += ((ratio - 1.0).abs() > c.clip_coef).float().mean().item()
                steps += 1
            if c.target_kl is not None and approx_kl.item() > c.target_kl:
                break
        self.updates += 1
        explained = 1.0 - np.var(returns - values) / (np.var(returns) + 1e-8)
        return {**{k: v / steps for k, v in sums.items()}, "explained_variance": float(explained)}

    # ---------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "value": self.value.state_dict(),
                "optimizer": self.optimizer.state_dict(), "rngs": self.rngs.state_dict(),
                "obs_norm": self.obs_norm.state_dict(), "reward_scaler": self.reward_scaler.state_dict(),
                "rollout": {k: v[: self.position].copy() for k, v in self.rollout.items()},
                "position": self.position, "env_steps": self.env_steps, "updates": self.updates,
                "config": {k: getattr(self.config, k) for k in MUTABLE}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.value.load_state_dict(state["value"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rngs.load_state_dict(state["rngs"])
        self.obs_norm.load_state_dict(state["obs_norm"])
        self.reward_scaler.load_state_dict(state["reward_scaler"])
        self.position = state["position"]
        for key, rows in state["rollout"].items():
            self.rollout[key][: self.position] = rows
        self.env_steps, self.updates = state["env_steps"], state["updates"]
        self.set_hyperparameters(state["config"])

    def set_hyperparameters(self, values: Mapping[str, Any]) -> None:
        """PBT may change the optimisation hyperparameters below; the rollout shape stays fixed."""
        fixed = sorted(set(values) - set(MUTABLE))
        if fixed:
            raise PluginError(f"PPO cannot change {', '.join(fixed)} mid-run; changeable: {', '.join(MUTABLE)}")
        set_config(self.config, values)
        set_lr(self.optimizer, self.config.lr)
        self.reward_scaler.gamma = self.config.gamma


# Hyperparameters that can change mid-run without reshaping the rollout or the networks.
MUTABLE = ("lr", "gamma", "gae_lambda", "update_epochs", "minibatch_size", "clip_coef", "value_coef",
           "entropy_coef", "max_grad_norm", "target_kl")


def make_ppo(spec: EnvSpec, config: PPOConfig, seed: int, fabric: Any) -> PPOAgent:
    return PPOAgent(spec, config, seed, fabric)


PRESETS: dict[str, dict[str, Any]] = {
    # Schulman et al. 2017, Table 3 (MuJoCo, 1M steps): horizon 2048, Adam 3e-4, 10 epochs,
    # minibatch 64, γ 0.99, λ 0.95, ε 0.2; 64x64 tanh networks, running observation normalization.
    "mujoco": {"hidden": (64, 64), "lr": 3e-4, "num_steps": 2048, "gamma": 0.99, "gae_lambda": 0.95,
               "update_epochs": 10, "minibatch_size": 64, "clip_coef": 0.2, "clip_value": False,
               "value_coef": 0.5, "entropy_coef": 0.0, "max_grad_norm": 0.5, "normalize_observations": True,
               "normalize_rewards": True},
    # Pendulum and InvertedPendulum in CI (with 4 or more environments): short rollouts, γ 0.9 after
    # RL Zoo's Pendulum setting.
    "pendulum": {"hidden": (64, 64), "lr": 1e-3, "num_steps": 256, "gamma": 0.9, "gae_lambda": 0.95,
                 "update_epochs": 10, "minibatch_size": 64, "clip_coef": 0.2, "normalize_observations": True,
                 "normalize_rewards": True},
    # Discrete classic control (CartPole, Acrobot): CleanRL's ppo.py settings.
    "classic": {"hidden": (64, 64), "lr": 2.5e-4, "num_steps": 128, "gamma": 0.99, "gae_lambda": 0.95,
                "update_epochs": 4, "minibatch_size": 128, "clip_coef": 0.2, "clip_value": True,
                "entropy_coef": 0.01, "normalize_observations": False, "normalize_rewards": False},
}

ppo = Algorithm(
    name="ppo",
    summary="PPO: clipped surrogate, GAE(λ), observation/reward normalization; discrete and continuous",
    config=PPOConfig,
    make_agent=make_ppo,
    observations=("vector",),
    actions=("discrete", "continuous"),
    presets=PRESETS,
    search_space={"lr": ("log_float", 1e-5, 3e-3), "gamma": ("float", 0.9, 0.999),
                  "gae_lambda": ("float", 0.8, 1.0), "clip_coef": ("float", 0.1, 0.3),
                  "entropy_coef": ("log_float", 1e-5, 1e-1), "update_epochs": ("categorical", [3, 5, 10])},
)
