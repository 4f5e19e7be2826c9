"""Runs' evaluation curves as numpy arrays, and their values on a common grid of steps.

Splitting the tidy table once (one sort, then slices) instead of a pandas group-by per run keeps
curves of thousands of runs (the full Dopamine set: 4,800 runs) to a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_CURVE_POINTS = 100


@dataclass(frozen=True)
class Run:
    run_id: str
    x: np.ndarray
    y: np.ndarray


def split_runs(metrics: pd.DataFrame, x: str, y: str) -> dict[tuple[str, str], list[Run]]:
    """(algorithm, task) → its runs, each with x ascending."""
    frame = metrics[["algorithm", "task", "run_id", x, y]].sort_values(["algorithm", "task", "run_id", x],
                                                                        kind="stable")
    algorithm, task, run_id = (frame[c].astype(str).to_numpy() for c in ("algorithm", "task", "run_id"))
    xs, ys = frame[x].to_numpy(dtype=float), frame[y].to_numpy(dtype=float)
    starts = np.flatnonzero(np.r_[True, run_id[1:] != run_id[:-1]])
    ends = np.r_[starts[1:], len(run_id)]
    groups: dict[tuple[str, str], list[Run]] = {}
    for start, end in zip(starts, ends):
        groups.setdefault((algorithm[start], task[start]), []).append(Run(run_id[start], xs[start:end], ys[start:end]))
    return groups


def grid_of(runs: list[Run], low: float = -np.inf, high: float = np.inf, limit: int = MAX_CURVE_POINTS) -> np.ndarray:
    """The evaluated steps of the runs within [low, high], thinned evenly to at most ``limit`` points."""
    grid = np.unique(np.concatenate([r.x for r in runs]))
    grid = grid[(grid >= low) & (grid <= high)]
    if grid.size > limit:
        grid = grid[np.unique(np.linspace(0, grid.size - 1, limit).round().astype(int))]
    return grid


def on_grid(runs: list[Run], grid: np.ndarray) -> np.ndarray:
    """(points, runs) values: exact where a run evaluated at a grid step, linear in between, NaN outside."""
    out = np.empty((grid.size, len(runs)))
    for j, run in enumerate(runs):
        if run.x.size == grid.size and np.array_equal(run.x, grid):
            out[:, j] = run.y
            continue
        out[:, j] = np.interp(grid, run.x, run.y)
        out[(grid < run.x[0]) | (grid > run.x[-1]), j] = np.nan
    return out
