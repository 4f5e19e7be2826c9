"""What SAC and TD3 share: acting in [-1, 1] with uniform warm-up actions, the public uniform replay
buffer (``harness.replay``, float32 actions, 1-step targets), the update schedule (gradient steps
per environment step, vectorized envs included), hyperparameter changes and the full state for
exact resume. Each learning rule lives in its own file."""

from __future__ import annotations

import dataclasses
import typing
from abc import abstractmethod
from typing import Any, Mapping

import numpy as np
import torch

from harness.plugin import Agent, EnvSpec, PluginError, Transition, coerce
from harness.replay import ReplayBuffer
from plugins.continuous.common import ActionScale, Rngs, build_seeded


class OffPolicyAgent(Agent):
    """Subclasses set ``self.parts`` (modules and optimizers by name) in ``build`` and implement
    ``explore_action``, ``greedy_action``, ``update`` and ``apply_hyperparameters``."""

    def __init__(self, spec: EnvSpec, config: Any, seed: int, fabric: Any):
        if spec.action_kind != "continuous":
            raise PluginError(f"{type(self).__name__} needs continuous (Box) actions, task {spec.task!r} has {spec.action_kind}")
        self.config = config
        self.device = fabric.device
        self.scale = ActionScale(spec.action_space)
        self.obs_dim = int(np.prod(spec.observation_space.shape))
        self.act_dim = int(spec.action_space.shape[0])
        self.rngs = Rngs(seed, self.device)
        self.replay = ReplayBuffer(config.buffer_size, spec.num_envs, (self.obs_dim,), np.float32,
                                   (self.act_dim,), np.float32)
        self.env_steps = 0
        self.updates = 0
        self.credit = 0.0  # gradient steps owed: updates_per_step per environment step
        self.parts: dict[str, Any] = {}
        build_seeded(seed, self.build)

    # ------------------------------------------------------------------ the learning rule's side
    @abstractmethod
    def build(self) -> None:
        """Create the networks and optimizers (under the agent's seed) and list them in ``parts``."""

    @abstractmethod
    def explore_action(self, obs: torch.Tensor) -> torch.Tensor:
        """Behaviour actions in [-1, 1] for a batch of observations."""

    @abstractmethod
    def greedy_action(self, obs: torch.Tensor) -> torch.Tensor:
        """Evaluation actions in [-1, 1]."""

    @abstractmethod
    def update(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One gradient step on a replay batch (obs, action, reward, next_obs, and ``discount``: γ, or
        0 where the episode terminated); returns detached scalar metrics."""

    def apply_hyperparameters(self) -> None:
        """Push changed config values into optimizers and the like."""

    # ------------------------------------------------------------------------------- the Agent
    @torch.no_grad()
    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        if explore and self.env_steps < self.config.learning_starts:
            action = self.rngs.numpy.uniform(-1.0, 1.0, (len(obs), self.act_dim))
        else:
            obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
            action = (self.explore_action(obs_t) if explore else self.greedy_action(obs_t)).cpu().numpy()
        return self.scale.to_env(action)

    def observe(self, t: Transition) -> Mapping[str, float] | None:
        n = len(t.reward)
        self.replay.add(t.obs.reshape(n, -1), self.scale.from_env(t.action), t.reward, t.next_obs.reshape(n, -1),
                        t.terminated, t.truncated)
        self.env_steps += n
        if self.env_steps < self.config.learning_starts:
            return None
        self.credit += n * self.config.updates_per_step
        metrics = None
        while self.credit >= 1.0:
            metrics = self.update(self.sample())
            self.updates += 1
            self.credit -= 1.0
        return None if metrics is None else {k: float(v) for k, v in metrics.items()}

    def sample(self) -> dict[str, torch.Tensor]:
        b = self.replay.sample(self.config.batch_size, self.rngs.numpy, self.config.gamma)
        return {name: torch.as_tensor(getattr(b, name), device=self.device)
                for name in ("obs", "action", "reward", "next_obs", "discount")}

    def state_dict(self) -> dict[str, Any]:
        return {"parts": {name: part.state_dict() for name, part in self.parts.items()},
                "replay": self.replay.state_dict(), "rngs": self.rngs.state_dict(),
                "env_steps": self.env_steps, "updates": self.updates, "credit": self.credit,
                "config": dataclasses.asdict(self.config)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, part in self.parts.items():
            part.load_state_dict(state["parts"][name])
        self.replay.load_state_dict(state["replay"])
        self.rngs.load_state_dict(state["rngs"])
        self.env_steps, self.updates, self.credit = state["env_steps"], state["updates"], state["credit"]
        self.set_hyperparameters(state["config"])

    def set_hyperparameters(self, values: Mapping[str, Any]) -> None:
        """Change config values mid-run (PBT); learning rates reach the optimizers at once. The
        network widths and the buffer's capacity shape the agent and cannot change."""
        hints = typing.get_type_hints(type(self.config))
        for key in STRUCTURAL:
            if key in values and coerce(values[key], hints[key], key) != getattr(self.config, key):
                raise PluginError(f"{type(self).__name__} cannot change {key!r} mid-run")
        set_config(self.config, values)
        self.apply_hyperparameters()


STRUCTURAL = ("hidden", "buffer_size")


def set_config(config: Any, values: Mapping[str, Any]) -> None:
    """Validated assignment of config fields (unknown names and wrong types are errors)."""
    hints = typing.get_type_hints(type(config))
    for key, value in values.items():
        if key not in hints:
            raise PluginError(f"unknown hyperparameter {key!r} for {type(config).__name__}; allowed: {', '.join(sorted(hints))}")
        setattr(config, key, coerce(value, hints[key], f"hyperparameter {key!r}"))
