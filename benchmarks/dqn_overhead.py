"""What the harness's run loop costs: DQN steps/s on CartPole through `harness.run.train` against a
plain single-file loop driving the very same agent, measured in the same process, interleaved.

Both loops step the same kind of SyncVectorEnv, seed identically and therefore perform the same learning
updates; the harness time excludes evaluation (its `wall_time` is taken before evaluating), so the
difference is the loop itself: transitions, episode accounting, metric aggregation, progress checks.

    python benchmarks/dqn_overhead.py [--algo dqn] [--steps 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from harness.plugin import EnvSpec, Transition, get_algorithm
from harness.run import seed_everything, train
from harness.suite import make_task


def plain_loop(algorithm: str, env_id: str, steps: int, seed: int, preset: str) -> float:
    """The same agent, driven by the shortest loop that gives it correct transitions. Steps/s."""
    from lightning_fabric import Fabric

    algo = get_algorithm(algorithm)
    config = algo.resolve_config({"preset": preset})
    envs = gym.vector.SyncVectorEnv([functools.partial(gym.make, env_id)],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    spec = EnvSpec(env_id, envs.single_observation_space, envs.single_action_space, 1)
    seed_everything(seed)
    agent = algo.make_agent(spec, config, seed, Fabric(accelerator="cpu", devices=1))
    obs, _ = envs.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        action = agent.act(obs)
        next_obs, reward, terminated, truncated, info = envs.step(action)
        real_next = next_obs
        if terminated[0] or truncated[0]:
            real_next = np.stack([info["final_obs"][0]])
        agent.observe(Transition(obs, action, reward, real_next, terminated, truncated))
        obs = next_obs
    return steps / (time.perf_counter() - start)


def harness_loop(algorithm: str, env_id: str, steps: int, seed: int, preset: str, root: Path) -> float:
    task = make_task(env_id, budget=steps, checkpoint_every=steps,
                     eval={"every": steps, "episodes": 1, "num_envs": 1}, hyper={algorithm: {"preset": preset}})
    result = train(algorithm, task, seed=seed, root=root, study=f"overhead-{time.monotonic_ns()}")
    return steps / float(result.metrics["wall_time"].iloc[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="dqn")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--preset", default="classic")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    plain, harness = [], []
    with tempfile.TemporaryDirectory() as root:
        for repeat in range(args.repeats):
            # alternate which loop goes first, so that drift in machine load does not favour either
            order = ("plain", "harness") if repeat % 2 == 0 else ("harness", "plain")
            for which in order:
                if which == "plain":
                    plain.append(plain_loop(args.algo, args.env, args.steps, repeat, args.preset))
                else:
                    harness.append(harness_loop(args.algo, args.env, args.steps, repeat, args.preset, Path(root)))
            print(f"repeat {repeat}: plain {plain[-1]:,.0f} steps/s, harness {harness[-1]:,.0f} steps/s")
    ratios = [h / p for h, p in zip(harness, plain)]
    ratio = statistics.median(ratios)
    print(f"{args.algo} on {args.env}, {args.steps:,} steps x {args.repeats}: plain loop median "
          f"{statistics.median(plain):,.0f} steps/s, harness median {statistics.median(harness):,.0f} steps/s")
    print(f"harness / plain = {ratio:.3f} (overhead {100 * (1 - ratio):+.1f}%; target: overhead <= 5%)")


if __name__ == "__main__":
    main()
