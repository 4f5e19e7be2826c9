"""A worker node lost mid-run, for real: a two-node local Ray cluster (head and worker, one CPU each)
runs two runs, one per node, streaming their results to the driver; once both have checkpointed, the
worker node is removed (its raylet and worker processes killed). The scheduler resubmits the lost run,
which resumes from its last streamed checkpoint on the head node and ends with a correct manifest and
the complete metrics of an uninterrupted run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pandas as pd
import torch

from conftest import REPO, harness_cli
from fake_plugins import AGENTS_SOURCE, fake_distribution
from test_ray import metrics, statuses

SUITE = """
[suite]
name = "nodes"
[defaults]
budget = 5000
checkpoint_every = 500
eval = { every = 2500, episodes = 3, num_envs = 3 }
[[tasks]]
id = "CartPole-v1"
"""
# The random agent, slowed to ~500 steps/s so that a run is still going when its node is removed.
SLOW_SOURCE = textwrap.dedent('''
    import time

    from harness.plugin import Algorithm
    from steady_algos import Config, RandomAgent


    class SlowAgent(RandomAgent):
        def observe(self, t):
            time.sleep(0.002)
            return super().observe(t)


    slow_agent = Algorithm(name="slow_agent", summary="a slow random agent", config=Config, make_agent=SlowAgent)
''')


def test_runs_of_a_lost_worker_node_resume_from_their_checkpoint_elsewhere(tmp_path):
    from ray.cluster_utils import Cluster

    plugins = fake_distribution(tmp_path / "site", "slow-algos", {"slow_agent": "slow_algos:slow_agent"},
                                {"steady_algos": AGENTS_SOURCE, "slow_algos": SLOW_SOURCE})
    suite = tmp_path / "nodes.toml"
    suite.write_text(SUITE)
    results = tmp_path / "results"
    common = ["run", str(suite), "--algo", "slow_agent", "--seeds", "2", "--workers", "2", "--results", str(results),
              "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(plugins)}
    reference = harness_cli(*common, "--study", "reference", env=env)  # local backend, uninterrupted
    assert reference.returncode == 0, reference.stdout + reference.stderr

    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    # Cluster writes the head's address to <system temp>/ray whatever temp_dir says, and fails if that
    # folder does not exist yet (a fresh machine where no Ray process ran before this test)
    from ray._common.utils import get_default_ray_temp_dir
    os.makedirs(get_default_ray_temp_dir(), exist_ok=True)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "temp_dir": temp,
                                                            "include_dashboard": False})
    try:
        worker = cluster.add_node(num_cpus=1, temp_dir=temp)
        driver = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", *common, "--study", "lost", "--backend", "ray",
             "--address", cluster.address], cwd=REPO, env={**env, "HARNESS_RAY_RESULTS": "stream"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 300
        while True:  # one run per node (one CPU each), both past a checkpoint
            found = statuses(results, "lost") if (results / "lost").exists() else {}
            if len(found) == 2 and all(s["state"] == "running" and s["step"] >= 1000 for s in found.values()):
                break
            assert driver.poll() is None, driver.communicate()[0]
            assert time.time() < deadline, "runs never reached the kill point"
            time.sleep(0.05)
        cluster.remove_node(worker, allow_graceful=False)
        lost = {p.parent.name: torch.load(p, weights_only=False)["step"] for p in (results / "lost").glob("*/checkpoint.pt")}
        output, _ = driver.communicate(timeout=300)
        assert driver.returncode == 0, output
    finally:
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)

    final = statuses(results, "lost")
    assert [s["state"] for s in final.values()] == ["done", "done"]
    resumed = {run_id: s["resumed_from"] for run_id, s in final.items() if s["resumed_from"]}
    assert len(resumed) == 1, final  # the run of the removed node, and only it, was resumed
    (run_id, step), = resumed.items()
    assert 1000 <= lost[run_id] <= step < 5000  # from its last checkpoint on the driver, not from step 0
    manifest = json.loads((results / "lost" / run_id / "manifest.json").read_text())
    config = json.loads((results / "lost" / run_id / "config.json").read_text())
    assert manifest["config"]["seed"] == config["seed"] and manifest["config"]["algorithm"] == "slow_agent"
    assert config["run_id"] == run_id and "default_worker" in " ".join(manifest["argv"])
    expected = metrics(results, "reference")
    for run, frame in metrics(results, "lost").items():
        assert list(frame["env_steps"]) == [2500, 5000]
        pd.testing.assert_frame_equal(frame, expected[run])
