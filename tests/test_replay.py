"""Replay buffers against hand-computed values: sum-tree, n-step windows, compact frame stacks, PER."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from harness.replay import PrioritizedReplayBuffer, ReplayBuffer, SumTree


def test_sum_tree_totals_updates_and_find():
    tree = SumTree(6)
    tree.update(np.arange(6), np.array([1.0, 2.0, 3.0, 4.0, 0.0, 10.0]))
    assert tree.total == 20.0
    tree.update(np.array([1, 1, 3]), np.array([5.0, 7.0, 0.5]))  # a repeated index: the last write wins
    assert tree.total == pytest.approx(1 + 7 + 3 + 0.5 + 0 + 10)
    np.testing.assert_array_equal(tree.get(np.arange(6)), [1, 7, 3, 0.5, 0, 10])
    # cumulative intervals: [0,1) -> 0, [1,8) -> 1, [8,11) -> 2, [11,11.5) -> 3, [11.5,21.5) -> 5
    np.testing.assert_array_equal(tree.find(np.array([0.0, 0.99, 1.0, 7.99, 8.0, 11.2, 11.5, 21.4])),
                                  [0, 0, 1, 1, 2, 3, 5, 5])


def test_sum_tree_sampling_frequencies_match_priorities():
    priorities = np.array([1.0, 2.0, 3.0, 4.0, 0.0, 10.0, 0.5])
    tree = SumTree(len(priorities))
    tree.update(np.arange(len(priorities)), priorities)
    rng = np.random.default_rng(0)
    draws = tree.find(rng.random(100_000) * tree.total)
    counts = np.bincount(draws, minlength=len(priorities))
    assert counts[4] == 0  # a zero priority is never drawn
    alive = priorities > 0
    expected = priorities[alive] / priorities.sum() * len(draws)
    assert stats.chisquare(counts[alive], expected).pvalue > 0.001


def vector_step(buffer: ReplayBuffer, t: int, rewards, terminated, truncated, final: dict[int, float]) -> None:
    """Two envs with observations [env, t]; an ended row's next_obs is its final observation."""
    obs = np.array([[0, t], [1, t]], dtype=np.float32)
    next_obs = np.array([[0, t + 1], [1, t + 1]], dtype=np.float32)
    for env, value in final.items():
        next_obs[env] = [env, value]
    buffer.add(obs, np.array([t, 10 + t]), np.array(rewards, dtype=np.float32), next_obs,
               np.array(terminated), np.array(truncated))


def sample_all(buffer: ReplayBuffer, gamma: float) -> dict[tuple, tuple]:
    batch = buffer.sample(2_000, np.random.default_rng(1), gamma)
    return {tuple(o): (float(r), float(d), tuple(n), int(a))
            for o, r, d, n, a in zip(batch.obs, batch.reward, batch.discount, batch.next_obs, batch.action)}


def test_n_step_targets_at_terminated_and_truncated_ends_across_envs():
    gamma = 0.5
    buffer = ReplayBuffer(64, num_envs=2, obs_shape=(2,), n_step=3)
    # env 0: r=1, then r=2 terminated (final obs [0, 100]); a new episode starts at t=2.
    # env 1: r=1, r=1, then r=1 truncated (final obs [1, 200]); a new episode starts at t=3.
    vector_step(buffer, 0, [1, 1], [False, False], [False, False], {})
    vector_step(buffer, 1, [2, 1], [True, False], [False, False], {0: 100})
    vector_step(buffer, 2, [4, 1], [False, False], [False, True], {1: 200})
    vector_step(buffer, 3, [8, 16], [False, False], [False, False], {})
    got = sample_all(buffer, gamma)
    expected = {
        (0, 0): (1 + 0.5 * 2, 0.0, (0, 100), 0),  # two steps, then terminated: no bootstrap
        (0, 1): (2.0, 0.0, (0, 100), 1),
        (1, 0): (1 + 0.5 + 0.25, 0.125, (1, 200), 10),  # truncated at step 3: bootstrap from the final obs
        (1, 1): (1 + 0.5, 0.25, (1, 200), 11),
        (1, 2): (1.0, 0.5, (1, 200), 12),
    }
    assert len(buffer) == 5 and got == expected  # windows still open (env 0 t=2,3; env 1 t=3) are not sampleable
    vector_step(buffer, 4, [32, 1], [False, False], [False, False], {})
    got = sample_all(buffer, gamma)
    assert got[(0, 2)] == (4 + 0.5 * 8 + 0.25 * 32, 0.125, (0, 5), 2)
    assert (0, 3) not in got and (1, 3) not in got


def test_one_step_targets_and_changed_gamma():
    buffer = ReplayBuffer(32, num_envs=2, obs_shape=(2,), n_step=1)
    vector_step(buffer, 0, [1, 3], [False, True], [False, False], {1: 50})
    vector_step(buffer, 1, [2, 4], [False, False], [True, False], {0: 60})
    got = sample_all(buffer, 0.9)
    assert got == {(0, 0): (1.0, pytest.approx(0.9), (0, 1), 0), (1, 0): (3.0, 0.0, (1, 50), 10),
                   (0, 1): (2.0, pytest.approx(0.9), (0, 60), 1), (1, 1): (4.0, pytest.approx(0.9), (1, 2), 11)}
    assert sample_all(buffer, 0.5)[(0, 0)][1] == 0.5  # gamma is applied at sampling time


def test_frame_stacks_rebuilt_exactly_across_episodes_envs_and_wraparound():
    """uint8 stacks of k=3 frames: each frame is stored once and stacks are rebuilt from indices."""
    k, num_envs, capacity = 3, 2, 2 * 40
    buffer = ReplayBuffer(capacity, num_envs, obs_shape=(k, 2, 2), obs_dtype=np.uint8, frame_stack=k, n_step=2)
    assert buffer.frames.nbytes == capacity * 2 * 2  # one frame per slot, not one stack
    rng = np.random.default_rng(0)
    counter = iter(range(1, 10**6))

    def frame() -> np.ndarray:
        value = next(counter)
        return np.full((2, 2), value % 256, np.uint8) + np.array([[0, value // 256], [0, 0]], np.uint8)

    def reset_stack() -> np.ndarray:
        first = frame()
        return np.stack([first] * k)  # "reset" padding: the first frame repeated

    obs = np.stack([reset_stack() for _ in range(num_envs)])
    truth: dict[bytes, tuple[int, bytes]] = {}
    for step in range(150):
        action = rng.integers(4, size=num_envs)
        new = np.stack([frame() for _ in range(num_envs)])
        next_obs = np.concatenate([obs[:, 1:], new[:, None]], axis=1)
        terminated = rng.random(num_envs) < 0.08
        truncated = ~terminated & (rng.random(num_envs) < 0.04)
        buffer.add(obs, action, np.zeros(num_envs, np.float32), next_obs, terminated, truncated)
        for env in range(num_envs):
            truth[obs[env].tobytes()] = (int(action[env]), next_obs[env].tobytes(), bool(terminated[env] or truncated[env]))
        obs = next_obs.copy()
        for env in np.flatnonzero(terminated | truncated):
            obs[env] = reset_stack()
    batch = buffer.sample(3_000, rng, gamma=1.0)
    seen = set()
    for o, a, n in zip(batch.obs, batch.action, batch.next_obs):
        action, next_bytes, ended = truth[o.tobytes()]
        assert a == action
        if ended:  # a 1-step window: its successor is exactly the stored one
            assert n.tobytes() == next_bytes
        seen.add(o.tobytes())
    assert len(seen) == len(buffer) > 0.8 * capacity - 2 * (k + 2) * num_envs * 3


def test_prioritized_sampling_follows_priorities_and_importance_weights():
    buffer = PrioritizedReplayBuffer(32, num_envs=1, obs_shape=(1,), alpha=1.0, eps=0.0)
    for t in range(4):
        buffer.add(np.array([[t]], np.float32), np.array([t]), np.zeros(1, np.float32),
                   np.array([[t + 1]], np.float32), np.array([False]), np.array([False]))
    assert len(buffer) == 4
    rng = np.random.default_rng(0)
    new = buffer.sample(64, rng, gamma=0.9)
    assert set(new.obs[:, 0].astype(int)) == {0, 1, 2, 3}  # new transitions enter at the max priority
    np.testing.assert_allclose(new.weights, 1.0)
    slots = np.array([0, 1, 2, 3])  # one env: flat slot == time step
    buffer.update_priorities(slots, np.array([1.0, 2.0, 3.0, 4.0]))
    counts = np.zeros(4)
    for _ in range(400):
        batch = buffer.sample(32, rng, gamma=0.9, beta=1.0)
        counts += np.bincount(batch.obs[:, 0].astype(int), minlength=4)
        # w_i = (N P(i))^-β / max_j w_j with P(i) = p_i / Σp: the batch's smallest priority gets weight 1
        p = batch.obs[:, 0] + 1.0
        np.testing.assert_allclose(batch.weights, p.min() / p, rtol=1e-6)
    expected = np.array([1, 2, 3, 4]) / 10 * counts.sum()
    assert stats.chisquare(counts, expected).pvalue > 0.001
    half = buffer.sample(32, rng, gamma=0.9, beta=0.5)
    p = half.obs[:, 0] + 1.0
    np.testing.assert_allclose(half.weights, np.sqrt(p.min() / p), rtol=1e-6)


def test_overwritten_transitions_leave_the_prioritized_tree():
    buffer = PrioritizedReplayBuffer(16, num_envs=1, obs_shape=(1,), alpha=0.5)
    for t in range(40):
        buffer.add(np.array([[t]], np.float32), np.array([t]), np.ones(1, np.float32),
                   np.array([[t + 1]], np.float32), np.array([False]), np.array([t % 7 == 6]))
    assert buffer.tree.total == pytest.approx(len(buffer) * buffer.max_priority ** 0.5)
    assert np.count_nonzero(buffer.tree.get(np.arange(16))) == len(buffer) == int(buffer.valid.sum())


def test_state_dict_round_trip_continues_identically():
    def fill(buffer: ReplayBuffer, start: int, stop: int) -> None:
        for t in range(start, stop):
            buffer.add(np.array([[t], [-t]], np.float32), np.array([t, t]), np.ones(2, np.float32),
                       np.array([[t + 1], [-t - 1]], np.float32), np.array([t % 5 == 4, False]),
                       np.array([False, t % 9 == 8]))

    a = PrioritizedReplayBuffer(40, 2, obs_shape=(1,), n_step=3)
    fill(a, 0, 30)
    b = PrioritizedReplayBuffer(40, 2, obs_shape=(1,), n_step=3)
    b.load_state_dict(a.state_dict())
    fill(a, 30, 45)
    fill(b, 30, 45)
    ra, rb = np.random.default_rng(3), np.random.default_rng(3)
    x, y = a.sample(16, ra, 0.99, 0.5), b.sample(16, rb, 0.99, 0.5)
    for field in ("obs", "action", "reward", "next_obs", "discount", "weights", "index"):
        np.testing.assert_array_equal(getattr(x, field), getattr(y, field))


def test_tree_holds_max_priority_exactly_where_transitions_are_sampleable():
    """Across episode ends, wraparound and n-step windows, every add keeps the sum-tree's leaves equal
    to the max priority (here 2^α) on sampleable slots and 0 elsewhere."""
    num_envs, k, n, alpha = 3, 4, 3, 0.5
    buffer = PrioritizedReplayBuffer(3 * 30, num_envs, (k, 2, 2), np.uint8, frame_stack=k, n_step=n, alpha=alpha)
    buffer.max_priority = 2.0
    rng = np.random.default_rng(1)
    obs = rng.integers(0, 255, (num_envs, k, 2, 2), dtype=np.uint8)
    for _ in range(400):
        next_obs = np.concatenate([obs[:, 1:], rng.integers(0, 255, (num_envs, 1, 2, 2), dtype=np.uint8)], axis=1)
        terminated = rng.random(num_envs) < 0.06
        truncated = ~terminated & (rng.random(num_envs) < 0.04)
        buffer.add(obs, rng.integers(4, size=num_envs), rng.normal(size=num_envs), next_obs, terminated, truncated)
        leaves = buffer.tree.get(np.arange(buffer.rows * num_envs))
        np.testing.assert_array_equal(leaves, np.where(buffer.valid.ravel(), 2.0 ** alpha, 0.0))
        assert buffer.num_valid == buffer.valid.sum()
        obs = next_obs.copy()
        ended = terminated | truncated
        obs[ended] = rng.integers(0, 255, (int(ended.sum()), k, 2, 2), dtype=np.uint8)
    assert 0 < len(buffer) < buffer.rows * num_envs


def test_a_step_whose_next_obs_is_not_the_shifted_stack_is_refused_before_any_write():
    buffer = ReplayBuffer(40, 2, (4, 2, 2), np.uint8, frame_stack=4)
    obs = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 2, 2)
    good = np.concatenate([obs[:, 1:], obs[:, :1]], axis=1)
    buffer.add(obs, np.zeros(2), np.zeros(2), good, np.zeros(2, bool), np.zeros(2, bool))
    assert len(buffer) == 2
    before = {name: getattr(buffer, name).copy() for name in ReplayBuffer._ARRAYS}
    with pytest.raises(ValueError, match="frame_stack"):
        buffer.add(good, np.zeros(2), np.zeros(2), good, np.zeros(2, bool), np.zeros(2, bool))
    for name, array in before.items():
        np.testing.assert_array_equal(getattr(buffer, name), array, err_msg=name)
    assert len(buffer) == 2
