"""Atari environment throughput, random policy: ale-py's native vector env against gymnasium's
AsyncVectorEnv (the baseline) and SyncVectorEnv, at equal environment counts.

All three are built by ``harness.envs.atari.make_atari`` with the same protocol, so they produce the
same observations (84x84 grayscale, max-pooled, stacked 4, frameskip 4); only the backend differs.
Each configuration is measured ``--repeats`` times, interleaved, after a warm-up; the median counts.
Frames per second are emulator frames (agent steps x frameskip).

    python benchmarks/atari_throughput.py [--game ALE/Breakout-v5] [--envs 2 4] [--seconds 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from harness.envs.atari import make_atari, settings_of

BACKENDS = ("native", "async", "sync")


def steps_per_second(game: str, backend: str, num_envs: int, seconds: float, protocol: str) -> float:
    """Agent steps per second (summed over envs) of a uniformly random policy."""
    envs = make_atari(game, {"protocol": protocol, "backend": backend}, num_envs)
    try:
        envs.reset(seed=0)
        rng = np.random.default_rng(0)
        n = envs.single_action_space.n
        for _ in range(50):  # warm-up: subprocesses started, caches filled
            envs.step(rng.integers(n, size=num_envs))
        steps = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(50):
                envs.step(rng.integers(n, size=num_envs))
            steps += 50 * num_envs
        return steps / (time.perf_counter() - start)
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

    print(f"{args.game}, protocol {args.protocol}, random policy; frames/s = agent steps/s x {frameskip}")
    print(f"{'envs':>4}  {'backend':<7} {'steps/s':>9} {'frames/s':>10}  vs async")
    ok = True
    for num_envs in args.envs:
        samples: dict[str, list[float]] = {b: [] for b in BACKENDS}
        for _ in range(args.repeats):
            for backend in BACKENDS:
                samples[backend].append(steps_per_second(args.game, backend, num_envs, args.seconds, args.protocol))
        median = {b: statistics.median(v) for b, v in samples.items()}
        for backend in BACKENDS:
            ratio = median[backend] / median["async"]
            print(f"{num_envs:>4}  {backend:<7} {median[backend]:>9,.0f} {median[backend] * frameskip:>10,.0f}  {ratio:.2f}x")
        ok &= median["native"] >= 1.5 * median["async"]
    print("native >= 1.5x async at every env count:", "yes" if ok else "NO")


if __name__ == "__main__":
    main()
