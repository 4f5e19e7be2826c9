"""Atari DQN throughput during the learning phase: the harness against a plain CleanRL-style loop
(benchmarks/plain_dqn_atari.py), Breakout, Nature settings (one update of batch 32 per 4 steps), in
one run.

Both sides warm up for ``--learning-starts`` steps, then learn for ``--learning-steps``; the rate
printed is over the learning phase alone (the harness's recorded ``wall_time``, which excludes
evaluations and checkpoints, between its evaluation points at the two boundaries). The harness
runs with 1 environment and with ``--num-envs`` (ale-py's native vector env) at the same replay
ratio.
Repeats are interleaved; medians of per-repeat ratios are printed, with their range.

    python benchmarks/dqn_atari_throughput.py [--learning-steps 4000] [--repeats 5] [--num-envs 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: plain_dqn_atari.py sits beside it
from plain_dqn_atari import Args, train as plain_train  # noqa: E402

from harness.run import train  # noqa: E402
from harness.suite import make_task  # noqa: E402


def harness_hyper(args: Args) -> dict:
    """``plain_dqn_atari.Args`` in the harness's ``dqn`` vocabulary."""
    return {"preset": "nature", "lr": args.learning_rate, "adam_eps": 1e-8, "buffer_size": args.buffer_size,
            "batch_size": args.batch_size, "train_every": args.train_frequency,
            "target_update_every": args.target_network_frequency, "eps_end": args.end_e,
            "eps_decay_steps": int(args.exploration_fraction * 10_000_000), "learning_starts": args.learning_starts,
            "loss": "huber", "max_grad_norm": 0.0}


def harness_run(args: Args, num_envs: int, root: Path, budget: int) -> tuple[Any, float]:
    task = make_task(args.env_id, env_options={"protocol": "nature2015"}, budget=budget, num_envs=num_envs,
                     checkpoint_every=budget,
                     # a random evaluation policy keeps the (excluded) evaluations short
                     eval={"every": args.learning_starts, "episodes": 1, "num_envs": 1, "epsilon": 1.0},
                     hyper={"dqn": harness_hyper(args)})
    cpu = time.process_time()
    result = train("dqn", task, seed=args.seed, root=root, study=f"atari-{time.monotonic_ns()}")
    return result.metrics, time.process_time() - cpu


def harness_learning_sps(args: Args, num_envs: int, root: Path) -> tuple[float, float]:
    """Learning-phase steps/s: wall (from the run's recorded wall_time) and CPU (this process and its
    threads: a run of the whole budget minus a run of the warm-up alone, same seed)."""
    metrics, cpu = harness_run(args, num_envs, root, args.total_timesteps)
    rows = metrics[metrics["env_steps"] >= args.learning_starts]  # vector steps overshoot a little
    first, last = rows.iloc[0], rows.iloc[-1]
    wall = float((last["env_steps"] - first["env_steps"]) / (last["wall_time"] - first["wall_time"]))
    _, warmup_cpu = harness_run(args, num_envs, root, args.learning_starts)
    return wall, (args.total_timesteps - args.learning_starts) / (cpu - warmup_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learning-starts", type=int, default=1_000)
    parser.add_argument("--learning-steps", type=int, default=4_000)
    parser.add_argument("--repeats", type=int, default=5, help="this machine's speed moves by up to ±30%% "
                        "between minutes: single repeats' ratios spread widely, medians less")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--buffer-size", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of both loops: 1 as in the harness's suite workers; the core count "
                             "as CleanRL leaves it and as `harness run --threads` sets it for a run that owns the machine")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    vec = f"harness, {args.num_envs} envs"
    sps: dict[str, list[float]] = {"plain": [], "harness, 1 env": [], vec: []}
    cpu_sps: dict[str, list[float]] = {name: [] for name in sps}
    with tempfile.TemporaryDirectory() as root:
        for seed in range(1, args.repeats + 1):
            run = Args(seed=seed, total_timesteps=args.learning_starts + args.learning_steps,
                       learning_starts=args.learning_starts, buffer_size=args.buffer_size)
            plain = plain_train(run)
            sps["plain"].append(plain["learning_sps"])
            cpu_sps["plain"].append(plain["learning_cpu_sps"])
            for name, num_envs in (("harness, 1 env", 1), (vec, args.num_envs)):
                wall, cpu = harness_learning_sps(run, num_envs, Path(root))
                sps[name].append(wall)
                cpu_sps[name].append(cpu)
            print(f"repeat {seed}: " + ", ".join(f"{k} {v[-1]:.1f} ({cpu_sps[k][-1]:.1f} per CPU-second)"
                                                 for k, v in sps.items()) + " steps/s", flush=True)
    med = statistics.median
    print(f"\nALE/Breakout-v5 DQN, Nature settings, learning phase ({args.learning_steps:,} steps after "
          f"{args.learning_starts:,}), {args.repeats} repeats, {args.threads} torch thread(s) in both loops "
          f"(with 1, the harness's passes over s' run on its side thread, harness/side_thread.py):")
    for name, values in sps.items():
        ratios = [v / p for v, p in zip(values, sps["plain"])]
        cpu_ratio = med([v / p for v, p in zip(cpu_sps[name], cpu_sps["plain"])])
        print(f"  {name:18} {med(values):8.1f} steps/s  {med(ratios):.2f}x plain "
              f"({min(ratios):.2f}-{max(ratios):.2f}; target >= 1.3x);  "
              f"{med(cpu_sps[name]):8.1f} steps per CPU-second  {cpu_ratio:.2f}x plain")

if __name__ == "__main__":
    main()
