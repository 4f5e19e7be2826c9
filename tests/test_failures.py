"""Failure isolation: a run that raises, produces a NaN loss or whose process dies is recorded as
failed with its reason; the other runs of the grid finish; the command exits non-zero."""

from __future__ import annotations

import json

from fake_plugins import FAULTS_SUITE, faulty_site

from harness.threads import flushing_denormals


def test_failed_runs_are_isolated_and_recorded(cli, tmp_path):
    plugins = faulty_site(tmp_path / "site")
    suite = tmp_path / "faults.toml"
    suite.write_text(FAULTS_SUITE)
    results = tmp_path / "results"
    env = {"PYTHONPATH": str(plugins)}
    # the command's own environment asks for two threads everywhere; its workers run with --threads (1)
    wide = {name: "2" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    result = cli("run", str(suite), "--algo", "random_agent,nan_agent,crash_agent,dying_agent", "--workers", "2",
                 "--results", str(results), "--no-progress", env={**env, **wide})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "done 1" in result.stdout and "failed 3" in result.stdout

    states = {}
    for config_path in (results / "faults").glob("*/config.json"):
        algorithm = json.loads(config_path.read_text())["algorithm"]
        states[algorithm] = json.loads((config_path.parent / "status.json").read_text())
    assert states["random_agent"]["state"] == "done"
    done_dir = next(p.parent for p in (results / "faults").glob("*/config.json")
                    if json.loads(p.read_text())["algorithm"] == "random_agent")
    manifest = json.loads((done_dir / "manifest.json").read_text())
    threads = manifest["threads"]
    assert threads["torch"] == 1
    assert threads["blas"] in (1, None)  # None: a numpy without OpenBLAS
    with flushing_denormals() as supported:
        assert manifest["denormals_flushed"] == supported  # the run flushed subnormals (harness/threads.py)
    assert states["nan_agent"]["state"] == "failed"
    assert "NonFiniteLossError" in states["nan_agent"]["error"] and "'loss'" in states["nan_agent"]["error"]
    assert states["crash_agent"]["state"] == "failed"
    assert "deliberate crash" in states["crash_agent"]["error"]
    assert "Traceback" in states["crash_agent"]["traceback"] and "loss" in states["crash_agent"]["traceback"]
    assert states["dying_agent"]["state"] == "failed"
    assert "worker process died" in states["dying_agent"]["error"]

    status = cli("status", "faults", "--results", str(results), env={**env, "COLUMNS": "200"})
    assert status.returncode == 0
    assert "done 1" in status.stdout and "failed 3" in status.stdout

    # A second invocation skips the finished run and retries only the failed ones.
    again = cli("run", str(suite), "--algo", "random_agent", "--results", str(results), "--no-progress", env=env)
    assert again.returncode == 0 and "skipped (already done) 1" in again.stdout
