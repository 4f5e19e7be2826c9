"""Ray runs without a shared results directory (forced with HARNESS_RAY_RESULTS=stream): each run
trains in a temporary folder of its worker and streams its files to the driver's machine. On a real
local cluster the results tree is the same, file for file, as a shared-storage run's; after a SIGKILL
of the driver the same command pulls each run's last streamed checkpoint back to a worker, resumes it
there and ends with exactly the metrics of an uninterrupted run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import torch

from conftest import harness_cli
from fake_plugins import AGENTS_SOURCE, fake_distribution
from test_ray import cluster, kill_driver_mid_run, metrics, statuses  # noqa: F401  (the module's Ray cluster fixture)

SUITE = """
[suite]
name = "streamed"
[defaults]
budget = 12000
checkpoint_every = 1000
eval = { every = 4000, episodes = 5, num_envs = 5 }
[[tasks]]
id = "CartPole-v1"
"""
VOLATILE = {"created", "updated", "pid", "wall_time", "argv", "study", "owner"}  # differ between executions and studies


def tree(results: Path, study: str) -> dict[str, Path]:
    folder = results / study
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith("events.out")}  # TensorBoard names hold host and time


def comparable(path: Path) -> object:
    """A file's content without what differs between two executions of the same run."""
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        return {k: v for k, v in data.items() if k not in VOLATILE} if isinstance(data, dict) else data
    if path.suffix == ".parquet":
        return pd.read_parquet(path).drop(columns=["wall_time", "study"]).to_dict("list")
    if path.suffix == ".pt":
        state = torch.load(path, weights_only=False)
        return {"step": state["step"], "agent": state["agent"], "rows": [
            {k: v for k, v in row.items() if k not in ("wall_time", "study")} for row in state["rows"]]}
    if path.name == "metrics.csv":
        frame = pd.read_csv(path)
        return frame.drop(columns=[c for c in frame.columns if "wall_time" in c]).to_dict("list")
    return path.read_bytes()


def test_streamed_results_match_shared_storage_and_resume_after_a_kill(cluster, tmp_path):  # noqa: F811
    plugins = fake_distribution(tmp_path / "site", "steady-algos", {"random_agent": "steady_algos:random_agent"},
                                {"steady_algos": AGENTS_SOURCE})
    suite = tmp_path / "streamed.toml"
    suite.write_text(SUITE)
    results = tmp_path / "results"
    common = ["run", str(suite), "--algo", "random_agent", "--seeds", "2", "--workers", "2", "--results", str(results),
              "--no-progress", "--backend", "ray", "--address", cluster]

    def env(mode: str) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(plugins), "HARNESS_RAY_RESULTS": mode}

    for study, mode in (("shared", "shared"), ("streamed", "stream")):
        done = harness_cli(*common, "--study", study, env=env(mode))
        assert done.returncode == 0, done.stdout + done.stderr
    shared, streamed = tree(results, "shared"), tree(results, "streamed")
    assert shared.keys() == streamed.keys() and len(shared) > 10
    assert {name.split("/")[1] for name in shared if "/" in name} >= {"manifest.json", "checkpoint.pt", "logs"}
    for name, path in shared.items():
        assert comparable(streamed[name]) == comparable(path), name
    assert not list(results.glob(".ray-driver-*"))  # the shared-storage probe is removed at the end

    interrupted = kill_driver_mid_run([*common, "--study", "killed"], env("stream"), results, "killed", runs=2,
                                      step=3000)
    assert [s["state"] for s in interrupted.values()] == ["interrupted", "interrupted"]
    checkpoint_steps = {p.parent.name: torch.load(p, weights_only=False)["step"]
                        for p in (results / "killed").glob("*/checkpoint.pt")}
    assert len(checkpoint_steps) == 2 and all(0 < s < 12000 for s in checkpoint_steps.values())

    resumed = harness_cli(*common, "--study", "killed", env=env("stream"))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = statuses(results, "killed")
    assert {run_id: s["resumed_from"] for run_id, s in final.items()} == checkpoint_steps
    assert all(s["state"] == "done" for s in final.values())
    reference, after = metrics(results, "shared"), metrics(results, "killed")
    assert after.keys() == reference.keys()
    for run_id, frame in after.items():
        assert list(frame["env_steps"]) == [4000, 8000, 12000]
        pd.testing.assert_frame_equal(frame, reference[run_id])


def test_unknown_results_transfer_is_a_clean_user_error(tmp_path):
    result = harness_cli("run", "suites/quickstart.toml", "--algo", "dqn", "--backend", "ray", "--results-transfer", "ftp",
                         "--results", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'ftp'" in result.stderr and "auto, shared, stream" in result.stderr
    assert not any(tmp_path.iterdir())  # refused before anything was written
