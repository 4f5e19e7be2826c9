"""Meta-gradient learning of the discount γ (Xu, van Hasselt & Silver 2018).

The policy and value heads are conditioned on γ. Each update of θ with the current γ is an
RMSProp step on the actor-critic loss L(τ, θ, γ):

    θ' = θ − α · clip · ∇θ L(τ, θ, γ) / (sqrt(ν') + ε)

At the next update, on fresh data τ', the meta-objective J(τ', θ', γ̄) — the same loss with a fixed
reference discount γ̄, the heads conditioned on γ̄, no entropy term — is differentiated through that
update: dJ/dγ = ∂J/∂θ' · dθ'/dγ, where dθ'/dγ = −α clip ∂²L/∂θ∂γ / (sqrt(ν') + ε). The RMSProp
statistics ν' and the gradient-clipping factor are treated as constants (as the paper treats its
optimizer's state), and no trace over earlier updates is kept (the paper's μ = 0). γ = sigmoid(η);
η takes Adam steps on dJ/dη. The recomputed update is bitwise the one applied, so the meta-step
needs only the previous batch, parameters and ν', which are part of the agent's state.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

import torch
from torch.func import functional_call

from harness.plugin import Algorithm, EnvSpec, PluginError
from plugins.actor_critic.a2c import A2CAgent, A2CConfig, SEARCH_SPACE
from plugins.actor_critic.core import CoreState, RecurrentActorCritic
from plugins.actor_critic.losses import LossWeights, actor_critic_loss
from plugins.actor_critic.rollout import Batch

Params = dict[str, torch.Tensor]


@dataclass
class MetaGradConfig(A2CConfig):
    gamma: float = 0.95  # the initial discount; learned from here
    reference_gamma: float = 0.995  # γ̄ of the meta-objective
    meta_lr: float = 0.02  # Adam step size on η = logit(γ)
    rms_decay: float = 0.99
    rms_eps: float = 1e-5
    gamma_embedding: int = 16


def rmsprop_step(params: Params, grads: list[torch.Tensor], square_avg: Params, lr: float, eps: float,
                 clip: torch.Tensor | float) -> Params:
    """θ − α · clip · g / (sqrt(ν') + ε), differentiable in g (ν' and clip are constants)."""
    return {name: p - lr * clip * g / (square_avg[name].sqrt() + eps)
            for (name, p), g in zip(params.items(), grads)}


def meta_objective(net: RecurrentActorCritic, params: Params, square_avg: Params, batch: Batch, fresh: Batch,
                   gamma: torch.Tensor, config: MetaGradConfig, frozen_at: torch.Tensor | None = None) -> torch.Tensor:
    """J(τ', θ'(γ), γ̄) with θ' = the RMSProp update of ``params`` on ``batch`` with discount ``gamma``.

    As in any TD loss, targets are constants to the gradient: the inner targets bootstrap from
    values whose dependence on γ is not differentiated, and J's targets from θ' likewise. The
    meta-gradient is therefore the derivative of J with those quantities held at their current
    values; ``frozen_at`` evaluates them at another discount, which makes that function explicit
    (for a finite-difference check). None: at ``gamma`` itself.
    """
    def update(gamma: torch.Tensor, differentiable: bool) -> Params:
        leaves = {name: p.detach().requires_grad_(True) for name, p in params.items()}
        out = functional_call(net, leaves, (batch, gamma))
        targets_from = None
        if frozen_at is not None:
            with torch.no_grad():
                targets_from = functional_call(net, leaves, (batch, frozen_at))
        inner = actor_critic_loss(out, batch, gamma, LossWeights(config.value_cost, config.entropy_cost),
                                  targets_from=targets_from).loss
        grads = torch.autograd.grad(inner, list(leaves.values()), create_graph=differentiable)
        clip = clip_factor([g.detach() for g in grads], config.max_grad_norm)
        stepped = rmsprop_step(leaves, list(grads), square_avg, config.lr, config.rms_eps, clip)
        return stepped if differentiable else {n: p.detach() for n, p in stepped.items()}

    updated = update(gamma, differentiable=True)
    reference = torch.tensor(config.reference_gamma, dtype=gamma.dtype)
    outer = functional_call(net, updated, (fresh, reference))
    targets_from = None
    if frozen_at is not None:
        frozen = update(frozen_at, differentiable=False)
        with torch.no_grad():
            targets_from = functional_call(net, frozen, (fresh, reference))
    return actor_critic_loss(outer, fresh, reference, LossWeights(config.value_cost, entropy_cost=0.0),
                             targets_from=targets_from).loss


def clip_factor(grads: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    return (max_norm / (norm + 1e-6)).clamp(max=1.0)


class MetaGradAgent(A2CAgent):
    config: MetaGradConfig

    def __init__(self, spec: EnvSpec, config: MetaGradConfig, seed: int, fabric: Any):
        if config.popart:
            raise PluginError("metagrad: popart is not supported together with meta-gradients")
        super().__init__(spec, config, seed, fabric)
        self.eta = torch.logit(torch.tensor(config.gamma, dtype=torch.float64)).to(self.device).requires_grad_(True)
        self.meta_optimizer = torch.optim.Adam([self.eta], lr=config.meta_lr)
        self.square_avg: Params = {n: torch.zeros_like(p) for n, p in self.net.named_parameters()}
        self.previous: dict[str, Any] | None = None  # the last update: its batch, θ before it, ν'

    def build_network(self) -> RecurrentActorCritic:
        c = self.config
        return RecurrentActorCritic(self.spec.observation_space, self.num_actions, c.hidden, c.lstm_size,
                                    gamma_embedding=c.gamma_embedding)

    @property
    def gamma(self) -> torch.Tensor:
        return torch.sigmoid(self.eta).float()

    def head_gamma(self) -> torch.Tensor:
        return self.gamma.detach()

    def learn(self, batch: Batch) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if self.previous is not None:  # adjust γ through the previous update, on this fresh batch
            objective = meta_objective(self.net, self.previous["params"], self.previous["square_avg"],
                                       self.previous["batch"], batch, self.gamma, self.config)
            self.meta_optimizer.zero_grad()
            objective.backward(inputs=[self.eta])
            metrics.update(meta_objective=objective.item(), meta_gradient=float(self.eta.grad))
            self.meta_optimizer.step()
        # the update of θ with the current γ (the one the next meta-step differentiates through)
        gamma = self.head_gamma()
        params = {n: p.detach().clone() for n, p in self.net.named_parameters()}
        out = self.net(batch, gamma)
        losses = actor_critic_loss(out, batch, gamma, self.weights())
        grads = torch.autograd.grad(losses.loss, list(self.net.parameters()))
        clip = clip_factor(list(grads), self.config.max_grad_norm)
        rho = self.config.rms_decay
        with torch.no_grad():
            for (name, _), g in zip(params.items(), grads):
                self.square_avg[name].mul_(rho).addcmul_(g, g, value=1 - rho)
            updated = rmsprop_step(params, list(grads), self.square_avg, self.config.lr, self.config.rms_eps, clip)
            for name, p in self.net.named_parameters():
                p.copy_(updated[name])
        self.previous = {"batch": batch, "params": params,
                         "square_avg": {n: v.clone() for n, v in self.square_avg.items()}}
        self.updates += 1
        metrics.update(self.metrics(losses, torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        metrics["gamma"] = float(self.gamma.detach())
        return metrics

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        previous = None
        if self.previous is not None:
            previous = {**self.previous, "batch": batch_state(self.previous["batch"])}
        state.update(eta=self.eta.detach().clone(), meta_optimizer=self.meta_optimizer.state_dict(),
                     square_avg=self.square_avg, previous=previous)
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        with torch.no_grad():
            self.eta.copy_(state["eta"])
        self.meta_optimizer.load_state_dict(state["meta_optimizer"])
        self.square_avg = {n: v.clone() for n, v in state["square_avg"].items()}
        previous = state["previous"]
        self.previous = None if previous is None else {**previous, "batch": batch_from_state(previous["batch"])}


def batch_state(batch: Batch) -> dict[str, torch.Tensor]:
    found = {f.name: getattr(batch, f.name) for f in fields(Batch) if f.name != "start_state"}
    return {**found, "h": batch.start_state.h, "c": batch.start_state.c}


def batch_from_state(state: Mapping[str, torch.Tensor]) -> Batch:
    values = {k: v for k, v in state.items() if k not in ("h", "c")}
    return Batch(**values, start_state=CoreState(state["h"], state["c"]))


metagrad = Algorithm(
    name="metagrad",
    summary="Actor-critic that learns its discount γ by meta-gradients through its own update (Xu et al. 2018)",
    config=MetaGradConfig,
    make_agent=MetaGradAgent,
    observations=("vector", "image"),
    actions=("discrete",),
    presets={"labyrinth": {"lstm_size": 256, "lr": 3e-4, "max_grad_norm": 40.0, "entropy_cost": 0.005}},
    search_space={k: v for k, v in SEARCH_SPACE.items() if k != "gamma"} | {"meta_lr": ("log_float", 1e-3, 1e-1)},
)
