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
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from plugins.value import learner_kernels
from plugins.value.networks import NoisyLinear, QNetwork, _as_list, draw_factorized_noise


class _Part(NamedTuple):
    """One module of a :class:`_Linear`: its parameters as numpy views, its output rows in the stacked
    weights and, for a noisy layer, the module (its ``noisy`` switch) and views of its ε_in, ε_out."""

    arrays: list[np.ndarray]
    rows: slice
    noisy: NoisyLinear | None = None
    eps_in: np.ndarray | None = None
    eps_out: np.ndarray | None = None


class _Linear:
    """Linear or NoisyLinear layers that read the same input, stacked by output rows (the first layers
    of a dueling head's two streams: one matrix product instead of two), as numpy views.

    ``forward`` caches its input; ``backward`` writes the parameters' gradients into the views bound by
    :meth:`bind_grads` and returns the input's gradient."""

    def __init__(self, modules: list[nn.Module]):
        self.parts: list[_Part] = []
        self.params: list[torch.Tensor] = []
        rows = 0
        for module in modules:
            span = slice(rows, rows + module.out_features)
            rows += module.out_features
            if isinstance(module, NoisyLinear):
                params = [module.weight_mu, module.weight_sigma, module.bias_mu, module.bias_sigma]
                part = _Part([p.detach().numpy() for p in params], span, module, module.eps_in.numpy(),
                             module.eps_out.numpy())
            else:
                params = [module.weight, module.bias]
                part = _Part([p.detach().numpy() for p in params], span)
            self.params += params
            self.parts.append(part)
        self.composed = len(modules) > 1 or self.parts[0].noisy is not None
        if self.composed:  # this update's weights, composed by prepare()
            self.weight = np.empty((rows, modules[0].in_features), dtype=np.float32)
            self.bias = np.empty(rows, dtype=np.float32)
        else:
            self.weight, self.bias = self.parts[0].arrays
        self.grads: list[np.ndarray] = []

    def bind_grads(self, views: dict[int, np.ndarray]) -> None:
        self.grads = [views[id(p)] for p in self.params]

    def prepare(self) -> None:
        """Compose this update's weights: noisy layers μ + σ ⊙ f(ε_out) f(ε_in)ᵀ, stacked ones copied in."""
        if not self.composed:
            return
        for part in self.parts:
            rows = part.rows
            if part.noisy is not None and part.noisy.noisy:
                learner_kernels.noisy_layer(*part.arrays, part.eps_out, part.eps_in, self.weight[rows],
                                            self.bias[rows])
            else:  # plain, or noise switched off: the (mean) weights
                self.weight[rows] = part.arrays[0]
                self.bias[rows] = part.arrays[-2 if part.noisy is not None else -1]

    def forward(self, x: np.ndarray, cache: list | None) -> np.ndarray:
        if cache is not None:
            cache.append(x)
        out = x @ self.weight.T
        out += self.bias
        return out

    def backward(self, grad_out: np.ndarray, x: np.ndarray, need_input: bool) -> np.ndarray | None:
        """``x`` may hold more rows than ``grad_out`` (a joint pass over s and s'): its first rows are used."""
        x = x[:grad_out.shape[0]]
        if not self.composed:  # straight into the gradient buffer
            np.matmul(grad_out.T, x, out=self.grads[0])
            np.add.reduce(grad_out, axis=0, out=self.grads[1])
        else:
            self.write_grads(grad_out.T @ x, np.add.reduce(grad_out, axis=0))
        return grad_out @ self.weight if need_input else None

    def write_grads(self, grad_w: np.ndarray, grad_b: np.ndarray) -> None:
        """The parameters' gradients from the composed (stacked, noisy) weight's and bias's."""
        grads = iter(self.grads)
        for part in self.parts:
            part_w, part_b = grad_w[part.rows], grad_b[part.rows]
            if part.noisy is None:
                weight_grad, bias_grad = next(grads), next(grads)
                weight_grad[...], bias_grad[...] = part_w, part_b
                continue
            mu_w, sigma_w, mu_b, sigma_b = next(grads), next(grads), next(grads), next(grads)
            if part.noisy.noisy:
                learner_kernels.noisy_layer_grads(part_w, part_b, part.eps_out, part.eps_in, mu_w, sigma_w,
                                                  mu_b, sigma_b)
            else:  # noise switched off: σ gets no gradient
                mu_w[...], mu_b[...] = part_w, part_b
                sigma_w[...], sigma_b[...] = 0.0, 0.0


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

    def backward(self, grad: np.ndarray, tape: list, need_input: bool) -> np.ndarray | None:
        """Pops this chain's entries off ``tape`` and writes the parameters' gradients; returns the
        input's gradient."""
        rows = grad.shape[0]
        for i in reversed(range(len(self.layers))):
            if self.relu_last or i < len(self.layers) - 1:
                grad = grad * (tape.pop()[:rows] > 0)
            grad = self.layers[i].backward(grad, tape.pop(), need_input or i > 0)
        return grad

    def prepare(self) -> None:
        for layer in self.layers:
            layer.prepare()


def _chain(modules: list[nn.Module], relu_last: bool) -> list[nn.Module] | None:
    """The linear layers of Linear-ReLU-...-Linear[-ReLU], or None for any other structure."""
    linears = modules[0::2]
    activations = modules[1::2]
    if relu_last != (len(modules) % 2 == 0) or any(type(m) is not nn.ReLU for m in activations):
        return None
    if any(not isinstance(m, (nn.Linear, NoisyLinear)) for m in linears):
        return None
    return linears


class _NumpyQNet:
    """A :class:`QNetwork` (MLP torso, plain or dueling head, noisy or not) as numpy layers.

    The head's first layers (of the advantage stream and, when dueling, of the value stream) read the
    same features, so they are one stacked layer; the streams' second layers, if any, follow it. A
    dueling head of one layer is folded: its aggregation, linear in the stacked layer's outputs, is
    applied to that layer's weights once per update (:func:`learner_kernels.fold_dueling`), so each
    pass computes Q with an A·K-wide product, a third narrower for two actions, and no aggregation
    over the batch."""

    def __init__(self, net: QNetwork, torso: _Chain, head_in: _Linear, head_out: list[_Linear]):
        self.net, self.torso, self.head_in, self.head_out = net, torso, head_in, head_out
        self.num_actions, self.atoms, self.dueling = net.num_actions, net.atoms, net.value is not None
        self.layers = torso.layers + [head_in] + head_out
        self.folded = self.dueling and not head_out
        if self.folded:  # the Q layer's weights and bias, from the stacked ones at each prepare()
            self.q_weight = np.empty((self.num_actions * self.atoms, head_in.weight.shape[1]), dtype=np.float32)
            self.q_bias = np.empty(self.num_actions * self.atoms, dtype=np.float32)
        # a folded head of two noisy layers (Rainbow's): composed and folded in one pass, and its
        # gradients unfolded straight into the μ and σ gradients
        self.noisy_fold = self.folded and all(part.noisy is not None for part in head_in.parts)

    @classmethod
    def of(cls, net: QNetwork) -> "_NumpyQNet | None":
        from harness.nets import MLP

        if net.iqn_embedding or not isinstance(net.torso, MLP):
            return None
        if any(p.device.type != "cpu" or p.dtype != torch.float32 for p in net.parameters()):
            return None
        torso = _chain(list(net.torso.net), relu_last=True)
        streams = [_chain(_as_list(net.advantage), relu_last=False)]
        if net.value is not None:
            streams.append(_chain(_as_list(net.value), relu_last=False))
        if torso is None or any(s is None or len(s) != len(streams[0]) or len(s) > 2 for s in streams):
            return None
        head_in = _Linear([s[0] for s in streams])
        head_out = [_Linear([s[1]]) for s in streams if len(s) == 2]
        mirrored = cls(net, _Chain([_Linear([m]) for m in torso], relu_last=True), head_in, head_out)
        known = [id(p) for layer in mirrored.layers for p in layer.params]
        if sorted(known) != sorted(id(p) for p in net.parameters()) or len(set(known)) != len(known):
            return None  # parameters this mirror does not know about
        return mirrored

    def _noise_on(self) -> bool:
        return self.noisy_fold and all(part.noisy.noisy for part in self.head_in.parts)

    def prepare(self) -> None:
        if self._noise_on():
            self.torso.prepare()
            advantage, value = self.head_in.parts
            learner_kernels.fold_noisy_dueling(*advantage.arrays, advantage.eps_out, advantage.eps_in, *value.arrays,
                                               value.eps_out, value.eps_in, self.num_actions, self.atoms,
                                               self.q_weight, self.q_bias)
            return
        for layer in self.layers:
            layer.prepare()
        if self.folded:
            learner_kernels.fold_dueling(self.head_in.weight, self.head_in.bias, self.num_actions, self.atoms,
                                         self.q_weight, self.q_bias)

    def bind_grads(self, views: dict[int, np.ndarray]) -> None:
        for layer in self.layers:
            layer.bind_grads(views)

    def forward(self, obs: np.ndarray, tape: list | None = None) -> np.ndarray:
        """(B, A, atoms); with a ``tape``, what :meth:`backward` needs is recorded on it."""
        batch = obs.shape[0]
        features = self.torso.forward(obs, tape)
        if self.folded:
            if tape is not None:
                tape.append(features)
            q = features @ self.q_weight.T
            q += self.q_bias
            return q.reshape(batch, self.num_actions, self.atoms)
        head = self.head_in.forward(features, tape)
        # the advantage stream's output, then the value stream's: (array, first column) each
        streams = [(head, part.rows.start) for part in self.head_in.parts]
        if self.head_out:
            np.maximum(head, 0.0, out=head)
            if tape is not None:
                tape.append(head)
            streams = [(layer.forward(head[:, part.rows], tape), 0)
                       for layer, part in zip(self.head_out, self.head_in.parts)]
        if not self.dueling:
            return streams[0][0].reshape(batch, self.num_actions, self.atoms)
        (advantage, advantage_column), (value, value_column) = streams
        return learner_kernels.dueling_combine(advantage, advantage_column, value, value_column, self.num_actions,
                                               self.atoms)

    def backward(self, grad_out: np.ndarray, tape: list) -> None:
        """Writes every parameter's gradient from d loss / d output (its rows: the first rows of the
        recorded pass)."""
        batch, width = grad_out.shape[0], self.num_actions * self.atoms
        if self.folded:  # the Q layer's gradients, then the stacked layer's through the fold
            grad_q = grad_out.reshape(batch, width)
            features = tape.pop()[:batch]
            grad_weight, grad_bias = grad_q.T @ features, np.add.reduce(grad_q, axis=0)
            if self._noise_on():
                advantage, value = self.head_in.parts
                learner_kernels.unfold_noisy_dueling_grads(grad_weight, grad_bias, self.num_actions, self.atoms,
                                                           advantage.eps_out, advantage.eps_in, *self.head_in.grads[:4],
                                                           value.eps_out, value.eps_in, *self.head_in.grads[4:])
            else:
                self.head_in.write_grads(*learner_kernels.unfold_dueling_grads(grad_weight, grad_bias,
                                                                               self.num_actions, self.atoms))
            self.torso.backward(grad_q @ self.q_weight, tape, False)
            return
        if self.dueling:  # Q = V + A − mean A; d loss / d (the advantage outputs, then the value outputs)
            grad_head = learner_kernels.dueling_backward(np.ascontiguousarray(grad_out))
        else:
            grad_head = grad_out.reshape(batch, -1)
        if self.head_out:
            inputs = tape[-len(self.head_out):]
            del tape[-len(self.head_out):]
            streams = [grad_head[:, :width], grad_head[:, width:]]  # advantage, value
            grads = [layer.backward(g, x, True) for layer, g, x in zip(self.head_out, streams, inputs)]
            grad_head = np.concatenate(grads, axis=1) * (tape.pop()[:batch] > 0)
        grad_features = self.head_in.backward(grad_head, tape.pop(), True)
        self.torso.backward(grad_features, tape, False)


class NumpyQ:
    """Scalar Q-values of an MLP :class:`QNetwork` for acting, computed by the learner's numpy forward.

    Why: acting needs one small forward pass per step, and for a CartPole-sized MLP torso most of its
    cost in torch is per-call overhead (~70 µs against ~17 µs in numpy for one row on this machine's
    CPU). The arrays share memory with the parameters, so every optimizer step and state load is
    seen at once; only a dueling head's stacked first layers are copied, at each call. :meth:`mirror`
    returns None where this does not apply (a GPU, noisy layers, distributional heads, IQN, a conv
    torso or another activation): the agent then acts with torch.
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
        self.net.prepare()  # a dueling head's stacked weights, from the parameters as they are now
        return self.net.forward(np.asarray(obs, dtype=np.float32))[..., 0]


class NumpyLearner:
    """One update of :meth:`ValueAgent.learn` for MLP Q-networks, in numpy (see the module docstring).

    Adam runs on one flat vector: the online parameters, and the optimizer's ``exp_avg`` and
    ``exp_avg_sq`` states, are views into three flat buffers, so a step is one compiled pass
    whatever the number of parameter tensors. The torch optimizer's state is those views (its step
    counts too), so its ``state_dict`` is always current; after it loads a state dict,
    :meth:`adopt_optimizer_state` copies the loaded state back into the flat buffers.
    """

    def __init__(self, online_net: QNetwork, target_net: QNetwork, optimizer: torch.optim.Optimizer,
                 support: np.ndarray):
        self.params = list(online_net.parameters())
        self.noise = self._join_noise(online_net, target_net)
        self.optimizer, self.support = optimizer, support
        self.target = _NumpyQNet.of(target_net)  # after the noise moved: it holds views of ε
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
        self.grad = np.zeros(total, dtype=np.float32)  # the backward pass writes into views of it
        self.online.bind_grads({id(param): self.grad[part].reshape(param.shape)
                                for param, part in zip(self.params, self.slices)})

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
        if _NumpyQNet.of(online_net) is None or _NumpyQNet.of(target_net) is None:
            return None
        return cls(online_net, target_net, optimizer, support.cpu().numpy())

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

    @staticmethod
    def _join_noise(online_net: QNetwork, target_net: QNetwork) -> np.ndarray | None:
        """Move both networks' noise buffers, online then target, into one array and return it:
        fresh noise for an update is then one draw and one transform (four calls took 17 µs of a
        Rainbow CartPole update). The buffers stay registered; their values are kept."""
        if not online_net.noisy_layers:
            return None
        joint = torch.cat([online_net.noise, target_net.noise])
        start = 0
        for net in (online_net, target_net):
            net.noise = joint[start:start + net.noise.numel()]
            net._share_noise()
            start += net.noise.numel()
        return joint.numpy()

    def reset_noise(self, generator: np.random.Generator) -> None:
        """:meth:`QNetwork.reset_noise` for the online, then the target network (the same draws)."""
        draw_factorized_noise(generator, self.noise)

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
        tape: list = []
        if cfg.double:  # one online pass over s and s' together; the backward pass uses the s rows
            online = self.online.forward(np.concatenate([obs, next_obs]), tape)
            online_next = online[len(obs):]
        else:
            online, online_next = self.online.forward(obs, tape), None
        loss_fn = {"scalar": self._scalar_loss, "c51": self._c51_loss, "qr": self._qr_loss}[cfg.distribution]
        per_sample, grad_chosen = loss_fn(online, online_next, target_out, rows, action, reward, discount, cfg)
        weights = batch.weights.astype(np.float32, copy=False) if prioritized else np.ones_like(per_sample)
        grad_out, loss = learner_kernels.chosen_action_grad(grad_chosen, action, weights, per_sample,
                                                            online.shape[1])
        self.online.backward(grad_out, tape)
        coef = 1.0  # global-norm clipping, applied inside the Adam pass
        if cfg.max_grad_norm > 0:
            coef = min(cfg.max_grad_norm / (math.sqrt(float(np.dot(self.grad, self.grad))) + 1e-6), 1.0)
        self._adam(coef)
        return loss, per_sample.astype(np.float32, copy=False)

    # Each loss takes the online pass's outputs (its first B rows are s; with double Q-learning the
    # rest, ``online_next``, are s') and returns per-sample losses and their gradient w.r.t. the chosen
    # action's outputs (B, atoms).
    @staticmethod
    def _scalar_loss(online, online_next, target_out, rows, action, reward, discount, cfg):
        next_q = target_out[..., 0]
        best = (online_next[..., 0] if online_next is not None else next_q).argmax(axis=1)
        td = online[rows, action, 0] - (reward + discount * next_q[rows, best])
        if cfg.loss == "huber":
            abs_td = np.abs(td)
            return np.where(abs_td < 1.0, 0.5 * td * td, abs_td - 0.5), np.clip(td, -1.0, 1.0)[:, None]
        return td * td, 2.0 * td[:, None]

    def _c51_loss(self, online, online_next, target_out, rows, action, reward, discount, cfg):
        """Cross-entropy against the projected target distribution; d/dz = softmax(z)·Σt − t."""
        return learner_kernels.c51_loss(online, target_out, action, reward, discount, self.support,
                                        online_next is not None)

    @staticmethod
    def _qr_loss(online, online_next, target_out, rows, action, reward, discount, cfg):
        """Quantile Huber loss (sum over the N online quantiles, mean over the M targets)."""
        best = (online_next if online_next is not None else target_out).mean(axis=-1).argmax(axis=1)
        target = reward[:, None] + discount[:, None] * target_out[rows, best]
        return learner_kernels.quantile_huber_loss(online[rows, action], target, float(cfg.kappa))

    def _adam(self, grad_scale: float) -> None:
        """torch.optim.Adam's step (the same formula) on the flat buffers, in one compiled pass, on the
        gradient times ``grad_scale``."""
        group = self.optimizer.param_groups[0]
        beta1, beta2 = group["betas"]
        self.steps_array += 1
        learner_kernels.adam(self.arrays["param"], self.grad, self.arrays["exp_avg"], self.arrays["exp_avg_sq"],
                             float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
                             float(self.steps_array[0]), grad_scale)
