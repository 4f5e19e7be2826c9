"""The MuJoCo family: gymnasium's v5 tasks as-is, with the version in the protocol."""

from __future__ import annotations

import numpy as np

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
