"""The oracle: a policy that knows the map and follows shortest paths with the agent's own actions.

It reads each copy's state (walls, goal, objects), takes the breadth-first-search distance field to
its targets (the goal; in an arena without goal the nearest apple, around lemons), walks down the
field a few cells and heads for the farthest cell centre it can reach in a straight line. It acts
through the same actions, frame skip and time limit as any agent, so its score is an upper reference.
"""

from __future__ import annotations

import math

import numpy as np

from harness.envs.maze.env import AGENT_RADIUS, PICKUP_RADIUS, TURN_PER_FRAME, MazeVectorEnv
from harness.envs.maze.paths import UNREACHABLE, bfs_distances
from harness.envs.maze.raycast import APPLE, GOAL, LEMON

LOOK_LEFT, LOOK_RIGHT, FORWARD, FORWARD_LEFT, FORWARD_RIGHT = 0, 1, 4, 6, 7
LOOKAHEAD = 5  # cells along the path considered as straight-line waypoints
_NEIGHBOURS = ((-1, 0), (1, 0), (0, -1), (0, 1))


class Oracle:
    """Actions for every copy of a :class:`MazeVectorEnv`; ``seed`` drives its unsticking moves."""

    def __init__(self, env: MazeVectorEnv, seed: int = 0):
        self.env = env
        self.rngs = [np.random.default_rng([seed, i, 2]) for i in range(env.num_envs)]
        self.fields: dict[int, tuple[tuple, np.ndarray]] = {}
        self.last_pos = np.full((env.num_envs, 2), np.nan)
        self.stuck = np.zeros(env.num_envs, dtype=np.int64)
        turn = TURN_PER_FRAME * env.config.frame_skip
        self.aligned = turn / 2  # heading error below which moving straight is best

    def act(self) -> np.ndarray:
        env = self.env
        moved = np.hypot(*(env.pos - self.last_pos).T)
        self.stuck = np.where(moved < 1e-3, self.stuck + 1, 0)
        self.last_pos = env.pos.copy()
        return np.array([self._act(i) for i in range(env.num_envs)], dtype=np.int64)

    def _act(self, i: int) -> int:
        if self.stuck[i] >= 2:  # pressed against a corner: one random action frees it
            return int(self.rngs[i].integers(8))
        field, avoid = self._field(i)
        if field is None:
            return LOOK_LEFT
        waypoint = self._waypoint(i, field, avoid)
        x, y = self.env.pos[i]
        error = (math.atan2(waypoint[1] - y, waypoint[0] - x) - self.env.heading[i] + math.pi) % (2 * math.pi) - math.pi
        if abs(error) <= self.aligned:
            return FORWARD
        close = math.hypot(waypoint[0] - x, waypoint[1] - y) < 0.8
        if abs(error) < math.radians(70) and not close:
            return FORWARD_LEFT if error < 0 else FORWARD_RIGHT
        return LOOK_LEFT if error < 0 else LOOK_RIGHT

    def _field(self, i: int) -> tuple[np.ndarray | None, list[tuple[float, float]]]:
        """Distance field to the copy's current targets (cached until they change) and the lemons to avoid."""
        env = self.env
        kinds, cells = env.obj_kind[i], np.floor(env.obj_pos[i][:, ::-1]).astype(np.int64)
        goal = kinds == GOAL
        targets = cells[goal] if goal.any() else cells[kinds == APPLE]
        lemons = kinds == LEMON
        avoid = [tuple(p) for p in env.obj_pos[i][lemons]]
        if len(targets) == 0:
            return None, avoid
        key = (int(env.layout_id[i]), targets.tobytes(), cells[lemons].tobytes())
        cached = self.fields.get(i)
        if cached is None or cached[0] != key:
            blocked = np.zeros_like(env.walls[i])
            blocked[tuple(cells[lemons].T)] = True
            sources = [tuple(c) for c in targets.tolist()]
            field = bfs_distances(env.walls[i], sources, blocked)
            here = self._cell(i)
            if field[here] == UNREACHABLE:  # walled in by lemons: go through them
                field = bfs_distances(env.walls[i], sources)
            cached = (key, field)
            self.fields[i] = cached
        return cached[1], avoid

    def _cell(self, i: int) -> tuple[int, int]:
        x, y = self.env.pos[i]
        return int(y), int(x)

    def _waypoint(self, i: int, field: np.ndarray, avoid: list[tuple[float, float]]) -> tuple[float, float]:
        cell = self._cell(i)
        path = [cell]
        for _ in range(LOOKAHEAD):
            r, c = path[-1]
            if field[r, c] == 0:
                break
            step = min(((field[r + dr, c + dc], (r + dr, c + dc)) for dr, dc in _NEIGHBOURS))
            if step[0] >= field[r, c]:
                break
            path.append(step[1])
        if len(path) == 1:
            return cell[1] + 0.5, cell[0] + 0.5
        for r, c in reversed(path[1:]):
            if self._clear(i, (c + 0.5, r + 0.5), avoid):
                return c + 0.5, r + 0.5
        r, c = path[1]
        return c + 0.5, r + 0.5

    def _clear(self, i: int, target: tuple[float, float], avoid: list[tuple[float, float]]) -> bool:
        """Whether the agent can slide straight to ``target`` without touching a wall or a lemon."""
        walls = self.env.walls[i]
        x, y = self.env.pos[i]
        steps = max(2, int(math.hypot(target[0] - x, target[1] - y) / 0.1))
        t = np.linspace(0.0, 1.0, steps)
        px, py = x + t * (target[0] - x), y + t * (target[1] - y)
        margin = AGENT_RADIUS * 1.1
        for dx in (-margin, margin):
            for dy in (-margin, margin):
                if walls[(py + dy).astype(np.int64), (px + dx).astype(np.int64)].any():
                    return False
        for lx, ly in avoid:
            if ((px - lx) ** 2 + (py - ly) ** 2 < (PICKUP_RADIUS + 0.1) ** 2).any():
                return False
        return True
