"""Maze dynamics and the environment contract: collisions, rewards and respawns, generation, vectorization."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from harness.envs.maze import FAMILY, TASKS
from harness.envs.maze.env import ACTION_NAMES, AGENT_RADIUS, MazeEnv, MazeVectorEnv
from harness.envs.maze.generator import MazeSpec, generate_walls
from harness.envs.maze.levels import load_map, parse_level
from harness.envs.maze.paths import fully_connected
from harness.envs.maze.raycast import APPLE, GOAL, LEMON, NONE

FORWARD, BACKWARD = ACTION_NAMES.index("forward"), ACTION_NAMES.index("backward")


def overlaps_wall(env: MazeVectorEnv) -> np.ndarray:
    """Per copy: whether the agent's square (half-size AGENT_RADIUS) overlaps any wall cell."""
    envs = np.arange(env.num_envs)
    hit = np.zeros(env.num_envs, dtype=bool)
    for dx in (-AGENT_RADIUS, AGENT_RADIUS):
        for dy in (-AGENT_RADIUS, AGENT_RADIUS):
            cols = np.floor(env.pos[:, 0] + dx).astype(int)
            rows = np.floor(env.pos[:, 1] + dy).astype(int)
            hit |= env.walls[envs, rows, cols]
    return hit


@pytest.mark.parametrize("level", ["nav_maze_static_01", "seekavoid_arena_01", "explore_goal_locations_small"])
def test_the_agent_never_passes_through_walls(level):
    env = MazeVectorEnv(level, 48, render_observations=False)
    env.reset(seed=3)
    rng = np.random.default_rng(5)
    # runs of one action (mostly moving), so that agents reach and press against walls and corners
    action = rng.integers(0, 8, size=48)
    for step in range(600):
        change = rng.random(48) < 0.15
        action = np.where(change, rng.integers(0, 8, size=48), action)
        before = env.pos.copy()
        env.step(action)
        assert not overlaps_wall(env).any(), f"step {step}"
        respawned = np.hypot(*(env.pos - before).T) > 0.5
        assert (np.hypot(*(env.pos - before).T)[~respawned] <= 4 * 0.0601).all()


def place(env: MazeVectorEnv, i: int, x: float, y: float, heading: float) -> None:
    env.pos[i] = (x, y)
    env.heading[i] = heading


def test_reaching_the_goal_gives_ten_and_respawns_at_a_spawn_point_with_apples_back():
    level = load_map("nav_maze_01")
    env = MazeVectorEnv("nav_maze_static_01", 1, render_observations=False)
    env.reset(seed=0)
    apple_slot = int(np.flatnonzero(env.obj_kind[0] == APPLE)[0])
    env.obj_kind[0, apple_slot] = NONE  # as if eaten earlier
    (gr, gc), = level.goals
    place(env, 0, gc + 0.5, gr + 1.0, -math.pi / 2)  # just below the goal, facing it (north)
    _, reward, terminated, truncated, _ = env.step(np.array([FORWARD]))
    assert reward[0] == 10.0 and not terminated[0] and not truncated[0]
    cell = (int(env.pos[0, 1]), int(env.pos[0, 0]))
    assert cell in level.spawns
    assert env.obj_kind[0, apple_slot] == APPLE
    assert (env.obj_kind[0] == GOAL).sum() == 1


def test_apples_give_one_once_and_lemons_take_one():
    env = MazeVectorEnv("seekavoid_arena_01", 1, render_observations=False)
    env.reset(seed=0)
    level = load_map("seekavoid_arena_01")
    for kind, cell, expected in ((APPLE, level.apples[0], 1.0), (LEMON, level.lemons[0], -1.0)):
        r, c = cell
        slot = int(np.flatnonzero((np.floor(env.obj_pos[0]).astype(int) == (c, r)).all(axis=1))[0])
        assert env.obj_kind[0, slot] == kind
        free_row = r + 1 if not level.walls[r + 1, c] else r - 1
        heading = -math.pi / 2 if free_row > r else math.pi / 2
        place(env, 0, c + 0.5, free_row + 0.5, heading)
        total = sum(env.step(np.array([FORWARD]))[1][0] for _ in range(3))
        assert total == expected
        assert env.obj_kind[0, slot] == NONE
        for _ in range(3):  # back and forth over the same spot: nothing more
            assert env.step(np.array([BACKWARD]))[1][0] == 0.0
            assert env.step(np.array([FORWARD]))[1][0] == 0.0


def test_episodes_truncate_at_the_time_limit_and_autoreset_in_the_same_step():
    env = FAMILY.make_vector("Maze/nav_maze_random_goal_01", {"episode_frames": 40}, 3, 0, False)
    assert env.metadata["autoreset_mode"].name == "SAME_STEP" and env.episode_steps == 10
    env.reset(seed=1)
    goals = env.obj_pos[:, 0].copy()
    for step in range(1, 11):
        obs, _, terminated, truncated, info = env.step(np.full(3, FORWARD))
        assert not terminated.any()
        assert truncated.all() == (step == 10)
    assert info["_final_obs"].all() and info["final_obs"].shape == obs.shape
    assert (env.steps == 0).all()
    assert not np.array_equal(env.obj_pos[:, 0], goals)  # a new goal for each new episode


def test_generated_mazes_are_fully_connected():
    rng = np.random.default_rng(0)
    for spec in (MazeSpec(11, 11, rooms=2, loops=0.15), MazeSpec(17, 17, rooms=4, loops=0.15), MazeSpec(5, 7)):
        for _ in range(100):
            walls = generate_walls(spec, rng)
            assert walls[0].all() and walls[-1].all() and walls[:, 0].all() and walls[:, -1].all()
            assert fully_connected(walls)
    for name in ("nav_maze_01", "nav_maze_02", "nav_maze_03", "seekavoid_arena_01"):
        assert fully_connected(load_map(name).walls), name


def test_explore_levels_draw_a_new_maze_each_episode_from_the_seed():
    env = MazeVectorEnv("explore_goal_locations_large", 4, render_observations=False)
    env.reset(seed=0)
    layouts = env.walls.copy()
    assert len({w.tobytes() for w in layouts}) == 4
    again = MazeVectorEnv("explore_goal_locations_large", 2, render_observations=False)
    again.reset(seed=0)
    np.testing.assert_array_equal(again.walls, layouts[:2])  # copy i depends on (seed, i) only
    for i in range(4):
        cells = np.floor(env.obj_pos[i][:, ::-1]).astype(int)
        assert not env.walls[i][tuple(cells.T)].any()
        assert (env.obj_kind[i] == GOAL).sum() == 1 and (env.obj_kind[i] == APPLE).sum() == 8


def test_vector_env_pickles_and_continues_identically():
    env = MazeVectorEnv("nav_maze_static_02", 4)
    env.reset(seed=2)
    rng = np.random.default_rng(0)
    for _ in range(20):
        env.step(rng.integers(0, 8, size=4))
    copy = pickle.loads(pickle.dumps(env))
    for _ in range(30):
        actions = rng.integers(0, 8, size=4)
        a, b = env.step(actions), copy.step(actions)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_single_env_follows_the_gymnasium_api():
    from gymnasium.utils.env_checker import check_env

    env = MazeEnv("seekavoid_arena_01", render_mode="rgb_array")
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    picture = env.render()
    assert picture.ndim == 3 and picture.shape[2] == 3 and picture.dtype == np.uint8


def test_family_validates_ids_and_options_and_declares_the_protocol():
    assert FAMILY.validate("Maze/nav_maze_static_01", {}) is None
    assert "allowed" in FAMILY.validate("Maze/nav_maze_static_09", {})
    assert "unknown maze option" in FAMILY.validate("Maze/nav_maze_static_01", {"colour": 1})
    assert "positive" in FAMILY.validate("Maze/nav_maze_static_01", {"width": 0})
    protocol = FAMILY.protocol("Maze/nav_maze_static_01", {})
    assert protocol["frame_skip"] == 4 and protocol["episode_frames"] == 3600 and len(protocol["action_set"]) == 8
    assert FAMILY.frames_per_step("Maze/nav_maze_static_01", {"frame_skip": 2}) == 2
    # the layout itself is fingerprinted: levels on one map share it, other maps (or none) differ
    layouts = {level: FAMILY.protocol(f"Maze/{level}", {})["map_sha256"] for level in TASKS}
    assert layouts["nav_maze_static_01"] == layouts["nav_maze_random_goal_01"] != layouts["nav_maze_static_02"]
    assert layouts["explore_goal_locations_small"] is None and len(set(layouts.values())) == 5


def test_the_labyrinth_suite_declares_every_level():
    from harness.suite import load_suite

    suite = load_suite("labyrinth")
    assert {t.env.env_id for t in suite.tasks} == {f"Maze/{name}" for name in TASKS}
    for task in suite.tasks:
        assert task.env.family == "maze" and task.reference.kind == "oracle"
        assert task.reference.high > task.reference.low


def test_level_parsing_rejects_bad_maps():
    with pytest.raises(ValueError, match="enclosed"):
        parse_level("*****\n*  P \n*****\n")
    with pytest.raises(ValueError, match="unknown character 'x'"):
        parse_level("*****\n* x *\n*****\n")
    level = parse_level("*****\n*P G*\n*A L*\n*****\n")
    assert level.spawns == ((1, 1),) and level.goals == ((1, 3),) and level.apples == ((2, 1),)
    assert parse_level(level.to_text()).to_text() == level.to_text()
