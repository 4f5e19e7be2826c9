"""Small pieces shared by PPO, SAC and TD3: action rescaling, initialisation, RNGs, target updates."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import nn


class ActionScale:
    """Maps policy actions in [-1, 1] to an environment's Box bounds and back.

    Policies act in [-1, 1] so that one set of hyperparameters (initial std, exploration noise,
    target entropy) means the same on every task; the harness passes actions to the env as given.
    """

    def __init__(self, space: Any):
        low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError(f"continuous actions need finite bounds, got low={low}, high={high}")
        self.low, self.high = low, high
        self.dtype = space.dtype
        self.half = (high - low) / 2.0
        self.mid = (high + low) / 2.0

    def to_env(self, action: np.ndarray) -> np.ndarray:
        return (self.mid + self.half * np.clip(action, -1.0, 1.0)).astype(self.dtype)

    def from_env(self, action: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(action, np.float64) - self.mid) / self.half, -1.0, 1.0).astype(np.float32)


class Rngs:
    """The agent's own random streams: a numpy Generator (sampling indices, warm-up actions) and a
    torch Generator (policy noise), so that a run restored from ``state_dict`` draws the same numbers."""

    def __init__(self, seed: int, device: torch.device):
        self.numpy = np.random.default_rng(seed)
        self.torch = torch.Generator(device=device).manual_seed(seed)

    def state_dict(self) -> dict[str, Any]:
        return {"numpy": self.numpy.bit_generator.state, "torch": self.torch.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.numpy.bit_generator.state = state["numpy"]
        self.torch.set_state(state["torch"])


def build_seeded(seed: int, build: Any) -> Any:
    """Call ``build()`` with torch's global RNG seeded, leaving the caller's RNG untouched:
    network initialisation depends on the agent's seed only."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def orthogonal_(layer: nn.Linear, gain: float = float(np.sqrt(2)), bias: float = 0.0) -> nn.Linear:
    """Orthogonal weights, constant bias: the initialisation the PPO implementations rely on."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.constant_(layer.bias, bias)
    return layer


@torch.no_grad()
def polyak_(target: Iterable[torch.Tensor], source: Iterable[torch.Tensor], tau: float) -> None:
    """target ← (1 − τ)·target + τ·source, in place (one fused call over all tensors)."""
    target, source = list(target), list(source)
    torch._foreach_lerp_(target, source, tau)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
