"""The lean same-step vector env gives exactly what gymnasium's SyncVectorEnv gives."""

from __future__ import annotations

import copy
import functools
import pickle

import gymnasium as gym
import numpy as np
import pytest

from harness.envs.cartpole import CartPoleVectorEnv
from harness.envs.vector import SameStepVectorEnv
from harness.suite import make_task


def reference(env_id: str, num_envs: int) -> gym.vector.SyncVectorEnv:
    make = functools.partial(gym.make, env_id)
    return gym.vector.SyncVectorEnv([make] * num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def assert_same_info(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            assert_same_info(a[key], b[key])
        elif isinstance(a[key], np.ndarray) and a[key].dtype == object:
            for x, y in zip(a[key], b[key]):
                assert (x is None and y is None) or (isinstance(x, dict) and x.keys() == y.keys()) or \
                    np.array_equal(x, y)
        else:
            np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1", "Hopper-v5"])
def test_lean_steps_equal_sync_vector_env_steps(env_id):
    num_envs = 3
    lean = SameStepVectorEnv([functools.partial(gym.make, env_id)] * num_envs)
    ref = reference(env_id, num_envs)
    obs, _ = lean.reset(seed=5)
    ref_obs, _ = ref.reset(seed=5)
    np.testing.assert_array_equal(obs, ref_obs)
    lean.action_space.seed(1)
    ends = 0
    for _ in range(600):
        action = lean.action_space.sample()
        got, expected = lean.step(action), ref.step(action)
        for x, y in zip(got[:4], expected[:4]):
            np.testing.assert_array_equal(x, y)
            assert x.dtype == y.dtype
        assert_same_info(got[4], expected[4])
        ends += int((got[2] | got[3]).sum())
    assert ends > 0  # episode ends (with their final observations) were compared too


def test_returned_observations_are_not_overwritten_later():
    envs = SameStepVectorEnv([functools.partial(gym.make, "CartPole-v1")] * 2)
    first, _ = envs.reset(seed=0)
    kept = first.copy()
    second = envs.step(np.array([0, 1]))[0]
    envs.reset(seed=3)
    envs.step(np.array([1, 1]))
    np.testing.assert_array_equal(first, kept)
    assert not np.shares_memory(first, second)


def test_gym_and_minatar_families_use_it_and_it_pickles():
    for env_id in ("Acrobot-v1", "MinAtar/Breakout-v1"):
        envs = make_task(env_id).env.make_vector(2, seed=0)
        assert isinstance(envs, SameStepVectorEnv)
        envs.reset(seed=0)
        envs.step(envs.action_space.sample())
        restored = pickle.loads(pickle.dumps(envs))
        action = envs.action_space.sample()
        a, b = envs.step(action), copy.deepcopy(restored).step(action)
        np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize("max_steps", [500, 30])
def test_numpy_cartpole_equals_gymnasium_cartpole(max_steps):
    """Same observations, rewards, ends and final observations as gymnasium's CartPole copies, for
    8 copies over 3,000 steps of random actions (30-step episodes check truncation)."""
    num_envs = 8
    fast = CartPoleVectorEnv(num_envs, max_episode_steps=max_steps)
    ref = gym.vector.SyncVectorEnv([functools.partial(gym.make, "CartPole-v1", max_episode_steps=max_steps)] * num_envs,
                                   autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    np.testing.assert_array_equal(fast.reset(seed=11)[0], ref.reset(seed=11)[0])
    rng = np.random.default_rng(0)
    ends = {"terminated": 0, "truncated": 0}
    for _ in range(3_000):
        action = rng.integers(2, size=num_envs)
        got, expected = fast.step(action), ref.step(action)
        # float64 sin/cos of an array and of a scalar may differ in the last bit on some CPUs
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-6, atol=1e-6)
        assert got[0].dtype == expected[0].dtype == np.float32
        for x, y in zip(got[1:4], expected[1:4]):
            np.testing.assert_array_equal(x, y)
        done = got[2] | got[3]
        if done.any():
            np.testing.assert_array_equal(got[4]["_final_obs"], expected[4]["_final_obs"])
            for i in np.flatnonzero(done):
                np.testing.assert_allclose(got[4]["final_obs"][i], expected[4]["final_obs"][i], rtol=1e-6, atol=1e-6)
        ends["terminated"] += int(got[2].sum())
        ends["truncated"] += int(got[3].sum())
    assert ends["terminated"] > 100 and (ends["truncated"] > 100 or max_steps == 500)


def test_numpy_cartpole_is_what_the_gym_family_builds_and_it_pickles_and_refuses_bad_actions():
    envs = make_task("CartPole-v1").env.make_vector(4, seed=0)
    assert isinstance(envs, CartPoleVectorEnv)
    envs.reset(seed=0)
    for _ in range(50):
        envs.step(envs.action_space.sample())
    restored = pickle.loads(pickle.dumps(envs))
    for _ in range(100):
        action = envs.action_space.sample()
        a, b = envs.step(action), restored.step(action)
        np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError, match="CartPole actions"):
        envs.step(np.array([0, 1, 2, 0]))
