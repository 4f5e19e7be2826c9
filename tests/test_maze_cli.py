"""The maze commands: `harness maze references` (typer app) and `harness play` (pygame, headless here)."""

from __future__ import annotations

import json
import os

from typer.testing import CliRunner

from harness.envs.maze.cli import action_for_keys, maze_app, play_command
from harness.envs.maze.env import ACTION_NAMES, NOOP
from harness.envs.maze.references import load_references


def test_references_command_prints_the_recomputed_scores():
    result = CliRunner().invoke(maze_app, ["references", "--level", "seekavoid_arena_01", "--episodes", "2"])
    assert result.exit_code == 0, result.output
    shipped = load_references()["levels"]["seekavoid_arena_01"]
    random_mean = sum(shipped["random_returns"][:2]) / 2
    oracle_mean = sum(shipped["oracle_returns"][:2]) / 2
    line = next(line for line in result.output.splitlines() if "seekavoid_arena_01" in line and "│" in line)
    assert f"{random_mean:.2f}" in line and f"{oracle_mean:.2f}" in line


def test_references_command_rejects_unknown_levels():
    result = CliRunner().invoke(maze_app, ["references", "--level", "nowhere"])
    assert result.exit_code != 0 and "unknown level" in result.output


def test_keys_map_to_dmlab_actions():
    name = lambda **keys: ACTION_NAMES[action_for_keys(**{k: keys.get(k, False) for k in  # noqa: E731
                                            ("forward", "backward", "left", "right", "strafe_left", "strafe_right")})]
    assert name(forward=True) == "forward"
    assert name(forward=True, left=True) == "forward_look_left"
    assert name(forward=True, right=True) == "forward_look_right"
    assert name(left=True) == "look_left" and name(right=True) == "look_right"
    assert name(strafe_left=True) == "strafe_left" and name(strafe_right=True) == "strafe_right"
    assert name(backward=True) == "backward"
    assert action_for_keys(False, False, False, False, False, False) == NOOP


def test_play_records_the_score(tmp_path, monkeypatch):
    monkeypatch.setitem(os.environ, "SDL_VIDEODRIVER", "dummy")
    output = tmp_path / "scores.jsonl"
    score = play_command("Maze/nav_maze_static_01", seed=3, fps=1000, output=output, player="test", max_steps=5)
    record = json.loads(output.read_text())
    assert record["level"] == "nav_maze_static_01" and record["steps"] == 5 and record["score"] == score
    assert record["complete"] is False and record["player"] == "test"
