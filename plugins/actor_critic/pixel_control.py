"""UNREAL's pixel control (Jaderberg et al. 2016): learn to maximally change the pixels.

Pseudo-rewards: the central crop of each frame (84 → 80) is split into 4×4 cells; a cell's reward is
the average absolute change of its pixels (intensities in [0, 1], averaged over colour channels)
from one observation to the next. A deconvolution head on the LSTM output gives a dueling
Q-value per action and cell, trained by n-step Q-learning towards these rewards.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from plugins.actor_critic.vtrace import n_step_returns


def pixel_change_rewards(obs: torch.Tensor, next_obs: torch.Tensor, crop: int = 2, cell: int = 4) -> torch.Tensor:
    """(N, C, H, W) frames → (N, (H − 2 crop) / cell, (W − 2 crop) / cell) pseudo-rewards."""
    def central(x: torch.Tensor) -> torch.Tensor:
        x = x[..., crop:x.shape[-2] - crop, crop:x.shape[-1] - crop].float()
        return x / 255.0 if obs.dtype == torch.uint8 else x

    change = (central(next_obs) - central(obs)).abs().mean(dim=-3, keepdim=True)
    return F.avg_pool2d(change, cell).squeeze(-3)


class PixelControlHead(nn.Module):
    """LSTM output → 32×9×9 → deconvolutions (4×4, stride 2) to a 20×20 map: Q = V + A − mean A.

    Any grid size: an odd grid (e.g. 9×9 from 42×42 frames) needs one row of output padding, since
    a 4×4 stride-2 deconvolution alone only makes even sizes.
    """

    def __init__(self, in_dim: int, num_actions: int, grid: int = 20):
        super().__init__()
        self.base = (grid - 4) // 2 + 1  # the deconvolution maps base → grid
        pad = (grid - 4) % 2
        self.fc = nn.Sequential(nn.Linear(in_dim, 32 * self.base * self.base), nn.ReLU())
        self.value = nn.ConvTranspose2d(32, 1, 4, stride=2, output_padding=pad)
        self.advantage = nn.ConvTranspose2d(32, num_actions, 4, stride=2, output_padding=pad)

    def forward(self, core: torch.Tensor) -> torch.Tensor:
        x = self.fc(core).view(-1, 32, self.base, self.base)
        advantage = self.advantage(x)
        q = self.value(x) + advantage - advantage.mean(dim=1, keepdim=True)
        return q.view(*core.shape[:-1], *q.shape[1:])


def pixel_control_loss(q: torch.Tensor, actions: torch.Tensor, pseudo_rewards: torch.Tensor,
                       ends: torch.Tensor, gamma: float) -> torch.Tensor:
    """n-step Q-learning over a sequence of L + 1 steps: q (L + 1, B, A, G, G) from one unroll,
    actions and ends (L + 1, B), pseudo-rewards (L + 1, B, G, G). The last step only bootstraps
    (max_a Q, no gradient); no return crosses an episode end. Summed over cells, averaged over steps."""
    chosen = q[:-1].gather(2, actions[:-1, :, None, None, None].expand(-1, -1, 1, *q.shape[-2:])).squeeze(2)
    discounts = gamma * (~ends[:-1]).to(q.dtype)[..., None, None].expand_as(chosen)
    targets = n_step_returns(pseudo_rewards[:-1], discounts, q[-1].max(dim=1).values.detach())
    return 0.5 * (targets.detach() - chosen).pow(2).sum(dim=(-2, -1)).mean()
