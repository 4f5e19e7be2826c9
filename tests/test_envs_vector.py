"""The lean same-step vector env gives exactly what gymnasium's SyncVectorEnv gives."""

from __future__ import annotations

import copy
import functools
import pickle

import gymnasium as gym
import numpy as np
import pytest

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
    for env_id in ("CartPole-v1", "MinAtar/Breakout-v1"):
        envs = make_task(env_id).env.make_vector(2, seed=0)
        assert isinstance(envs, SameStepVectorEnv)
        envs.reset(seed=0)
        envs.step(envs.action_space.sample())
        restored = pickle.loads(pickle.dumps(envs))
        action = envs.action_space.sample()
        a, b = envs.step(action), copy.deepcopy(restored).step(action)
        np.testing.assert_array_equal(a[0], b[0])
