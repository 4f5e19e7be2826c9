"""Actor-critic building blocks against values computed by hand (see each test's comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from plugins.actor_critic.popart import PopArt
from plugins.actor_critic.vtrace import successor_values, vtrace


def column(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_vtrace_clips_rho_and_c_on_a_short_trajectory():
    # γ = 0.9, r = (1, 2, 3), V = (0.5, 1, 1.5), V(x_3) = 2, ρ = (2, 0.5, 1) → ρ̄ = c̄ = 1 clip ρ_0 to 1.
    # δ = (1·(1 + 0.9·1 − 0.5), 0.5·(2 + 0.9·1.5 − 1), 1·(3 + 0.9·2 − 1.5)) = (1.4, 1.175, 3.3)
    # v_2 − V_2 = 3.3;  v_1 − V_1 = 1.175 + 0.9·0.5·3.3 = 2.66;  v_0 − V_0 = 1.4 + 0.9·1·2.66 = 3.794
    # A_t = ρ̄_t (r_t + γ v_{t+1} − V_t): (1 + 0.9·3.66 − 0.5, 0.5·(2 + 0.9·4.8 − 1), 3 + 0.9·2 − 1.5)
    values = column(0.5, 1.0, 1.5)[:, None]
    next_values = successor_values(values, column(0.0, 0.0, 2.0)[:, None], torch.zeros(3, 1, dtype=torch.bool))
    assert next_values[:, 0].tolist() == [1.0, 1.5, 2.0]
    vs, adv = vtrace(torch.log(column(2.0, 0.5, 1.0))[:, None], torch.full((3, 1), 0.9, dtype=torch.float64),
                     column(1.0, 2.0, 3.0)[:, None], values, next_values, torch.zeros(3, 1, dtype=torch.bool))
    np.testing.assert_allclose(vs[:, 0], [4.294, 3.66, 4.8], atol=1e-12)
    np.testing.assert_allclose(adv[:, 0], [3.794, 2.66, 3.3], atol=1e-12)


def test_vtrace_cuts_traces_at_termination_and_bootstraps_truncation_from_the_final_observation():
    # t = 0 terminates (no bootstrap), t = 1 is truncated with V(final obs) = 4, V(x_3) = 2; on-policy.
    # δ = (1 − 0.5, 2 + 0.9·4 − 1, 3 + 0.9·2 − 1.5) = (0.5, 4.6, 3.3); no trace crosses t = 0 or t = 1.
    terminated = torch.tensor([[True], [False], [False]])
    truncated = torch.tensor([[False], [True], [False]])
    ends = terminated | truncated
    values = column(0.5, 1.0, 1.5)[:, None]
    next_values = successor_values(values, column(123.0, 4.0, 2.0)[:, None], ends)
    discounts = 0.9 * (~terminated).double()
    vs, adv = vtrace(torch.zeros(3, 1, dtype=torch.float64), discounts, column(1.0, 2.0, 3.0)[:, None], values,
                     next_values, ends)
    np.testing.assert_allclose(vs[:, 0], [1.0, 5.6, 4.8], atol=1e-12)
    np.testing.assert_allclose(adv[:, 0], [0.5, 4.6, 3.3], atol=1e-12)


def test_vtrace_on_policy_equals_n_step_returns():
    rng = np.random.default_rng(0)
    rewards, values = torch.tensor(rng.normal(size=(5, 2))), torch.tensor(rng.normal(size=(5, 2)))
    bootstrap = torch.tensor(rng.normal(size=2))
    ends = torch.zeros(5, 2, dtype=torch.bool)
    last = torch.zeros(5, 2, dtype=torch.float64)
    last[-1] = bootstrap
    vs, adv = vtrace(torch.zeros(5, 2, dtype=torch.float64), torch.full((5, 2), 0.95, dtype=torch.float64), rewards,
                     values, successor_values(values, last, ends), ends)
    g = bootstrap.clone()
    for t in reversed(range(5)):
        g = rewards[t] + 0.95 * g
        np.testing.assert_allclose(vs[t], g, atol=1e-12)
        np.testing.assert_allclose(adv[t], rewards[t] + 0.95 * (vs[t + 1] if t < 4 else bootstrap) - values[t], atol=1e-12)


def test_popart_preserves_outputs_per_task_after_a_statistics_update():
    torch.manual_seed(0)
    head = PopArt(8, num_tasks=2, beta=0.1)
    features = torch.randn(64, 8)
    task = torch.arange(64) % 2
    before = head(features, task)
    for scale in (1000.0, 1.0, 50.0):
        head.update(torch.randn(64) * scale + scale, task)  # task 0 and 1 both see targets of this scale
        after = head(features, task)
        np.testing.assert_allclose(after.detach().numpy(), before.detach().numpy(), rtol=0, atol=1e-5)
    mu, sigma = head.statistics()
    assert sigma.min() > 1.0 and mu.min() > 1.0  # the statistics really moved


def test_popart_keeps_separate_statistics_per_task():
    head = PopArt(4, num_tasks=2, beta=0.5)
    head.update(torch.tensor([1000.0, 3000.0]), torch.tensor([0, 0]))
    head.update(torch.tensor([1.0, 3.0]), torch.tensor([1, 1]))
    mu, sigma = head.statistics()
    # the bias-corrected first update sets μ and σ to the batch's mean and standard deviation
    np.testing.assert_allclose(mu.numpy(), [2000.0, 2.0])
    np.testing.assert_allclose(sigma.numpy(), [1000.0, 1.0])
    normalized = head.normalize(torch.tensor([3000.0, 3.0], dtype=torch.float64), torch.tensor([0, 1]))
    np.testing.assert_allclose(normalized.numpy(), [1.0, 1.0])
    assert math.isclose(float(head.scale(torch.tensor([0]))[0]), 1000.0)
