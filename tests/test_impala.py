"""impala: actors act on the learner's environment, deliver off-policy trajectories, stop with the
learner (even one killed outright), survive kill-and-resume, and the agent learns CartPole."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import plugins.actor_critic as ac
from conftest import REPO
from harness.envs import EnvRef
from harness.plan import task_spec
from harness.plugin import Transition
from harness.run import train
from harness.suite import make_task
from plugins.actor_critic.actors import actor_seed

MAZE_OPTIONS = {"width": 42, "height": 42, "fov_degrees": 60}  # none of them the default


def wait_for(condition, seconds: float = 90.0, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def impala_agent(task, seed: int, **hyper):
    config = ac.impala.resolve_config({"num_actors": 1, "envs_per_actor": 2, "rollout_length": 3, **hyper})
    return ac.impala.make_agent(task_spec(task), config, seed, None)


def test_actors_act_on_the_learners_environment_env_options_included():
    task = make_task("Maze/nav_maze_static_01", num_envs=2, env_options=MAZE_OPTIONS)
    agent = impala_agent(task, seed=1, lstm_size=32)
    assert agent.actor_env() == task.env and dict(task.env.options) == MAZE_OPTIONS
    agent.start_actors()
    try:
        trajectory = wait_for(lambda: agent.pool.collect(1)[0], what="a trajectory")[0]
    finally:
        agent.close()
    # replay the actor's actions in the learner's own environment: the same observations and rewards
    seed = actor_seed(1, 0)
    reference = task.env.make_vector(2, seed, evaluation=False)
    obs, _ = reference.reset(seed=seed)
    assert trajectory.obs.shape[2:] == agent.spec.observation_space.shape
    for t in range(3):
        np.testing.assert_array_equal(trajectory.obs[t].numpy(), obs)
        obs, reward, *_ = reference.step(trajectory.action[t].numpy())
        np.testing.assert_array_equal(trajectory.reward[t].numpy(), reward)
    # and the option the old actors dropped does change what they would have seen
    without_fov = EnvRef("maze", task.env.env_id, (("height", 42), ("width", 42))).make_vector(2, seed)
    assert not np.array_equal(without_fov.reset(seed=seed)[0], trajectory.obs[0].numpy())


def test_an_actor_on_an_environment_unlike_the_learners_is_refused_and_the_learner_raises():
    task = make_task("Maze/nav_maze_static_01", num_envs=2, env_options=MAZE_OPTIONS)
    agent = impala_agent(task, seed=0, lstm_size=32, actor_env="Maze/nav_maze_static_01")  # 84x84 frames
    agent.start_actors()
    processes = agent.pool.processes
    with pytest.raises(RuntimeError, match=r"(?s)actor 0:.*84, 84.*the learner's task has"):
        wait_for(lambda: agent.pool.check(), seconds=60, what="the actor's error")
    assert agent.pool is not None and not any(p.is_alive() for p in processes)
    agent.close()


def test_actor_processes_deliver_off_policy_trajectories_with_their_policy_version():
    task = make_task("CartPole-v1", num_envs=2)
    agent = impala_agent(task, seed=0, num_actors=2, rollout_length=5)
    obs, _ = task.env.make_vector(2, 0).reset(seed=0)
    agent.act(obs)  # the first training step starts the actors
    processes = agent.pool.processes
    batches: list = []
    try:
        def three() -> bool:
            found, versions = agent.pool.collect(4)
            batches.extend(found)
            assert all(v == 0 for v in versions)  # nothing was published after version 0
            return len(batches) >= 3

        wait_for(three, what="three trajectories")
        b = batches[0]
        assert b.obs.shape == (5, 2, 4) and b.reward.shape == (5, 2) and b.start_state.h.shape == (2, 128)
        assert (b.behaviour_log_prob < 0).all() and (b.behaviour_log_prob > np.log(1e-6)).all()
        assert set(np.unique(b.action.numpy())) <= {0, 1} and b.first[0].all()  # each actor's first trajectory
    finally:
        agent.close()
    assert not any(p.is_alive() for p in processes)


def first_update(agent, envs, obs) -> dict:
    """Acts and observes until the agent's first learner update; returns its metrics."""
    while True:
        action = agent.act(obs)
        next_obs, reward, terminated, truncated, _ = envs.step(action)
        metrics = agent.observe(Transition(obs, action, reward, next_obs, terminated, truncated))
        obs = next_obs
        if metrics is not None:
            return metrics


def test_the_first_update_waits_for_the_actors_and_a_bounded_wait_fails_clearly():
    task = make_task("CartPole-v1", num_envs=2)
    envs = task.env.make_vector(2, 0)
    obs, _ = envs.reset(seed=0)
    agent = impala_agent(task, seed=0, rollout_length=2)  # actors take seconds to start, one update ms
    try:
        metrics = first_update(agent, envs, obs)
    finally:
        agent.close()
    assert metrics["actor_trajectories"] >= 1 and metrics["actor_frames"] > 0

    impatient = impala_agent(task, seed=0, rollout_length=2, actor_start_timeout=0.001)
    with pytest.raises(RuntimeError, match="no actor delivered a trajectory within actor_start_timeout"):
        first_update(impatient, envs, obs)
    assert not any(p.is_alive() for p in impatient.pool.processes)  # its actors were stopped


# ----------------------------------------------------------------------------------- kill and resume
RUN = """
import sys, torch
torch.set_num_threads(1)
from harness.run import train
from harness.suite import make_task
task = make_task("CartPole-v1", budget=6000, num_envs=4, checkpoint_every=1000,
                 eval={"every": 2000, "episodes": 5, "num_envs": 5})
train("impala", task, seed=0, root=sys.argv[1], hyper={"num_actors": 2, "envs_per_actor": 2})
"""


def marked_processes(mark: str) -> list[int]:
    """Live processes whose environment carries ``mark`` (a run's process and its actors)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and mark.encode() in (entry / "environ").read_bytes():
                if (entry / "stat").read_text().split(") ")[1][0] != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_kill_and_resume_with_actors_finishes_without_leaking_actor_processes(tmp_path):
    mark = f"IMPALA_TEST_{uuid.uuid4().hex}"
    env = {**os.environ, mark: "1", "PYTHONPATH": str(REPO)}
    victim = subprocess.Popen([sys.executable, "-c", RUN, str(tmp_path)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: list(tmp_path.glob("default/*/checkpoint.pt")) and len(marked_processes(mark)) >= 3,
                 seconds=120, what="a checkpoint with both actors running")
        assert victim.poll() is None, "the run finished before it could be killed"
        victim.send_signal(signal.SIGKILL)  # the learner alone: its actors must notice and exit
        victim.wait(timeout=10)
        wait_for(lambda: not marked_processes(mark), seconds=15, what="the orphaned actors to exit")
    finally:
        if victim.poll() is None:
            victim.kill()
    run_dir = next(tmp_path.glob("default/*"))
    assert json.loads((run_dir / "status.json").read_text())["state"] == "running"  # it never finished

    resumed = subprocess.run([sys.executable, "-c", RUN, str(tmp_path)], cwd=REPO, env=env, timeout=300,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not marked_processes(mark)  # the finished run left no actor behind
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "done" and status["step"] == 6000 and status["resumed_from"] >= 1000
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    assert metrics["env_steps"].tolist() == [2000, 4000, 6000]  # no evaluation lost or repeated
    assert metrics["train/actor_frames"].iloc[-1] > 0  # the resumed run's actors delivered
    manifest = json.loads((run_dir / "manifest.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    assert manifest["plugin"]["name"] == "impala" and manifest["fingerprint"] == config["fingerprint"]
    assert manifest["config"]["hyper"]["num_actors"] == 2


# --------------------------------------------------------------------------------------- learning
# PopArt: without it CartPole's values (up to ~100 at γ = 0.99) swamp the shared LSTM's gradient and
# the policy oscillates, down to collapse (the 3-seed run that ended at 500, 9.1, 78.8); see
# docs/actor_critic.md, "IMPALA: actors, throughput and reliability".
CARTPOLE_HYPER = {"lr": 3e-3, "max_grad_norm": 40.0, "greedy_evaluation": True, "num_actors": 2, "popart": True}


def cartpole_returns(seed: int, tmp_path) -> pd.Series:
    task = make_task("CartPole-v1", budget=100_000, num_envs=8, eval={"every": 20_000, "episodes": 10, "num_envs": 5})
    result = train("impala", task, seed=seed, root=tmp_path, hyper=CARTPOLE_HYPER)
    assert result.metrics["train/actor_frames"].iloc[-1] > 50_000  # the actors' trajectories reached the learner
    return result.metrics.set_index("env_steps")["return_mean"]


def learned(returns: pd.Series) -> bool:
    """The last two evaluations (80k and 100k steps) average well above random (about 22) and a
    collapsed policy (about 9): one late dip is tolerated, a collapse at the end is not. The bar is
    150, not higher: actors make runs nondeterministic, and a run that learned has ended at 199
    (226 and 171 at its last two evaluations; 274 at its best)."""
    return returns.iloc[-2:].mean() >= 150


@pytest.mark.learning
def test_impala_learns_cartpole_with_actor_processes(tmp_path):
    returns = cartpole_returns(0, tmp_path)
    assert learned(returns), returns


@pytest.mark.learning
@pytest.mark.slow
def test_impala_learns_cartpole_on_two_of_three_seeds(tmp_path):
    runs = {seed: cartpole_returns(seed, tmp_path) for seed in (0, 1, 2)}
    assert sum(learned(r) for r in runs.values()) >= 2, pd.DataFrame(runs)
