"""Maze throughput on one core: batched rendering + stepping at 84x84 RGB, frame skip 4.

Counts honestly: one agent step simulates 4 frames (physics, pickups) but renders ONE observation,
so "rendered frames/s" = agent steps/s and "simulated frames/s" = 4x that. The one-core figure is
CPU time of this process (numpy, numba and torch limited to one thread), which is what one core
delivers even when the machine is shared; wall-clock rates are printed beside it. For comparison
it also times the unbatched path (a one-copy env stepped in a Python loop) and, when installed
(``pip install miniworld``, headless with PYGLET_HEADLESS=1), MiniWorld's MazeS3 at 84x84.

    python benchmarks/maze_speed.py [--seconds 2] [--levels nav_maze_static_01 ...] [--batches 1 64 256]
"""

from __future__ import annotations

import argparse
import os
import time

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = "1"
os.environ.setdefault("PYGLET_HEADLESS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from harness.envs.maze.env import MazeVectorEnv  # noqa: E402

TARGET = 10_000  # rendered frames per second, one core


def timed(run, seconds: float) -> tuple[float, float, int]:
    """(cpu seconds, wall seconds, calls) of repeated ``run()`` for about ``seconds`` of CPU."""
    run()  # warm-up (compilation, caches)
    calls, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
    while time.process_time() - cpu0 < seconds:
        run()
        calls += 1
    return time.process_time() - cpu0, time.perf_counter() - wall0, calls


def maze_rate(level: str, batch: int, seconds: float, render_only: bool = False) -> tuple[float, float]:
    """(steps/s by CPU time, steps/s by wall time) of the batched env with random actions."""
    env = MazeVectorEnv(level, batch)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 8, size=(64, batch))
    index = [0]

    def run() -> None:
        if render_only:
            env._render()
        else:
            env.step(actions[index[0] % 64])
        index[0] += 1

    cpu, wall, calls = timed(run, seconds)
    return calls * batch / cpu, calls * batch / wall


def miniworld_rate(seconds: float) -> tuple[float, float] | None:
    try:
        import gymnasium as gym
        import miniworld  # noqa: F401
    except ImportError:
        return None
    env = gym.make("MiniWorld-MazeS3-v0", obs_width=84, obs_height=84)
    env.reset(seed=0)

    def run() -> None:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()

    cpu, wall, calls = timed(run, seconds)
    return calls / cpu, calls / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per measurement")
    parser.add_argument("--levels", nargs="+", default=["nav_maze_static_01", "nav_maze_static_03",
                                                         "seekavoid_arena_01", "explore_goal_locations_large"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 16, 64, 256])
    args = parser.parse_args()

    print("maze, 84x84 RGB, frame skip 4, random actions; one core = CPU time of this process")
    print(f"{'level':32s} {'envs':>5s} {'rendered frames/s':>18s} {'simulated frames/s':>19s} {'wall frames/s':>14s}")
    best = 0.0
    for level in args.levels:
        for batch in args.batches:
            cpu_rate, wall_rate = maze_rate(level, batch, args.seconds)
            if batch > 1:
                best = max(best, cpu_rate)
            print(f"{level:32s} {batch:5d} {cpu_rate:18,.0f} {4 * cpu_rate:19,.0f} {wall_rate:14,.0f}")
    render_cpu, _ = maze_rate(args.levels[0], max(args.batches), args.seconds, render_only=True)
    print(f"render only, {args.levels[0]}, {max(args.batches)} envs: {render_cpu:,.0f} frames/s")
    print(f"batched path, best: {best:,.0f} rendered frames/s on one core "
          f"({'meets' if best >= TARGET else 'BELOW'} the {TARGET:,} target)")
    mini = miniworld_rate(args.seconds)
    if mini is None:
        print("MiniWorld: not installed (pip install miniworld; needs OpenGL, PYGLET_HEADLESS=1)")
    else:
        print(f"MiniWorld MazeS3 84x84, one env: {mini[0]:,.0f} steps/s (CPU time), {mini[1]:,.0f} (wall); "
              f"maze batched / MiniWorld: {best / mini[0]:.0f}x")


if __name__ == "__main__":
    main()
