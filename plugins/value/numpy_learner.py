"""The value core's learning rule for MLP Q-networks on the CPU, fused into numpy.

Why: a CartPole-sized update (batch 128, a 120-84 MLP) is ~60 small tensor operations. On this
project's 2-core CPU each torch call costs ~8 µs before any arithmetic and a numpy call ~2 µs, so
the torch update (autograd, then Adam) takes ~2 ms where its arithmetic takes ~0.4 ms; the same update
written as explicit numpy forward and backward passes takes ~0.6 ms. For these networks the update is
most of a run's time, so this is most of the family's speed on vector observations.

It is not a second algorithm: :meth:`ValueAgent.learn` stays the reference, read top to bottom. This
class computes exactly that rule (the scalar TD loss, Huber or squared; C51's cross-entropy on the
categorical projection; QR-DQN's quantile Huber loss; double Q-learning, dueling aggregation, noisy
layers with the noise the agent drew, prioritized-replay weights and priorities, global-norm
clipping, then Adam) on numpy views that share memory with the torch parameters, buffers and the
torch optimizer's state. Checkpoints, target copies, evaluation and population-based training
therefore see every update without a copy, and the torch path can take over at any step.
``tests/test_value.py`` checks that both paths produce the same parameters, losses, optimizer state
and priorities over several updates for every supported combination.

:meth:`NumpyLearner.mirror` returns None where the shortcut does not apply (a GPU, a conv torso,
IQN heads, another activation or dtype); the agent then learns with torch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from plugins.value import learner_kernels
from plugins.value.networks import NoisyLinear, QNetwork, _as_list


class _Linear:
    """One Linear or NoisyLinear layer as numpy views: forward caches its input, backward returns the
    input's gradient and accumulates the parameters' gradients (in the module's parameter order)."""

    def __init__(self, module: nn.Module):
        self.noisy_module = module if isinstance(module, NoisyLinear) else None
        if self.noisy_module is not None:
            m = module
            self.params = [m.weight_mu, m.weight_sigma, m.bias_mu, m.bias_sigma]
            self.eps_in, self.eps_out = m.eps_in.numpy(), m.eps_out.numpy()
        else:
            self.params = [module.weight, module.bias]
        self.arrays = [p.detach().numpy() for p in self.params]
        self.weight, self.bias = self.arrays[0], self.arrays[-2 if self.noisy_module is not None else -1]
        self.noise = None

    def prepare(self) -> None:
        """Compose this update's weights (noisy layers: μ + σ ⊙ f(ε_out) f(ε_in)ᵀ, once per update)."""
        if self.noisy_module is None:
            return
        w_mu, w_sigma, b_mu, b_sigma = self.arrays
        if not self.noisy_module.noisy:
            self.weight, self.bias, self.noise = w_mu, b_mu, None
            return
        self.noise = np.outer(self.eps_out, self.eps_in)
        self.weight, self.bias = w_mu + w_sigma * self.noise, b_mu + b_sigma * self.eps_out

    def forward(self, x: np.ndarray, cache: list | None) -> np.ndarray:
        if cache is not None:
            cache.append(x)
        out = x @ self.weight.T
        out += self.bias
        return out

    def backward(self, grad_out: np.ndarray, x: np.ndarray, grads: list[np.ndarray],
                 need_input: bool) -> np.ndarray | None:
        grad_w = grad_out.T @ x
        grad_b = grad_out.sum(axis=0)
        if self.noisy_module is None:
            grads += [grad_w, grad_b]
        elif self.noise is None:  # noise switched off: σ gets no gradient
            grads += [grad_w, np.zeros_like(grad_w), grad_b, np.zeros_like(grad_b)]
        else:
            grads += [grad_w, grad_w * self.noise, grad_b, grad_b * self.eps_out]
        return grad_out @ self.weight if need_input else None


class _Chain:
    """Linear layers with ReLU between them (and after the last one for the torso)."""

    def __init__(self, layers: list[_Linear], relu_last: bool):
        self.layers, self.relu_last = layers, relu_last

    def forward(self, x: np.ndarray, tape: list | None) -> np.ndarray:
        for i, layer in enumerate(self.layers):
            x = layer.forward(x, tape)
            if self.relu_last or i < len(self.layers) - 1:
                np.maximum(x, 0.0, out=x)
                if tape is not None:
                    tape.append(x)
        return x

    def backward(self, grad: np.ndarray, tape: list, need_input: bool) -> tuple[np.ndarray | None, list[np.ndarray]]:
        """Pops this chain's entries off ``tape``; returns the input's gradient and the parameters'
        gradients in parameter order."""
        per_layer: list[list[np.ndarray]] = []
        for i in reversed(range(len(self.layers))):
            if self.relu_last or i < len(self.layers) - 1:
                grad = grad * (tape.pop() > 0)
            cached = tape.pop()
            layer_grads: list[np.ndarray] = []
            grad = self.layers[i].backward(grad, cached, layer_grads, need_input or i > 0)
            per_layer.append(layer_grads)
        return grad, [g for layer_grads in reversed(per_layer) for g in layer_grads]

    @property
    def params(self) -> list[torch.Tensor]:
        return [p for layer in self.layers for p in layer.params]

    def prepare(self) -> None:
        for layer in self.layers:
            layer.prepare()


def _chain(modules: list[nn.Module], relu_last: bool) -> _Chain | None:
    """Linear-ReLU-...-Linear[-ReLU] as a chain, or None for any other structure."""
    linears = modules[0::2]
    activations = modules[1::2]
    if relu_last != (len(modules) % 2 == 0) or any(type(m) is not nn.ReLU for m in activations):
        return None
    if any(not isinstance(m, (nn.Linear, NoisyLinear)) for m in linears):
        return None
    return _Chain([_Linear(m) for m in linears], relu_last)


class _NumpyQNet:
    """A :class:`QNetwork` (MLP torso, plain or dueling head, noisy or not) as numpy chains."""

    def __init__(self, net: QNetwork, torso: _Chain, advantage: _Chain, value: _Chain | None):
        self.net, self.torso, self.advantage, self.value = net, torso, advantage, value
        self.num_actions, self.atoms = net.num_actions, net.atoms

    @classmethod
    def of(cls, net: QNetwork) -> "_NumpyQNet | None":
        from harness.nets import MLP

        if net.iqn_embedding or not isinstance(net.torso, MLP):
            return None
        if any(p.device.type != "cpu" or p.dtype != torch.float32 for p in net.parameters()):
            return None
        torso = _chain(list(net.torso.net), relu_last=True)
        advantage = _chain(_as_list(net.advantage), relu_last=False)
        value = _chain(_as_list(net.value), relu_last=False) if net.value is not None else None
        if torso is None or advantage is None or (net.value is not None and value is None):
            return None
        chains = [torso, advantage] + ([value] if value else [])
        if [id(p) for c in chains for p in c.params] != [id(p) for p in net.parameters()]:
            return None  # parameters this mirror does not know about
        return cls(net, torso, advantage, value)

    def prepare(self) -> None:
        for chain in (self.torso, self.advantage, self.value):
            if chain is not None:
                chain.prepare()

    def forward(self, obs: np.ndarray, tape: list | None = None) -> np.ndarray:
        """(B, A, atoms); with a ``tape``, what :meth:`backward` needs is recorded on it."""
        batch = obs.shape[0]
        features = self.torso.forward(obs, tape)
        advantage = self.advantage.forward(features, tape).reshape(batch, self.num_actions, self.atoms)
        if self.value is None:
            return advantage
        value = self.value.forward(features, tape).reshape(batch, 1, self.atoms)
        return value + advantage - advantage.mean(axis=1, keepdims=True)

    def backward(self, grad_out: np.ndarray, tape: list) -> list[np.ndarray]:
        """Gradients of every parameter, in ``net.parameters()`` order, from d loss / d output."""
        batch = grad_out.shape[0]
        value_grads: list[np.ndarray] = []
        if self.value is not None:  # Q = V + A − mean A
            grad_features_v, value_grads = self.value.backward(grad_out.sum(axis=1).reshape(batch, -1), tape, True)
            grad_out = grad_out - grad_out.mean(axis=1, keepdims=True)
        grad_features, advantage_grads = self.advantage.backward(grad_out.reshape(batch, -1), tape, True)
        if self.value is not None:
            grad_features = grad_features + grad_features_v
        _, torso_grads = self.torso.backward(grad_features, tape, False)
        return torso_grads + advantage_grads + value_grads


class NumpyQ:
    """Scalar Q-values of an MLP :class:`QNetwork` for acting, computed by the learner's numpy forward.

    Why: acting needs one small forward pass per step, and for a CartPole-sized MLP torso most of its
    cost in torch is per-call overhead (~70 µs against ~17 µs in numpy for one row on this machine's
    CPU). The arrays share memory with the parameters, so every optimizer step and state load is
    seen at once; nothing is copied. :meth:`mirror` returns None where this does not apply (a GPU,
    noisy layers, distributional heads, IQN, a conv torso or another activation): the agent then acts
    with torch.
    """

    def __init__(self, net: _NumpyQNet):
        self.net = net

    @classmethod
    def mirror(cls, net: QNetwork) -> "NumpyQ | None":
        if net.atoms != 1 or net.noisy_layers:
            return None
        mirrored = _NumpyQNet.of(net)
        return cls(mirrored) if mirrored is not None else None

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        return self.net.forward(np.asarray(obs, dtype=np.float32))[..., 0]


class NumpyLearner:
    """One update of :meth:`ValueAgent.learn` for MLP Q-networks, in numpy (see the module docstring).

    Adam runs on one flat vector: the online parameters, and the optimizer's ``exp_avg`` and
    ``exp_avg_sq`` states, are views into three flat buffers, so a step is one compiled pass
    whatever the number of parameter tensors. The torch optimizer's state is those views (its step
    counts too), so its ``state_dict`` is always current; after it loads a state dict,
    :meth:`adopt_optimizer_state` copies the loaded state back into the flat buffers.
    """

    def __init__(self, online_net: QNetwork, target: _NumpyQNet, optimizer: torch.optim.Optimizer,
                 support: np.ndarray):
        self.params = list(online_net.parameters())
        self.optimizer, self.support, self.target = optimizer, support, target
        total = sum(p.numel() for p in self.params)
        self.flat = {name: torch.zeros(total) for name in ("param", "exp_avg", "exp_avg_sq")}
        self.slices = []
        start = 0
        for param in self.params:
            self.slices.append(slice(start, start + param.numel()))
            start += param.numel()
        with torch.no_grad():
            for param, part in zip(self.params, self.slices):
                self.flat["param"][part].copy_(param.view(-1))
                param.data = self.flat["param"][part].view_as(param)
        # one step count per parameter, as torch keeps them, but views of one array: one call a step
        self.steps = torch.zeros(len(self.params), dtype=torch.float32)
        self.adopt_optimizer_state()
        self.online = _NumpyQNet.of(online_net)  # views of the flat parameters
        self.arrays = {name: flat.numpy() for name, flat in self.flat.items()}
        self.steps_array = self.steps.numpy()
        self.grad = np.zeros(total, dtype=np.float32)

    @classmethod
    def mirror(cls, online_net: QNetwork, target_net: QNetwork, optimizer: torch.optim.Optimizer,
               distribution: str, support: torch.Tensor) -> "NumpyLearner | None":
        """The learner for these networks, or None where it does not apply. Call it before taking any
        other numpy view of the online parameters: it moves them into one flat buffer."""
        if distribution not in ("scalar", "c51", "qr") or not isinstance(optimizer, torch.optim.Adam):
            return None
        group = optimizer.param_groups[0]
        if (len(optimizer.param_groups) != 1 or group["weight_decay"] or group["amsgrad"] or group["maximize"]
                or isinstance(group["lr"], torch.Tensor)):
            return None
        target = _NumpyQNet.of(target_net)
        if _NumpyQNet.of(online_net) is None or target is None:
            return None
        return cls(online_net, target, optimizer, support.cpu().numpy())

    def adopt_optimizer_state(self) -> None:
        """Point the optimizer's state at the flat buffers, taking over any values it holds."""
        with torch.no_grad():
            for i, (param, part) in enumerate(zip(self.params, self.slices)):
                state = self.optimizer.state[param]
                for name in ("exp_avg", "exp_avg_sq"):
                    view = self.flat[name][part].view_as(param)
                    if name in state and state[name].data_ptr() != view.data_ptr():
                        view.copy_(state[name])
                    elif name not in state:
                        view.zero_()
                    state[name] = view
                step = self.steps[i]
                if "step" in state and state["step"].data_ptr() != step.data_ptr():
                    step.copy_(state["step"])
                state["step"] = step

    def update(self, batch: Any, cfg: Any, prioritized: bool) -> tuple[float, np.ndarray]:
        """One gradient step on ``batch``; returns the (weighted) mean loss and the per-sample losses."""
        self.online.prepare()
        self.target.prepare()
        obs = np.asarray(batch.obs, dtype=np.float32)
        next_obs = np.asarray(batch.next_obs, dtype=np.float32)
        rows = np.arange(obs.shape[0])
        action = batch.action.astype(np.int64)
        reward, discount = batch.reward.astype(np.float32), batch.discount.astype(np.float32)
        target_out = self.target.forward(next_obs)
        online_next = self.online.forward(next_obs) if cfg.double else None
        tape: list = []
        online = self.online.forward(obs, tape)
        loss_fn = {"scalar": self._scalar_loss, "c51": self._c51_loss, "qr": self._qr_loss}[cfg.distribution]
        per_sample, grad_chosen = loss_fn(online[rows, action], online_next, target_out, rows, reward, discount, cfg)
        weights = batch.weights.astype(np.float32) if prioritized else np.ones_like(per_sample)
        grad_out = np.zeros_like(online)
        grad_out[rows, action] = grad_chosen * (weights / per_sample.shape[0])[:, None]
        for part, grad in zip(self.slices, self.online.backward(grad_out, tape)):
            self.grad[part] = grad.ravel()
        if cfg.max_grad_norm > 0:
            coef = min(cfg.max_grad_norm / (math.sqrt(float(np.dot(self.grad, self.grad))) + 1e-6), 1.0)
            self.grad *= np.float32(coef)
        self._adam()
        return float((per_sample * weights).mean()), per_sample.astype(np.float32)

    # Each loss returns per-sample losses and their gradient w.r.t. the chosen action's outputs (B, atoms).
    @staticmethod
    def _scalar_loss(chosen, online_next, target_out, rows, reward, discount, cfg):
        next_q = target_out[..., 0]
        best = (online_next[..., 0] if online_next is not None else next_q).argmax(axis=1)
        td = chosen[:, 0] - (reward + discount * next_q[rows, best])
        if cfg.loss == "huber":
            abs_td = np.abs(td)
            return np.where(abs_td < 1.0, 0.5 * td * td, abs_td - 0.5), np.clip(td, -1.0, 1.0)[:, None]
        return td * td, 2.0 * td[:, None]

    def _c51_loss(self, logits, online_next, target_out, rows, reward, discount, cfg):
        """Cross-entropy against the projected target distribution; d/dz = softmax(z)·Σt − t."""
        chooser = online_next if online_next is not None else target_out
        return learner_kernels.c51_loss(np.ascontiguousarray(logits), chooser, target_out, reward, discount,
                                        self.support)

    @staticmethod
    def _qr_loss(quantiles, online_next, target_out, rows, reward, discount, cfg):
        """Quantile Huber loss (sum over the N online quantiles, mean over the M targets)."""
        best = (online_next if online_next is not None else target_out).mean(axis=-1).argmax(axis=1)
        target = reward[:, None] + discount[:, None] * target_out[rows, best]
        return learner_kernels.quantile_huber_loss(np.ascontiguousarray(quantiles), target, float(cfg.kappa))

    def _adam(self) -> None:
        """torch.optim.Adam's step (the same formula) on the flat buffers, in one compiled pass."""
        group = self.optimizer.param_groups[0]
        beta1, beta2 = group["betas"]
        self.steps_array += 1
        learner_kernels.adam(self.arrays["param"], self.grad, self.arrays["exp_avg"], self.arrays["exp_avg_sq"],
                             float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
                             float(self.steps_array[0]))
