"""Pictures for people: a top-down map of one copy, the debug view, and the grid of level frames."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.envs.maze.raycast import SPRITE_COLOR, WALL_PALETTE

if TYPE_CHECKING:
    from harness.envs.maze.env import MazeVectorEnv

FLOOR_COLOR = np.array([60, 55, 50], dtype=np.uint8)
AGENT_COLOR = np.array([255, 255, 255], dtype=np.uint8)


def top_down(env: "MazeVectorEnv", i: int, cell: int = 8) -> np.ndarray:
    """(rows * cell, cols * cell, 3) uint8: walls in their tint, objects as squares, the agent and its heading."""
    walls = env.walls[i]
    colors = np.where(walls[..., None], WALL_PALETTE[env.tints[i]].astype(np.uint8), FLOOR_COLOR)
    image = np.repeat(np.repeat(colors, cell, axis=0), cell, axis=1)
    for (x, y), kind in zip(env.obj_pos[i], env.obj_kind[i]):
        if kind:
            _dot(image, x * cell, y * cell, cell * 0.3, SPRITE_COLOR[kind].astype(np.uint8))
    x, y = env.pos[i] * cell
    for t in np.linspace(0, cell * 0.9, 8):  # heading
        _dot(image, x + t * math.cos(env.heading[i]), y + t * math.sin(env.heading[i]), 0.8, AGENT_COLOR)
    _dot(image, x, y, cell * 0.25, AGENT_COLOR)
    return image


def _dot(image: np.ndarray, x: float, y: float, radius: float, color: np.ndarray) -> None:
    rows, cols = image.shape[:2]
    r0, r1 = max(0, int(y - radius)), min(rows, int(math.ceil(y + radius)) + 1)
    c0, c1 = max(0, int(x - radius)), min(cols, int(math.ceil(x + radius)) + 1)
    image[r0:r1, c0:c1] = color


def first_person(env: "MazeVectorEnv", i: int, scale: int = 3) -> np.ndarray:
    """The observation of copy ``i`` as (H * scale, W * scale, 3), channels last."""
    frame = env._render(np.array([i]))[0].transpose(1, 2, 0)
    return np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)


def debug_view(env: "MazeVectorEnv", i: int, scale: int = 3) -> np.ndarray:
    """First-person view and top-down map side by side, on a black canvas of the taller height."""
    left = first_person(env, i, scale)
    right = top_down(env, i, cell=max(4, left.shape[0] // env.walls.shape[1]))
    height = max(left.shape[0], right.shape[0])
    canvas = np.zeros((height, left.shape[1] + 8 + right.shape[1], 3), dtype=np.uint8)
    canvas[:left.shape[0], :left.shape[1]] = left
    canvas[:right.shape[0], left.shape[1] + 8:] = right
    return canvas


def level_grid(path: Path, levels: list[str] | None = None, views: int = 3, seed: int = 0, scale: int = 2) -> Path:
    """Save a PNG: one row per level, ``views`` first-person frames after a few random steps, then its map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from harness.envs.maze.env import MazeVectorEnv
    from harness.envs.maze.tasks import TASKS

    levels = levels or list(TASKS)
    fig, axes = plt.subplots(len(levels), views + 1, figsize=(2.2 * (views + 1.4), 2.2 * len(levels)),
                             gridspec_kw={"width_ratios": [1] * views + [1.4]})
    rng = np.random.default_rng(seed)
    for row, level in enumerate(levels):
        env = MazeVectorEnv(level, views)
        env.reset(seed=seed)
        for _ in range(int(rng.integers(3, 12))):
            env.step(rng.integers(0, 8, size=views))
        for i in range(views):
            axes[row, i].imshow(first_person(env, i, scale))
            axes[row, i].set_axis_off()
        axes[row, views].imshow(top_down(env, 0))
        axes[row, views].set_axis_off()
        axes[row, 0].set_title(level, loc="left", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
