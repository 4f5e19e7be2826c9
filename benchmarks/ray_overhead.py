"""Ray backend vs local scheduler: throughput on a grid of short runs, same machine, same grid.

Both backends run the same grid (random-action agent on CartPole, short budgets) with the same number
of runs at once; each is timed end to end as a user runs it (`harness run`, one process per
invocation) and, separately, with the Ray cluster already up (``--address``), which is how a cluster
is used; and on that cluster with results streamed back to the driver (``HARNESS_RAY_RESULTS=stream``,
as without a shared results directory). Prints runs/s and environment steps/s per backend and the ratio Ray/local.

    python benchmarks/ray_overhead.py [--runs 8] [--budget 5000] [--workers 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fake_plugins import AGENTS_SOURCE, fake_distribution  # noqa: E402
from test_ray import ray_head  # noqa: E402

SUITE = """
[suite]
name = "overhead"
[defaults]
budget = {budget}
checkpoint_every = {budget}
eval = {{ every = {budget}, episodes = 5, num_envs = 5 }}
[[tasks]]
id = "CartPole-v1"
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--budget", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ray-overhead"))
    try:
        site = fake_distribution(folder / "site", "bench-algos", {"random_agent": "bench_algos:random_agent"},
                                 {"bench_algos": AGENTS_SOURCE})
        suite = folder / "overhead.toml"
        suite.write_text(SUITE.format(budget=args.budget))
        env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
        base = [sys.executable, "-m", "harness.cli", "run", str(suite), "--algo", "random_agent", "--seeds",
                str(args.runs), "--workers", str(args.workers), "--no-progress"]
        times: dict[str, list[float]] = {}
        with ray_head(num_cpus=args.workers) as address:
            running = ["--backend", "ray", "--address", address]
            for repeat in range(args.repeats):  # interleaved, so background load hits all alike
                for index, (name, extra, mode) in enumerate((
                        ("local", [], "auto"), ("ray (new local cluster)", ["--backend", "ray"], "auto"),
                        ("ray (running cluster)", running, "shared"), ("ray (running, streamed)", running, "stream"))):
                    results = folder / f"results-{repeat}-{index}"
                    times.setdefault(name, []).append(
                        timed([*base, *extra, "--results", str(results)], {**env, "HARNESS_RAY_RESULTS": mode}))
        local = min(times["local"])
        steps = args.runs * args.budget
        print(f"grid: {args.runs} runs x {args.budget} steps, {args.workers} at once, best of {args.repeats}")
        for name, values in times.items():
            best = min(values)
            print(f"{name:26s} {best:7.1f} s  {args.runs / best:6.2f} runs/s  {steps / best:8.0f} steps/s  "
                  f"ray/local throughput {local / best:5.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
