"""Unit tests of the continuous-control plugins (PPO, SAC, TD3): the formulas and the agents' state."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from lightning_fabric import Fabric

from harness.plugin import EnvSpec, PluginError, get_algorithm
from harness.run import RunSpec, Runner, train
from harness.suite import make_task
from plugins.continuous.common import ActionScale
from plugins.continuous.heads import TanhGaussianPolicy, gaussian_log_prob, tanh_gaussian_log_prob
from plugins.continuous.normalize import RunningMeanStd
from plugins.continuous.ppo import clipped_surrogate, gae

# ------------------------------------------------------------------------------------------- GAE


def test_gae_matches_a_hand_computed_trajectory_with_terminated_and_truncated_ends():
    # One environment, five steps: step 1 terminates an episode, step 3 truncates the next one
    # (a time limit) and step 4 is the last step of the rollout, in the middle of a third episode.
    rewards = np.array([1.0, 0.5, -1.0, 2.0, 1.5])[:, None]
    values = np.array([0.3, 0.2, 0.4, 0.1, 0.6])[:, None]
    # V of each step's true successor: at step 1 it must be ignored (terminated), at step 3 it is V of
    # the truncated episode's final observation, at step 4 V of the observation the rollout ends on.
    next_values = np.array([0.2, 9.0, 0.1, 0.7, 0.5])[:, None]
    terminated = np.array([0, 1, 0, 0, 0], bool)[:, None]
    truncated = np.array([0, 0, 0, 1, 0], bool)[:, None]
    gamma, lam = 0.9, 0.8
    # By hand: δ0 = 1 + .9·.2 − .3 = .88; δ1 = .5 − .2 = .3 (no bootstrap); δ2 = −1 + .9·.1 − .4 = −1.31;
    # δ3 = 2 + .9·.7 − .1 = 2.53 (bootstraps from the final observation); δ4 = 1.5 + .9·.5 − .6 = 1.35.
    # A4 = 1.35; A3 = 2.53 (episode end: nothing flows back from A4); A2 = −1.31 + .72·2.53 = .5116;
    # A1 = .3; A0 = .88 + .72·.3 = 1.096.
    expected = np.array([1.096, 0.3, 0.5116, 2.53, 1.35])[:, None]
    advantages, returns = gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    np.testing.assert_allclose(advantages, expected, atol=1e-12)
    np.testing.assert_allclose(returns, expected + values, atol=1e-12)

    # λ = 1: the return of the truncated episode is its discounted rewards plus γ^k·V(final obs).
    _, mc_returns = gae(rewards, values, next_values, terminated, truncated, gamma, 1.0)
    assert mc_returns[2, 0] == pytest.approx(-1.0 + 0.9 * 2.0 + 0.81 * 0.7)
    assert mc_returns[0, 0] == pytest.approx(1.0 + 0.9 * 0.5)  # the terminated episode: no bootstrap


def test_gae_keeps_environments_apart():
    rng = np.random.default_rng(0)
    shape = (7, 3)
    r, v, nv = rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape)
    term, trunc = rng.random(shape) < 0.2, rng.random(shape) < 0.2
    together, _ = gae(r, v, nv, term, trunc, 0.99, 0.95)
    for env in range(3):
        alone, _ = gae(r[:, env:env + 1], v[:, env:env + 1], nv[:, env:env + 1], term[:, env:env + 1],
                       trunc[:, env:env + 1], 0.99, 0.95)
        np.testing.assert_allclose(together[:, env:env + 1], alone)


# ------------------------------------------------------------------------------ tanh-Gaussian


def numerical_tanh_log_density(u: np.ndarray, mean: np.ndarray, std: np.ndarray, h: float = 1e-6) -> float:
    """log p(a) for a = tanh(u): Gaussian log-density of u minus log|det J|, J by central differences."""
    dim = len(u)
    jacobian = np.zeros((dim, dim))
    for j in range(dim):
        step = np.zeros(dim)
        step[j] = h
        jacobian[:, j] = (np.tanh(u + step) - np.tanh(u - step)) / (2 * h)
    log_normal = float(np.sum(-0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * math.log(2 * math.pi)))
    return log_normal - float(np.linalg.slogdet(jacobian)[1])


def test_tanh_gaussian_log_prob_matches_a_numerical_change_of_variables():
    rng = np.random.default_rng(1)
    for _ in range(20):
        mean, std = rng.normal(size=3), np.exp(rng.normal(size=3) * 0.5)
        u = mean + std * rng.normal(size=3)
        ours = tanh_gaussian_log_prob(torch.tensor(u), torch.tensor(mean), torch.tensor(np.log(std))).item()
        assert ours == pytest.approx(numerical_tanh_log_density(u, mean, std), abs=1e-6)


def test_tanh_gaussian_log_prob_stays_finite_where_tanh_saturates():
    u = torch.tensor([[12.0, -15.0]])  # tanh(u) rounds to ±1 in float32: log(1 − tanh²) would be −inf
    value = tanh_gaussian_log_prob(u, torch.zeros(1, 2), torch.zeros(1, 2))
    exact = gaussian_log_prob(u.double(), torch.zeros(1, 2).double(), torch.zeros(1, 2).double()) \
        - torch.log(4 / (torch.exp(u.double()) + torch.exp(-u.double())) ** 2).sum(-1)
    assert torch.isfinite(value).all()
    assert value.item() == pytest.approx(exact.item(), rel=1e-5)


def test_tanh_gaussian_density_integrates_to_one():
    mean, log_std = torch.tensor([[0.4]], dtype=torch.float64), torch.tensor([[math.log(0.7)]], dtype=torch.float64)
    a = torch.linspace(-1 + 1e-9, 1 - 1e-9, 400_001, dtype=torch.float64)[:, None]
    density = torch.exp(tanh_gaussian_log_prob(torch.atanh(a), mean, log_std))
    assert torch.trapezoid(density, a[:, 0]).item() == pytest.approx(1.0, abs=1e-4)


def test_tanh_gaussian_policy_samples_carry_their_log_prob():
    torch.manual_seed(0)
    policy = TanhGaussianPolicy(4, 2, (16,))
    obs = torch.randn(5, 4)
    action, log_prob = policy.sample(obs, torch.Generator().manual_seed(3))
    mean, log_std = (x.detach().double().numpy() for x in policy(obs))
    u = mean + np.exp(log_std) * torch.randn(5, 2, generator=torch.Generator().manual_seed(3)).double().numpy()
    np.testing.assert_allclose(action.detach().numpy(), np.tanh(u), atol=1e-6)
    for i in range(5):
        expected = numerical_tanh_log_density(u[i], mean[i], np.exp(log_std[i]))
        assert log_prob[i].item() == pytest.approx(expected, abs=1e-4)
    assert (action.abs() < 1).all()


# -------------------------------------------------------------------------- clipped objective


def test_clipped_objective_has_zero_gradient_outside_the_trust_region():
    clip = 0.2
    ratios = torch.tensor([1.5, 0.5, 1.1, 0.9, 0.5, 1.5], dtype=torch.float64)
    advantages = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    log_prob = torch.log(ratios).clone().requires_grad_(True)
    loss, ratio = clipped_surrogate(log_prob, torch.zeros(6, dtype=torch.float64), advantages, clip)
    loss.backward()
    grad = log_prob.grad
    # Outside [1 − ε, 1 + ε] in the direction the advantage rewards: clipped, no gradient.
    assert grad[0].item() == 0.0 and grad[1].item() == 0.0
    # Inside the region, or outside in the direction that makes things worse: ordinary gradient,
    # d(−r·A/n)/d log π = −r·A/n.
    for i in (2, 3, 4, 5):
        assert grad[i].item() == pytest.approx(-(ratios[i] * advantages[i]).item() / 6)
    torch.testing.assert_close(ratio.detach(), ratios)


# ------------------------------------------------------------------------------- small parts


def test_action_scale_round_trip_and_bounds():
    space = gym.spaces.Box(low=np.array([-2.0, 0.0], np.float32), high=np.array([2.0, 10.0], np.float32))
    scale = ActionScale(space)
    policy_actions = np.array([[-1.0, -1.0], [0.0, 0.5], [1.0, 1.0], [3.0, -7.0]])
    env_actions = scale.to_env(policy_actions)
    np.testing.assert_allclose(env_actions, [[-2, 0], [0, 7.5], [2, 10], [2, 0]])
    assert env_actions.dtype == np.float32
    np.testing.assert_allclose(scale.from_env(env_actions[:3]), policy_actions[:3], atol=1e-6)


def test_running_mean_std_matches_numpy_over_batches():
    rng = np.random.default_rng(2)
    data = rng.normal(3.0, 2.0, size=(1000, 3))
    rms = RunningMeanStd((3,), epsilon=0.0)
    rms.count = 0.0
    for chunk in np.array_split(data, 17):
        rms.update(chunk)
    np.testing.assert_allclose(rms.mean, data.mean(0))
    np.testing.assert_allclose(rms.var, data.var(0))


# ------------------------------------------------------------------------------ agents and state

SMALL = {
    "sac": {"hidden": [32, 32], "batch_size": 32, "learning_starts": 200, "buffer_size": 5000},
    "td3": {"hidden": [32, 32], "batch_size": 32, "learning_starts": 200, "buffer_size": 5000},
    "ppo": {"hidden": [32, 32], "num_steps": 60, "minibatch_size": 40, "update_epochs": 2},
}


@pytest.mark.parametrize("name", ["ppo", "sac", "td3"])
def test_a_resumed_run_continues_exactly(tmp_path, name):
    """Pause a run half-way (checkpointed), resume it, and get the uninterrupted run's metrics."""
    task = make_task("Pendulum-v1", budget=600, num_envs=2, eval={"every": 300, "episodes": 2, "num_envs": 2},
                     hyper={name: SMALL[name]}, checkpoint_every=200)
    whole = train(name, task, seed=3, root=tmp_path / "whole", study="s")
    spec = RunSpec(study="s", algorithm=name, task=task, seed=3)
    paused = Runner(spec, tmp_path / "parts", loggers=False, stop_at=400).execute()
    assert paused.state == "paused"
    resumed = Runner(spec, tmp_path / "parts", loggers=False).execute()
    assert resumed.state == "done" and resumed.resumed_from == 400
    columns = [c for c in whole.metrics.columns if c != "wall_time"]
    assert "train/critic_loss" in columns or "train/policy_loss" in columns  # learning happened
    assert whole.metrics[columns].equals(resumed.metrics[columns])


def make_agent(name: str, env_id: str, num_envs: int = 2, **overrides):
    algo = get_algorithm(name)
    env = gym.make(env_id)
    spec = EnvSpec(env_id, env.observation_space, env.action_space, num_envs)
    config = algo.resolve_config({**SMALL[name], **overrides})
    return algo.make_agent(spec, config, 0, Fabric(accelerator="cpu", devices=1))


@pytest.mark.parametrize("name", ["ppo", "sac", "td3"])
def test_actions_respect_the_env_bounds(name):
    agent = make_agent(name, "Pendulum-v1", learning_starts=0) if name != "ppo" else make_agent(name, "Pendulum-v1")
    obs = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32) * 5
    for explore in (True, False):
        action = agent.act(obs, explore=explore)
        assert action.shape == (64, 1) and action.dtype == np.float32
        assert (np.abs(action) <= 2.0).all()
    assert np.abs(agent.act(obs, explore=True)).max() > 0.5  # the whole range is reachable, not [-1, 1]


@pytest.mark.parametrize("name,key", [("ppo", "lr"), ("sac", "actor_lr"), ("td3", "critic_lr")])
def test_set_hyperparameters_reaches_the_optimizers(name, key):
    agent = make_agent(name, "Pendulum-v1")
    agent.set_hyperparameters({key: 1.234e-4})
    optimizers = [v for v in vars(agent).values() if isinstance(v, torch.optim.Optimizer)]
    assert any(group["lr"] == 1.234e-4 for opt in optimizers for group in opt.param_groups)
    with pytest.raises(PluginError, match="unknown hyperparameter|cannot change"):
        agent.set_hyperparameters({"no_such_thing": 1})
    with pytest.raises(PluginError):
        agent.set_hyperparameters({key: "fast"})
    with pytest.raises(PluginError, match="cannot change"):
        agent.set_hyperparameters({"hidden": [7]})


def test_ppo_runs_discrete_actions_through_the_harness(tmp_path):
    task = make_task("CartPole-v1", budget=512, num_envs=2, eval={"every": 512, "episodes": 2, "num_envs": 2},
                     hyper={"ppo": {"preset": "classic", "num_steps": 64}})
    result = train("ppo", task, seed=0, root=tmp_path, study="s")
    assert result.state == "done"
    assert {"train/policy_loss", "train/approx_kl", "train/entropy"} <= set(result.metrics.columns)


def test_presets_resolve_and_off_policy_algorithms_refuse_discrete_actions():
    for name in ("ppo", "sac", "td3"):
        algo = get_algorithm(name)
        for preset in algo.presets:
            algo.resolve_config({"preset": preset})
        assert "mujoco" in algo.presets
    env = gym.make("CartPole-v1")
    spec = EnvSpec("CartPole-v1", env.observation_space, env.action_space, 1)
    for name in ("sac", "td3"):
        assert "continuous" in get_algorithm(name).unsupported_reason(spec)
    assert get_algorithm("ppo").unsupported_reason(spec) is None
