"""The tasks, modelled on DeepMind Lab's navigation levels: map, episode length and reward rules."""

from __future__ import annotations

from dataclasses import dataclass

from harness.envs.maze.generator import MazeSpec


@dataclass(frozen=True)
class TaskRules:
    """What an episode of a level is.

    ``goal``: "fixed" (the map's G), "random" (a new floor cell each episode) or "none". Reaching the
    goal respawns the agent at a random spawn point and restores the apples; apples and lemons are
    consumed when touched. ``maze`` set: the layout is generated anew each episode (then ``apples``
    apples are scattered on it); otherwise ``map_name`` names a text map in ``levels/``.
    """

    name: str
    description: str
    episode_frames: int
    goal: str = "fixed"
    map_name: str | None = None
    maze: MazeSpec | None = None
    apples: int = 0
    goal_reward: float = 10.0
    apple_reward: float = 1.0
    lemon_reward: float = -1.0


TASKS: dict[str, TaskRules] = {t.name: t for t in (
    TaskRules("nav_maze_static_01", "small fixed maze, fixed goal (+10) and apples (+1)", 3600, "fixed", "nav_maze_01"),
    TaskRules("nav_maze_static_02", "medium fixed maze, fixed goal and apples", 7200, "fixed", "nav_maze_02"),
    TaskRules("nav_maze_static_03", "large fixed maze, fixed goal and apples", 10800, "fixed", "nav_maze_03"),
    TaskRules("nav_maze_random_goal_01", "small fixed maze, goal placed anew each episode", 3600, "random",
              "nav_maze_01"),
    TaskRules("nav_maze_random_goal_02", "medium fixed maze, goal placed anew each episode", 7200, "random",
              "nav_maze_02"),
    TaskRules("nav_maze_random_goal_03", "large fixed maze, goal placed anew each episode", 10800, "random",
              "nav_maze_03"),
    TaskRules("seekavoid_arena_01", "open arena: apples +1, lemons -1, nothing respawns", 1200, "none",
              "seekavoid_arena_01"),
    TaskRules("explore_goal_locations_small", "small maze generated each episode, random goal and apples", 5400,
              "random", maze=MazeSpec(11, 11, rooms=2, loops=0.15), apples=4),
    TaskRules("explore_goal_locations_large", "large maze generated each episode, random goal and apples", 8100,
              "random", maze=MazeSpec(17, 17, rooms=4, loops=0.15), apples=8),
)}


def get_task(name: str) -> TaskRules:
    if name not in TASKS:
        raise ValueError(f"unknown maze level {name!r}; levels: {', '.join(TASKS)}")
    return TASKS[name]
