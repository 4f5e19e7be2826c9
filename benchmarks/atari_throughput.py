"""Atari environment throughput, random policy: ale-py's native vector env against gymnasium's
AsyncVectorEnv (the baseline) and SyncVectorEnv, at equal environment counts.

All three are built by ``harness.envs.atari.make_atari`` with the same protocol, so they produce the
same observations (84x84 grayscale, max-pooled, stacked 4, frameskip 4); only the backend differs.
Each configuration is measured ``--repeats`` times, interleaved, after a warm-up; the median counts.
Frames per second are emulator frames (agent steps x frameskip). On a shared machine wall-clock rates
depend on what else runs, so the benchmark also reports CPU time per 1,000 frames (the main process,
its threads and its subprocesses) and the load average while it ran.

    python benchmarks/atari_throughput.py [--game ALE/Breakout-v5] [--envs 2 4] [--seconds 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from harness.envs.atari import make_atari, settings_of

BACKENDS = ("native", "async", "sync")


def _cpu_seconds(pids: list[int]) -> float:
    """CPU time of this process (all threads) and of the given subprocesses, from /proc."""
    total = time.process_time()
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def measure(game: str, backend: str, num_envs: int, seconds: float, protocol: str) -> tuple[float, float]:
    """Agent steps per second (summed over envs) of a uniformly random policy, and CPU s per step."""
    envs = make_atari(game, {"protocol": protocol, "backend": backend}, num_envs)
    pids = [p.pid for p in getattr(envs.backend, "processes", [])]
    try:
        envs.reset(seed=0)
        rng = np.random.default_rng(0)
        n = envs.single_action_space.n
        for _ in range(50):  # warm-up: subprocesses started, caches filled
            envs.step(rng.integers(n, size=num_envs))
        steps = 0
        cpu = _cpu_seconds(pids)
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(50):
                envs.step(rng.integers(n, size=num_envs))
            steps += 50 * num_envs
        wall = time.perf_counter() - start
        return steps / wall, (_cpu_seconds(pids) - cpu) / steps
    finally:
        envs.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--game", default="ALE/Breakout-v5")
    parser.add_argument("--protocol", default="machado2018")
    parser.add_argument("--envs", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    frameskip = settings_of({"protocol": args.protocol}).frameskip

    print(f"{args.game}, protocol {args.protocol}, random policy; frames/s = agent steps/s x {frameskip}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'envs':>4}  {'backend':<7} {'steps/s':>9} {'frames/s':>10} {'vs async':>8}  {'CPU ms/1k frames':>16} {'vs async':>8}")
    ok = True
    for num_envs in args.envs:
        rates: dict[str, list[float]] = {b: [] for b in BACKENDS}
        costs: dict[str, list[float]] = {b: [] for b in BACKENDS}
        for _ in range(args.repeats):
            for backend in BACKENDS:
                rate, cost = measure(args.game, backend, num_envs, args.seconds, args.protocol)
                rates[backend].append(rate)
                costs[backend].append(cost)
        rate = {b: statistics.median(v) for b, v in rates.items()}
        cost = {b: statistics.median(v) * 1000 / frameskip * 1000 for b, v in costs.items()}
        for backend in BACKENDS:
            print(f"{num_envs:>4}  {backend:<7} {rate[backend]:>9,.0f} {rate[backend] * frameskip:>10,.0f} "
                  f"{rate[backend] / rate['async']:>7.2f}x  {cost[backend]:>16.1f} {cost['async'] / cost[backend]:>7.2f}x")
        ok &= rate["native"] >= 1.5 * rate["async"]
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print("native >= 1.5x async (frames/s) at every env count:", "yes" if ok else "NO")


if __name__ == "__main__":
    main()
