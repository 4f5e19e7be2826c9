"""Kill a suite run with SIGKILL mid-way, run the same command again: every run finishes, killed runs
continue from their checkpoint (not step 0), no metrics row is lost or duplicated, and on CPU the
resumed runs end with exactly the metrics of uninterrupted runs. Corrupted checkpoints and metrics
give a clear error naming the file, and --redo-corrupt discards and redoes that run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from conftest import REPO

SUITE = """
[suite]
name = "resume"
[defaults]
budget = 8000
checkpoint_every = 500
eval = { every = 2000, episodes = 5, num_envs = 5 }
hyper.dqn = { preset = "classic" }
[[tasks]]
id = "CartPole-v1"
"""


def command(suite: Path, results: Path, study: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", "run", str(suite), "--algo", "dqn", "--seeds", "2", "--workers", "2",
            "--study", study, "--results", str(results), "--no-progress", *extra]


def statuses(results: Path, study: str) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (results / study).glob("*/status.json")}


def metrics(results: Path, study: str) -> dict[str, pd.DataFrame]:
    return {p.parent.name: pd.read_parquet(p).drop(columns=["wall_time"])
            for p in (results / study).glob("*/metrics.parquet")}


def kill_when_checkpointed(cmd: list[str], results: Path, study: str, min_step: int) -> None:
    process = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            found = statuses(results, study) if (results / study).exists() else {}
            try:
                steps = [s.get("step", 0) for s in found.values() if s["state"] == "running"]
            except (KeyError, json.JSONDecodeError):
                steps = []
            if len(steps) == 2 and min(steps) >= min_step:
                break
            assert process.poll() is None, "the run finished before it could be killed"
            time.sleep(0.05)
        else:
            raise AssertionError("runs never reached the kill point")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    time.sleep(0.5)


def test_sigkill_then_rerun_resumes_exactly(tmp_path):
    suite = tmp_path / "resume.toml"
    suite.write_text(SUITE)
    results = tmp_path / "results"

    straight = subprocess.run(command(suite, results, "straight"), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert straight.returncode == 0, straight.stdout + straight.stderr
    reference = metrics(results, "straight")
    assert len(reference) == 2

    kill_when_checkpointed(command(suite, results, "killed"), results, "killed", min_step=3000)
    killed = statuses(results, "killed")
    assert all(s["state"] == "running" for s in killed.values())  # the dead process never said "done"
    checkpoint_steps = {}
    for run_id in killed:
        state = __import__("torch").load(results / "killed" / run_id / "checkpoint.pt", weights_only=False)
        checkpoint_steps[run_id] = state["step"]
        assert 0 < state["step"] < 8000

    # A corrupted checkpoint is refused with a clear message naming the file; nothing else runs.
    victim = sorted(killed)[0]
    checkpoint = results / "killed" / victim / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:200] + b"garbage")
    refused = subprocess.run(command(suite, results, "killed"), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2
    assert str(checkpoint) in refused.stderr and "--redo-corrupt" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert all(s["state"] == "running" for s in statuses(results, "killed").values())

    resumed = subprocess.run(command(suite, results, "killed", "--redo-corrupt"), cwd=REPO, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = statuses(results, "killed")
    assert all(s["state"] == "done" for s in final.values())
    other = next(r for r in final if r != victim)
    assert final[other]["resumed_from"] == checkpoint_steps[other] > 0  # continued, not restarted
    assert final[victim]["resumed_from"] == 0  # discarded and redone from scratch

    after = metrics(results, "killed")
    assert after.keys() == reference.keys()  # same run ids: the id is the hash of the resolved config
    for run_id, frame in after.items():
        assert frame["env_steps"].is_unique and list(frame["env_steps"]) == [2000, 4000, 6000, 8000]
        pd.testing.assert_frame_equal(frame.drop(columns=["study"]), reference[run_id].drop(columns=["study"]))

    # A corrupted metrics file of a finished run: clear error, then redone on request.
    broken = results / "killed" / other / "metrics.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    refused = subprocess.run(command(suite, results, "killed"), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2 and str(broken) in refused.stderr and "--redo-corrupt" in refused.stderr
    redone = subprocess.run(command(suite, results, "killed", "--redo-corrupt"), cwd=REPO, capture_output=True,
                            text=True, timeout=600)
    assert redone.returncode == 0, redone.stdout + redone.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(broken).drop(columns=["wall_time", "study"]),
                                  reference[other].drop(columns=["study"]))
