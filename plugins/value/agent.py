"""The value-based core: one agent whose parts are config switches (Rainbow is all of them at once).

Parts: replay (uniform / prioritized), returns (n-step), head (plain / dueling, noisy or not,
scalar / C51 / QR / IQN), target (double or not). The learning rule is :meth:`ValueAgent.learn`,
read top to bottom; the per-head targets and losses are the short ``_*_loss`` methods under it.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import numpy as np
import torch

from harness.nets import multiply_adds, torso_for
from harness.plugin import Agent, EnvSpec, PluginError, Transition, coerce
from harness.replay import Batch, PrioritizedReplayBuffer, ReplayBuffer
from harness.side_thread import side_thread
from plugins.value.losses import categorical_projection, quantile_huber_loss, td_loss
from plugins.value.networks import QNetwork
from plugins.value.numpy_learner import NumpyLearner, NumpyQ


@dataclass
class ValueConfig:
    """Every hyperparameter of the family. Step counts are environment steps summed over the
    vectorized environments, so a setting means the same thing with 1 or 16 environments."""

    # optimisation
    lr: float = 6.25e-5
    adam_eps: float = 1.5e-4
    batch_size: int = 32
    gamma: float = 0.99
    loss: Literal["huber", "mse"] = "huber"
    max_grad_norm: float = 0.0  # 0: no clipping
    # schedule
    buffer_size: int = 1_000_000
    learning_starts: int = 20_000
    train_every: int = 4  # one update per this many env steps (the replay ratio)
    target_update_every: int = 8_000
    tau: float = 1.0  # 1: hard target copies; < 1: Polyak averaging at each target update
    eps_start: float = 1.0
    eps_end: float = 0.01
    eps_decay_steps: int = 250_000
    eps_decay_start: int = 0
    # network
    hidden: tuple[int, ...] = (128, 128)  # MLP torso widths (vector observations)
    head_hidden: int = 0  # a hidden layer in each head stream (noisy when noisy=true)
    frame_stack: int = 0  # 0: auto (large uint8 images are stacks of their channels)
    # parts
    double: bool = False
    dueling: bool = False
    noisy: bool = False
    noisy_sigma0: float = 0.5
    prioritized: bool = False
    priority_alpha: float = 0.5
    priority_beta: float = 0.4  # annealed linearly to 1 over priority_beta_steps
    priority_beta_steps: int = 10_000_000
    priority_eps: float = 1e-6
    n_step: int = 1
    distribution: Literal["scalar", "c51", "qr", "iqn"] = "scalar"
    num_atoms: int = 51  # C51
    v_min: float = -10.0
    v_max: float = 10.0
    num_quantiles: int = 200  # QR-DQN
    kappa: float = 1.0  # QR-DQN and IQN
    iqn_tau_samples: int = 64  # N
    iqn_target_samples: int = 64  # N'
    iqn_act_samples: int = 32  # K
    iqn_embedding: int = 64
    # implementation
    numpy_update: bool = True  # MLP torsos on the CPU: the same update fused in numpy (plugins/value/numpy_learner.py)
    concurrent_passes: bool = True  # CPU: the passes over s' run on a second core beside the online pass over s


# a pass over s' this big (~2 ms on one core here) goes to the side thread: see _side_passes_pay
SIDE_PASS_MIN_MULTIPLY_ADDS = 50_000_000

# hyperparameters that population-based training may change mid-run
MUTABLE = ("lr", "adam_eps", "gamma", "batch_size", "train_every", "target_update_every", "tau", "eps_end",
           "eps_decay_steps", "max_grad_norm", "priority_beta", "priority_beta_steps", "kappa", "loss")


def auto_frame_stack(space: Any) -> int:
    """Atari-like frames (uint8, larger than MinAtar's 10x10) are stacks of their channels."""
    shape = tuple(space.shape)
    if len(shape) == 3 and np.dtype(space.dtype) == np.uint8 and min(shape[1:]) > 16:
        return shape[0]
    return 1


class ValueAgent(Agent):
    def __init__(self, spec: EnvSpec, config: ValueConfig, seed: int, fabric: Any = None):
        self.cfg = config
        self.device = torch.device(fabric.device) if fabric is not None else torch.device("cpu")
        self.num_envs = spec.num_envs
        self.num_actions = int(spec.action_space.n)
        self.np_rng = np.random.default_rng(seed)
        self.torch_rng = torch.Generator(device=self.device)
        self.torch_rng.manual_seed(seed)
        atoms = {"scalar": 1, "c51": config.num_atoms, "qr": config.num_quantiles, "iqn": 1}[config.distribution]
        with torch.random.fork_rng(devices=[]):  # initialisation depends on the seed only
            torch.manual_seed(seed)
            self.online = QNetwork(torso_for(spec.observation_space, config.hidden), self.num_actions, atoms,
                                   config.dueling, config.noisy, config.noisy_sigma0, config.head_hidden,
                                   config.iqn_embedding if config.distribution == "iqn" else 0).to(self.device)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        try:  # the fused kernel is one call per step instead of ~10 small ops per parameter
            self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.lr, eps=config.adam_eps, fused=True)
        except (RuntimeError, ValueError):
            self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.lr, eps=config.adam_eps)
        self.support = torch.linspace(config.v_min, config.v_max, config.num_atoms, device=self.device)
        self.numpy_learner = (NumpyLearner.mirror(self.online, self.target, self.optimizer, config.distribution,
                                                  self.support) if config.numpy_update else None)
        self.numpy_q = NumpyQ.mirror(self.online)  # fast CPU acting for MLP scalar heads, else None
        self._side_passes = side_thread() if self._side_passes_pay(spec) else None
        self.qr_taus = (torch.arange(config.num_quantiles, device=self.device) + 0.5) / config.num_quantiles
        self.act_taus = ((torch.arange(config.iqn_act_samples, device=self.device) + 0.5) / config.iqn_act_samples)
        frame_stack = config.frame_stack or auto_frame_stack(spec.observation_space)
        replay_cls = PrioritizedReplayBuffer if config.prioritized else ReplayBuffer
        extra = {"alpha": config.priority_alpha, "eps": config.priority_eps} if config.prioritized else {}
        self.replay = replay_cls(config.buffer_size, spec.num_envs, spec.observation_space.shape,
                                 spec.observation_space.dtype, (), np.int64, frame_stack, config.n_step, **extra)
        self.steps = 0  # env steps observed
        self.updates = 0
        self.train_credit = 0  # env steps since learning started, not yet spent on updates
        self.target_credit = 0

    def _side_passes_pay(self, spec: EnvSpec) -> bool:
        """Whether the passes over s' should run on the side thread: on the CPU, for the torch update,
        and where a pass is big enough (Atari's Nature CNN: ~300M multiply-adds for a batch of 32) that
        the hand-over (~0.1 ms) is small beside it; for MinAtar's CNN (~5M) it saved 5% of wall time
        for 15% more CPU time."""
        cfg = self.cfg
        if not cfg.concurrent_passes or self.numpy_learner is not None or self.device.type != "cpu":
            return False
        if cfg.distribution == "iqn":  # its τ draws share one generator with the online pass
            return False
        example = torch.zeros((1, *spec.observation_space.shape), dtype=torch.float32)
        return multiply_adds(self.online, example) * cfg.batch_size >= SIDE_PASS_MIN_MULTIPLY_ADDS

    # ---------------------------------------------------------------------------------- acting
    def epsilon(self) -> float:
        cfg = self.cfg
        if cfg.noisy:
            return 0.0  # noisy nets explore through their weights
        frac = min(max((self.steps - cfg.eps_decay_start) / max(cfg.eps_decay_steps, 1), 0.0), 1.0)
        return cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)

    def q_values(self, net: QNetwork, obs: torch.Tensor, taus: torch.Tensor | None = None) -> torch.Tensor:
        """Expected Q per action, (B, A), whatever the head."""
        kind = self.cfg.distribution
        if kind == "iqn":
            taus = self.act_taus.expand(obs.shape[0], -1) if taus is None else taus
            return net(obs, taus).mean(dim=1)[..., 0]
        return self._expected_q(net(obs))

    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        n = obs.shape[0]
        if explore:
            eps = self.epsilon()
            random_mask = self.np_rng.random(n) < eps
            random_action = self.np_rng.integers(self.num_actions, size=n)
            if random_mask.all():
                return random_action
            if self.cfg.noisy:  # fresh noise for every acting step (Fortunato et al.)
                self.online.reset_noise(self._noise_rng())
        if self.numpy_q is not None:
            greedy = self.numpy_q.q_values(obs).argmax(axis=1)
            return greedy if not explore else np.where(random_mask, random_action, greedy)
        with torch.inference_mode():
            if not explore:
                self.online.set_noisy(False)
            greedy = self.q_values(self.online, torch.as_tensor(obs, device=self.device)).argmax(dim=1).cpu().numpy()
            if not explore:
                self.online.set_noisy(True)
                return greedy
        return np.where(random_mask, random_action, greedy)

    # -------------------------------------------------------------------------------- learning
    def observe(self, t: Transition) -> Mapping[str, float] | None:
        self.replay.add(t.obs, t.action, t.reward, t.next_obs, t.terminated, t.truncated)
        self.steps += self.num_envs
        self.target_credit += self.num_envs
        if self.steps < self.cfg.learning_starts or len(self.replay) == 0:
            return None
        self.train_credit += self.num_envs
        metrics = None
        while self.train_credit >= self.cfg.train_every:
            self.train_credit -= self.cfg.train_every
            metrics = self.learn()
        if self.target_credit >= self.cfg.target_update_every:
            self.target_credit %= self.cfg.target_update_every
            self.sync_target()
        return metrics

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).to(self.device, non_blocking=True)

    def learn(self) -> dict[str, float]:
        cfg = self.cfg
        beta = min(1.0, cfg.priority_beta + (1.0 - cfg.priority_beta) * self.steps / max(cfg.priority_beta_steps, 1))
        batch = self.replay.sample(cfg.batch_size, self.np_rng, cfg.gamma, beta)
        if cfg.noisy and self.numpy_learner is not None:  # the same draws, without torch calls
            self.numpy_learner.reset_noise(self.np_rng)
        elif cfg.noisy:  # independent noise for the online and the target network at every update
            self.online.reset_noise(self._noise_rng())
            self.target.reset_noise(self._noise_rng())
        if self.numpy_learner is not None:  # the same rule, fused in numpy for MLPs on the CPU
            loss, per_sample = self.numpy_learner.update(batch, cfg, self.replay.prioritized)
        else:
            loss, per_sample = self._torch_update(batch)
        if self.replay.prioritized:  # proportional priorities: |TD error| or the distributional loss
            self.replay.update_priorities(batch.index, per_sample)
        self.updates += 1
        return {"loss": loss}

    def _noise_rng(self) -> np.random.Generator | torch.Generator:
        """Noisy layers' generator: numpy's on the CPU (cheaper calls; checkpointed with the replay's
        draws), the device's torch generator elsewhere."""
        return self.np_rng if self.device.type == "cpu" else self.torch_rng

    def _torch_update(self, batch: Batch) -> tuple[float, np.ndarray | None]:
        """Loss, gradient step and clipping; returns the loss and the per-sample losses."""
        cfg = self.cfg
        obs, next_obs = self._tensor(batch.obs), self._tensor(batch.next_obs)
        action = self._tensor(batch.action)
        reward, discount = self._tensor(batch.reward), self._tensor(batch.discount)
        if cfg.distribution == "iqn":  # its passes sample their own τ
            per_sample = self._iqn_loss(obs, action, reward, next_obs, discount)
        else:  # the passes over s' need no gradient and may run beside the online pass over s
            side = self._side_passes.submit(self._next_state_outputs, next_obs) if self._side_passes else None
            online = self.online(obs)
            target_next, online_next = side.result() if side else self._next_state_outputs(next_obs)
            loss_fn = {"scalar": self._scalar_loss, "c51": self._c51_loss, "qr": self._qr_loss}
            per_sample = loss_fn[cfg.distribution](online, online_next, target_next, action, reward, discount)
        loss = (per_sample * self._tensor(batch.weights)).mean() if self.replay.prioritized else per_sample.mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.online.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        per_sample_np = per_sample.detach().cpu().numpy() if self.replay.prioritized else None
        return loss.item(), per_sample_np

    @torch.no_grad()
    def _next_state_outputs(self, next_obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The target network on s' and, for double Q-learning, the online network on s'. A pass of
        its own, not joined to the online pass over s: backward through a joint pass would also run
        over the s' half (zero gradients)."""
        return self.target(next_obs), (self.online(next_obs) if self.cfg.double else None)

    def _expected_q(self, out: torch.Tensor) -> torch.Tensor:
        """Expected Q per action, (B, A), from a head's output (scalar, C51 logits or quantiles)."""
        if self.cfg.distribution == "c51":
            return (out.softmax(dim=-1) * self.support).sum(dim=-1)
        if self.cfg.distribution == "scalar":
            return out[..., 0]
        return out.mean(dim=-1)  # the quantiles' mean

    def _greedy_next(self, online_next: torch.Tensor | None, target_q: torch.Tensor) -> torch.Tensor:
        """a* = argmax Q(s'): the online network picks it for double Q-learning, else the target."""
        if online_next is not None:
            return self._expected_q(online_next).argmax(dim=1)
        return target_q.argmax(dim=1)

    def _scalar_loss(self, online, online_next, target_next, action, reward, discount) -> torch.Tensor:
        with torch.no_grad():
            next_q = target_next[..., 0]
            best = self._greedy_next(online_next, next_q)
            target = reward + discount * next_q.gather(1, best.unsqueeze(1)).squeeze(1)
        q = online[..., 0].gather(1, action.unsqueeze(1)).squeeze(1)
        return td_loss(q, target, self.cfg.loss)

    def _c51_loss(self, online, online_next, target_next, action, reward, discount) -> torch.Tensor:
        rows = torch.arange(online.shape[0], device=self.device)
        with torch.no_grad():
            next_probs = target_next.softmax(dim=-1)
            best = self._greedy_next(online_next, (next_probs * self.support).sum(dim=-1))  # E[Z(s', a)]
            target = categorical_projection(next_probs[rows, best], reward, discount, self.support)
        log_probs = online[rows, action].log_softmax(dim=-1)
        return -(target * log_probs).sum(dim=-1)

    def _qr_loss(self, online, online_next, target_next, action, reward, discount) -> torch.Tensor:
        rows = torch.arange(online.shape[0], device=self.device)
        with torch.no_grad():
            next_quantiles = target_next
            best = self._greedy_next(online_next, next_quantiles.mean(dim=-1))
            target = reward.unsqueeze(1) + discount.unsqueeze(1) * next_quantiles[rows, best]
        quantiles = online[rows, action]
        return quantile_huber_loss(quantiles, self.qr_taus, target, self.cfg.kappa)

    def _iqn_loss(self, obs, action, reward, next_obs, discount) -> torch.Tensor:
        cfg, batch = self.cfg, obs.shape[0]
        rows = torch.arange(batch, device=self.device)
        with torch.no_grad():
            select_taus = torch.rand(batch, cfg.iqn_act_samples, generator=self.torch_rng, device=self.device)
            target_taus = torch.rand(batch, cfg.iqn_target_samples, generator=self.torch_rng, device=self.device)
            selector = self.online if cfg.double else self.target  # double: the online net picks a*
            best = self.q_values(selector, next_obs, select_taus).argmax(dim=1)
            next_samples = self.target(next_obs, target_taus)[..., 0]  # (B, N', A)
            target = reward.unsqueeze(1) + discount.unsqueeze(1) * next_samples[rows, :, best]
        taus = torch.rand(batch, cfg.iqn_tau_samples, generator=self.torch_rng, device=self.device)
        samples = self.online(obs, taus)[..., 0][rows, :, action]  # (B, N)
        return quantile_huber_loss(samples, taus, target, cfg.kappa)

    def sync_target(self) -> None:
        with torch.no_grad():
            if self.cfg.tau >= 1.0:
                self.target.load_state_dict(self.online.state_dict())
            else:
                for target, online in zip(self.target.parameters(), self.online.parameters()):
                    target.lerp_(online, self.cfg.tau)

    # ----------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return copy.deepcopy({
            "config": dataclasses.asdict(self.cfg), "online": self.online.state_dict(),
            "target": self.target.state_dict(), "optimizer": self.optimizer.state_dict(),
            "replay": self.replay.state_dict(), "np_rng": self.np_rng.bit_generator.state,
            "torch_rng": self.torch_rng.get_state(),
            "counters": {"steps": self.steps, "updates": self.updates, "train_credit": self.train_credit,
                         "target_credit": self.target_credit},
        })

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.set_hyperparameters({k: state["config"][k] for k in MUTABLE})
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.numpy_learner is not None:
            self.numpy_learner.adopt_optimizer_state()
        self.replay.load_state_dict(state["replay"])
        self.np_rng.bit_generator.state = state["np_rng"]
        self.torch_rng.set_state(state["torch_rng"])
        for key, value in state["counters"].items():
            setattr(self, key, value)

    def set_hyperparameters(self, values: Mapping[str, Any]) -> None:
        hints = typing.get_type_hints(ValueConfig)
        changes = {}
        for key, value in values.items():
            if key not in MUTABLE:
                raise PluginError(f"hyperparameter {key!r} cannot change mid-run; mutable: {', '.join(MUTABLE)}")
            changes[key] = coerce(value, hints[key], f"hyperparameter {key!r}")
        self.cfg = dataclasses.replace(self.cfg, **changes)
        for group in self.optimizer.param_groups:
            group["lr"], group["eps"] = self.cfg.lr, self.cfg.adam_eps


def make_agent(spec: EnvSpec, config: ValueConfig, seed: int, fabric: Any) -> ValueAgent:
    return ValueAgent(spec, config, seed, fabric)
