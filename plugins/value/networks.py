"""Q-networks of the value family: a harness torso, then a head chosen by config switches.

The head's output is always shaped ``(batch, [samples,] actions, atoms)``: one atom for a scalar Q,
51 probabilities' logits for C51, N quantiles for QR-DQN, and for IQN a sample axis of τ values.
Dueling and noisy layers change only how the head is built, never the shapes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from plugins.value import learner_kernels


class NoisyLinear(nn.Module):
    """Factorized Gaussian noisy layer (Fortunato et al. 2018): w = μ_w + σ_w ⊙ f(ε_out) f(ε_in)ᵀ,
    f(x) = sgn(x)√|x|, σ initialised to σ0/√fan_in. ``reset_noise`` draws fresh ε from a generator;
    ``noisy=False`` (evaluation) uses the mean weights."""

    def __init__(self, in_features: int, out_features: int, sigma0: float = 0.5):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.weight_sigma = nn.Parameter(torch.full((out_features, in_features), sigma0 * bound))
        self.bias_mu = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        self.bias_sigma = nn.Parameter(torch.full((out_features,), sigma0 * bound))
        self.register_buffer("eps_in", torch.zeros(in_features))
        self.register_buffer("eps_out", torch.zeros(out_features))
        self.noisy = True

    @staticmethod
    def _f(x: torch.Tensor) -> torch.Tensor:
        return x.sign() * x.abs().sqrt()

    def reset_noise(self, generator: torch.Generator | None = None) -> None:
        normal = torch.randn(self.in_features + self.out_features, generator=generator, device=self.eps_in.device)
        self.set_noise(self._f(normal))

    def set_noise(self, noise: torch.Tensor) -> None:
        """ε_in then ε_out, already transformed by f (``in_features + out_features`` values)."""
        with torch.no_grad():
            self.eps_in.copy_(noise[:self.in_features])
            self.eps_out.copy_(noise[self.in_features:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.noisy:
            return F.linear(x, self.weight_mu, self.bias_mu)
        weight = self.weight_mu + self.weight_sigma * torch.outer(self.eps_out, self.eps_in)
        return F.linear(x, weight, self.bias_mu + self.bias_sigma * self.eps_out)


def _layer(in_dim: int, out_dim: int, noisy: bool, sigma0: float) -> nn.Module:
    return NoisyLinear(in_dim, out_dim, sigma0) if noisy else nn.Linear(in_dim, out_dim)


def _stream(in_dim: int, hidden: int, out_dim: int, noisy: bool, sigma0: float) -> nn.Module:
    if hidden <= 0:
        return _layer(in_dim, out_dim, noisy, sigma0)
    return nn.Sequential(_layer(in_dim, hidden, noisy, sigma0), nn.ReLU(), _layer(hidden, out_dim, noisy, sigma0))


def dueling_combine(value: torch.Tensor, advantage: torch.Tensor) -> torch.Tensor:
    """Q = V + A − mean_a A (Wang et al. 2016, eq. 9); actions on axis -2, atoms on axis -1."""
    return value + advantage - advantage.mean(dim=-2, keepdim=True)


class QNetwork(nn.Module):
    """torso → [IQN τ-embedding] → plain or dueling head of (noisy) layers → (B, [S,] A, atoms)."""

    def __init__(self, torso: nn.Module, num_actions: int, atoms: int = 1, dueling: bool = False,
                 noisy: bool = False, sigma0: float = 0.5, head_hidden: int = 0, iqn_embedding: int = 0):
        super().__init__()
        self.torso = torso
        self.num_actions, self.atoms, self.dueling = num_actions, atoms, dueling
        features = torso.out_dim
        self.iqn_embedding = iqn_embedding
        if iqn_embedding:
            self.register_buffer("cos_index", torch.arange(iqn_embedding, dtype=torch.float32) * math.pi)
            self.tau_embed = nn.Sequential(nn.Linear(iqn_embedding, features), nn.ReLU())
        self.advantage = _stream(features, head_hidden, num_actions * atoms, noisy, sigma0)
        self.value = _stream(features, head_hidden, atoms, noisy, sigma0) if dueling else None
        self.noisy_layers = [m for m in self.modules() if isinstance(m, NoisyLinear)]
        # every noisy layer's ε_in and ε_out are views into one buffer, so fresh noise is a few calls
        self.register_buffer("noise", torch.zeros(sum(m.in_features + m.out_features for m in self.noisy_layers)))
        self._share_noise()

    def _share_noise(self) -> None:
        sizes = [n for layer in self.noisy_layers for n in (layer.in_features, layer.out_features)]
        views = iter(self.noise.split(sizes))
        for layer in self.noisy_layers:
            layer.eps_in, layer.eps_out = next(views), next(views)

    def _apply(self, fn: Any, recurse: bool = True) -> "QNetwork":
        """Moving or casting replaces each buffer on its own: make the layers' ε views again."""
        super()._apply(fn, recurse)
        self._share_noise()
        return self

    def forward(self, obs: torch.Tensor, taus: torch.Tensor | None = None) -> torch.Tensor:
        x = self.torso(obs)
        if taus is not None:  # IQN: φ(x) ⊙ ReLU(W cos(π i τ)) for each of S sampled τ: (B, S, features)
            x = x.unsqueeze(1) * self.tau_embed(torch.cos(taus.unsqueeze(-1) * self.cos_index))
        lead = x.shape[:-1]
        advantage = self.advantage(x).view(*lead, self.num_actions, self.atoms)
        if self.value is None:
            return advantage
        return dueling_combine(self.value(x).view(*lead, 1, self.atoms), advantage)

    def reset_noise(self, generator: torch.Generator | np.random.Generator | None) -> None:
        """Fresh factorized noise f(ε) for every noisy layer, drawn and transformed in place in the
        shared buffer (per-layer calls were most of the cost of noise for small networks). A numpy
        generator (for a buffer on the CPU) draws with numpy: a fraction of torch's call cost at
        this size, which inside a CartPole Rainbow update was 40 µs of ~0.9 ms."""
        if not self.noisy_layers:
            return
        noise = self.noise  # a buffer: no autograd history to avoid
        if isinstance(generator, np.random.Generator):
            draw_factorized_noise(generator, noise.numpy())
            return
        torch.randn(noise.shape, generator=generator, device=noise.device, out=noise)
        if noise.device.type == "cpu":
            learner_kernels.factorize(noise.numpy())
        else:
            sign = noise.sign()
            noise.abs_().sqrt_().mul_(sign)

    def set_noisy(self, noisy: bool) -> None:
        for layer in self.noisy_layers:
            layer.noisy = noisy


def draw_factorized_noise(generator: np.random.Generator, noise: np.ndarray) -> None:
    """Fresh f(ε) = sgn(ε)√|ε|, ε ~ N(0, 1), in place in a float32 array (a noise buffer's view);
    ε by the inverse normal CDF of uniform draws (:func:`learner_kernels.normal_from_uniform`, 2.2x
    faster than the generator's own normals at this size)."""
    generator.random(out=noise, dtype=np.float32)
    learner_kernels.normal_from_uniform(noise)
    learner_kernels.factorize(noise)


def _as_list(module: nn.Module) -> list[nn.Module]:
    return list(module) if isinstance(module, nn.Sequential) else [module]
