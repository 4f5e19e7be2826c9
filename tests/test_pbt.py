"""PBT end to end on CartPole with a real learner: the lineage is consistent (every exploit copied a
checkpoint that exists, taken at the recorded step, from the recorded donor), a SIGKILL in the middle
followed by the same command ends with the same lineage file as an uninterrupted population, the
best member's schedule replays as a fixed schedule, and (slow) the population's best beats the same
population trained with fixed hyperparameters (the same total compute)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO
from test_tune_learner import learner_site

SUITE = """
[suite]
name = "pbt"
[defaults]
budget = {budget}
checkpoint_every = 1000
eval = {{ every = 1000, episodes = {episodes}, num_envs = 5 }}
[[tasks]]
id = "CartPole-v1"
reference = {{ low = 22.0, high = 500.0 }}
"""


def pbt_command(suite: Path, results: Path, study: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "plugins.pbt.cli", str(suite), "--algo", "linear_pg", "--results", str(results),
            "--study", study, *extra]


def lineage(results: Path, study: str) -> dict:
    data = json.loads((results / study / "pbt" / "lineage.json").read_text())
    data.pop("study")
    return data


def test_pbt_lineage_is_consistent_and_survives_a_kill(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(learner_site(tmp_path / "site"))}
    suite = tmp_path / "pbt.toml"
    suite.write_text(SUITE.format(budget=6000, episodes=5))
    results = tmp_path / "results"
    args = ("--population", "4", "--interval", "1000", "--workers", "2", "--seed", "3")

    straight = subprocess.run(pbt_command(suite, results, "straight", *args), cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=600)
    assert straight.returncode == 0, straight.stdout + straight.stderr
    reference = lineage(results, "straight")
    assert reference["exploits"], "no member ever exploited another"
    runs = {m["member"]: m["run_id"] for m in reference["members"]}
    for item in reference["exploits"]:
        snapshot = results / "straight" / "pbt" / item["checkpoint"]
        state = torch.load(snapshot, weights_only=False)
        assert state["step"] == item["step"] == (item["round"] + 1) * 1000
        assert state["run_id"] == runs[item["donor"]] == item["donor_run"]  # the donor's own checkpoint
        assert item["donor_score"] >= item["recipient_score"]
    for member in reference["members"]:
        steps = [entry["step"] for entry in member["schedule"]]
        assert steps == sorted(steps) and steps[0] == 0
        status = json.loads((results / "straight" / member["run_id"] / "status.json").read_text())
        assert status["state"] == "done" and status["step"] == 6000
    last = {item["recipient"]: item for item in reference["exploits"]}  # each recipient's latest exploit
    for member, item in last.items():
        assert reference["members"][member]["schedule"][-1] == {"step": item["step"], "hyper": item["new_hyper"]}

    # kill the whole driver (and its worker processes) once two rounds are done, then run it again
    driver = subprocess.Popen(pbt_command(suite, results, "killed", *args), cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    state_path = results / "killed" / "pbt" / "state.json"
    deadline = time.time() + 300
    try:
        while not (state_path.exists() and json.loads(state_path.read_text())["round"] >= 2):
            assert driver.poll() is None, "the population finished before it could be killed"
            assert time.time() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # into the next round's segments
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    assert not (results / "killed" / "pbt" / "lineage.json").exists()
    resumed = subprocess.run(pbt_command(suite, results, "killed", *args), cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert lineage(results, "killed") == reference

    # the best member's hyperparameter schedule replays as a fixed schedule (no exploits)
    sys.path.insert(0, env["PYTHONPATH"])
    try:
        from plugins.pbt.driver import PBTConfig, PBTJob, replay_schedule

        job = PBTJob(suite=str(suite), task="CartPole-v1", study="straight", root=results,
                     pbt=PBTConfig(algorithm="linear_pg", population=4, perturbation_interval=1000))
        best = reference["members"][reference["best_member"]]
        replayed = replay_schedule(job, best["schedule"], seed=best["seed"], study="replay")
    finally:
        sys.path.remove(env["PYTHONPATH"])
    assert replayed["state"] == "done" and replayed["step"] == 6000


@pytest.mark.slow
def test_pbt_best_beats_fixed_hyperparameters_of_the_same_compute(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(learner_site(tmp_path / "site"))}
    suite = tmp_path / "pbt.toml"
    suite.write_text(SUITE.format(budget=24000, episodes=10))
    results = tmp_path / "results"
    args = ("--population", "6", "--interval", "2000", "--workers", "2", "--seed", "0")
    for study, extra in (("pbt", ()), ("fixed", ("--fixed",))):
        done = subprocess.run(pbt_command(suite, results, study, *args, *extra), cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=3000)
        assert done.returncode == 0, done.stdout + done.stderr
    pbt, fixed = lineage(results, "pbt"), lineage(results, "fixed")
    assert [m["initial"] for m in pbt["members"]] == [m["initial"] for m in fixed["members"]]
    assert not fixed["exploits"]
    # CartPole caps returns at 500: the best of both may reach it, so the best must be at least as good,
    # and the population trained by PBT must be better than the same population with fixed hyperparameters
    final_pbt, final_fixed = sorted(pbt["scores"][-1]), sorted(fixed["scores"][-1])
    assert pbt["best_score"] >= fixed["best_score"], (final_pbt, final_fixed)
    assert final_pbt[len(final_pbt) // 2] > final_fixed[len(final_fixed) // 2] + 100, (final_pbt, final_fixed)
