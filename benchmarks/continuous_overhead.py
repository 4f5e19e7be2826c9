"""Harness overhead for PPO, SAC and TD3: steps per second through ``harness.run.train`` against a
plain single-file loop driving the same agent, same settings, same seed, in the same process.

The plain loop is the least any script needs: a gymnasium vector env (same-step autoreset), the
agent's ``act``/``observe``, and the final observation swapped in where an episode ended. The
harness adds Fabric, metric accounting, evaluation scheduling, checkpoints and the results store.
Runs alternate (plain, harness, plain, ...) so that load from other processes hits both alike; the
best of ``--repeats`` is compared. ``loop`` is the harness's own timing of its interaction loop
(setup, the final evaluation and the final checkpoint excluded); ``end-to-end`` times the whole
``train`` call; ``CPU ratio`` compares process CPU time (plain loop vs the whole ``train`` call,
setup included), which load from other processes disturbs far less than wall time on a shared
machine. The target: the harness costs at most 5% (ratio >= 0.95).

    python benchmarks/continuous_overhead.py [--algos sac td3 ppo] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from lightning_fabric import Fabric  # noqa: E402

from harness.plugin import EnvSpec, Transition, get_algorithm  # noqa: E402
from harness.run import seed_everything, train  # noqa: E402
from harness.suite import make_task  # noqa: E402

ENV = "Pendulum-v1"
# Steps per algorithm: long enough that learning dominates (SAC/TD3 learn from step 1,000 on).
SETTINGS = {
    "sac": {"budget": 4_000, "num_envs": 1, "hyper": {"preset": "pendulum"}},
    "td3": {"budget": 5_000, "num_envs": 1, "hyper": {"preset": "pendulum"}},
    "ppo": {"budget": 40_960, "num_envs": 4, "hyper": {"preset": "pendulum"}},
}


def plain_loop(name: str, budget: int, num_envs: int, hyper: dict, seed: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) for ``budget`` environment steps of the bare loop."""
    algo = get_algorithm(name)
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(ENV)] * num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    spec = EnvSpec(ENV, envs.single_observation_space, envs.single_action_space, num_envs)
    seed_everything(seed)
    agent = algo.make_agent(spec, algo.resolve_config(hyper), seed, Fabric(accelerator="cpu", devices=1))
    obs, _ = envs.reset(seed=seed)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(budget // num_envs):
        action = agent.act(obs)
        next_obs, reward, terminated, truncated, info = envs.step(action)
        real_next = next_obs
        if "_final_obs" in info:
            real_next = next_obs.copy()
            real_next[info["_final_obs"]] = np.stack(info["final_obs"][info["_final_obs"]])
        agent.observe(Transition(obs, action, reward, real_next, terminated, truncated))
        obs = next_obs
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    envs.close()
    return seconds, cpu


def harness_run(name: str, budget: int, num_envs: int, hyper: dict, seed: int) -> tuple[float, float, float]:
    """(interaction-loop seconds as the harness measured them, whole ``train`` call seconds, and its
    process CPU seconds)."""
    root = Path(tempfile.mkdtemp(prefix="overhead-"))
    task = make_task(ENV, budget=budget, num_envs=num_envs, checkpoint_every=budget,
                     eval={"every": budget, "episodes": 1, "num_envs": 1}, hyper={name: hyper})
    try:
        start, cpu = time.perf_counter(), time.process_time()
        result = train(name, task, seed, root=root, study="overhead")
        total, cpu = time.perf_counter() - start, time.process_time() - cpu
        return float(result.metrics["wall_time"].iloc[-1]), total, cpu
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", default=["sac", "td3", "ppo"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'algo':5} {'steps':>7} {'plain SPS':>10} {'harness SPS':>12} {'loop ratio':>11} {'end-to-end':>11} "
          f"{'CPU ratio':>10}")
    worst = 1.0
    for name in args.algos:
        s = SETTINGS[name]
        plain, plain_cpu, loop, total, cpu = [], [], [], [], []
        for _ in range(args.repeats):
            wall, used = plain_loop(name, s["budget"], s["num_envs"], s["hyper"], args.seed)
            plain.append(wall)
            plain_cpu.append(used)
            inner, whole, used = harness_run(name, s["budget"], s["num_envs"], s["hyper"], args.seed)
            loop.append(inner)
            total.append(whole)
            cpu.append(used)
        ratio = min(plain) / min(loop)
        worst = min(worst, ratio)
        print(f"{name:5} {s['budget']:>7} {s['budget'] / min(plain):>10.0f} {s['budget'] / min(loop):>12.0f} "
              f"{ratio:>11.3f} {min(plain) / min(total):>11.3f} {min(plain_cpu) / min(cpu):>10.3f}", flush=True)
    print(f"harness / plain throughput, worst loop ratio: {worst:.3f} "
          f"({'within' if worst >= 0.95 else 'OVER'} the 5% budget)")


if __name__ == "__main__":
    main()
