"""A longer (not CI) benchmark of PPO, SAC and TD3 on HalfCheetah-v5 and Hopper-v5, reported as
D4RL-normalized scores beside published reference points.

D4RL normalization: 100·(score − random)/(expert − random) with the D4RL reference returns
(halfcheetah: random −280.178953, expert 12135.0; hopper: random −20.272305, expert 3234.3).
Published points, for orientation only (longer budgets, other env versions): CleanRL TD3 on v4 at
1M steps — HalfCheetah 9583, Hopper 3135; SB3 RL Zoo SAC on v3 — HalfCheetah 9535, Hopper 2326.

    python benchmarks/continuous_mujoco.py --steps 50000 --seeds 1 --workers 2

Runs use each algorithm's "mujoco" preset (the papers' settings); with budgets far below 1M the
off-policy warm-up is shortened to ``--learning-starts`` steps, printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

D4RL = {"HalfCheetah-v5": (-280.178953, 12135.0), "Hopper-v5": (-20.272305, 3234.3)}
PUBLISHED = {  # (source, score)
    "HalfCheetah-v5": [("CleanRL TD3, v4, 1M steps", 9583.0), ("SB3 Zoo SAC, v3", 9535.0)],
    "Hopper-v5": [("CleanRL TD3, v4, 1M steps", 3135.0), ("SB3 Zoo SAC, v3", 2326.0)],
}


def d4rl_score(env_id: str, score: float) -> float:
    low, high = D4RL[env_id]
    return 100.0 * (score - low) / (high - low)


def one_run(args: tuple[str, str, int, int, int, str]) -> dict:
    algo, env_id, seed, steps, learning_starts, root = args
    import torch

    torch.set_num_threads(1)
    from harness.run import train
    from harness.suite import make_task

    hyper: dict = {"preset": "mujoco"}
    if algo in ("sac", "td3"):
        hyper["learning_starts"] = learning_starts
    task = make_task(env_id, budget=steps, num_envs=1, checkpoint_every=max(steps // 5, 1),
                     eval={"every": max(steps // 10, 1), "episodes": 10, "num_envs": 5}, hyper={algo: hyper})
    result = train(algo, task, seed, root=root, study="continuous-mujoco")
    m = result.metrics
    return {"algo": algo, "env": env_id, "seed": seed, "steps": steps, "hyper": hyper,
            "final_return": float(m["return_mean"].iloc[-1]), "best_return": float(m["return_mean"].max()),
            "wall_time": float(m["wall_time"].iloc[-1]),
            "curve": m[["env_steps", "return_mean"]].values.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", default=["sac", "td3", "ppo"])
    parser.add_argument("--envs", nargs="+", default=list(D4RL))
    parser.add_argument("--steps", type=int, default=50_000, help="off-policy budget (SAC, TD3)")
    parser.add_argument("--ppo-steps", type=int, default=None, help="PPO budget (default: --steps)")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--learning-starts", type=int, default=5_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--root", default="results")
    parser.add_argument("--out", default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    jobs = [(algo, env, seed, (args.ppo_steps or args.steps) if algo == "ppo" else args.steps,
             args.learning_starts, args.root)
            for algo in args.algos for env in args.envs for seed in range(args.seeds)]
    rows = []
    with ProcessPoolExecutor(args.workers) as pool:
        for row in pool.map(one_run, jobs):  # each row is kept as soon as its run ends
            rows.append(row)
            if args.out:
                Path(args.out).write_text(json.dumps(rows, indent=1))
    print(f"{'algo':5} {'env':15} {'seed':>4} {'steps':>8} {'final':>9} {'D4RL':>6} {'best':>9} {'D4RL':>6} {'minutes':>8}")
    for r in rows:
        print(f"{r['algo']:5} {r['env']:15} {r['seed']:>4} {r['steps']:>8} {r['final_return']:>9.1f} "
              f"{d4rl_score(r['env'], r['final_return']):>6.1f} {r['best_return']:>9.1f} "
              f"{d4rl_score(r['env'], r['best_return']):>6.1f} {r['wall_time'] / 60:>8.1f}")
    print("\npublished reference points (orientation only):")
    for env in args.envs:
        for source, score in PUBLISHED[env]:
            print(f"  {env:15} {source:28} {score:>8.0f}  D4RL {d4rl_score(env, score):6.1f}")


if __name__ == "__main__":
    main()
