"""Helpers that write real run directories (config.json, status.json, metrics.parquet) for analysis tests.

The layout is the run loop's contract (see harness/store.py); the test below checks that the store
itself reads what these helpers write, so the fixtures cannot drift from the real format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

FINGERPRINT = "0123456789abcdef"


def make_run(root: Path, study: str, algorithm: str, task: str, seed: int, returns: Sequence[float],
             every: int = 1000, state: str = "done", fingerprint: str = FINGERPRINT, family: str = "gym",
             reference: dict[str, Any] | None = None, frameskip: int = 1,
             extra: dict[str, Sequence[float]] | None = None) -> Path:
    run_id = f"{algorithm}-{task.replace('/', '_')}-{seed}-{fingerprint[:4]}"
    path = root / study / run_id
    path.mkdir(parents=True)
    steps = np.arange(1, len(returns) + 1) * every
    returns = np.asarray(returns, dtype=float)
    metrics = pd.DataFrame({
        "study": study, "algorithm": algorithm, "task": task, "seed": seed, "run_id": run_id,
        "env_steps": steps, "frames": steps * frameskip, "wall_time": steps / 100.0,
        "return_mean": returns, "return_std": 1.0, "return_median": returns, "return_min": returns - 1,
        "return_max": returns + 1, "episodes": 10, "length_mean": 100.0, "protocol": fingerprint,
        **{k: np.asarray(v, dtype=float) for k, v in (extra or {}).items()}})
    metrics.to_parquet(path / "metrics.parquet", index=False)
    protocol = {"env": {"id": task}, "evaluation": {"episodes": 10, "epsilon": 0.0}}
    config = {"study": study, "algorithm": algorithm, "seed": seed, "run_id": run_id, "hyper": {"lr": 1e-3},
              "task": {"id": task, "family": family, "env": task, "env_options": {}, "budget": int(steps[-1]),
                       "num_envs": 1, "checkpoint_every": every, "eval": {"every": every, "episodes": 10},
                       "reference": reference},
              "protocol": protocol, "fingerprint": fingerprint}
    (path / "config.json").write_text(json.dumps(config))
    (path / "status.json").write_text(json.dumps({"state": state, "step": int(steps[-1])}))
    return path


def test_store_reads_the_fixture_runs(tmp_path: Path) -> None:
    from harness.store import Study

    make_run(tmp_path, "s", "dqn", "CartPole-v1", 0, [10, 20, 30])
    runs = Study(tmp_path, "s").runs()
    assert [r.read_status()["state"] for r in runs] == ["done"]
    assert list(runs[0].read_metrics()["return_mean"]) == [10, 20, 30]
