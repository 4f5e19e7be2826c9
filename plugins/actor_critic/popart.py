"""PopArt (van Hasselt et al. 2016; Hessel et al. 2018): a value head whose targets are normalized
by running statistics, with the last layer rescaled at every statistics update so that the
unnormalized outputs are preserved exactly ("Preserving Outputs Precisely, while Adaptively
Rescaling Targets"). One output and one (μ, ν) pair per task, so a run spanning several tasks with
rewards of very different scales gives each task the same share of the gradient.
"""

from __future__ import annotations

import torch
from torch import nn


class PopArt(nn.Module):
    """Linear value head with per-task normalization statistics.

    μ and ν (first and second moments of the targets) are exponential moving averages with step
    size β, bias-corrected as in Adam so the first batch already sets the scale; σ = sqrt(ν − μ²).
    """

    def __init__(self, in_dim: int, num_tasks: int = 1, beta: float = 3e-3, min_std: float = 1e-4,
                 max_std: float = 1e6):
        super().__init__()
        # float64: σ may reach 1e4 or more, and σ·n(x) + μ must still reproduce small values exactly
        self.linear = nn.Linear(in_dim, num_tasks, dtype=torch.float64)
        self.beta, self.min_std, self.max_std = beta, min_std, max_std
        self.register_buffer("raw_mu", torch.zeros(num_tasks, dtype=torch.float64))
        self.register_buffer("raw_nu", torch.zeros(num_tasks, dtype=torch.float64))
        self.register_buffer("updates", torch.zeros(num_tasks, dtype=torch.float64))

    # ----------------------------------------------------------------------------- statistics
    def statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Debiased (μ, σ) per task; (0, 1) for a task never updated."""
        correction = 1.0 - (1.0 - self.beta) ** self.updates
        seen = self.updates > 0
        mu = torch.where(seen, self.raw_mu / correction.clamp(min=1e-12), torch.zeros_like(self.raw_mu))
        nu = torch.where(seen, self.raw_nu / correction.clamp(min=1e-12), torch.ones_like(self.raw_nu))
        sigma = (nu - mu**2).clamp(min=self.min_std**2).sqrt().clamp(max=self.max_std)
        return mu, sigma

    @torch.no_grad()
    def update(self, targets: torch.Tensor, task: torch.Tensor) -> None:
        """Move the statistics of every task present towards its targets, then rescale the layer so
        that σ'·n'(x) + μ' = σ·n(x) + μ for every input x."""
        old_mu, old_sigma = self.statistics()
        targets = targets.detach().double().reshape(-1)
        task = task.reshape(-1)
        for k in torch.unique(task).tolist():
            chosen = targets[task == k]
            self.raw_mu[k] = (1 - self.beta) * self.raw_mu[k] + self.beta * chosen.mean()
            self.raw_nu[k] = (1 - self.beta) * self.raw_nu[k] + self.beta * (chosen**2).mean()
            self.updates[k] += 1
        new_mu, new_sigma = self.statistics()
        self.linear.weight.mul_((old_sigma / new_sigma)[:, None])
        self.linear.bias.copy_((old_sigma * self.linear.bias + old_mu - new_mu) / new_sigma)

    # -------------------------------------------------------------------------------- outputs
    def normalized(self, features: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """n(x) for each row's task: what the value loss trains."""
        return self._normalized64(features, task).to(features.dtype)

    def _normalized64(self, features: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        out = self.linear(features.double())
        return out.gather(-1, task.unsqueeze(-1)).squeeze(-1)

    def forward(self, features: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """The unnormalized value σ·n(x) + μ of each row's task."""
        mu, sigma = self.statistics()
        return (self._normalized64(features, task) * sigma[task] + mu[task]).to(features.dtype)

    def normalize(self, values: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        mu, sigma = self.statistics()
        return (values - mu[task].to(values.dtype)) / sigma[task].to(values.dtype)

    def scale(self, task: torch.Tensor) -> torch.Tensor:
        """σ of each row's task (advantages are divided by it)."""
        return self.statistics()[1][task]
