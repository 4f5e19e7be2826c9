"""Reference scores for normalization: what a task's (low, high) are, and where they come from.

A task's reference comes from its suite (recorded in each run's ``config.json``); Atari games that
declare none fall back to the random/human table of DQN Zoo's ``atari_data.py`` shipped next to this
module (``atari57_reference_scores.csv``), so that human-normalized scores need no suite edits.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

ATARI57_CSV = Path(__file__).with_name("atari57_reference_scores.csv")
ATARI57_SOURCE = "atari57 random/human (DQN Zoo atari_data.py)"


@dataclass(frozen=True)
class Reference:
    """Scores for normalization: (score - low) / (high - low). Mirrors ``harness.suite.Reference``."""

    low: float
    high: float
    kind: str = "reference"
    source: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "Reference":
        return cls(float(data["low"]), float(data["high"]), str(data.get("kind", "reference")),
                   str(data.get("source", "")))


_ALE_SUFFIX = re.compile(r"(NoFrameskip|Deterministic)?(-v\d+)?$")


def game_key(task: str) -> str:
    """A task or game name reduced to Dopamine's spelling: ``ALE/BattleZone-v5`` → ``battlezone``.

    Lets Dopamine's lower-case games, the atari57 table's ``battle_zone`` and our task ids
    (``Pong``, ``ALE/Pong-v5``, ``PongNoFrameskip-v4``) meet on one key.
    """
    name = task.split("/")[-1]
    name = _ALE_SUFFIX.sub("", name)
    return name.replace("_", "").replace("-", "").lower()


@dataclass(frozen=True)
class AtariGame:
    key: str
    ale_name: str
    random: float
    human: float
    atari100k: bool
    atari5: bool


@functools.cache
def atari57() -> dict[str, AtariGame]:
    """The 57 games keyed by :func:`game_key`."""
    games = {}
    with ATARI57_CSV.open(newline="") as handle:
        for row in csv.DictReader(handle):
            game = AtariGame(game_key(row["game"]), row["ale_name"], float(row["random"]), float(row["human"]),
                             row["atari100k"] == "1", row["atari5"] == "1")
            games[game.key] = game
    return games


def human_reference(task: str) -> Reference | None:
    """Random → 0, human → 1 for an Atari-57 game, None for any other task."""
    game = atari57().get(game_key(task))
    if game is None:
        return None
    return Reference(game.random, game.human, "human", ATARI57_SOURCE)


def reference_for(task: str, family: str | None, declared: Mapping[str, Any] | None) -> Reference | None:
    """The declared reference if any, else the human reference for Atari tasks, else None."""
    if declared:
        return Reference.from_mapping(declared)
    if family == "atari":
        return human_reference(task)
    return None
