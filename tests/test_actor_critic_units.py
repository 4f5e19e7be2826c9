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


def random_batch(T: int, B: int, obs_dim: int, num_actions: int, seed: int) -> "Batch":
    from plugins.actor_critic.core import CoreState
    from plugins.actor_critic.rollout import Batch

    g = torch.Generator().manual_seed(seed)
    terminated = torch.rand(T, B, generator=g) < 0.15
    truncated = (torch.rand(T, B, generator=g) < 0.15) & ~terminated
    first = torch.zeros(T, B, dtype=torch.bool)
    first[1:] = terminated[:-1] | truncated[:-1]
    action = torch.randint(num_actions, (T, B), generator=g)
    prev_action = torch.cat([torch.full((1, B), -1), action[:-1]]).masked_fill(first, -1)
    reward = torch.randn(T, B, generator=g, dtype=torch.float64)
    prev_reward = torch.cat([torch.zeros(1, B, dtype=torch.float64), reward[:-1]]).masked_fill(first, 0.0)
    return Batch(obs=torch.randn(T, B, obs_dim, generator=g, dtype=torch.float64), prev_action=prev_action,
                 prev_reward=prev_reward, first=first, action=action, reward=reward, terminated=terminated,
                 truncated=truncated, next_obs=torch.randn(T, B, obs_dim, generator=g, dtype=torch.float64),
                 behaviour_log_prob=torch.zeros(T, B, dtype=torch.float64),
                 task=torch.zeros(T, B, dtype=torch.long),
                 start_state=CoreState(torch.zeros(B, 8, dtype=torch.float64), torch.zeros(B, 8, dtype=torch.float64)))


def test_meta_gradient_matches_finite_differences():
    from gymnasium import spaces

    from plugins.actor_critic.core import RecurrentActorCritic
    from plugins.actor_critic.metagrad import MetaGradConfig, meta_objective

    torch.manual_seed(0)
    net = RecurrentActorCritic(spaces.Box(-1, 1, (5,)), 3, hidden=(16,), lstm_size=8, gamma_embedding=4).double()
    params = {n: p.detach().clone() for n, p in net.named_parameters()}
    square_avg = {n: torch.rand_like(p) * 0.01 + 1e-3 for n, p in params.items()}
    # a large step so that θ' depends visibly on γ; max_grad_norm large: no clipping in this check
    config = MetaGradConfig(lr=0.05, max_grad_norm=1e6, reference_gamma=0.99)
    batch, fresh = random_batch(6, 3, 5, 3, seed=1), random_batch(6, 3, 5, 3, seed=2)

    at = torch.tensor(0.9, dtype=torch.float64)

    def objective(gamma: float) -> torch.Tensor:
        # targets (stop-gradient quantities) held at γ = 0.9: the function the meta-gradient differentiates
        return meta_objective(net, params, square_avg, batch, fresh, torch.tensor(gamma, dtype=torch.float64),
                              config, frozen_at=at).detach()

    gamma = at.clone().requires_grad_(True)
    analytic = torch.autograd.grad(meta_objective(net, params, square_avg, batch, fresh, gamma, config), gamma)[0]
    h = 1e-5
    numeric = (objective(0.9 + h) - objective(0.9 - h)) / (2 * h)
    assert abs(float(analytic)) > 1e-3  # a real dependence, not 0 = 0
    np.testing.assert_allclose(float(analytic), float(numeric), rtol=1e-5)


def test_pixel_change_rewards_on_synthetic_frames():
    from plugins.actor_critic.pixel_control import pixel_change_rewards

    obs = torch.zeros(1, 3, 84, 84, dtype=torch.uint8)
    nxt = obs.clone()
    nxt[0, 0, 2:6, 2:6] = 255  # the whole first cell, one channel of three: 1/3
    nxt[0, :, 10:12, 42:46] = 255  # half of cell (2, 10), all channels: 1/2
    nxt[0, :, 0:2, :] = 255  # outside the central 80×80 crop: ignored
    nxt[0, :, 83, 83] = 255
    rewards = pixel_change_rewards(obs, nxt)
    assert rewards.shape == (1, 20, 20)
    expected = np.zeros((20, 20))
    expected[0, 0] = 1 / 3
    expected[2, 10] = 0.5
    np.testing.assert_allclose(rewards[0].numpy(), expected, atol=1e-6)
    # the change is symmetric in time
    np.testing.assert_allclose(pixel_change_rewards(nxt, obs).numpy(), rewards.numpy())


def test_pixel_control_loss_targets_are_n_step_q_returns():
    from plugins.actor_critic.pixel_control import pixel_control_loss

    # one cell, two actions, L = 2 steps + a bootstrap step; γ = 0.9; episode does not end
    q = torch.zeros(3, 1, 2, 1, 1)
    q[2, 0, 1] = 2.0  # max_a Q at the bootstrap step
    rewards = torch.tensor([1.0, 0.5, 7.0]).view(3, 1, 1, 1)  # the last one is never used
    actions = torch.tensor([[0], [1], [0]])
    ends = torch.zeros(3, 1, dtype=torch.bool)
    # G_1 = 0.5 + 0.9·2 = 2.3, G_0 = 1 + 0.9·2.3 = 3.07; loss = ½ mean(3.07², 2.3²)
    loss = pixel_control_loss(q, actions, rewards, ends, 0.9)
    assert math.isclose(loss.item(), 0.5 * (3.07**2 + 2.3**2) / 2, rel_tol=1e-6)
    ends[0] = True  # an episode end at step 0: G_0 = 1
    loss = pixel_control_loss(q, actions, rewards, ends, 0.9)
    assert math.isclose(loss.item(), 0.5 * (1.0 + 2.3**2) / 2, rel_tol=1e-6)


def test_reward_prediction_sampler_draws_half_rewarding_samples():
    from plugins.actor_critic.reward_prediction import skewed_sample

    rng = np.random.default_rng(0)
    rewarding = rng.random((500, 4)) < 0.02  # rare rewards, as in a maze
    valid = np.ones((500, 4), dtype=bool)
    valid[:2] = False  # no three-frame history yet
    indices = skewed_sample(rewarding, valid, 20_000, rng)
    assert valid.reshape(-1)[indices].all()
    share = rewarding.reshape(-1)[indices].mean()
    assert abs(share - 0.5) < 0.015, share
    # with no rewarding step yet, every sample is a zero-reward one
    none = skewed_sample(np.zeros_like(rewarding), valid, 100, rng)
    assert none is not None and len(none) == 100
    assert skewed_sample(rewarding, np.zeros_like(valid), 10, rng) is None
