"""Critics: twin Q-networks for SAC and TD3 (the minimum of two curbs overestimation, Fujimoto et
al. 2018), and PPO's state-value network."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from harness.nets import MLP
from plugins.continuous.common import orthogonal_


class QNetwork(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256)):
        super().__init__()
        self.torso = MLP(obs_dim + act_dim, hidden)
        self.out = nn.Linear(self.torso.out_dim, 1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.out(self.torso(torch.cat([obs, action], -1))).squeeze(-1)


class TwinQ(nn.Module):
    """Two independent Q-networks over (observation, action)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256)):
        super().__init__()
        self.q1 = QNetwork(obs_dim, act_dim, hidden)
        self.q2 = QNetwork(obs_dim, act_dim, hidden)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.q1(obs, action), self.q2(obs, action)

    def min(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        q1, q2 = self(obs, action)
        return torch.minimum(q1, q2)


class ValueNetwork(nn.Module):
    """V(s) for PPO: a tanh MLP with orthogonal initialisation, as in the PPO paper's setting."""

    def __init__(self, obs_dim: int, hidden: Sequence[int] = (64, 64)):
        super().__init__()
        self.torso = MLP(obs_dim, hidden, nn.Tanh)
        for layer in self.torso.net:
            if isinstance(layer, nn.Linear):
                orthogonal_(layer)
        self.out = orthogonal_(nn.Linear(self.torso.out_dim, 1), gain=1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.out(self.torso(obs)).squeeze(-1)
