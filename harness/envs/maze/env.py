"""The maze environments: a batched ``VectorEnv`` (physics in numpy, rendering in one kernel call)
and a single-environment ``gym.Env`` view of it.

Movement follows DeepMind Lab's navigation action set with continuous position and heading. The
agent is a square of half-size ``AGENT_RADIUS`` that slides along walls: each frame moves it along
x then along y, and a move whose leading edge would enter a wall cell stops at the wall. Moves are
shorter than the agent, so nothing tunnels. With frame skip k, an agent step simulates k frames,
sums their rewards and renders one observation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from harness.envs.maze.generator import generate_walls
from harness.envs.maze.levels import Level, load_map
from harness.envs.maze.raycast import APPLE, GOAL, LEMON, NONE, Camera, render, wall_tints
from harness.envs.maze.tasks import TaskRules, get_task

ACTION_NAMES = ("look_left", "look_right", "strafe_left", "strafe_right", "forward", "backward",
                "forward_look_left", "forward_look_right")
# per action: forward, strafe (right positive), turn (right positive); the last row, NOOP, is outside
# the agents' action space: only a person playing (``harness play``) can stand still
ACTION_TABLE = np.array([[0, 0, -1], [0, 0, 1], [0, -1, 0], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [1, 0, -1], [1, 0, 1],
                         [0, 0, 0]], dtype=np.float64)
NOOP = len(ACTION_NAMES)
MOVE_PER_FRAME = 0.06  # cells
TURN_PER_FRAME = math.radians(6.0)
AGENT_RADIUS = 0.2
PICKUP_RADIUS = 0.4
_EPS = 1e-6


@dataclass(frozen=True)
class MazeConfig:
    """Observation and timing settings (a suite's ``env_options``)."""

    width: int = 84
    height: int = 84
    frame_skip: int = 4
    episode_frames: int | None = None  # None: the level's own length
    fov_degrees: float = 90.0

    @property
    def camera(self) -> Camera:
        return Camera(self.width, self.height, self.fov_degrees)


class MazeVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` copies of one level stepped and rendered together, autoresetting SAME_STEP.

    Every random choice of copy ``i`` (spawns, goals, generated mazes) comes from its own generator,
    seeded ``[seed, i]`` by ``reset(seed=...)``: an episode depends only on its seed and index, not
    on how many copies run beside it. The whole object is plain numpy state, hence picklable.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": ["rgb_array"]}

    def __init__(self, level: str, num_envs: int = 1, config: MazeConfig = MazeConfig(), *,
                 render_observations: bool = True, autoreset: bool = True, render_mode: str | None = None):
        self.task: TaskRules = get_task(level)
        self.config = config
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.render_observations = render_observations
        self.autoreset = autoreset
        self.camera = config.camera
        frames = config.episode_frames or self.task.episode_frames
        self.episode_steps = -(-frames // config.frame_skip)
        self.single_observation_space = spaces.Box(0, 255, (3, config.height, config.width), np.uint8)
        self.single_action_space = spaces.Discrete(len(ACTION_NAMES))
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

        self.map: Level | None = load_map(self.task.map_name) if self.task.map_name else None
        rows, cols = (self.task.maze.rows, self.task.maze.cols) if self.task.maze else self.map.shape
        slots = self._object_slots()
        self.walls = np.ones((num_envs, rows, cols), dtype=bool)
        self.tints = np.zeros((num_envs, rows, cols), dtype=np.uint8)
        self.pos = np.zeros((num_envs, 2))
        self.heading = np.zeros(num_envs)
        self.obj_pos = np.zeros((num_envs, slots, 2))
        self.obj_kind = np.zeros((num_envs, slots), dtype=np.int8)
        self.obj_start = np.zeros((num_envs, slots), dtype=np.int8)  # kinds to restore after a goal
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.layout_id = np.zeros(num_envs, dtype=np.int64)  # bumped whenever a copy's maze or goal changes
        self.spawns: list[np.ndarray] = [np.zeros((0, 2), dtype=np.int64)] * num_envs
        self.rngs = [np.random.default_rng([0, i]) for i in range(num_envs)]
        self._blank = np.zeros((num_envs, 3, config.height, config.width), dtype=np.uint8)
        self._rewards = np.array([0.0, self.task.apple_reward, self.task.lemon_reward, self.task.goal_reward])

    def _object_slots(self) -> int:
        goal = 0 if self.task.goal == "none" else 1
        if self.task.maze:
            return goal + self.task.apples
        return goal + len(self.map.apples) + len(self.map.lemons)

    # ------------------------------------------------------------------------------------ episodes
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        if seed is not None:
            self.rngs = [np.random.default_rng([seed, i]) for i in range(self.num_envs)]
        for i in range(self.num_envs):
            self._new_episode(i)
        return self._observe(), {}

    def _new_episode(self, i: int) -> None:
        rng = self.rngs[i]
        if self.task.maze:
            walls = generate_walls(self.task.maze, rng)
        else:
            walls = self.map.walls
        self.walls[i] = walls
        self.tints[i] = wall_tints(walls)
        floor = [tuple(c) for c in np.argwhere(~walls).tolist()]
        spawns = list(self.map.spawns) if self.map is not None and self.map.spawns else floor
        cells: list[tuple[int, int]] = []
        kinds: list[int] = []
        if self.task.goal == "fixed":
            cells.append(self.map.goals[0])
            kinds.append(GOAL)
        elif self.task.goal == "random":
            taken = set(spawns if self.map is not None and self.map.spawns else ()) | \
                set(self.map.apples if self.map is not None else ())
            options = [c for c in floor if c not in taken]
            cells.append(options[int(rng.integers(len(options)))])
            kinds.append(GOAL)
        if self.map is not None:
            cells += list(self.map.apples) + list(self.map.lemons)
            kinds += [APPLE] * len(self.map.apples) + [LEMON] * len(self.map.lemons)
        else:
            options = [c for c in floor if c not in cells]
            for index in rng.choice(len(options), self.task.apples, replace=False):
                cells.append(options[int(index)])
                kinds.append(APPLE)
        # never spawn on the goal; on generated layouts not on an apple either
        avoid = set(cells) if self.map is None else ({cells[0]} if self.task.goal != "none" else set())
        self.spawns[i] = np.array([c for c in spawns if c not in avoid], dtype=np.int64)
        self.obj_pos[i] = np.array(cells, dtype=np.float64)[:, ::-1] + 0.5 if cells else 0.0
        self.obj_kind[i] = kinds
        self.obj_start[i] = kinds
        self.steps[i] = 0
        self.layout_id[i] += 1
        self._spawn(i)

    def _spawn(self, i: int) -> None:
        rng = self.rngs[i]
        row, col = self.spawns[i][int(rng.integers(len(self.spawns[i])))]
        self.pos[i] = (col + 0.5, row + 0.5)
        self.heading[i] = rng.uniform(0.0, 2 * math.pi)

    # -------------------------------------------------------------------------------------- stepping
    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        controls = ACTION_TABLE[np.asarray(actions, dtype=np.int64).reshape(self.num_envs)]
        reward = np.zeros(self.num_envs)
        for _ in range(self.config.frame_skip):
            self._frame(controls, reward)
        self.steps += 1
        truncated = self.steps >= self.episode_steps
        terminated = np.zeros(self.num_envs, dtype=bool)
        obs = self._observe()
        info: dict[str, Any] = {}
        if self.autoreset and truncated.any():
            info["final_obs"] = obs.copy()
            info["_final_obs"] = truncated.copy()
            ended = np.flatnonzero(truncated)
            for i in ended:
                self._new_episode(int(i))
            if self.render_observations:
                obs[ended] = self._render(ended)
        return obs, reward, terminated, truncated, info

    def _frame(self, controls: np.ndarray, reward: np.ndarray) -> None:
        """One simulated frame for every copy: turn, move with collisions, pick up objects."""
        self.heading = (self.heading + controls[:, 2] * TURN_PER_FRAME) % (2 * math.pi)
        cos, sin = np.cos(self.heading), np.sin(self.heading)
        forward, strafe = controls[:, 0] * MOVE_PER_FRAME, controls[:, 1] * MOVE_PER_FRAME
        self._move(forward * cos - strafe * sin, forward * sin + strafe * cos)
        if self.obj_kind.shape[1]:
            self._pick_up(reward)

    def _move(self, dx: np.ndarray, dy: np.ndarray) -> None:
        envs = np.arange(self.num_envs)
        x, y = self.pos[:, 0], self.pos[:, 1]
        x_new = self._slide(envs, x + dx, np.sign(dx), y, along_x=True)
        y_new = self._slide(envs, y + dy, np.sign(dy), x_new, along_x=False)
        self.pos[:, 0], self.pos[:, 1] = x_new, y_new

    def _slide(self, envs: np.ndarray, target: np.ndarray, sign: np.ndarray, other: np.ndarray,
               along_x: bool) -> np.ndarray:
        """Move one coordinate to ``target`` unless the leading edge enters a wall cell; then touch the wall."""
        lead = np.floor(target + sign * AGENT_RADIUS).astype(np.int64)
        low = np.floor(other - AGENT_RADIUS + _EPS).astype(np.int64)
        high = np.floor(other + AGENT_RADIUS - _EPS).astype(np.int64)
        if along_x:
            blocked = self.walls[envs, low, lead] | self.walls[envs, high, lead]
        else:
            blocked = self.walls[envs, lead, low] | self.walls[envs, lead, high]
        blocked &= sign != 0
        stop = np.where(sign > 0, lead - AGENT_RADIUS - _EPS, lead + 1 + AGENT_RADIUS + _EPS)
        return np.where(blocked, stop, target)

    def _pick_up(self, reward: np.ndarray) -> None:
        offset = self.obj_pos - self.pos[:, None, :]
        touched = (np.einsum("ekc,ekc->ek", offset, offset) < PICKUP_RADIUS ** 2) & (self.obj_kind != NONE)
        if not touched.any():
            return
        reward += (self._rewards[self.obj_kind] * touched).sum(axis=1)
        goal_hit = (touched & (self.obj_kind == GOAL)).any(axis=1)
        self.obj_kind[touched & (self.obj_kind != GOAL)] = NONE
        for i in np.flatnonzero(goal_hit):
            self.obj_kind[i] = self.obj_start[i]  # apples come back with the respawn
            self._spawn(int(i))

    # ------------------------------------------------------------------------------------ rendering
    def _render(self, envs: np.ndarray | slice = slice(None)) -> np.ndarray:
        return render(self.walls[envs], self.tints[envs], self.pos[envs], self.heading[envs], self.obj_pos[envs],
                      self.obj_kind[envs], self.camera)

    def _observe(self) -> np.ndarray:
        return self._render() if self.render_observations else self._blank.copy()

    def render(self) -> tuple[np.ndarray, ...] | None:
        """Per copy: the first-person view beside a top-down map (H, W, 3), for debugging."""
        if self.render_mode != "rgb_array":
            return None
        from harness.envs.maze.view import debug_view

        return tuple(debug_view(self, i) for i in range(self.num_envs))


class MazeEnv(gym.Env):
    """One maze environment (no autoreset): a one-copy :class:`MazeVectorEnv`."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, level: str, config: MazeConfig = MazeConfig(), render_mode: str | None = None):
        self.vector = MazeVectorEnv(level, 1, config, autoreset=False, render_mode=render_mode)
        self.observation_space = self.vector.single_observation_space
        self.action_space = self.vector.single_action_space
        self.render_mode = render_mode

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        obs, info = self.vector.reset(seed=seed, options=options)
        return obs[0], info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.vector.step(np.array([action]))
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def render(self) -> np.ndarray | None:
        frames = self.vector.render()
        return None if frames is None else frames[0]
