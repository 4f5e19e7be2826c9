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

    def reset_noise(self, generator: torch.Generator | None) -> None:
        """Fresh factorized noise f(ε) for every noisy layer, drawn and transformed in place in the
        shared buffer (per-layer calls were most of the cost of noise for small networks)."""
        if not self.noisy_layers:
            return
        with torch.no_grad():
            torch.randn(self.noise.shape, generator=generator, device=self.noise.device, out=self.noise)
            sign = self.noise.sign()
            self.noise.abs_().sqrt_().mul_(sign)

    def set_noisy(self, noisy: bool) -> None:
        for layer in self.noisy_layers:
            layer.noisy = noisy


class NumpyQ:
    """Scalar Q-values of an MLP :class:`QNetwork` computed in numpy from views of its parameters.

    Why: acting needs one small forward pass per step, and for a CartPole-sized MLP torso most of its
    cost in torch is per-call overhead (~70 µs against ~17 µs in numpy for one row on this machine's
    CPU). The arrays share memory with the parameters, so every optimizer step and state load is
    seen at once; nothing is copied. :meth:`mirror` returns None where this does not apply (a GPU,
    noisy layers, distributional heads, IQN, a conv torso or another activation): the agent then acts
    with torch.
    """

    def __init__(self, torso: list[tuple[np.ndarray, np.ndarray]], advantage: list[tuple[np.ndarray, np.ndarray]],
                 value: list[tuple[np.ndarray, np.ndarray]] | None):
        self.torso, self.advantage, self.value = torso, advantage, value

    @staticmethod
    def _linears(layers: list[nn.Module]) -> list[tuple[np.ndarray, np.ndarray]] | None:
        """(Wᵀ, b) views of Linear-ReLU-...-Linear layers, or None for any other structure."""
        views = []
        for i, layer in enumerate(layers):
            expected = nn.Linear if i % 2 == 0 else nn.ReLU
            if type(layer) is not expected:
                return None
            if expected is nn.Linear:
                views.append((layer.weight.detach().numpy().T, layer.bias.detach().numpy()))
        return views

    @classmethod
    def mirror(cls, net: "QNetwork") -> "NumpyQ | None":
        from harness.nets import MLP

        params = list(net.parameters())
        if (net.atoms != 1 or net.noisy_layers or net.iqn_embedding or not isinstance(net.torso, MLP)
                or any(p.device.type != "cpu" or p.dtype != torch.float32 for p in params)):
            return None
        torso_layers = list(net.torso.net)
        if len(torso_layers) % 2 or any(type(m) is not nn.ReLU for m in torso_layers[1::2]):
            return None  # another activation
        torso = cls._linears(torso_layers[:-1])
        advantage = cls._linears(_as_list(net.advantage))
        value = cls._linears(_as_list(net.value)) if net.value is not None else None
        if torso is None or advantage is None or (net.value is not None and value is None):
            return None
        return cls(torso, advantage, value)

    @staticmethod
    def _forward(x: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]], relu_last: bool) -> np.ndarray:
        for i, (weight_t, bias) in enumerate(layers):
            x = x @ weight_t
            x += bias
            if relu_last or i < len(layers) - 1:
                np.maximum(x, 0.0, out=x)
        return x

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        features = self._forward(np.asarray(obs, dtype=np.float32), self.torso, relu_last=True)
        advantage = self._forward(features, self.advantage, relu_last=False)
        if self.value is None:
            return advantage
        return self._forward(features, self.value, relu_last=False) + advantage - advantage.mean(axis=1, keepdims=True)


def _as_list(module: nn.Module) -> list[nn.Module]:
    return list(module) if isinstance(module, nn.Sequential) else [module]
