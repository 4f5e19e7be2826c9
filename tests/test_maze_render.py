"""Maze rendering: wall distances per column at known poses, occlusion of walls and objects, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.envs.maze.env import MazeVectorEnv
from harness.envs.maze.levels import parse_level
from harness.envs.maze.raycast import APPLE, Camera, cast_rays, render

ROOM = """
*******
*     *
*     *
*     *
*     *
*     *
*******
"""
PILLAR = """
*******
*     *
*     *
*  *  *
*     *
*     *
*******
"""
CAMERA = Camera(84, 84, 90.0)


def walls_of(text: str) -> np.ndarray:
    return parse_level(text).walls[None]


def exact_room_distance(pos: np.ndarray, heading: float, offsets: np.ndarray) -> np.ndarray:
    """Perpendicular distance to the inside of the 5x5 room (faces at x, y = 1 and 6), by geometry."""
    dx = math.cos(heading) - math.sin(heading) * offsets
    dy = math.sin(heading) + math.cos(heading) * offsets
    with np.errstate(divide="ignore"):
        tx = np.where(dx > 0, (6 - pos[0]) / dx, (1 - pos[0]) / dx)
        ty = np.where(dy > 0, (6 - pos[1]) / dy, (1 - pos[1]) / dy)
    return np.minimum(np.where(dx == 0, np.inf, tx), np.where(dy == 0, np.inf, ty))


def test_facing_a_flat_wall_every_column_sees_the_same_perpendicular_distance():
    hits = cast_rays(walls_of(ROOM), np.array([[3.5, 3.5]]), np.array([0.0]), CAMERA)
    np.testing.assert_allclose(hits.distance[0], 2.5, atol=1e-9)
    assert not hits.horizontal.any()
    assert set((hits.cell[0] % 7).tolist()) == {6}  # the east wall column


@pytest.mark.parametrize("seed", range(5))
def test_wall_distance_per_column_matches_geometry_at_random_poses(seed):
    rng = np.random.default_rng(seed)
    pos = rng.uniform(1.3, 5.7, size=(8, 2))
    heading = rng.uniform(0, 2 * math.pi, size=8)
    hits = cast_rays(walls_of(ROOM).repeat(8, 0), pos, heading, CAMERA)
    for i in range(8):
        expected = exact_room_distance(pos[i], heading[i], CAMERA.column_offsets())
        np.testing.assert_allclose(hits.distance[i], expected, rtol=1e-9, atol=1e-9)


def wall_rows_above_horizon(frame: np.ndarray) -> np.ndarray:
    """Per column, upper-half rows drawn as wall: walls use a red tint, the ceiling is blue."""
    upper = frame[:, : frame.shape[1] // 2].astype(int)
    return (upper[0] > upper[2]).sum(axis=0)


def test_wall_height_on_screen_is_inverse_to_distance():
    walls = walls_of(ROOM)
    tints = np.ones_like(walls, dtype=np.uint8)  # palette entry 1: red-brown, never blue
    empty = (np.zeros((1, 0, 2)), np.zeros((1, 0), dtype=np.int8))
    for x in (1.5, 3.0, 4.5):
        frame = render(walls, tints, np.array([[x, 3.5]]), np.array([0.0]), *empty, CAMERA)[0]
        half = CAMERA.focal * 0.5 / exact_room_distance(np.array([x, 3.5]), 0.0, CAMERA.column_offsets())
        rows = np.arange(42) + 0.5 - 42
        count = lambda h: (np.abs(rows)[:, None] < h[None, :]).sum(axis=0)  # noqa: E731
        drawn = wall_rows_above_horizon(frame)  # a row exactly on the wall's edge may round either way
        assert ((count(half * (1 - 1e-9)) <= drawn) & (drawn <= count(half * (1 + 1e-9)))).all(), x


def test_nearer_wall_occludes_farther_ones():
    hits = cast_rays(walls_of(PILLAR), np.array([[1.5, 3.5]]), np.array([0.0]), CAMERA)
    centre = hits.distance[0, 40:44]
    np.testing.assert_allclose(centre, 1.5)  # the pillar's west face at x = 3
    assert set(hits.cell[0, 40:44].tolist()) == {3 * 7 + 3}
    edges = np.r_[0:5, 79:84]  # past the pillar: the room's side walls, farther away
    assert (hits.distance[0, edges] > 2.0).all() and (hits.cell[0, edges] != 3 * 7 + 3).all()


def render_with_apple(apple_x: float) -> np.ndarray:
    walls = walls_of(PILLAR)
    return render(walls, np.ones_like(walls, dtype=np.uint8), np.array([[1.5, 3.5]]), np.array([0.0]),
                  np.array([[[apple_x, 3.5]]]), np.array([[APPLE]], dtype=np.int8), CAMERA)[0]


def render_without_objects() -> np.ndarray:
    walls = walls_of(PILLAR)
    return render(walls, np.ones_like(walls, dtype=np.uint8), np.array([[1.5, 3.5]]), np.array([0.0]),
                  np.zeros((1, 0, 2)), np.zeros((1, 0), dtype=np.int8), CAMERA)[0]


def test_walls_occlude_objects_and_objects_occlude_walls():
    plain = render_without_objects()
    behind = render_with_apple(5.5)  # beyond the pillar, exactly behind it
    np.testing.assert_array_equal(behind, plain)
    in_front = render_with_apple(2.5)
    changed = np.argwhere((in_front != plain).any(axis=0))
    assert len(changed) > 0
    columns = set(changed[:, 1].tolist())
    assert columns <= set(range(30, 54)) and {41, 42} <= columns  # centred on screen
    red = in_front[:, changed[:, 0], changed[:, 1]].astype(int)
    assert (red[0] > 2 * red[1]).mean() > 0.9  # drawn in the apple's red


def test_a_nearer_object_is_drawn_over_a_farther_one():
    walls = walls_of(ROOM)
    kinds = np.array([[APPLE, 2]], dtype=np.int8)  # an apple at 1.0, a lemon right behind it at 2.0
    frame = render(walls, np.ones_like(walls, dtype=np.uint8), np.array([[1.5, 3.5]]), np.array([0.0]),
                   np.array([[[2.5, 3.5], [3.5, 3.5]]]), kinds, CAMERA)[0]
    # row 47 lies in both: the apple spans rows ~44-57 (centre 0.3 high, depth 1), the lemon ~44-49
    overlap = frame[:, 47, 41:44].astype(int)
    assert (overlap[0] > 2 * overlap[1]).all()  # red (apple), not yellow (lemon)
    lemon_only = render(walls, np.ones_like(walls, dtype=np.uint8), np.array([[1.5, 3.5]]), np.array([0.0]),
                        np.array([[[3.5, 3.5]]]), np.array([[2]], dtype=np.int8), CAMERA)[0][:, 47, 41:44].astype(int)
    assert (lemon_only[1] > 0.7 * lemon_only[0]).all()  # yellow where the apple is absent


def test_same_seed_and_actions_give_identical_frames():
    def run(seed: int) -> list[np.ndarray]:
        env = MazeVectorEnv("explore_goal_locations_small", 3)
        frames = [env.reset(seed=seed)[0]]
        actions = np.random.default_rng(7).integers(0, 8, size=(40, 3))
        frames += [env.step(a)[0] for a in actions]
        return frames

    first, second, other = run(11), run(11), run(12)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert any((a != b).any() for a, b in zip(first, other))


def test_observation_size_follows_the_options():
    from harness.envs.maze import FAMILY

    env = FAMILY.make_vector("Maze/seekavoid_arena_01", {"width": 64, "height": 48}, 2, 0, False)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2, 3, 48, 64) and obs.dtype == np.uint8
    assert env.single_observation_space.shape == (3, 48, 64)
