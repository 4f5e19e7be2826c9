"""Reference scores: the oracle far above random everywhere; the shipped file is what the command computes."""

from __future__ import annotations

import shutil

import pytest

from harness.envs.maze.references import (SUITE_PATH, SUITES_DIR, episode_returns, load_references, update_suite,
                                          update_suites)
from harness.envs.maze.tasks import TASKS
from harness.suite import load_suite
from plugins.actor_critic import a2c, unreal

SHIPPED = load_references()


def test_shipped_references_cover_every_level_with_the_oracle_far_above_random():
    assert set(SHIPPED["levels"]) == set(TASKS)
    for level, entry in SHIPPED["levels"].items():
        assert len(entry["random_returns"]) == len(entry["oracle_returns"]) == SHIPPED["episodes"]
        assert entry["oracle"] >= entry["random"] + 10 and entry["oracle"] >= 5 * max(entry["random"], 1.0), level
        assert min(entry["oracle_returns"]) > max(entry["random_returns"]), level


@pytest.mark.parametrize("level", list(TASKS))
def test_recomputing_the_first_episode_reproduces_the_shipped_returns(level):
    """A reduced recomputation: episode 0 of both policies, exactly as `harness maze references` runs it."""
    entry, seed = SHIPPED["levels"][level], SHIPPED["seed"]
    assert episode_returns(level, "random", 1, seed) == entry["random_returns"][:1]
    assert episode_returns(level, "oracle", 1, seed) == entry["oracle_returns"][:1]


def test_the_suite_file_carries_the_shipped_references(tmp_path):
    copy = tmp_path / "labyrinth.toml"
    shutil.copy(SUITE_PATH, copy)
    original = copy.read_text()
    copy.write_text(original.replace("high = ", "high = 1"))  # spoil every reference
    assert update_suite(SHIPPED, copy) == list(TASKS)
    assert copy.read_text() == original


def test_writing_references_updates_every_suite_that_declares_the_levels_and_no_other(tmp_path):
    names = ("labyrinth.toml", "labyrinth_aux.toml", "classic.toml")
    originals = {name: (SUITES_DIR / name).read_text() for name in names}
    for name, text in originals.items():
        (tmp_path / name).write_text(text.replace("high = ", "high = 1"))  # spoil every reference
    updated = update_suites(SHIPPED, tmp_path)
    assert {path.name: len(levels) for path, levels in updated.items()} == {"labyrinth.toml": len(TASKS),
                                                                           "labyrinth_aux.toml": 2}
    for name in ("labyrinth.toml", "labyrinth_aux.toml"):
        assert (tmp_path / name).read_text() == originals[name]
    assert (tmp_path / "classic.toml").read_text() == originals["classic.toml"].replace("high = ", "high = 1")


def test_the_actor_critic_maze_benchmark_carries_the_shipped_references_and_its_settings_resolve():
    suite = load_suite("labyrinth_aux")
    for task in suite.tasks:
        level = task.id.removeprefix("Maze/")
        entry = SHIPPED["levels"][level]
        assert (task.reference.low, task.reference.high) == (entry["random"], entry["oracle"]), level
        assert dict(task.env.options) == {"width": 42, "height": 42}
        for algorithm in (a2c, unreal):
            assert algorithm.resolve_config(dict(task.hyper[algorithm.name])).popart
