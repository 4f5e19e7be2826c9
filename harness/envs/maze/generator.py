"""Procedural mazes: a random perfect maze, a few extra openings (loops) and a few rooms.

Carving only ever removes walls from a spanning tree of the cells, so every floor cell stays
reachable; the explore levels draw a new maze from the episode's random generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MazeSpec:
    """Shape of a generated maze: odd ``rows`` x ``cols`` including the outer wall."""

    rows: int
    cols: int
    rooms: int = 2         # 3x3 rooms carved into the corridors
    loops: float = 0.1     # fraction of the remaining inner walls between two corridors opened


def generate_walls(spec: MazeSpec, rng: np.random.Generator) -> np.ndarray:
    """A (rows, cols) bool wall grid; floor cells sit at odd coordinates plus the carved links."""
    if spec.rows % 2 == 0 or spec.cols % 2 == 0 or spec.rows < 5 or spec.cols < 5:
        raise ValueError(f"maze size must be odd and >= 5, got {spec.rows}x{spec.cols}")
    walls = np.ones((spec.rows, spec.cols), dtype=bool)
    cell_rows, cell_cols = (spec.rows - 1) // 2, (spec.cols - 1) // 2
    visited = np.zeros((cell_rows, cell_cols), dtype=bool)
    start = (int(rng.integers(cell_rows)), int(rng.integers(cell_cols)))
    stack = [start]
    visited[start] = True
    walls[2 * start[0] + 1, 2 * start[1] + 1] = False
    while stack:  # iterative recursive-backtracker: a uniform-ish spanning tree with long corridors
        r, c = stack[-1]
        options = [(r + dr, c + dc) for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
                   if 0 <= r + dr < cell_rows and 0 <= c + dc < cell_cols and not visited[r + dr, c + dc]]
        if not options:
            stack.pop()
            continue
        nr, nc = options[int(rng.integers(len(options)))]
        visited[nr, nc] = True
        walls[r + nr + 1, c + nc + 1] = False  # the wall between the two cells
        walls[2 * nr + 1, 2 * nc + 1] = False
        stack.append((nr, nc))
    _open_loops(walls, spec.loops, rng)
    for _ in range(spec.rooms):
        if cell_rows >= 2 and cell_cols >= 2:
            r = 2 * int(rng.integers(cell_rows - 1)) + 1
            c = 2 * int(rng.integers(cell_cols - 1)) + 1
            walls[r:r + 3, c:c + 3] = False
    return walls


def _open_loops(walls: np.ndarray, fraction: float, rng: np.random.Generator) -> None:
    """Remove a fraction of the inner walls that separate two floor cells in a line."""
    rows, cols = walls.shape
    candidates = []
    for r in range(1, rows - 1):
        for c in range(1, cols - 1):
            if not walls[r, c]:
                continue
            if (r % 2 == 1 and not walls[r, c - 1] and not walls[r, c + 1]) or \
               (c % 2 == 1 and not walls[r - 1, c] and not walls[r + 1, c]):
                candidates.append((r, c))
    count = int(round(fraction * len(candidates)))
    for index in rng.permutation(len(candidates))[:count]:
        walls[candidates[index]] = False
