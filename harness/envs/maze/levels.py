"""Text maps in DeepMind Lab's style → :class:`Level` grids.

One character per cell, rows top to bottom: ``*`` wall, space (or ``.``) floor, ``P`` spawn point,
``G`` goal, ``A`` apple, ``L`` lemon. Object and spawn cells are floor. A level must be enclosed by
walls so that every ray and every move stays inside the grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

LEVELS_DIR = Path(__file__).resolve().parent / "levels"
WALL, FLOOR, SPAWN, GOAL, APPLE, LEMON = "*", " ", "P", "G", "A", "L"
_KNOWN = {WALL, FLOOR, ".", SPAWN, GOAL, APPLE, LEMON}

Cell = tuple[int, int]  # (row, column)


@dataclass(frozen=True)
class Level:
    """A parsed map: a wall grid and the cells of spawns and objects."""

    name: str
    walls: np.ndarray  # (rows, cols) bool
    spawns: tuple[Cell, ...]
    goals: tuple[Cell, ...]
    apples: tuple[Cell, ...]
    lemons: tuple[Cell, ...]

    @property
    def shape(self) -> tuple[int, int]:
        return self.walls.shape  # type: ignore[return-value]

    def floor_cells(self) -> list[Cell]:
        return [(int(r), int(c)) for r, c in zip(*np.nonzero(~self.walls))]

    def to_text(self) -> str:
        grid = np.where(self.walls, WALL, FLOOR).astype("<U1")
        for char, cells in ((SPAWN, self.spawns), (GOAL, self.goals), (APPLE, self.apples), (LEMON, self.lemons)):
            for r, c in cells:
                grid[r, c] = char
        return "\n".join("".join(row) for row in grid) + "\n"


def parse_level(text: str, name: str = "<text>") -> Level:
    """Parse a text map; raises ValueError naming the level, line and character when it is malformed."""
    lines = [line.rstrip("\n") for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"level {name}: empty map")
    width = max(len(line) for line in lines)
    rows: list[list[bool]] = []
    cells: dict[str, list[Cell]] = {SPAWN: [], GOAL: [], APPLE: [], LEMON: []}
    for r, line in enumerate(lines):
        line = line.ljust(width)
        row = []
        for c, char in enumerate(line):
            if char not in _KNOWN:
                raise ValueError(f"level {name}: line {r + 1}: unknown character {char!r}; "
                                 f"allowed: '*', ' ', '.', 'P', 'G', 'A', 'L'")
            row.append(char == WALL)
            if char in cells:
                cells[char].append((r, c))
        rows.append(row)
    walls = np.array(rows, dtype=bool)
    border = np.concatenate([walls[0], walls[-1], walls[:, 0], walls[:, -1]])
    if not border.all():
        raise ValueError(f"level {name}: the map must be enclosed by walls ('*') on every side")
    return Level(name, walls, tuple(cells[SPAWN]), tuple(cells[GOAL]), tuple(cells[APPLE]), tuple(cells[LEMON]))


def map_names() -> list[str]:
    return sorted(p.stem for p in LEVELS_DIR.glob("*.txt"))


def load_map(name: str) -> Level:
    path = LEVELS_DIR / f"{name}.txt"
    if not path.is_file():
        raise ValueError(f"no map {name!r} in {LEVELS_DIR}; maps: {', '.join(map_names())}")
    return parse_level(path.read_text(), name)
