"""Time the whole `harness report` on the shipped Dopamine data with 50,000 bootstrap replicates.

Two cases: Dopamine's DQN and Rainbow (the classic comparison: 2 algorithms × 60 games × 5 runs), and
the full data set (all 958,027 rows: 16 agent/variant combinations). Each writes every table and
figure. Target: under 60 seconds each on a 2-core machine. Prints the time of each phase.

    python benchmarks/report_speed.py [--reps 50000] [--only classic|full]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

CASES = {
    "classic": ("dopamine:DQN,Rainbow", []),
    "full": ("dopamine:*", ["dopamine/CNN:*", "dopamine/Impala:*"]),
}
TARGET_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=50_000)
    parser.add_argument("--only", choices=sorted(CASES))
    args = parser.parse_args()
    start = time.perf_counter()
    from harness.analysis.report import build_report  # the import is part of what a user waits for

    imported = time.perf_counter() - start
    print(f"cores available: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()[0]:.1f}; "
          f"import {imported:.1f} s")
    for name, (study, baselines) in CASES.items():
        if args.only and name != args.only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            begin = time.perf_counter()
            report = build_report(Path(tmp) / "results", study, Path(tmp) / "out", baselines=baselines,
                                  reps=args.reps)
            total = time.perf_counter() - begin
        rows = len(report.results.curves)
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items())
        verdict = "OK" if total < TARGET_S else "SLOWER THAN TARGET"
        print(f"{name:8s} {len(report.results.algorithms):2d} algorithms × {len(report.results.tasks)} games, "
              f"{args.reps:,} replicates: {total:.1f} s (target < {TARGET_S:.0f} s: {verdict}) [{phases}; "
              f"{rows:,} curve points]")


if __name__ == "__main__":
    main()
