"""The statistics against independent computations (scipy, explicit loops, hand-computed values)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from harness.analysis import stats


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 13, 100, 275])
def test_iqm_equals_scipy_trim_mean(n: int) -> None:
    x = np.random.default_rng(n).standard_cauchy(n)
    assert stats.iqm(x) == pytest.approx(sps.trim_mean(x, 0.25), rel=1e-12, abs=1e-12)


def test_iqm_is_vectorized_over_leading_axes() -> None:
    x = np.random.default_rng(0).normal(size=(4, 6, 21))
    assert np.allclose(stats.iqm(x), sps.trim_mean(x, 0.25, axis=-1))


def test_aggregates_match_hand_computation_on_runs_by_tasks() -> None:
    matrix = np.array([[0.0, 1.0, 4.0], [2.0, 3.0, 8.0]])  # 2 runs × 3 tasks
    scores = stats.TaskScores.from_matrix(matrix, ["a", "b", "c"])
    median, iqm, mean, gap = stats.aggregates(scores.values, scores)
    assert median == pytest.approx(2.0)          # task means 1, 2, 6
    assert mean == pytest.approx(3.0)
    assert iqm == pytest.approx(sps.trim_mean(matrix.ravel(), 0.25))
    assert gap == pytest.approx(1 - np.minimum(matrix, 1).mean())


def test_one_task_bootstrap_ci_matches_scipy_percentile_bootstrap() -> None:
    x = np.random.default_rng(3).lognormal(size=12)
    ours = stats.mean_ci(x, 40_000, np.random.default_rng(1))
    ref = sps.bootstrap((x,), np.mean, n_resamples=40_000, method="percentile", random_state=2).confidence_interval
    width = ref.high - ref.low
    assert ours.value == pytest.approx(x.mean())
    assert abs(ours.low - ref.low) < 0.03 * width
    assert abs(ours.high - ref.high) < 0.03 * width


def test_aggregate_ci_for_one_task_matches_scipy_bootstrap_of_iqm() -> None:
    x = np.random.default_rng(4).normal(size=10)
    scores = stats.TaskScores.from_dict({"t": x})
    ours = stats.aggregate_estimates(scores, 20_000, np.random.default_rng(5))["IQM"]
    ref = sps.bootstrap((x,), lambda v, axis: sps.trim_mean(v, 0.25, axis=axis), n_resamples=20_000,
                        method="percentile", random_state=6).confidence_interval
    width = ref.high - ref.low
    assert abs(ours.low - ref.low) < 0.04 * width and abs(ours.high - ref.high) < 0.04 * width


def test_bootstrap_is_stratified_by_task() -> None:
    scores = stats.TaskScores.from_dict({"a": [0, 0, 0], "b": [1, 1], "c": [2, 2, 2, 2]})
    idx = stats.resample_indices(scores, 500, np.random.default_rng(0))
    assert np.array_equal(scores.values[idx], np.broadcast_to(scores.values, idx.shape))


def test_stratified_bootstrap_ci_matches_an_explicit_loop() -> None:
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(5, 4)) + np.arange(4)
    ours = stats.aggregate_estimates(stats.TaskScores.from_matrix(matrix), 20_000, np.random.default_rng(8))
    loop_rng = np.random.default_rng(9)
    means = []
    for _ in range(20_000):
        resampled = np.stack([matrix[loop_rng.integers(0, 5, 5), j] for j in range(4)], axis=1)
        means.append(resampled.mean())
    low, high = np.percentile(means, [2.5, 97.5])
    width = high - low
    assert abs(ours["Mean"].low - low) < 0.04 * width and abs(ours["Mean"].high - high) < 0.04 * width


def test_probability_of_improvement_equals_mann_whitney_u_with_ties() -> None:
    rng = np.random.default_rng(10)
    x = {t: rng.integers(0, 5, size=5).astype(float) for t in "abc"}
    y = {t: rng.integers(0, 5, size=4).astype(float) for t in "abc"}
    sx, sy = stats.TaskScores.from_dict(x), stats.TaskScores.from_dict(y)
    est = stats.probability_of_improvement(sx, sy, stats.resample_counts(sx, 2000, rng),
                                           stats.resample_counts(sy, 2000, rng))
    expected = np.mean([sps.mannwhitneyu(x[t], y[t]).statistic / (5 * 4) for t in "abc"])
    assert est.value == pytest.approx(expected, abs=1e-12)
    assert est.low <= est.value <= est.high


def test_probability_of_improvement_ci_matches_resampling_runs() -> None:
    rng = np.random.default_rng(11)
    x = {t: rng.normal(size=5) for t in "ab"}
    y = {t: rng.normal(size=5) + 0.3 for t in "ab"}
    sx, sy = stats.TaskScores.from_dict(x), stats.TaskScores.from_dict(y)
    est = stats.probability_of_improvement(sx, sy, stats.resample_counts(sx, 20_000, rng),
                                           stats.resample_counts(sy, 20_000, rng))
    per_task = []
    for t in "ab":  # resample runs explicitly, then count wins and half ties over all pairs
        a = x[t][rng.integers(0, 5, size=(20_000, 5))]
        b = y[t][rng.integers(0, 5, size=(20_000, 5))]
        diff = a[:, :, None] - b[:, None, :]
        per_task.append(((diff > 0) + 0.5 * (diff == 0)).mean(axis=(1, 2)))
    loop = np.mean(per_task, axis=0)
    low, high = np.percentile(loop, [2.5, 97.5])
    assert est.low == pytest.approx(low, abs=0.02) and est.high == pytest.approx(high, abs=0.02)


def test_performance_profile_point_estimate_is_fraction_above_tau_averaged_over_tasks() -> None:
    scores = stats.TaskScores.from_dict({"a": [0.0, 1.0], "b": [0.5, 2.0, 3.0, 4.0]})
    taus = np.array([-1.0, 0.25, 1.0, 3.5, 5.0])
    point, low, high = stats.performance_profile(scores, taus, 500, np.random.default_rng(0))
    expected = [1.0, (1 / 2 + 4 / 4) / 2, (0 + 3 / 4) / 2, (0 + 1 / 4) / 2, 0.0]
    assert np.allclose(point, expected)
    assert np.all(low <= point + 1e-12) and np.all(point <= high + 1e-12)


def test_iqm_curve_bands_contain_the_point_and_are_reproducible() -> None:
    values = np.random.default_rng(12).normal(size=(6, 15)).cumsum(axis=0)  # 6 points × 15 runs
    scores = stats.TaskScores(("a", "b", "c"), values, np.array([5, 5, 5]))
    first = stats.iqm_curve(scores, 500, stats.rng_for(0, "x"))
    second = stats.iqm_curve(scores, 500, stats.rng_for(0, "x"))
    assert np.allclose(first[0], sps.trim_mean(values, 0.25, axis=1))
    assert np.all(first[1] <= first[0]) and np.all(first[0] <= first[2])
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
