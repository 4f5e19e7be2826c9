"""The Ray backend passes the local backend's end-to-end tests on a real Ray cluster (2 CPUs) started
here: a grid runs, finished runs are skipped, failures are isolated and recorded exactly as locally,
and after a SIGKILL of the driver in the middle the same command resumes every run from its
checkpoint and ends with exactly the metrics of an uninterrupted run (of the local backend)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest

from conftest import REPO, harness_cli
from fake_plugins import AGENTS_SOURCE, FAULTS_SUITE, fake_distribution, faulty_site

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def ray_head(num_cpus: int = 2, num_gpus: int = 0, env: dict[str, str] | None = None) -> Iterator[str]:
    """A real single-node Ray cluster in its own session; yields its address, then kills that session."""
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must stay short
    port = free_port()
    command = [RAY, "start", "--head", "--block", f"--port={port}", f"--num-cpus={num_cpus}", f"--num-gpus={num_gpus}",
               "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}",
               f"--ray-client-server-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
               f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
               "--min-worker-port=0", "--max-worker-port=0"]
    head = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, **(env or {}), "RAY_USAGE_STATS_ENABLED": "0"})
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while subprocess.run([RAY, "status", f"--address={address}"], capture_output=True).returncode != 0:
            assert head.poll() is None, "ray start --head exited"
            assert time.time() < deadline, "the Ray cluster did not come up"
            time.sleep(1)
        yield address
    finally:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with ray_head(num_cpus=2) as address:
        yield address


harness = harness_cli  # the real command line in a subprocess (conftest)


def test_ray_grid_isolates_failures_and_skips_finished(cluster, tmp_path):
    plugins = faulty_site(tmp_path / "site")
    suite = tmp_path / "faults.toml"
    suite.write_text(FAULTS_SUITE)
    results = tmp_path / "results"
    env = {"PYTHONPATH": str(plugins)}
    ray_args = ("--backend", "ray", "--address", cluster, "--results", str(results), "--no-progress")
    result = harness("run", str(suite), "--algo", "random_agent,nan_agent,crash_agent,dying_agent", "--seeds", "2",
                     "--workers", "2", *ray_args, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "done 2" in result.stdout and "failed 6" in result.stdout

    states: dict[str, list[dict]] = {}
    for config_path in (results / "faults").glob("*/config.json"):
        algorithm = json.loads(config_path.read_text())["algorithm"]
        states.setdefault(algorithm, []).append(json.loads((config_path.parent / "status.json").read_text()))
    assert [s["state"] for s in states["random_agent"]] == ["done", "done"]
    for status in states["nan_agent"]:
        assert status["state"] == "failed"
        assert "NonFiniteLossError" in status["error"] and "'loss'" in status["error"]
    for status in states["crash_agent"]:
        assert status["state"] == "failed" and "deliberate crash" in status["error"]
        assert "Traceback" in status["traceback"] and "loss" in status["traceback"]
    for status in states["dying_agent"]:  # its worker vanished on every attempt: failed, never retried forever
        assert status["state"] == "failed" and "worker process died" in status["error"]
        assert "2 attempts" in status["error"]  # retried once (as if its node was lost), then failed
    # every run wrote into the shared results directory from a Ray worker process, not from the driver
    manifests = [json.loads(p.read_text()) for p in (results / "faults").glob("*/manifest.json")]
    assert len(manifests) == 8 and all("default_worker" in " ".join(m["argv"]) for m in manifests)

    again = harness("run", str(suite), "--algo", "random_agent", "--seeds", "2", *ray_args, env=env)
    assert again.returncode == 0 and "skipped (already done) 2" in again.stdout, again.stdout + again.stderr


RESUME = """
[suite]
name = "resume"
[defaults]
budget = 30000
checkpoint_every = 1000
eval = { every = 10000, episodes = 5, num_envs = 5 }
[[tasks]]
id = "CartPole-v1"
"""


def statuses(results: Path, study: str) -> dict[str, dict]:
    from harness.store import RunDir

    return {p.name: RunDir(p).read_status() for p in (results / study).glob("*") if (p / "status.json").exists()}


def metrics(results: Path, study: str) -> dict[str, pd.DataFrame]:
    return {p.parent.name: pd.read_parquet(p).drop(columns=["wall_time", "study"])
            for p in (results / study).glob("*/metrics.parquet")}


def kill_driver_mid_run(args: list[str], env: dict[str, str], results: Path, study: str, runs: int,
                        step: int) -> dict[str, dict]:
    """SIGKILL a `harness` driver once ``runs`` runs are past ``step``; returns their statuses once Ray
    has ended the dead driver's tasks (their runs are then seen as interrupted: their pids are gone)."""
    driver = subprocess.Popen([sys.executable, "-m", "harness.cli", *args], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    try:
        while True:
            found = statuses(results, study) if (results / study).exists() else {}
            steps = [s.get("step", 0) for s in found.values() if s["state"] == "running"]
            if len(steps) == runs and min(steps) >= step:
                break
            assert driver.poll() is None, "the grid finished before it could be killed"
            assert time.time() < deadline, "runs never reached the kill point"
            time.sleep(0.05)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    deadline = time.time() + 60
    while any(s["state"] == "running" for s in statuses(results, study).values()):
        assert time.time() < deadline, "the killed driver's runs kept running"
        time.sleep(0.2)
    return statuses(results, study)


def test_ray_resume_after_sigkill_matches_uninterrupted_local_run(cluster, tmp_path):
    plugins = fake_distribution(tmp_path / "site", "steady-algos", {"random_agent": "steady_algos:random_agent"},
                                {"steady_algos": AGENTS_SOURCE})
    env = {**os.environ, "PYTHONPATH": str(plugins)}
    suite = tmp_path / "resume.toml"
    suite.write_text(RESUME)
    results = tmp_path / "results"
    common = ["run", str(suite), "--algo", "random_agent", "--seeds", "2", "--workers", "2", "--results", str(results),
              "--no-progress"]

    straight = harness(*common, "--study", "straight", env=env)  # the local backend, uninterrupted
    assert straight.returncode == 0, straight.stdout + straight.stderr
    reference = metrics(results, "straight")
    assert len(reference) == 2

    interrupted = kill_driver_mid_run([*common, "--study", "killed", "--backend", "ray", "--address", cluster],
                                      env, results, "killed", runs=2, step=5000)
    assert [s["state"] for s in interrupted.values()] == ["interrupted", "interrupted"]
    import torch

    checkpoint_steps = {run_id: torch.load(results / "killed" / run_id / "checkpoint.pt", weights_only=False)["step"]
                        for run_id in interrupted}
    assert all(0 < step < 30000 for step in checkpoint_steps.values())

    resumed = harness(*common, "--study", "killed", "--backend", "ray", "--address", cluster, env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = statuses(results, "killed")
    assert all(s["state"] == "done" for s in final.values())
    for run_id, status in final.items():
        assert status["resumed_from"] == checkpoint_steps[run_id] > 0  # continued, not restarted
    after = metrics(results, "killed")
    assert after.keys() == reference.keys()  # same run ids on both backends
    for run_id, frame in after.items():
        assert list(frame["env_steps"]) == [10000, 20000, 30000]
        pd.testing.assert_frame_equal(frame, reference[run_id])


OWNED_SUITE = """
[suite]
name = "owned"
[defaults]
budget = 2000
checkpoint_every = 1000
eval = { every = 1000, episodes = 2, num_envs = 2 }
[[tasks]]
id = "CartPole-v1"
"""


def ray_driver(address: str, stay: bool) -> tuple[subprocess.Popen, str]:
    """A real Ray driver (job) on the cluster; returns it and its job id. ``stay``: it keeps living."""
    code = ("import ray, sys, time; ray.init(address=sys.argv[1], include_dashboard=False, logging_level='ERROR'); "
            "print(ray.get_runtime_context().get_job_id(), flush=True); time.sleep(600 if sys.argv[2] == '1' else 0)")
    driver = subprocess.Popen([sys.executable, "-c", code, address, "1" if stay else "0"], stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    return driver, driver.stdout.readline().strip()


def test_runs_left_running_by_a_dead_driver_on_another_node_resume(cluster, tmp_path):
    """Shared storage, a multi-machine cluster: a run says "running" on another host (no pid to check
    from here). It resumes when the Ray job that ran it is dead, and stays "running elsewhere" while
    that job lives."""
    suite = tmp_path / "owned.toml"
    suite.write_text(OWNED_SUITE)
    results = tmp_path / "results"
    ray_args = ("--backend", "ray", "--address", cluster, "--results", str(results), "--no-progress",
                "--results-transfer", "shared")
    first = harness("run", str(suite), "--algo", "dqn", "--seeds", "2", *ray_args)
    assert first.returncode == 0 and "done 2" in first.stdout, first.stdout + first.stderr
    dead, dead_job = ray_driver(cluster, stay=False)
    dead.wait(timeout=120)
    alive, alive_job = ray_driver(cluster, stay=True)
    try:
        statuses = sorted((results / "owned").glob("*/status.json"))
        for path, job in zip(statuses, (dead_job, alive_job)):  # as if killed on "node-b" after its last checkpoint
            status = json.loads(path.read_text())
            path.write_text(json.dumps({**status, "state": "running", "host": "node-b", "pid": 1,
                                        "owner": f"ray-job:{job}"}))
        second = harness("run", str(suite), "--algo", "dqn", "--seeds", "2", *ray_args)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "done 1" in second.stdout and "running elsewhere 1" in second.stdout, second.stdout
        resumed = json.loads(statuses[0].read_text())
        assert resumed["state"] == "done" and resumed["resumed_from"] == 2000 and resumed["step"] == 2000
        assert resumed["owner"].startswith("ray-job:") and resumed["owner"] != f"ray-job:{dead_job}"
        assert json.loads(statuses[1].read_text())["owner"] == f"ray-job:{alive_job}"
    finally:
        os.killpg(alive.pid, signal.SIGKILL)
        alive.wait()
