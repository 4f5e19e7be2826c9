"""The shared recurrent actor-critic network (Mnih et al. 2016; Jaderberg et al. 2016).

torso (UNREAL conv torso for frames, MLP for vectors) → LSTM fed with [features, one-hot last
action, last reward clipped to [-1, 1]] → policy logits and value. The value head is a plain linear
layer or PopArt. For meta-gradients the heads are also conditioned on the discount γ (Xu et al. 2018),
so one network represents the policy and value of every discount.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from harness.nets import ConvTorso
from plugins.actor_critic.popart import PopArt


class UnrealTorso(ConvTorso):
    """Jaderberg et al. 2016: conv 16×8×8/4, conv 32×4×4/2, fully connected 256 (uint8 frames → [0, 1])."""

    def __init__(self, in_channels: int, height: int, width: int, out_dim: int = 256):
        super().__init__(in_channels, height, width, [(16, 8, 4), (32, 4, 2)], out_dim)


class VectorTorso(nn.Module):
    """An MLP that keeps the dtype of its weights (float64 for gradient checks)."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(in_dim, width), nn.ReLU()]
            in_dim = width
        self.net = nn.Sequential(*layers)
        self.out_dim = in_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.to(self.net[0].weight.dtype)) if len(self.net) else x.float()


@dataclass
class CoreState:
    """The LSTM state of a batch of environments."""

    h: torch.Tensor
    c: torch.Tensor

    def masked(self, keep: torch.Tensor) -> "CoreState":
        """Zero the rows whose episode starts anew (``keep`` is 0 there)."""
        keep = keep.to(self.h.dtype).unsqueeze(-1)
        return CoreState(self.h * keep, self.c * keep)

    def index(self, rows: Any) -> "CoreState":
        return CoreState(self.h[rows], self.c[rows])


def gamma_feature(gamma: torch.Tensor) -> torch.Tensor:
    """−log(1 − γ) / 5: spreads the interesting discounts 0.9 … 0.999 over about [0.5, 1.4]."""
    return -torch.log1p(-gamma) / 5.0


class RecurrentActorCritic(nn.Module):
    def __init__(self, observation_space: Any, num_actions: int, hidden: tuple[int, ...] = (64,),
                 lstm_size: int = 128, popart_tasks: int = 0, popart_beta: float = 3e-3,
                 gamma_embedding: int = 0):
        super().__init__()
        shape = tuple(observation_space.shape)
        self.torso: nn.Module = UnrealTorso(*shape) if len(shape) == 3 else VectorTorso(shape[0], hidden)
        self.num_actions = num_actions
        self.lstm = nn.LSTMCell(self.torso.out_dim + num_actions + 1, lstm_size)
        self.lstm_size = lstm_size
        self.gamma_embedding = nn.Linear(1, gamma_embedding) if gamma_embedding else None
        head_in = lstm_size + gamma_embedding
        self.policy = nn.Linear(head_in, num_actions)
        self.popart = PopArt(head_in, popart_tasks, beta=popart_beta) if popart_tasks else None
        self.value = None if self.popart else nn.Linear(head_in, 1)

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> CoreState:
        zeros = torch.zeros(batch, self.lstm_size, device=device)
        return CoreState(zeros, zeros.clone())

    def core_input(self, obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor) -> torch.Tensor:
        """[torso(obs), one-hot(last action) (zeros at an episode's start: action −1), clip(last reward)]."""
        features = self.torso(obs)
        valid = (prev_action >= 0).unsqueeze(-1)
        one_hot = nn.functional.one_hot(prev_action.clamp(min=0), self.num_actions).to(features.dtype) * valid
        return torch.cat([features, one_hot, prev_reward.clamp(-1, 1).unsqueeze(-1).to(features.dtype)], dim=-1)

    def step(self, obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor,
             state: CoreState) -> tuple[torch.Tensor, CoreState]:
        h, c = self.lstm(self.core_input(obs, prev_action, prev_reward), (state.h, state.c))
        return h, CoreState(h, c)

    def unroll(self, obs: torch.Tensor, prev_action: torch.Tensor, prev_reward: torch.Tensor,
               first: torch.Tensor, state: CoreState) -> tuple[torch.Tensor, list[CoreState]]:
        """Core outputs (T, B, H) for a time-major sequence and the state after every step.

        ``first[t]`` marks rows whose episode starts at t: their state is zeroed before the step.
        The torso runs once on all T·B observations; only the LSTM loops over time.
        """
        T, B = obs.shape[:2]
        features = self.core_input(obs.flatten(0, 1), prev_action.flatten(0, 1), prev_reward.flatten(0, 1))
        features = features.view(T, B, -1)
        outputs, states = [], []
        for t in range(T):
            state = state.masked(~first[t])
            h, c = self.lstm(features[t], (state.h, state.c))
            state = CoreState(h, c)
            outputs.append(h)
            states.append(state)
        return torch.stack(outputs), states

    def forward(self, batch: Any, gamma: torch.Tensor | None = None) -> "Evaluation":
        """Evaluate a time-major :class:`~plugins.actor_critic.rollout.Batch` for learning.

        Also computes V of the true successor where the trace needs it — rows truncated by a time
        limit and the rollout's last step — from the state *before* the reset, fed with that step's
        action and reward. A forward pass (not a method) so ``torch.func.functional_call`` applies.
        """
        core, states = self.unroll(batch.obs, batch.prev_action, batch.prev_reward, batch.first, batch.start_state)
        x = self.head_input(core, gamma)
        logits, values = self.heads_from_input(x, batch.task)
        T, B = batch.reward.shape
        need = batch.truncated.clone()
        need[-1] = ~batch.terminated[-1]
        ts, bs = need.nonzero(as_tuple=True)
        ended_next_values = torch.zeros(T, B, dtype=values.dtype, device=values.device)
        if len(ts):
            h = torch.stack([s.h for s in states])[ts, bs]
            c = torch.stack([s.c for s in states])[ts, bs]
            boot_core, _ = self.step(batch.next_obs[ts, bs], batch.action[ts, bs], batch.reward[ts, bs], CoreState(h, c))
            _, boot_values = self.heads_from_input(self.head_input(boot_core, gamma), batch.task[ts, bs])
            ended_next_values = ended_next_values.index_put((ts, bs), boot_values)
        return Evaluation(logits, values, ended_next_values, x, core)

    def head_input(self, core: torch.Tensor, gamma: torch.Tensor | None = None) -> torch.Tensor:
        if self.gamma_embedding is None:
            return core
        if gamma is None:
            raise ValueError("this network is conditioned on γ: pass gamma")
        g = gamma_feature(gamma).reshape(1).to(core.dtype).expand(*core.shape[:-1], 1)
        return torch.cat([core, torch.relu(self.gamma_embedding(g))], dim=-1)

    def policy_logits(self, core: torch.Tensor, gamma: torch.Tensor | None = None) -> torch.Tensor:
        """The policy head alone: acting needs no value (with PopArt a float64 pass and its statistics)."""
        return self.policy(self.head_input(core, gamma))

    def heads(self, core: torch.Tensor, gamma: torch.Tensor | None = None,
              task: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Policy logits and the unnormalized value."""
        return self.heads_from_input(self.head_input(core, gamma), task)

    def heads_from_input(self, x: torch.Tensor, task: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.policy(x)
        if self.popart is not None:
            task = torch.zeros(x.shape[:-1], dtype=torch.long, device=x.device) if task is None else task
            return logits, self.popart(x, task)
        return logits, self.value(x).squeeze(-1)


@dataclass
class Evaluation:
    """The network's outputs on a learning batch, all (T, B, ...)."""

    logits: torch.Tensor
    values: torch.Tensor  # unnormalized V(x_t)
    ended_next_values: torch.Tensor  # V of the true successor where the episode was truncated, or at t = T − 1
    head_features: torch.Tensor  # input of the policy and value heads (PopArt's normalized output uses it)
    core: torch.Tensor  # LSTM outputs (auxiliary heads use them)


def entropy_of(logits: torch.Tensor) -> torch.Tensor:
    log_probs = logits.log_softmax(-1)
    return -(log_probs.exp() * log_probs).sum(-1)


def log_prob_of(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    return logits.log_softmax(-1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
