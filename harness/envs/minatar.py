"""MinAtar (Young & Tian, 2019): five miniature Atari games on 10x10 grids, the cheap Atari proxy.

Ids ``MinAtar/<Game>-v1`` (minimal action set) or ``-v0`` (all six actions). Observations are
MinAtar's boolean HWC planes transposed to channels first, ``(C, 10, 10)`` uint8 in {0, 1}, so
image torsos and compact replay buffers take them like Atari frames. The protocol follows the
paper: sticky actions 0.1 and difficulty ramping, at training and evaluation alike, no reward
clipping. MinAtar has no episode cap of its own; a perfect Breakout player would never stop, so
episodes are truncated at ``max_episode_steps`` (10,000 by default), recorded in the protocol.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

import gymnasium as gym
import numpy as np

from harness.envs.vector import SameStepVectorEnv

GAMES = {"Asterix": "asterix", "Breakout": "breakout", "Freeway": "freeway", "Seaquest": "seaquest",
         "SpaceInvaders": "space_invaders"}
VERSIONS = {"v0": False, "v1": True}  # version -> minimal action set


@dataclass(frozen=True)
class MinAtarSettings:
    sticky_action_prob: float = 0.1
    difficulty_ramping: bool = True
    max_episode_steps: int = 10_000


OPTION_TYPES = {f.name: f.type for f in fields(MinAtarSettings)}


def parse_id(env_id: str) -> tuple[str, bool] | None:
    """``MinAtar/SpaceInvaders-v1`` → (``space_invaders``, minimal action set), None if unknown."""
    if not env_id.startswith("MinAtar/") or "-" not in env_id:
        return None
    name, version = env_id[len("MinAtar/"):].rsplit("-", 1)
    if name not in GAMES or version not in VERSIONS:
        return None
    return GAMES[name], VERSIONS[version]


class ChannelsFirst(gym.ObservationWrapper):
    """MinAtar's (10, 10, C) booleans → (C, 10, 10) uint8."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        h, w, c = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0, 1, shape=(c, h, w), dtype=np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.transpose(observation, (2, 0, 1)), dtype=np.uint8)


def make_single(game: str, minimal: bool, settings: MinAtarSettings) -> gym.Env:
    from minatar.gym import BaseEnv

    env = BaseEnv(game, use_minimal_action_set=minimal, sticky_action_prob=settings.sticky_action_prob,
                  difficulty_ramping=settings.difficulty_ramping)
    env = gym.wrappers.TimeLimit(env, settings.max_episode_steps)
    return ChannelsFirst(env)


def settings_of(options: Mapping[str, Any]) -> MinAtarSettings:
    return replace(MinAtarSettings(), **dict(options))


class MinAtarFamily:
    name = "minatar"

    def validate(self, env_id: str, options: Mapping[str, Any]) -> str | None:
        if parse_id(env_id) is None:
            ids = ", ".join(f"MinAtar/{name}-v1" for name in GAMES)
            return f"unknown MinAtar game {env_id!r}; allowed: {ids} (or -v0 for the full action set)"
        for key, value in options.items():
            kind = OPTION_TYPES.get(key)
            if kind is None:
                return f"unknown env option {key!r}; allowed: {', '.join(OPTION_TYPES)}"
            if kind == "bool" and not isinstance(value, bool):
                return f"env option {key!r} must be true or false, got {value!r}"
            if kind == "int" and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                return f"env option {key!r} must be a positive integer, got {value!r}"
            if kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))
                                    or not 0.0 <= value <= 1.0):
                return f"env option {key!r} must be a number in [0, 1], got {value!r}"
        return None

    def make_vector(self, env_id: str, options: Mapping[str, Any], num_envs: int, seed: int,
                    evaluation: bool) -> gym.vector.VectorEnv:
        game, minimal = parse_id(env_id)
        # functools.partial keeps the vector env picklable: its state is checkpointed for exact resume.
        make = functools.partial(make_single, game, minimal, settings_of(options))
        envs = SameStepVectorEnv([make] * num_envs)
        envs.action_space.seed(seed)
        return envs

    def protocol(self, env_id: str, options: Mapping[str, Any]) -> dict[str, Any]:
        game, minimal = parse_id(env_id)
        return {"game": game, "minimal_action_set": minimal, "observation": "channels-first uint8 {0,1}",
                "reward_clipping": False, **asdict(settings_of(options))}

    def frames_per_step(self, env_id: str, options: Mapping[str, Any]) -> int:
        return 1


FAMILY = MinAtarFamily()
