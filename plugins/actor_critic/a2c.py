"""Synchronous advantage actor-critic (Mnih et al. 2016, A2C) with an LSTM core as in UNREAL.

Each of the harness's vectorized environments contributes ``rollout_length`` steps; then one
gradient step on the whole (T, B) batch. The LSTM is fed the last action and reward, its state is
carried across rollouts and reset at episode ends, and learning unrolls it from the state stored at
the rollout's start. Steps truncated by a time limit bootstrap from V of their true final observation.
This agent is the base the other actor-critic plugins extend.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch

from harness.plugin import Agent, Algorithm, EnvSpec, Transition
from plugins.actor_critic.core import RecurrentActorCritic, log_prob_of
from plugins.actor_critic.losses import LossOutput, LossWeights, actor_critic_loss
from plugins.actor_critic.rollout import ActingState, Batch, Rollout, as_tensor


@dataclass
class A2CConfig:
    lr: float = 1e-3
    adam_eps: float = 1e-5
    rollout_length: int = 20  # T
    gamma: float = 0.99
    entropy_cost: float = 0.01
    value_cost: float = 0.5
    max_grad_norm: float = 0.5
    hidden: tuple[int, ...] = (64,)  # MLP torso for vector observations (frames use the UNREAL conv torso)
    lstm_size: int = 128
    popart: bool = False  # PopArt-normalized value targets
    popart_beta: float = 3e-3
    greedy_evaluation: bool = False  # evaluate the argmax action instead of sampling the policy


HYPERPARAMETERS = ("lr", "entropy_cost")  # what set_hyperparameters (PBT) may change mid-run


def build_seeded(seed: int, build: Any) -> Any:
    """Build with torch's global RNG seeded, leaving the caller's RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


class A2CAgent(Agent):
    def __init__(self, spec: EnvSpec, config: A2CConfig, seed: int, fabric: Any):
        self.spec, self.config, self.seed = spec, config, seed
        self.device = fabric.device if fabric is not None else torch.device("cpu")
        self.num_actions = int(spec.action_space.n)
        self.net = build_seeded(seed, lambda: self.build_network()).to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr, eps=config.adam_eps)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.acting = ActingState.fresh(spec.num_envs, config.lstm_size, self.device)
        self.rollout = Rollout(self.acting)
        self.updates = 0
        self.evaluating: ActingState | None = None
        self.eval_generator: torch.Generator | None = None
        self.evaluations = 0

    def build_network(self) -> RecurrentActorCritic:
        c = self.config
        return RecurrentActorCritic(self.spec.observation_space, self.num_actions, c.hidden, c.lstm_size,
                                    popart_tasks=1 if c.popart else 0, popart_beta=c.popart_beta)

    def weights(self) -> LossWeights:
        return LossWeights(self.config.value_cost, self.config.entropy_cost)

    def head_gamma(self) -> torch.Tensor | None:
        """The discount the heads are conditioned on (only metagrad's are)."""
        return None

    # ---------------------------------------------------------------------------------- acting
    @torch.no_grad()
    def policy_step(self, obs: torch.Tensor, state: ActingState, sample: bool,
                    generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One LSTM step for a batch: advances ``state.core`` and returns (action, log π(action))."""
        core, state.core = self.net.step(obs, state.prev_action, state.prev_reward, state.core.masked(~state.first))
        logits = self.net.policy_logits(core, self.head_gamma())
        if sample:
            action = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)
        else:
            action = logits.argmax(-1)
        return action, log_prob_of(logits, action)

    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        obs_t = as_tensor(obs, self.device)
        if self.evaluating is not None:
            sample = explore or not self.config.greedy_evaluation
            action, _ = self.policy_step(obs_t, self.evaluating, sample, self.eval_generator)
            return action.cpu().numpy()
        action, log_prob = self.policy_step(obs_t, self.acting, True, self.generator)
        self.rollout.record_act(obs_t, self.acting, action, log_prob)  # reads only the inputs, not the core
        return action.cpu().numpy()

    def observe(self, transition: Transition) -> Mapping[str, float] | None:
        reward = as_tensor(transition.reward, self.device, torch.float32)
        terminated = as_tensor(transition.terminated, self.device, torch.bool)
        truncated = as_tensor(transition.truncated, self.device, torch.bool)
        self.rollout.record_observe(reward, terminated, truncated, as_tensor(transition.next_obs, self.device))
        self.acting.advance(self.rollout.steps[-1]["action"], reward, terminated | truncated)
        if len(self.rollout) < self.config.rollout_length:
            return None
        batch = self.rollout.batch()
        self.rollout = Rollout(self.acting)
        return self.learn(batch)

    # -------------------------------------------------------------------------------- learning
    def learn(self, batch: Batch) -> dict[str, float]:
        out = self.net(batch, self.head_gamma())
        losses = actor_critic_loss(out, batch, self.config.gamma, self.weights(), self.net.popart)
        loss = losses.loss + self.auxiliary_loss(batch, out)
        self.optimizer.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.updates += 1
        return self.metrics(losses, grad_norm)

    def auxiliary_loss(self, batch: Batch, out: Any) -> torch.Tensor | float:
        """Extra losses on the same update (UNREAL's auxiliary tasks); none for plain A2C."""
        return 0.0

    def metrics(self, losses: LossOutput, grad_norm: torch.Tensor) -> dict[str, float]:
        found = {"loss": losses.loss.item(), "policy_loss": losses.policy_loss.item(),
                 "value_loss": losses.value_loss.item(), "entropy": losses.entropy.item(),
                 "grad_norm": float(grad_norm)}
        if self.net.popart is not None:
            mu, sigma = self.net.popart.statistics()
            found.update(popart_mu=float(mu[0]), popart_sigma=float(sigma[0]))
        return found

    # ------------------------------------------------------------------------------ evaluation
    def begin_evaluation(self, num_envs: int) -> None:
        self.evaluating = ActingState.fresh(num_envs, self.config.lstm_size, self.device)
        self.eval_generator = torch.Generator(device=self.device).manual_seed(self.seed * 7919 + self.evaluations)
        self.evaluations += 1

    def evaluation_step(self, action: np.ndarray, reward: np.ndarray, done: np.ndarray) -> None:
        assert self.evaluating is not None
        done_t = as_tensor(done, self.device, torch.bool)
        taken = as_tensor(action, self.device, torch.long)  # ε may have replaced the agent's own
        self.evaluating.advance(taken, as_tensor(reward, self.device, torch.float32), done_t)

    def end_evaluation(self) -> None:
        self.evaluating, self.eval_generator = None, None

    # ------------------------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(), "acting": self.acting.state_dict(),
                "rollout": self.rollout.state_dict(), "updates": self.updates, "evaluations": self.evaluations,
                "config": dataclasses.asdict(self.config)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.acting = ActingState.from_state_dict(state["acting"])
        self.rollout.load_state_dict(state["rollout"])
        self.updates, self.evaluations = state["updates"], state["evaluations"]
        self.set_hyperparameters({k: state["config"][k] for k in HYPERPARAMETERS})

    def set_hyperparameters(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            if key not in HYPERPARAMETERS:
                raise ValueError(f"{type(self).__name__}: {key!r} cannot change mid-run; allowed: {', '.join(HYPERPARAMETERS)}")
            setattr(self.config, key, float(value))
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr


SEARCH_SPACE = {"lr": ("log_float", 1e-4, 3e-3), "entropy_cost": ("log_float", 1e-4, 5e-2),
                "gamma": ("float", 0.95, 0.999)}

# the maze learning tests' settings (docs/maze.md): without PopArt the policy stays uniform on the mazes
LABYRINTH_PRESET = {"lr": 1e-3, "rollout_length": 20, "max_grad_norm": 40.0, "entropy_cost": 0.01, "popart": True}

a2c = Algorithm(
    name="a2c",
    summary="Synchronous advantage actor-critic with an LSTM core fed last action and reward (Mnih et al. 2016); PopArt switch",
    config=A2CConfig,
    make_agent=A2CAgent,
    observations=("vector", "image"),
    actions=("discrete",),
    presets={"labyrinth": LABYRINTH_PRESET},
    search_space=SEARCH_SPACE,
)
