"""REINFORCE with a learned baseline, written against rl-harness's public plugin API only.

The agent collects whole episodes from every vectorized environment and, each time ``batch_episodes``
episodes have ended, takes one gradient step on -log π(a|s)·(G_t - V(s_t)) plus a value loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from harness.nets import MLP
from harness.plugin import Agent, Algorithm, EnvSpec, Transition


@dataclass
class ReinforceConfig:
    lr: float = 3e-3
    gamma: float = 0.99
    hidden: tuple[int, ...] = (64, 64)
    batch_episodes: int = 4
    value_coef: float = 0.5
    entropy_coef: float = 0.0


class ReinforceAgent(Agent):
    def __init__(self, spec: EnvSpec, config: ReinforceConfig, seed: int, fabric: Any):
        self.config, self.device = config, fabric.device
        torso = MLP(spec.observation_space.shape[0], config.hidden)
        self.policy = nn.Sequential(torso, nn.Linear(torso.out_dim, spec.action_space.n)).to(self.device)
        value_torso = MLP(spec.observation_space.shape[0], config.hidden)
        self.value = nn.Sequential(value_torso, nn.Linear(value_torso.out_dim, 1)).to(self.device)
        self.optimizer = torch.optim.Adam([*self.policy.parameters(), *self.value.parameters()], lr=config.lr)
        self.generator = torch.Generator().manual_seed(seed)
        self.open = [[] for _ in range(spec.num_envs)]  # per env: (obs, action, reward) of the running episode
        self.finished: list[list[tuple[np.ndarray, int, float]]] = []

    @torch.no_grad()
    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        logits = self.policy(torch.as_tensor(obs, device=self.device)).cpu()
        if not explore:
            return logits.argmax(-1).numpy()
        return torch.multinomial(logits.softmax(-1), 1, generator=self.generator).squeeze(-1).numpy()

    def observe(self, t: Transition) -> Mapping[str, float] | None:
        for i in range(len(t.reward)):
            self.open[i].append((t.obs[i], int(t.action[i]), float(t.reward[i])))
            if t.terminated[i] or t.truncated[i]:
                self.finished.append(self.open[i])
                self.open[i] = []
        if len(self.finished) < self.config.batch_episodes:
            return None
        return self.learn()

    def learn(self) -> dict[str, float]:
        obs, actions, returns = [], [], []
        for episode in self.finished:
            g, discounted = 0.0, []
            for _, _, reward in reversed(episode):
                g = reward + self.config.gamma * g
                discounted.append(g)
            obs += [o for o, _, _ in episode]
            actions += [a for _, a, _ in episode]
            returns += discounted[::-1]
        self.finished = []
        obs_t = torch.as_tensor(np.stack(obs), device=self.device)
        actions_t = torch.as_tensor(actions, device=self.device)
        returns_t = torch.as_tensor(returns, dtype=torch.float32, device=self.device)
        logits = self.policy(obs_t)
        values = self.value(obs_t).squeeze(-1)
        log_probs = logits.log_softmax(-1)
        chosen = log_probs.gather(1, actions_t[:, None]).squeeze(1)
        advantage = (returns_t - values).detach()
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
        policy_loss = -(chosen * advantage).mean()
        value_loss = (returns_t - values).pow(2).mean()
        loss = policy_loss + self.config.value_coef * value_loss - self.config.entropy_coef * entropy
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item(), "policy_loss": policy_loss.item(), "entropy": entropy.item()}

    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "value": self.value.state_dict(),
                "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
                "open": self.open, "finished": self.finished}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.value.load_state_dict(state["value"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.open, self.finished = state["open"], state["finished"]

    def set_hyperparameters(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            setattr(self.config, key, value)
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr


reinforce = Algorithm(
    name="reinforce",
    summary="REINFORCE with a learned value baseline (Williams 1992); a third-party example plugin",
    config=ReinforceConfig,
    make_agent=ReinforceAgent,
    observations=("vector",),
    actions=("discrete",),
    presets={"classic": {"lr": 3e-3, "batch_episodes": 4}},
    search_space={"lr": ("log_float", 1e-4, 1e-2), "gamma": ("float", 0.95, 0.999)},
)
