"""The MuJoCo family: gymnasium's v5 tasks as-is, with the version in the protocol."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from harness.envs.mujoco import FAMILY


def test_envs_are_gymnasiums_own_with_same_step_autoreset():
    import gymnasium as gym

    envs = FAMILY.make_vector("InvertedPendulum-v5", {}, 2, seed=0, evaluation=False)
    reference = gym.make("InvertedPendulum-v5")
    obs, _ = envs.reset(seed=4)
    expected, _ = reference.reset(seed=4)
    np.testing.assert_array_equal(obs[0], expected)
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    ended = False
    for _ in range(200):
        obs, _, terminated, truncated, info = envs.step(envs.action_space.sample())
        if (terminated | truncated).any():
            assert info["_final_obs"][terminated | truncated].all()
            ended = True
            break
    assert ended
    envs.close()


def test_protocol_records_version_cap_options_and_simulator():
    protocol = FAMILY.protocol("Hopper-v5", {"terminate_when_unhealthy": False})
    assert protocol["env_version"] == "v5" and protocol["max_episode_steps"] == 1000
    assert protocol["options"] == {"terminate_when_unhealthy": False}
    assert isinstance(protocol["mujoco_major"], int)
    assert FAMILY.frames_per_step("Hopper-v5", {}) == 1


def test_unknown_ids_are_refused_with_suggestions():
    assert "did you mean HalfCheetah-v5" in FAMILY.validate("HalfCheeta-v5", {})
    assert "unknown gymnasium MuJoCo environment" in FAMILY.validate("CartPole-v1", {})


@pytest.mark.learning
def test_ppo_runs_on_the_suites_mujoco_tasks_through_the_run_loop(tmp_path):
    """Smoke: the continuous-control plugin runs on MuJoCo tasks of the suite, evaluations recorded."""
    from harness.run import train
    from harness.suite import EvalProtocol, load_suite

    suite = load_suite("mujoco")
    for task_id in ("HalfCheetah-v5", "Hopper-v5"):
        task = dataclasses.replace(suite.task(task_id), budget=512, checkpoint_every=256,
                                   eval=EvalProtocol(every=256, episodes=2, num_envs=2))
        result = train("ppo", task, seed=0, root=tmp_path, study="test",
                       hyper={"num_steps": 256, "update_epochs": 2})
        metrics = result.metrics
        assert result.state == "done" and list(metrics["env_steps"]) == [256, 512]
        assert np.isfinite(metrics["return_mean"]).all() and metrics["episodes"].eq(2).all()
        manifest = json.loads((result.path / "manifest.json").read_text())
        assert manifest["protocol"]["env"]["env_version"] == "v5"
        assert manifest["config"]["task"]["reference"]["kind"] == "d4rl"
