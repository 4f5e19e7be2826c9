"""Reference scores per level: a uniformly random agent (low) and the oracle (high).

Episode ``i`` of a computation runs in copy ``i`` seeded ``[seed, i]`` (and the random agent's
actions from ``[seed, i, 1]``), so the first n episodes of a computation are the same whatever the
total: a reduced recomputation checks the shipped file exactly. Neither policy looks at pixels,
so these runs skip rendering; the dynamics are the same.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

import numpy as np

from harness.envs.maze.env import MazeConfig, MazeVectorEnv
from harness.envs.maze.oracle import Oracle
from harness.envs.maze.tasks import TASKS

REFERENCES_PATH = Path(__file__).resolve().parent / "references.json"
SUITES_DIR = Path(__file__).resolve().parents[3] / "suites"
SUITE_PATH = SUITES_DIR / "labyrinth.toml"
POLICIES = ("random", "oracle")


def episode_returns(level: str, policy: str, episodes: int, seed: int = 0,
                    config: MazeConfig = MazeConfig()) -> list[float]:
    """Returns of ``episodes`` full episodes of ``policy`` ("random" or "oracle") on ``level``."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; allowed: {', '.join(POLICIES)}")
    env = MazeVectorEnv(level, episodes, config, render_observations=False, autoreset=False)
    env.reset(seed=seed)
    oracle = Oracle(env, seed) if policy == "oracle" else None
    rngs = [np.random.default_rng([seed, i, 1]) for i in range(episodes)]
    returns = np.zeros(episodes)
    for _ in range(env.episode_steps):
        if oracle is not None:
            actions = oracle.act()
        else:
            actions = np.array([rng.integers(env.single_action_space.n) for rng in rngs])
        returns += env.step(actions)[1]
    return [float(r) for r in returns]


def compute_references(levels: list[str] | None = None, episodes: int = 10, seed: int = 0,
                       progress: Callable[[str], None] | None = None) -> dict:
    """The references document: settings and, per level, mean and per-episode returns of each policy."""
    from harness.envs.maze import VERSION

    out: dict = {"version": VERSION, "seed": seed, "episodes": episodes, "frame_skip": MazeConfig().frame_skip,
                 "levels": {}}
    for level in levels or list(TASKS):
        entry: dict = {}
        for policy in POLICIES:
            if progress:
                progress(f"{level}: {policy}")
            returns = episode_returns(level, policy, episodes, seed)
            entry[policy] = round(float(np.mean(returns)), 3)
            entry[f"{policy}_returns"] = returns
        out["levels"][level] = entry
    return out


def load_references(path: Path = REFERENCES_PATH) -> dict:
    return json.loads(path.read_text())


def write_references(data: dict, path: Path = REFERENCES_PATH) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)


def reference_line(level: str, entry: dict, data: dict) -> str:
    source = (f"harness maze references: random and shortest-path oracle, mean of {data['episodes']} episodes, "
              f"seed {data['seed']}")
    return f'reference = {{ low = {entry["random"]}, high = {entry["oracle"]}, kind = "oracle", source = "{source}" }}'


def update_suite(data: dict, path: Path = SUITE_PATH) -> list[str]:
    """Rewrite the ``reference = {...}`` line of each level's task in the suite file; returns the levels updated."""
    text = path.read_text()
    updated = []
    for level, entry in data["levels"].items():
        pattern = re.compile(r'(id = "Maze/' + re.escape(level) + r'"\n(?:(?!\[\[tasks\]\]).*\n)*?)reference = \{[^}\n]*\}')
        text, count = pattern.subn(lambda m: m.group(1) + reference_line(level, entry, data), text)
        if count:
            updated.append(level)
    if updated:
        path.write_text(text)
    return updated


def update_suites(data: dict, directory: Path = SUITES_DIR) -> dict[Path, list[str]]:
    """:func:`update_suite` on every suite file in ``directory`` that declares one of the levels."""
    changed = {path: update_suite(data, path) for path in sorted(directory.glob("*.toml"))}
    return {path: levels for path, levels in changed.items() if levels}
