"""Policy heads: a Gaussian with state-independent log-std and a categorical (PPO), a tanh-squashed
Gaussian (SAC) and a deterministic tanh policy (TD3). All act in [-1, 1]; see ``ActionScale``."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from harness.nets import MLP
from plugins.continuous.common import orthogonal_

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(log_std)²), summed over the action dimensions."""
    z = (x - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std - 0.5 * LOG_2PI).sum(-1)


def tanh_log_det_jacobian(u: torch.Tensor) -> torch.Tensor:
    """log |d tanh(u)/du| = log(1 − tanh²u), summed; written as 2(log 2 − u − softplus(−2u)),
    which stays finite where tanh(u) rounds to ±1 (the naive form returns −inf there)."""
    return (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)


def tanh_gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Log-density of a = tanh(u), u ~ N(mean, std²), evaluated at a (change of variables)."""
    return gaussian_log_prob(u, mean, log_std) - tanh_log_det_jacobian(u)


class GaussianPolicy(nn.Module):
    """Diagonal Gaussian whose mean is an MLP of the observation and whose log-std is a free
    parameter (the PPO paper's continuous policy). Samples are unbounded; the env gets them clipped."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (64, 64), init_log_std: float = 0.0):
        super().__init__()
        self.torso = MLP(obs_dim, hidden, nn.Tanh)
        for layer in self.torso.net:
            if isinstance(layer, nn.Linear):
                orthogonal_(layer)
        self.mean = orthogonal_(nn.Linear(self.torso.out_dim, act_dim), gain=0.01)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))

    def sample(self, obs: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.mean(self.torso(obs))
        log_std = self.log_std.expand_as(mean)
        action = mean + torch.randn(mean.shape, generator=generator, device=mean.device) * log_std.exp()
        return action, gaussian_log_prob(action, mean, log_std)

    def log_prob_entropy(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.mean(self.torso(obs))
        log_std = self.log_std.expand_as(mean)
        entropy = (log_std + 0.5 * (1.0 + LOG_2PI)).sum(-1)
        return gaussian_log_prob(action, mean, log_std), entropy

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return self.mean(self.torso(obs))


class CategoricalPolicy(nn.Module):
    """Softmax over discrete actions, with the same interface as :class:`GaussianPolicy`."""

    def __init__(self, obs_dim: int, num_actions: int, hidden: Sequence[int] = (64, 64)):
        super().__init__()
        self.torso = MLP(obs_dim, hidden, nn.Tanh)
        for layer in self.torso.net:
            if isinstance(layer, nn.Linear):
                orthogonal_(layer)
        self.logits = orthogonal_(nn.Linear(self.torso.out_dim, num_actions), gain=0.01)

    def sample(self, obs: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs = self.logits(self.torso(obs)).log_softmax(-1)
        action = torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(-1)
        return action, log_probs.gather(-1, action[:, None]).squeeze(-1)

    def log_prob_entropy(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs = self.logits(self.torso(obs)).log_softmax(-1)
        entropy = -(log_probs.exp() * log_probs).sum(-1)
        return log_probs.gather(-1, action.long()[:, None]).squeeze(-1), entropy

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return self.logits(self.torso(obs)).argmax(-1)


class TanhGaussianPolicy(nn.Module):
    """SAC's policy: a = tanh(u), u ~ N(μ(s), σ(s)²), log σ squashed into [log_std_min, log_std_max]."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256),
                 log_std_min: float = -5.0, log_std_max: float = 2.0):
        super().__init__()
        self.torso = MLP(obs_dim, hidden)
        self.mean = nn.Linear(self.torso.out_dim, act_dim)
        self.log_std = nn.Linear(self.torso.out_dim, act_dim)
        self.log_std_min, self.log_std_max = log_std_min, log_std_max

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.torso(obs)
        log_std = torch.tanh(self.log_std(features))
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (log_std + 1.0)
        return self.mean(features), log_std

    def sample(self, obs: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterized sample (gradients flow through it) and its log-probability."""
        mean, log_std = self(obs)
        u = mean + torch.randn(mean.shape, generator=generator, device=mean.device) * log_std.exp()
        return torch.tanh(u), tanh_gaussian_log_prob(u, mean, log_std)

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self(obs)[0])


class DeterministicPolicy(nn.Module):
    """TD3's policy: a = tanh(MLP(s))."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256)):
        super().__init__()
        self.torso = MLP(obs_dim, hidden)
        self.out = nn.Linear(self.torso.out_dim, act_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.out(self.torso(obs)))
