"""IMPALA (Espeholt et al. 2018) within the harness's contract: acting decoupled from learning.

The learner is the agent the harness drives. Each learner update consumes one batch made of

- the rollout of the harness's own vectorized environments (acted with the learner's current
  policy, so nearly on-policy), and
- up to ``max_actor_trajectories`` trajectories that ``num_actors`` actor processes produced in
  their own copies of the environment with a possibly stale policy (``actors.py``),

and corrects for the policy lag with V-trace (ρ̄ = c̄ = 1), with an optional PopArt value head. Only
the first update after the actors start waits for them (actors load torch and build environments,
which on a busy machine can take longer than a short run); after that the learner never waits, so
the harness's loop runs at a2c's speed and every actor adds frames on top: throughput grows with
the number of actors until the learner saturates. The budget counts the harness's environment
steps; actor frames are logged as ``actor_frames``.

With ``num_actors = 0`` the agent is a V-trace learner on the harness's environments only, and a
restored run continues exactly. With actors, trajectories in flight are not part of a checkpoint
(actors restart from the restored parameters), so a resumed run is statistically, not bitwise, the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch

from harness.envs import EnvRef, infer_family
from harness.plugin import Algorithm, EnvSpec
from plugins.actor_critic.a2c import A2CAgent, A2CConfig, SEARCH_SPACE
from plugins.actor_critic.actors import ActorPool, ActorSetup
from plugins.actor_critic.losses import LossWeights, actor_critic_loss
from plugins.actor_critic.rollout import Batch


@dataclass
class ImpalaConfig(A2CConfig):
    num_actors: int = 2
    envs_per_actor: int = 4
    max_actor_trajectories: int = 4  # actor trajectories per learner update, at most
    queue_slots: int = 0  # trajectory slots; 0: max_actor_trajectories + num_actors (see queue_size)
    rho_bar: float = 1.0
    c_bar: float = 1.0
    actor_start_timeout: float = 300.0  # seconds the first update waits for the actors' first trajectory
    actor_env: str = ""  # another environment id (default options) for the actors; default: the task's environment


class ImpalaAgent(A2CAgent):
    config: ImpalaConfig

    def __init__(self, spec: EnvSpec, config: ImpalaConfig, seed: int, fabric: Any):
        super().__init__(spec, config, seed, fabric)
        self.pool: ActorPool | None = None
        self.actor_frames = 0

    def weights(self) -> LossWeights:
        c = self.config
        return LossWeights(c.value_cost, c.entropy_cost, c.rho_bar, c.c_bar)

    def actor_env(self) -> EnvRef:
        """The environment the actors build: the learner's task, env options and protocol included."""
        c = self.config
        if c.actor_env:
            return EnvRef(infer_family(c.actor_env), c.actor_env)
        if self.spec.env is not None:
            return self.spec.env
        return EnvRef(infer_family(self.spec.task), self.spec.task)  # a hand-made spec: the id is all there is

    def queue_size(self) -> int:
        """Slots bound the policy lag: actors run ahead of the learner only until the slots are full,
        and full slots wait (slots / max_actor_trajectories) updates. One update's worth ready plus one
        in progress per actor keeps every actor busy while the lag stays about one update."""
        c = self.config
        return c.queue_slots or c.max_actor_trajectories + c.num_actors

    def start_actors(self) -> None:
        c = self.config
        setup = ActorSetup(env=self.actor_env(), observation_space=self.spec.observation_space,
                           num_actions=self.num_actions,
                           network={"hidden": c.hidden, "lstm_size": c.lstm_size,
                                    "popart_tasks": 1 if c.popart else 0, "popart_beta": c.popart_beta},
                           rollout_length=c.rollout_length, num_envs=c.envs_per_actor)
        self.pool = ActorPool(setup, c.num_actors, self.queue_size(), self.seed, self.net, c.actor_start_timeout)
        self.pool.publish(self.net, self.updates)

    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        if self.pool is None and self.config.num_actors > 0 and self.evaluating is None:
            self.start_actors()
        return super().act(obs, explore)

    def learn(self, batch: Batch) -> dict[str, float]:
        lags: list[int] = []
        if self.pool is not None:
            trajectories, versions = self.pool.collect(self.config.max_actor_trajectories)
            if trajectories:
                batch = Batch.concat([batch, *[t.to(self.device) for t in trajectories]])
                self.actor_frames += sum(t.reward.numel() for t in trajectories)
                lags = [self.updates - v for v in versions]
        out = self.net(batch, self.head_gamma())
        losses = actor_critic_loss(out, batch, self.config.gamma, self.weights(), self.net.popart, off_policy=True)
        self.optimizer.zero_grad()
        losses.loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.updates += 1
        if self.pool is not None:
            self.pool.publish(self.net, self.updates)
        metrics = self.metrics(losses, grad_norm)
        metrics.update(actor_frames=float(self.actor_frames), actor_trajectories=float(len(lags)),
                       batch_envs=float(batch.reward.shape[1]))
        if lags:
            metrics["policy_lag"] = float(np.mean(lags))
        return metrics

    def close(self) -> None:
        """Stop the actor processes (also done when the agent is garbage-collected or at exit)."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "actor_frames": self.actor_frames}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.actor_frames = state["actor_frames"]
        if self.pool is not None:
            self.pool.publish(self.net, self.updates)


impala = Algorithm(
    name="impala",
    summary="Actor processes with stale policies feed a V-trace learner (Espeholt et al. 2018); PopArt switch",
    config=ImpalaConfig,
    make_agent=ImpalaAgent,
    observations=("vector", "image"),
    actions=("discrete",),
    presets={"labyrinth": {"lstm_size": 256, "lr": 3e-4, "max_grad_norm": 40.0, "entropy_cost": 0.005}},
    search_space=SEARCH_SPACE,
)
