"""The pieces of the value family's losses, as small pure functions (tested against hand values).

Each returns per-sample losses, so prioritized replay can weight them and reuse them as priorities.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def td_loss(q: torch.Tensor, target: torch.Tensor, kind: str = "huber") -> torch.Tensor:
    """Per-sample Huber (δ = 1) or squared TD error."""
    if kind == "huber":
        return F.smooth_l1_loss(q, target, reduction="none")
    return F.mse_loss(q, target, reduction="none")


def categorical_projection(next_probs: torch.Tensor, reward: torch.Tensor, discount: torch.Tensor,
                           support: torch.Tensor) -> torch.Tensor:
    """Project the distribution of r + discount·Z (atoms ``support``, probs ``next_probs``) back
    onto ``support`` (Bellemare et al. 2017, Algorithm 1). Mass beyond [v_min, v_max] lands on the
    edge atoms; ``discount = 0`` (terminal) puts all mass around r.

    next_probs: (B, K); reward, discount: (B,); support: (K,) evenly spaced. Returns (B, K).
    """
    v_min, v_max = support[0], support[-1]
    delta = (v_max - v_min) / (support.numel() - 1)
    target_z = (reward.unsqueeze(1) + discount.unsqueeze(1) * support.unsqueeze(0)).clamp(v_min, v_max)
    b = ((target_z - v_min) / delta).clamp(max=support.numel() - 1)  # v_max's position may round above K − 1
    lower = b.floor()
    upper = b.ceil()
    # when b lands exactly on an atom, lower == upper: give that atom the whole mass
    w_lower = upper - b + (lower == upper).to(b.dtype)
    w_upper = b - lower
    k = support.numel()
    offset = (torch.arange(next_probs.shape[0], device=next_probs.device) * k).unsqueeze(1)
    projected = torch.zeros(next_probs.numel(), device=next_probs.device, dtype=next_probs.dtype)
    projected.index_add_(0, (lower.long() + offset).view(-1), (next_probs * w_lower).view(-1))
    projected.index_add_(0, (upper.long() + offset).view(-1), (next_probs * w_upper).view(-1))
    return projected.view_as(next_probs)


def quantile_huber_loss(quantiles: torch.Tensor, taus: torch.Tensor, target: torch.Tensor,
                        kappa: float = 1.0) -> torch.Tensor:
    """Quantile Huber loss (Dabney et al. 2018, eq. 10) per sample.

    quantiles: (B, N) online estimates at fractions ``taus`` (B, N) or (N,); target: (B, M) target
    samples. ρ_τ(u) = |τ − 1{u < 0}| · L_κ(u) / κ, summed over the N online quantiles and averaged
    over the M target samples.
    """
    u = target.unsqueeze(1) - quantiles.unsqueeze(2)  # (B, N, M)
    abs_u = u.abs()
    huber = torch.where(abs_u <= kappa, 0.5 * u.pow(2), kappa * (abs_u - 0.5 * kappa))
    taus = taus.expand(quantiles.shape) if taus.dim() == 1 else taus
    weight = (taus.unsqueeze(2) - (u.detach() < 0).to(u.dtype)).abs()
    return (weight * huber / kappa).sum(dim=1).mean(dim=1)
