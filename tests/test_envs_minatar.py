"""The MinAtar family: channels-first observations, exact resume by pickling, and a DQN learning test."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from harness.envs.minatar import FAMILY, GAMES
from harness.suite import EvalProtocol


def test_observations_are_minatar_planes_channels_first():
    from minatar import Environment

    for name, game in GAMES.items():
        envs = FAMILY.make_vector(f"MinAtar/{name}-v1", {}, 2, seed=0, evaluation=False)
        obs, _ = envs.reset(seed=7)
        reference = Environment(game, sticky_action_prob=0.1)
        reference.seed(7)
        reference.reset()
        channels = reference.state_shape()[2]
        assert envs.single_observation_space.shape == (channels, 10, 10)
        assert obs.dtype == np.uint8 and obs.shape == (2, channels, 10, 10)
        np.testing.assert_array_equal(obs[0], np.transpose(reference.state(), (2, 0, 1)))
        envs.close()


def test_pickled_envs_continue_exactly():
    # The run loop checkpoints the training envs by pickling them: a resumed run must see the same future.
    envs = FAMILY.make_vector("MinAtar/Breakout-v1", {}, 2, seed=0, evaluation=False)
    envs.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(50):
        envs.step(rng.integers(3, size=2))
    copy = pickle.loads(pickle.dumps(envs))
    for _ in range(200):
        action = rng.integers(3, size=2)
        a, b = envs.step(action), copy.step(action)
        for x, y in zip(a[:4], b[:4]):
            np.testing.assert_array_equal(x, y)


def test_episode_cap_truncates():
    envs = FAMILY.make_vector("MinAtar/Freeway-v1", {"max_episode_steps": 20}, 1, seed=0, evaluation=False)
    envs.reset(seed=0)
    truncated = [envs.step(np.array([1]))[3][0] for _ in range(20)]
    assert truncated == [False] * 19 + [True]


@pytest.mark.parametrize("env_id, options, message", [
    ("MinAtar/Pong-v1", {}, "allowed: MinAtar/Asterix-v1"),
    ("MinAtar/Breakout-v2", {}, "unknown MinAtar game"),
    ("MinAtar/Breakout-v1", {"sticky": 0.1}, "unknown env option 'sticky'"),
    ("MinAtar/Breakout-v1", {"sticky_action_prob": 1.5}, "in [0, 1]"),
    ("MinAtar/Breakout-v1", {"max_episode_steps": 0}, "positive integer"),
])
def test_invalid_ids_and_options_are_refused(env_id, options, message):
    assert message in FAMILY.validate(env_id, options)


# Measured: a uniformly random policy scores 0.28 per episode on Breakout (100 episodes; suites/minatar.toml).
RANDOM_BREAKOUT = 0.28


@pytest.mark.learning
def test_dqn_learns_minatar_breakout_within_8k_steps(tmp_path):
    from harness.run import train
    from harness.suite import load_suite

    task = dataclasses.replace(load_suite("minatar").task("MinAtar/Breakout-v1"), budget=8_000,
                               eval=EvalProtocol(every=8_000, episodes=20, epsilon=0.0, num_envs=5))
    # The suite's preset, sped up for CI: short warm-up and ε schedule, a small replay and a larger rate.
    hyper = {"learning_starts": 500, "eps_decay_steps": 3_000, "eps_end": 0.05, "target_update_every": 500,
             "lr": 5e-4, "train_every": 2, "buffer_size": 20_000}
    result = train("dqn", task, seed=0, root=tmp_path, study="test", hyper=hyper)
    assert result.state == "done" and len(result.metrics) == 1
    assert result.final_return > 1.0 > 3 * RANDOM_BREAKOUT  # random: 0.28 ± 0.05 (s.e.)
