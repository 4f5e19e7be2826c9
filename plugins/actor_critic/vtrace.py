"""V-trace (Espeholt et al. 2018): off-policy corrected value targets and policy-gradient advantages.

Everything is time-major, shaped (T, B). The trace is cut at every episode end, and each step's
successor value is given explicitly (``next_values``), so that a step truncated by a time limit
bootstraps from V of its true final observation while a terminated one does not bootstrap at all.
With ``log_rhos = 0`` (on-policy data) the targets are the n-step returns of A2C.
"""

from __future__ import annotations

import torch


def successor_values(values: torch.Tensor, ended_next_values: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """V(x_{t+1}) for every step: the next step's value inside an episode and inside the rollout,
    ``ended_next_values[t]`` (V of the true successor) where the episode ended or at the last step."""
    shifted = torch.cat([values[1:], ended_next_values[-1:]], dim=0)
    use_given = ends.clone()
    use_given[-1] = True
    return torch.where(use_given, ended_next_values, shifted)


def vtrace(log_rhos: torch.Tensor, discounts: torch.Tensor, rewards: torch.Tensor, values: torch.Tensor,
           next_values: torch.Tensor, ends: torch.Tensor, rho_bar: float = 1.0,
           c_bar: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """V-trace targets v_s and advantages ρ_s (r_s + γ_s v_{s+1} − V(x_s)).

    ``log_rhos`` = log π(a|x) − log μ(a|x); ``discounts`` = γ (1 − terminated); ``values`` = V(x_t);
    ``next_values`` = V(x_{t+1}) of the true successor; ``ends`` = the episode ended at t (terminated
    or truncated): no trace crosses it. Gradients flow through rewards and discounts (meta-gradients)
    but callers pass values without gradient.

        δ_t = ρ̄_t (r_t + γ_t V(x_{t+1}) − V(x_t)),      ρ̄_t = min(ρ̄, ρ_t), c_t = min(c̄, ρ_t)
        v_t − V(x_t) = δ_t + γ_t c_t (v_{t+1} − V(x_{t+1}))     (zero beyond an end or the rollout)
    """
    rhos = torch.exp(log_rhos)
    clipped_rhos = torch.clamp(rhos, max=rho_bar)
    cs = torch.clamp(rhos, max=c_bar)
    carry = (~ends).to(values.dtype)
    deltas = clipped_rhos * (rewards + discounts * next_values - values)
    corrections = []
    acc = torch.zeros_like(values[0])
    for t in reversed(range(values.shape[0])):
        acc = deltas[t] + discounts[t] * cs[t] * carry[t] * acc
        corrections.append(acc)
    vs = values + torch.stack(corrections[::-1])
    # v_{t+1} for the advantage: the next target inside the episode, V of the true successor beyond it
    cut = ends.clone()
    cut[-1] = True
    vs_next = torch.where(cut, next_values, torch.cat([vs[1:], next_values[-1:]], dim=0))
    pg_advantages = clipped_rhos * (rewards + discounts * vs_next - values)
    return vs, pg_advantages


def n_step_returns(rewards: torch.Tensor, discounts: torch.Tensor, bootstrap: torch.Tensor) -> torch.Tensor:
    """G_t = r_t + γ_t G_{t+1}, G_T = ``bootstrap``; time-major, any trailing shape (pixel-control
    cells). ``discounts`` must already be 0 where a return must not cross an episode end."""
    returns = []
    acc = bootstrap
    for t in reversed(range(rewards.shape[0])):
        acc = rewards[t] + discounts[t] * acc
        returns.append(acc)
    return torch.stack(returns[::-1])
