"""The results store: atomic writes, run ids, status of dead processes, the study summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness.store import CorruptRunError, RunDir, Study, atomic_write_json, config_hash


def test_atomic_write_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a" / "config.json"
    atomic_write_json(target, {"x": 1})
    atomic_write_json(target, {"x": 2, "y": [1, 2]})
    assert json.loads(target.read_text()) == {"x": 2, "y": [1, 2]}
    assert sorted(p.name for p in target.parent.iterdir()) == ["config.json"]


def test_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "status.json"
    atomic_write_json(target, {"state": "running"})
    class Unserializable:
        def __str__(self) -> str:
            raise TypeError("cannot be written")

    with pytest.raises(TypeError):
        atomic_write_json(target, {"bad": Unserializable()})
    assert json.loads(target.read_text()) == {"state": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_config_hash_is_stable_across_processes_and_key_order():
    config = {"algorithm": "dqn", "seed": 3, "hyper": {"lr": 1e-3, "gamma": 0.99}, "task": {"id": "CartPole-v1"}}
    reordered = {"task": {"id": "CartPole-v1"}, "hyper": {"gamma": 0.99, "lr": 1e-3}, "seed": 3, "algorithm": "dqn"}
    assert config_hash(config) == config_hash(reordered)
    code = f"from harness.store import config_hash; print(config_hash({config!r}))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == config_hash(config)
    assert config_hash({**config, "seed": 4}) != config_hash(config)
    assert config_hash({**config, "hyper": {"lr": 2e-3, "gamma": 0.99}}) != config_hash(config)


def test_running_status_of_a_dead_process_reads_as_interrupted(tmp_path):
    run = RunDir(tmp_path / "run")
    run.write_status("running", step=10)
    assert run.read_status()["state"] == "running"  # this process is alive
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    status = json.loads(run.status_path.read_text())
    atomic_write_json(run.status_path, {**status, "pid": dead.pid})
    assert run.read_status()["state"] == "interrupted"


def test_corrupted_checkpoint_and_metrics_are_named(tmp_path):
    run = RunDir(tmp_path / "abc123")
    run.save_checkpoint({"step": 5})
    run.verify_checkpoint()
    data = bytearray(run.checkpoint_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    run.checkpoint_path.write_bytes(bytes(data))
    with pytest.raises(CorruptRunError, match="checkpoint.pt: checkpoint is corrupted.*--redo-corrupt"):
        run.verify_checkpoint()
    run.metrics_path.write_bytes(b"not parquet")
    with pytest.raises(CorruptRunError, match="metrics.parquet: metrics file is corrupted"):
        run.read_metrics()


def test_study_summary_lists_planned_runs_as_pending(tmp_path):
    study = Study(tmp_path, "s")
    study.record_plan([{"run_id": "r1", "algorithm": "dqn", "task": "CartPole-v1", "seed": 0, "budget": 100},
                       {"run_id": "r2", "algorithm": "dqn", "task": "CartPole-v1", "seed": 1, "budget": 100}])
    run = study.run("r1")
    atomic_write_json(run.config_path, {"algorithm": "dqn", "seed": 0, "task": {"id": "CartPole-v1", "budget": 100}})
    run.write_status("done", step=100)
    states = {row["run_id"]: row["state"] for row in study.summary()}
    assert states == {"r1": "done", "r2": "pending"}
