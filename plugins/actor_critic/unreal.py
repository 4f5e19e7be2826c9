"""UNREAL (Jaderberg et al. 2016): A2C plus auxiliary tasks learned from a small replay of recent
experience, sharing the torso and LSTM:

- **pixel control** — n-step Q-learning (γ_pc = 0.9) of pseudo-rewards for changing the pixels of
  each cell of the central crop, through a deconvolution head on the LSTM output;
- **reward prediction** — classify the sign of the next reward from three frames, sampled so that
  half the samples are rewarding;
- **value function replay** — extra n-step value regression on replayed sequences.

Each is a switch. Replayed sequences are unrolled from a zero LSTM state, as in the paper; all
auxiliary losses are added to the A2C loss of the same update. PopArt (``popart = true``) works as in
a2c: sparse maze rewards make advantages tiny, and dividing them by the targets' scale keeps the
entropy bonus from swamping the policy gradient.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch

from harness.plugin import Algorithm, EnvSpec, PluginError, Transition
from plugins.actor_critic.a2c import LABYRINTH_PRESET, SEARCH_SPACE, A2CAgent, A2CConfig
from plugins.actor_critic.core import RecurrentActorCritic
from plugins.actor_critic.pixel_control import PixelControlHead, pixel_change_rewards, pixel_control_loss
from plugins.actor_critic.replay import SequenceReplay, to_torch
from plugins.actor_critic.reward_prediction import RewardPredictionHead, reward_prediction_loss, skewed_sample
from plugins.actor_critic.rollout import Batch
from plugins.actor_critic.vtrace import n_step_returns


@dataclass
class UnrealConfig(A2CConfig):
    pixel_control: bool = True
    reward_prediction: bool = True
    value_replay: bool = True
    replay_size: int = 2000  # steps over all environments
    sequence_length: int = 20  # replayed steps for pixel control and value replay (plus one to bootstrap)
    replay_sequences: int = 2
    reward_prediction_samples: int = 8
    pixel_control_weight: float = 0.01
    pixel_control_gamma: float = 0.9
    pixel_control_cell: int = 4
    pixel_control_crop: int = 2
    reward_prediction_weight: float = 1.0
    value_replay_weight: float = 1.0


class UnrealAgent(A2CAgent):
    config: UnrealConfig

    def __init__(self, spec: EnvSpec, config: UnrealConfig, seed: int, fabric: Any):
        if config.pixel_control and len(spec.observation_space.shape) != 3:
            raise PluginError("unreal: pixel control needs image observations; set pixel_control = false")
        super().__init__(spec, config, seed, fabric)
        self.replay = SequenceReplay(max(config.replay_size // spec.num_envs, config.sequence_length + 1), spec.num_envs)
        self.replay_rng = np.random.default_rng(seed + 1)

    def build_network(self) -> RecurrentActorCritic:
        net = super().build_network()
        c = self.config
        if c.pixel_control:
            _, height, _ = self.spec.observation_space.shape
            net.pixel_control = PixelControlHead(c.lstm_size, self.num_actions,
                                                 (height - 2 * c.pixel_control_crop) // c.pixel_control_cell)
        if c.reward_prediction:
            net.reward_prediction = RewardPredictionHead(net.torso.out_dim)
        return net

    def observe(self, transition: Transition) -> Mapping[str, float] | None:
        step = self.rollout.steps[-1]
        self.replay.add({"obs": transition.obs, "next_obs": transition.next_obs, "action": step["action"].cpu().numpy(),
                         "reward": np.asarray(transition.reward, np.float32),
                         "prev_action": step["prev_action"].cpu().numpy(), "prev_reward": step["prev_reward"].cpu().numpy(),
                         "first": step["first"].cpu().numpy(), "terminated": np.asarray(transition.terminated),
                         "truncated": np.asarray(transition.truncated)})
        return super().observe(transition)

    # ------------------------------------------------------------------------ auxiliary tasks
    def auxiliary_loss(self, batch: Batch, out: Any) -> torch.Tensor | float:
        c, total = self.config, 0.0
        self.aux_metrics: dict[str, float] = {}
        if c.pixel_control or c.value_replay:
            sampled = self.replay.sequences(c.sequence_length + 1, c.replay_sequences, self.replay_rng)
            if sampled is not None:
                seq = to_torch(sampled, self.device)
                ends = seq["terminated"] | seq["truncated"]
                core, _ = self.net.unroll(seq["obs"], seq["prev_action"], seq["prev_reward"], seq["first"],
                                          self.net.initial_state(seq["obs"].shape[1], self.device))
                if c.pixel_control:
                    loss = self.pixel_control_loss(seq, core, ends)
                    total = total + c.pixel_control_weight * loss
                    self.aux_metrics["pixel_control_loss"] = loss.item()
                if c.value_replay:
                    loss = self.value_replay_loss(seq, core, ends)
                    total = total + c.value_replay_weight * loss
                    self.aux_metrics["value_replay_loss"] = loss.item()
        if c.reward_prediction:
            loss = self.reward_prediction_loss()
            if loss is not None:
                total = total + c.reward_prediction_weight * loss
                self.aux_metrics["reward_prediction_loss"] = loss.item()
        return total

    def pixel_control_loss(self, seq: dict[str, torch.Tensor], core: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        c = self.config
        L, B = seq["action"].shape
        rewards = pixel_change_rewards(seq["obs"].flatten(0, 1), seq["next_obs"].flatten(0, 1),
                                       c.pixel_control_crop, c.pixel_control_cell)
        q = self.net.pixel_control(core)
        return pixel_control_loss(q, seq["action"], rewards.view(L, B, *rewards.shape[1:]), ends, c.pixel_control_gamma)

    def value_replay_loss(self, seq: dict[str, torch.Tensor], core: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """n-step value regression on a replayed sequence; with PopArt on normalized targets and
        outputs, like the A2C value loss (the update of the statistics stays with the A2C batch)."""
        _, values = self.net.heads(core)
        discounts = self.config.gamma * (~ends[:-1]).to(values.dtype)
        returns = n_step_returns(seq["reward"][:-1].to(values.dtype), discounts, values[-1].detach())
        popart = self.net.popart
        if popart is None:
            return 0.5 * (returns - values[:-1]).pow(2).mean()
        task = torch.zeros(returns.shape, dtype=torch.long, device=returns.device)
        return 0.5 * (popart.normalize(returns, task) - popart.normalized(core[:-1], task)).pow(2).mean()

    def reward_prediction_loss(self) -> torch.Tensor | None:
        """Frames t−2, t−1, t of one episode → sign of r_t, rewarding steps half of the samples."""
        if self.replay.count < 3:
            return None
        first = self.replay.column("first")
        valid = np.zeros_like(first)
        valid[2:] = ~first[2:] & ~first[1:-1]
        rewarding = self.replay.column("reward") != 0
        flat = skewed_sample(rewarding, valid, self.config.reward_prediction_samples, self.replay_rng)
        if flat is None:
            return None
        logical, envs = np.divmod(flat, self.replay.num_envs)
        frames = torch.as_tensor(self.replay.frames_before(logical, envs, 3), device=self.device)
        features = self.net.torso(frames.flatten(0, 1)).view(len(flat), 3, -1)
        reward = torch.as_tensor(self.replay.column("reward")[logical, envs], device=self.device)
        return reward_prediction_loss(self.net.reward_prediction(features), reward)

    def metrics(self, losses: Any, grad_norm: torch.Tensor) -> dict[str, float]:
        return {**super().metrics(losses, grad_norm), **getattr(self, "aux_metrics", {})}

    # ------------------------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "replay": self.replay.state_dict(),
                "replay_rng": self.replay_rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.replay.load_state_dict(state["replay"])
        self.replay_rng.bit_generator.state = state["replay_rng"]


unreal = Algorithm(
    name="unreal",
    summary="A2C with UNREAL auxiliary tasks: pixel control, reward prediction, value replay (Jaderberg et al. 2016)",
    config=UnrealConfig,
    make_agent=UnrealAgent,
    observations=("image", "vector"),
    actions=("discrete",),
    presets={"labyrinth": LABYRINTH_PRESET},
    search_space={**SEARCH_SPACE, "pixel_control_weight": ("log_float", 0.01, 0.1)},
)
