"""Shortest paths on a wall grid (4-connected breadth-first search): connectivity and the oracle."""

from __future__ import annotations

from collections import deque
from typing import Iterable

import numpy as np

UNREACHABLE = np.iinfo(np.int32).max


def bfs_distances(walls: np.ndarray, sources: Iterable[tuple[int, int]],
                  blocked: np.ndarray | None = None) -> np.ndarray:
    """Steps from the nearest source to every cell (UNREACHABLE through walls and ``blocked`` cells)."""
    rows, cols = walls.shape
    obstacle = walls if blocked is None else (walls | blocked)
    dist = np.full((rows, cols), UNREACHABLE, dtype=np.int32)
    queue: deque[tuple[int, int]] = deque()
    for r, c in sources:
        if not walls[r, c] and dist[r, c] != 0:
            dist[r, c] = 0
            queue.append((r, c))
    while queue:
        r, c = queue.popleft()
        d = dist[r, c] + 1
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if not obstacle[nr, nc] and dist[nr, nc] > d:
                dist[nr, nc] = d
                queue.append((nr, nc))
    return dist


def fully_connected(walls: np.ndarray) -> bool:
    """Whether every floor cell can be reached from every other one."""
    floor = np.argwhere(~walls)
    if len(floor) == 0:
        return False
    dist = bfs_distances(walls, [tuple(floor[0])])
    return bool((dist[~walls] != UNREACHABLE).all())
