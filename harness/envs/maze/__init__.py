"""Labyrinth-like first-person 3D mazes (ids ``Maze/<level>``), in the spirit of DeepMind Lab.

Options (a suite's ``env_options``): ``width``, ``height`` (observation size, default 84x84),
``frame_skip`` (default 4), ``episode_frames`` (default: the level's), ``fov_degrees`` (default 90).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Mapping

from harness.envs.maze.env import ACTION_NAMES, MazeConfig, MazeEnv, MazeVectorEnv
from harness.envs.maze.levels import load_map
from harness.envs.maze.tasks import TASKS

PREFIX = "Maze/"
VERSION = 2  # bump when dynamics, rendering or rewards change what a score means (2: apples line nav_maze_0x)
_OPTION_TYPES = {"width": int, "height": int, "frame_skip": int, "episode_frames": int, "fov_degrees": (int, float)}


def level_of(env_id: str) -> str:
    return env_id[len(PREFIX):] if env_id.startswith(PREFIX) else env_id


def config_from(options: Mapping[str, Any]) -> MazeConfig:
    return MazeConfig(**{k: v for k, v in options.items()})


class MazeFamily:
    name = "maze"

    def validate(self, env_id: str, options: Mapping[str, Any]) -> str | None:
        level = level_of(env_id)
        if not env_id.startswith(PREFIX) or level not in TASKS:
            return f"unknown maze level {env_id!r}; allowed: {', '.join(PREFIX + t for t in TASKS)}"
        for key, value in options.items():
            if key not in _OPTION_TYPES:
                return f"unknown maze option {key!r}; allowed: {', '.join(_OPTION_TYPES)}"
            if isinstance(value, bool) or not isinstance(value, _OPTION_TYPES[key]) or value <= 0:
                return f"maze option {key!r} must be a positive number, got {value!r}"
        if not 0 < options.get("fov_degrees", 90) < 180:
            return "maze option 'fov_degrees' must be between 0 and 180"
        return None

    def make_vector(self, env_id: str, options: Mapping[str, Any], num_envs: int, seed: int,
                    evaluation: bool) -> MazeVectorEnv:
        envs = MazeVectorEnv(level_of(env_id), num_envs, config_from(options))
        envs.action_space.seed(seed)
        return envs

    def protocol(self, env_id: str, options: Mapping[str, Any]) -> dict[str, Any]:
        config = config_from(options)
        task = TASKS[level_of(env_id)]
        # the map's own text is part of the protocol: an edited layout never passes for the old one
        layout = hashlib.sha256(load_map(task.map_name).to_text().encode()).hexdigest()[:16] if task.map_name else None
        return {"version": VERSION, "level": task.name, **dataclasses.asdict(config),
                "episode_frames": config.episode_frames or task.episode_frames, "action_set": list(ACTION_NAMES),
                "map_sha256": layout}

    def frames_per_step(self, env_id: str, options: Mapping[str, Any]) -> int:
        return config_from(options).frame_skip


FAMILY = MazeFamily()

__all__ = ["FAMILY", "MazeConfig", "MazeEnv", "MazeVectorEnv", "TASKS"]
