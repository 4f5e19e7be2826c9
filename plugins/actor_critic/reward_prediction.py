"""UNREAL's reward prediction (Jaderberg et al. 2016): from three consecutive frames, classify the
sign of the reward that follows (zero, positive, negative). Rewards are rare, so the sampler is
skewed: each sample comes with probability 1/2 from the rewarding steps and 1/2 from the others.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def skewed_sample(rewarding: np.ndarray, valid: np.ndarray, size: int, rng: np.random.Generator,
                  p_rewarding: float = 0.5) -> np.ndarray | None:
    """Flat indices of ``size`` valid entries, each rewarding with probability ``p_rewarding`` (all
    from one group when the other is empty; None when nothing is valid)."""
    pools = [np.flatnonzero(valid & rewarding), np.flatnonzero(valid & ~rewarding)]
    if len(pools[0]) == 0 and len(pools[1]) == 0:
        return None
    pick_rewarding = rng.random(size) < p_rewarding
    if len(pools[0]) == 0:
        pick_rewarding[:] = False
    elif len(pools[1]) == 0:
        pick_rewarding[:] = True
    out = np.empty(size, dtype=np.int64)
    for group, mask in ((0, pick_rewarding), (1, ~pick_rewarding)):
        if mask.any():
            out[mask] = rng.choice(pools[group], size=int(mask.sum()))
    return out


def reward_class(reward: torch.Tensor) -> torch.Tensor:
    """0: zero, 1: positive, 2: negative."""
    return torch.where(reward > 0, 1, torch.where(reward < 0, 2, 0))


class RewardPredictionHead(nn.Module):
    """Torso features of 3 frames, concatenated → 128 → 3 logits."""

    def __init__(self, feature_dim: int, history: int = 3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(history * feature_dim, 128), nn.ReLU(), nn.Linear(128, 3))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features.flatten(-2))


def reward_prediction_loss(logits: torch.Tensor, reward: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, reward_class(reward))
