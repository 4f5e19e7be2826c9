"""Value-family throughput against a plain CleanRL-style DQN (benchmarks/plain_dqn.py), in one run.

1. CartPole DQN, one environment: the harness (``harness.run.train``, evaluation time excluded)
   against the plain loop, same network, batch, replay ratio, target period and ε schedule.
2. The same with the harness's vectorized setting (``--num-envs``, default 8) at the same replay
   ratio (one update per ``train_every`` environment steps, whatever the number of environments).
3. Rainbow's per-update cost against DQN's, each timed on ``learn()`` with a filled buffer.

Repeats are interleaved so that load from other processes hits both sides alike; medians are printed
with the ratios.

    python benchmarks/dqn_throughput.py [--steps 30000] [--repeats 3] [--num-envs 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: plain_dqn.py sits beside it
from plain_dqn import Args, evaluate, train as plain_train  # noqa: E402

from harness.plugin import EnvSpec, Transition, get_algorithm  # noqa: E402
from harness.run import train  # noqa: E402
from harness.suite import make_task  # noqa: E402


def harness_sps(algo: str, steps: int, num_envs: int, seed: int, root: Path) -> tuple[float, float]:
    """Training steps/s (evaluation excluded) and final evaluation return of a harness run."""
    task = make_task("CartPole-v1", budget=steps, num_envs=num_envs, checkpoint_every=steps,
                     eval={"every": steps, "episodes": 10, "num_envs": 5}, hyper={algo: {"preset": "classic"}})
    result = train(algo, task, seed=seed, root=root, study=f"throughput-{time.monotonic_ns()}")
    return steps / float(result.metrics["wall_time"].iloc[-1]), result.final_return


def update_cost(algo: str, updates: int, seed: int = 0) -> float:
    """Milliseconds per learn() call on CartPole with the classic preset, buffer already filled."""
    algorithm = get_algorithm(algo)
    config = algorithm.resolve_config({"preset": "classic", "learning_starts": 10**9})
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    spec = EnvSpec("CartPole-v1", envs.single_observation_space, envs.single_action_space, 1)
    agent = algorithm.make_agent(spec, config, seed, None)
    obs, _ = envs.reset(seed=seed)
    for _ in range(5_000):
        action = agent.act(obs)
        next_obs, reward, terminated, truncated, info = envs.step(action)
        real = np.stack([info["final_obs"][0]]) if terminated[0] or truncated[0] else next_obs
        agent.observe(Transition(obs, action, reward, real, terminated, truncated))
        obs = next_obs
    for _ in range(20):
        agent.learn()
    start = time.perf_counter()
    for _ in range(updates):
        agent.learn()
    return 1000 * (time.perf_counter() - start) / updates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--updates", type=int, default=1_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    plain, single, vector, returns = [], [], [], {"plain": [], "harness-1": [], f"harness-{args.num_envs}": []}
    with tempfile.TemporaryDirectory() as root:
        for seed in range(args.repeats):
            q_network, sps = plain_train(Args(total_timesteps=args.steps, seed=seed))
            plain.append(sps)
            returns["plain"].append(evaluate(q_network, "CartPole-v1", 10, 10_000 + seed, torch.device("cpu")))
            sps, ret = harness_sps("dqn", args.steps, 1, seed, Path(root))
            single.append(sps)
            returns["harness-1"].append(ret)
            sps, ret = harness_sps("dqn", args.steps, args.num_envs, seed, Path(root))
            vector.append(sps)
            returns[f"harness-{args.num_envs}"].append(ret)
            print(f"seed {seed}: plain {plain[-1]:,.0f}, harness 1 env {single[-1]:,.0f}, "
                  f"harness {args.num_envs} envs {vector[-1]:,.0f} steps/s", flush=True)
    med = statistics.median
    print(f"\nCartPole DQN, {args.steps:,} steps x {args.repeats} (steps/s, median): plain {med(plain):,.0f}, "
          f"harness 1 env {med(single):,.0f}, harness {args.num_envs} envs {med(vector):,.0f}")
    print(f"harness 1 env / plain = {med([s / p for s, p in zip(single, plain)]):.2f}x (target >= 1.5x)")
    print(f"harness {args.num_envs} envs / plain = {med([v / p for v, p in zip(vector, plain)]):.2f}x (target >= 4x)")
    for name, values in returns.items():
        print(f"final evaluation return {name}: mean {np.mean(values):.1f} ({', '.join(f'{v:.0f}' for v in values)})")
    dqn_ms, rainbow_ms = [], []
    for repeat in range(args.repeats):
        dqn_ms.append(update_cost("dqn", args.updates, repeat))
        rainbow_ms.append(update_cost("rainbow", args.updates, repeat))
    print(f"\nper update (classic preset, batch 64): dqn {med(dqn_ms):.3f} ms, rainbow {med(rainbow_ms):.3f} ms, "
          f"rainbow / dqn = {med([r / d for r, d in zip(rainbow_ms, dqn_ms)]):.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
