"""The value family's parts against hand-computed values, and exact save/load of every variant."""

from __future__ import annotations

import copy
import dataclasses
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from harness.plugin import EnvSpec, PluginError, Transition, get_algorithm
from plugins.value import SUITES, VARIANTS, learner_kernels
from plugins.value.agent import ValueConfig
from plugins.value.losses import categorical_projection, quantile_huber_loss
from plugins.value.networks import NoisyLinear, QNetwork, dueling_combine
from plugins.value.numpy_learner import NumpyQ

SUPPORT = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0])


def project(probs, reward, discount):
    return categorical_projection(torch.tensor([probs]), torch.tensor([reward]), torch.tensor([discount]), SUPPORT)[0]


def test_c51_projection_by_hand():
    # r + 0.5 z = [1, 1.5, 2, 2.5, 3]: half-way atoms split their mass between neighbours
    torch.testing.assert_close(project([0.1, 0.2, 0.3, 0.4, 0.0], 1.0, 0.5), torch.tensor([0.0, 0.2, 0.6, 0.2, 0.0]))
    # r + z = [3, 4, 5, 6, 7]: all mass beyond v_max lands on the last atom
    torch.testing.assert_close(project([0.1, 0.2, 0.3, 0.2, 0.2], 3.0, 1.0), torch.tensor([0.0, 0.0, 0.0, 0.1, 0.9]))
    # below v_min: r - 1 + z = [-2, -1, 0, 1, 2] -> atoms 0, 0, 0, 1, 2
    torch.testing.assert_close(project([0.1, 0.2, 0.3, 0.2, 0.2], -2.0, 1.0), torch.tensor([0.6, 0.2, 0.2, 0.0, 0.0]))
    # terminal (discount 0): everything collapses onto r, split between its two neighbours
    torch.testing.assert_close(project([0.1, 0.2, 0.3, 0.2, 0.2], 1.5, 0.0), torch.tensor([0.0, 0.5, 0.5, 0.0, 0.0]))
    torch.testing.assert_close(project([0.1, 0.2, 0.3, 0.2, 0.2], -7.0, 0.0), torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(project([0.1, 0.2, 0.3, 0.2, 0.2], 2.0, 0.0), torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0]))


def kernel_projection(probs, reward, discount):
    """The target distribution the compiled C51 loss projects, read back from its gradient: with
    uniform online logits, d loss / dz = softmax(z) − t = 0.2 − t for five atoms."""
    target = np.log(np.maximum(np.array([[probs]], dtype=np.float32), 1e-30))
    online = np.zeros_like(target)
    _, grad = learner_kernels.c51_loss(online, target, np.array([0]), np.array([reward], dtype=np.float32),
                                       np.array([discount], dtype=np.float32), SUPPORT.numpy(), False)
    return 0.2 - grad[0]


@pytest.mark.parametrize("probs,reward,discount,expected", [
    ([0.1, 0.2, 0.3, 0.4, 0.0], 1.0, 0.5, [0.0, 0.2, 0.6, 0.2, 0.0]),
    ([0.1, 0.2, 0.3, 0.2, 0.2], 3.0, 1.0, [0.0, 0.0, 0.0, 0.1, 0.9]),
    ([0.1, 0.2, 0.3, 0.2, 0.2], -2.0, 1.0, [0.6, 0.2, 0.2, 0.0, 0.0]),
    ([0.1, 0.2, 0.3, 0.2, 0.2], 1.5, 0.0, [0.0, 0.5, 0.5, 0.0, 0.0]),
    ([0.1, 0.2, 0.3, 0.2, 0.2], -7.0, 0.0, [1.0, 0.0, 0.0, 0.0, 0.0]),
    ([0.1, 0.2, 0.3, 0.2, 0.2], 2.0, 0.0, [0.0, 0.0, 1.0, 0.0, 0.0]),
])
def test_compiled_c51_loss_projects_as_by_hand(probs, reward, discount, expected):
    """The cases of :func:`test_c51_projection_by_hand`, through the numpy learner's compiled kernel."""
    np.testing.assert_allclose(kernel_projection(probs, reward, discount), expected, atol=1e-6)


def test_compiled_exp_is_within_two_ulp_of_the_exact_exponential():
    x = np.concatenate([np.linspace(-87.0, 0.0, 200_001, dtype=np.float32), [0.0, -1e-7, -0.5, -0.6931472]])
    out, bits = np.empty_like(x), np.empty(x.shape, dtype=np.int32)
    learner_kernels._exp(x, out, bits)
    exact = np.exp(x.astype(np.float64))
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert (np.abs(out - exact) <= 2 * ulp).all()
    assert out[-4] == 1.0  # exp(0), the largest term of every softmax, is exact
    low = np.array([-200.0, -88.0, -87.0], dtype=np.float32)  # clamped at -87: never a subnormal
    learner_kernels._exp(low, out[:3], bits[:3])
    assert out[0] == out[1] == out[2] >= np.finfo(np.float32).tiny
    assert out[2] == pytest.approx(math.exp(-87.0), rel=2e-7)


def test_quantile_huber_loss_by_hand():
    # quantiles [0, 2] at τ = [.25, .75], one target sample 1: u = [1, -1], both in the quadratic zone
    # ρ = |.25 - 0|·0.5 + |.75 - 1|·0.5 = 0.25
    loss = quantile_huber_loss(torch.tensor([[0.0, 2.0]]), torch.tensor([0.25, 0.75]), torch.tensor([[1.0]]))
    torch.testing.assert_close(loss, torch.tensor([0.25]))
    # |u| = 3 > κ = 1: linear zone, κ(|u| - κ/2) = 2.5, weight |.5 - 0| -> 1.25; κ = 2: (2(3-1)/2)·.5 = 1.0
    torch.testing.assert_close(quantile_huber_loss(torch.tensor([[0.0]]), torch.tensor([0.5]), torch.tensor([[3.0]])),
                               torch.tensor([1.25]))
    torch.testing.assert_close(quantile_huber_loss(torch.tensor([[0.0]]), torch.tensor([0.5]), torch.tensor([[3.0]]), 2.0),
                               torch.tensor([1.0]))
    # two target samples are averaged: targets [1, -1] for quantile 0 at τ = .9: (.9·.5 + .1·.5) / 2 = .25
    torch.testing.assert_close(quantile_huber_loss(torch.tensor([[0.0]]), torch.tensor([[0.9]]), torch.tensor([[1.0, -1.0]])),
                               torch.tensor([0.25]))


def test_dueling_aggregation_by_hand():
    value = torch.tensor([[[1.0]], [[-2.0]]])  # (B, 1, atoms)
    advantage = torch.tensor([[[1.0], [2.0], [3.0]], [[0.0], [0.0], [6.0]]])  # (B, A, atoms)
    torch.testing.assert_close(dueling_combine(value, advantage), torch.tensor([[[0.0], [1.0], [2.0]], [[-4.0], [-4.0], [2.0]]]))


def test_noisy_linear_factorized_noise_statistics():
    torch.manual_seed(0)
    layer = NoisyLinear(16, 8, sigma0=0.5)
    torch.testing.assert_close(layer.weight_sigma, torch.full((8, 16), 0.5 / 4))
    torch.testing.assert_close(layer.bias_sigma, torch.full((8,), 0.5 / 4))
    generator = torch.Generator().manual_seed(1)
    noise, bias_noise = [], []
    for _ in range(4_000):
        layer.reset_noise(generator)
        noise.append(torch.outer(layer.eps_out, layer.eps_in))
        bias_noise.append(layer.eps_out.clone())
    noise, bias_noise = torch.stack(noise), torch.stack(bias_noise)
    # f(x) = sgn(x)√|x| with x ~ N(0,1): E f = 0, E f² = E|x| = √(2/π); a weight's noise f(a)f(b) has variance 2/π
    assert noise.mean().abs() < 0.02
    assert abs(noise.var().item() - 2 / math.pi) < 0.02
    assert abs(bias_noise.var().item() - math.sqrt(2 / math.pi)) < 0.03
    # factorized: one row of noise is a multiple of another (rank one)
    assert torch.linalg.matrix_rank(noise[0]).item() == 1
    x = torch.randn(3, 16)
    layer.noisy = False
    torch.testing.assert_close(layer(x), x @ layer.weight_mu.T + layer.bias_mu)


def test_normal_draws_from_uniforms_match_the_exact_inverse_cdf_and_the_normal_law():
    uniform = np.random.default_rng(0).random(400_000, dtype=np.float32)
    uniform[:4] = [0.0, 1.0 - 2.0 ** -24, 0.5, 0.5 - 2.0 ** -24]  # the grid's ends and middle
    normal = uniform.copy()
    learner_kernels.normal_from_uniform(normal)
    # against √2·erfinv in float64 at the same points
    x = torch.from_numpy(uniform.astype(np.float64) * 2 - 1 + 2.0 ** -24)
    np.testing.assert_allclose(normal, math.sqrt(2) * torch.erfinv(x).numpy(), rtol=0, atol=2e-6)
    assert normal[0] == -normal[1] and normal[2] == -normal[3] and abs(normal[0]) < 5.5  # symmetric, finite
    # Kolmogorov-Smirnov against N(0, 1): the 1% critical value is 1.63/√n
    draws = torch.from_numpy(np.sort(normal[4:]).astype(np.float64))
    cdf = (0.5 * (1 + torch.erf(draws / math.sqrt(2)))).numpy()
    steps = np.arange(1, len(cdf) + 1) / len(cdf)
    assert max(np.abs(cdf - steps).max(), np.abs(cdf - steps + 1 / len(cdf)).max()) < 1.63 / math.sqrt(len(cdf))
    assert abs(draws.mean().item()) < 0.01 and abs(draws.var().item() - 1) < 0.01


def test_compiled_log_is_within_one_ulp():
    x = np.exp(np.random.default_rng(1).uniform(-80, 80, 100_000)).astype(np.float32)
    x = np.concatenate([x, np.float32([1.0, 0.5, 2.0, 0.70710677, 0.7071068, np.finfo(np.float32).tiny])])
    out = np.empty_like(x)
    learner_kernels._log(x, out, np.empty(x.shape, dtype=np.int32))
    exact = np.log(x.astype(np.float64))
    assert (np.abs(out - exact) <= np.spacing(np.abs(exact).astype(np.float32))).all()
    assert out[-6] == 0.0


def test_qnetwork_shapes_for_every_head():
    from harness.nets import MLP

    for atoms, dueling, noisy in ((1, False, False), (51, True, True), (7, True, False)):
        net = QNetwork(MLP(4, (16,)), 3, atoms, dueling, noisy, head_hidden=8)
        assert net(torch.zeros(5, 4)).shape == (5, 3, atoms)
    iqn = QNetwork(MLP(4, (16,)), 3, 1, dueling=True, iqn_embedding=8)
    assert iqn(torch.zeros(5, 4), torch.rand(5, 6)).shape == (5, 6, 3, 1)


def test_variants_are_compositions_of_one_core():
    rainbow = get_algorithm("rainbow").resolve_config({})
    assert isinstance(rainbow, ValueConfig)
    assert (rainbow.double, rainbow.dueling, rainbow.prioritized, rainbow.n_step, rainbow.noisy, rainbow.distribution) == \
        (True, True, True, 3, True, "c51")
    for name in VARIANTS:
        algo = get_algorithm(name)
        assert algo.name == name and set(algo.presets) == set(SUITES)
        assert algo.make_agent is get_algorithm("dqn").make_agent
    combined = get_algorithm("dqn").resolve_config({"preset": "classic", "dueling": True, "n_step": 3})
    assert combined.dueling and combined.n_step == 3 and combined.lr == SUITES["classic"]["lr"]
    assert get_algorithm("c51").resolve_config({"preset": "dopamine"}).lr == 2.5e-4


def cartpole(num_envs: int) -> gym.vector.VectorEnv:
    return gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * num_envs,
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def drive(agent, envs, obs, steps: int) -> tuple[np.ndarray, list, list]:
    actions, losses = [], []
    for _ in range(steps):
        action = agent.act(obs)
        next_obs, reward, terminated, truncated, info = envs.step(action)
        real = next_obs.copy()
        for i in np.flatnonzero(terminated | truncated):
            real[i] = info["final_obs"][i]
        metrics = agent.observe(Transition(obs, action, reward, real, terminated, truncated))
        actions.append(action.copy())
        if metrics:
            losses.append(metrics["loss"])
        obs = next_obs
    return obs, actions, losses


@pytest.mark.parametrize("name", list(VARIANTS))
def test_save_load_round_trip_continues_exactly(name):
    algo = get_algorithm(name)
    config = algo.resolve_config({"preset": "classic", "learning_starts": 100, "train_every": 1,
                                  "target_update_every": 50, "batch_size": 16, "buffer_size": 400})
    envs = cartpole(2)
    spec = EnvSpec("CartPole-v1", envs.single_observation_space, envs.single_action_space, 2)
    agent = algo.make_agent(spec, config, 7, None)
    obs, _ = envs.reset(seed=7)
    obs, _, _ = drive(agent, envs, obs, 150)
    state = agent.state_dict()
    saved_envs, saved_obs = copy.deepcopy(envs), obs.copy()
    _, actions, losses = drive(agent, envs, obs, 120)

    restored = algo.make_agent(spec, config, 99, None)  # another seed: everything must come from the state
    restored.load_state_dict(state)
    _, actions2, losses2 = drive(restored, saved_envs, saved_obs, 120)
    assert len(losses) > 100
    np.testing.assert_array_equal(np.array(actions), np.array(actions2))
    assert losses == losses2
    assert restored.act(obs, explore=False).tolist() == agent.act(obs, explore=False).tolist()


def test_set_hyperparameters_and_its_errors():
    algo = get_algorithm("dqn")
    envs = cartpole(1)
    spec = EnvSpec("CartPole-v1", envs.single_observation_space, envs.single_action_space, 1)
    agent = algo.make_agent(spec, algo.resolve_config({"preset": "classic"}), 0, None)
    agent.set_hyperparameters({"lr": 3e-3, "gamma": 0.9, "batch_size": 128})
    assert agent.optimizer.param_groups[0]["lr"] == 3e-3 and agent.cfg.gamma == 0.9 and agent.cfg.batch_size == 128
    assert agent.state_dict()["config"]["lr"] == 3e-3
    with pytest.raises(PluginError, match="cannot change mid-run"):
        agent.set_hyperparameters({"n_step": 5})
    with pytest.raises(PluginError, match="must be a number"):
        agent.set_hyperparameters({"lr": "fast"})


def test_epsilon_schedule_is_linear_and_noisy_agents_do_not_use_it():
    algo = get_algorithm("dqn")
    envs = cartpole(1)
    spec = EnvSpec("CartPole-v1", envs.single_observation_space, envs.single_action_space, 1)
    agent = algo.make_agent(spec, algo.resolve_config({"eps_start": 1.0, "eps_end": 0.1, "eps_decay_steps": 1000,
                                                       "eps_decay_start": 200}), 0, None)
    for steps, eps in ((0, 1.0), (200, 1.0), (700, 0.55), (1200, 0.1), (5000, 0.1)):
        agent.steps = steps
        assert agent.epsilon() == pytest.approx(eps)
    noisy = get_algorithm("noisy_dqn").make_agent(spec, get_algorithm("noisy_dqn").resolve_config({}), 0, None)
    assert noisy.epsilon() == 0.0


def test_image_observations_use_compact_replay_and_cnn_torsos():
    from gymnasium import spaces

    from harness.nets import MinAtarCNN, NatureCNN

    algo = get_algorithm("rainbow")
    config = algo.resolve_config({"preset": "atari100k", "buffer_size": 1_000, "learning_starts": 8, "batch_size": 4,
                                  "n_step": 3})
    atari = EnvSpec("ALE/Pong-v5", spaces.Box(0, 255, (4, 84, 84), np.uint8), spaces.Discrete(6), 2)
    agent = algo.make_agent(atari, config, 0, None)
    assert isinstance(agent.online.torso, NatureCNN) and agent.replay.k == 4
    assert agent.replay.frames.shape == (500, 2, 84, 84) and agent.replay.frames.dtype == np.uint8
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 255, (2, 4, 84, 84), dtype=np.uint8)
    for _ in range(12):
        action = agent.act(obs)
        next_obs = np.concatenate([obs[:, 1:], rng.integers(0, 255, (2, 1, 84, 84), dtype=np.uint8)], axis=1)
        agent.observe(Transition(obs, action, np.ones(2, np.float32), next_obs, np.zeros(2, bool), np.zeros(2, bool)))
        obs = next_obs
    assert agent.updates > 0
    minatar = EnvSpec("MinAtar/Breakout-v1", spaces.Box(0, 1, (4, 10, 10), bool), spaces.Discrete(3), 1)
    small = algo.make_agent(minatar, config, 0, None)
    assert isinstance(small.online.torso, MinAtarCNN) and small.replay.k == 1


@pytest.mark.parametrize("shape", [(32, 4, 84, 84), (1, 4, 5, 3), (2, 3, 6, 6), (2, 4, 6, 6, "strided")])
def test_frames_become_the_floats_torch_makes_in_channels_last_memory(shape):
    from harness.frames import scaled_channels_last

    rng = np.random.default_rng(0)
    strided = shape[-1] == "strided"
    frames = torch.from_numpy(rng.integers(0, 256, shape[:4], dtype=np.uint8))
    frames[0, 0, 0, :2] = torch.tensor([0, 255], dtype=torch.uint8)  # both ends of the range
    if strided:  # a non-contiguous view takes torch's own path
        frames = frames.transpose(2, 3)
    expected = frames.contiguous(memory_format=torch.channels_last).float() / 255.0
    got = scaled_channels_last(frames)
    assert got.dtype == torch.float32 and got.shape == frames.shape
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(got, expected)  # bit for bit
    assert got[0, 0, 0, 0] == 0.0 and got.max() == 1.0


@pytest.mark.parametrize("switches", [{}, {"dueling": True}, {"dueling": True, "head_hidden": 16}, {"hidden": ()}])
def test_numpy_acting_mirror_tracks_the_network_through_updates_and_loads(switches):
    algo = get_algorithm("dqn")
    config = algo.resolve_config({"preset": "classic", "learning_starts": 50, "train_every": 1,
                                  "batch_size": 16, "buffer_size": 400, **switches})
    envs = cartpole(3)
    spec = EnvSpec("CartPole-v1", envs.single_observation_space, envs.single_action_space, 3)
    agent = algo.make_agent(spec, config, 3, None)
    assert agent.numpy_q is not None
    obs, _ = envs.reset(seed=3)
    probe = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)

    def torch_q():
        with torch.no_grad():
            return agent.q_values(agent.online, torch.as_tensor(probe)).numpy()

    before = torch_q()
    obs, _, losses = drive(agent, envs, obs, 120)  # ~70 Adam steps change the weights in place
    assert losses and not np.allclose(before, torch_q())
    np.testing.assert_allclose(agent.numpy_q.q_values(probe), torch_q(), rtol=1e-5, atol=1e-6)
    other = algo.make_agent(spec, config, 4, None)
    agent.load_state_dict(other.state_dict())  # state loads copy into the same storage
    np.testing.assert_allclose(agent.numpy_q.q_values(probe), torch_q(), rtol=1e-5, atol=1e-6)
    greedy = agent.act(probe, explore=False)
    np.testing.assert_array_equal(greedy, torch_q().argmax(axis=1))


def test_numpy_acting_mirror_declines_what_it_cannot_compute():
    from harness.nets import MLP

    assert NumpyQ.mirror(QNetwork(MLP(4, (16,)), 3, atoms=51)) is None  # C51 logits
    assert NumpyQ.mirror(QNetwork(MLP(4, (16,)), 3, noisy=True)) is None
    assert NumpyQ.mirror(QNetwork(MLP(4, (16,)), 3, iqn_embedding=8)) is None
    assert NumpyQ.mirror(QNetwork(MLP(4, (16,), activation=torch.nn.Tanh), 3)) is None
    assert NumpyQ.mirror(QNetwork(MLP(4, (16,)), 3).double()) is None


def twin_agents(name: str, switches: dict, seed: int = 0):
    """The same agent twice, learning through numpy and through torch, fed the same transitions."""
    algo = get_algorithm(name)
    envs = cartpole(2)
    spec = EnvSpec("CartPole-v1", envs.single_observation_space, envs.single_action_space, 2)
    twins = [algo.make_agent(spec, algo.resolve_config({"preset": "classic", "learning_starts": 10**9,
                                                        "numpy_update": fused, **switches}), seed, None)
             for fused in (True, False)]
    rng = np.random.default_rng(seed)
    obs, _ = envs.reset(seed=seed)
    for _ in range(600):
        action = rng.integers(2, size=2)
        next_obs, reward, terminated, truncated, info = envs.step(action)
        real = next_obs.copy()
        for i in np.flatnonzero(terminated | truncated):
            real[i] = info["final_obs"][i]
        for agent in twins:
            agent.observe(Transition(obs, action, reward, real, terminated, truncated))
        obs = next_obs
    return twins


NUMPY_LEARNER_CASES = [("dqn", {}), ("dqn", {"loss": "mse", "max_grad_norm": 0.0}), ("double_dqn", {}),
                       ("dueling_dqn", {}), ("dueling_dqn", {"head_hidden": 16}), ("prioritized_dqn", {}), ("nstep_dqn", {}),
                       ("noisy_dqn", {}), ("c51", {}), ("rainbow", {}), ("rainbow", {"head_hidden": 32}),
                       ("dqn", {"max_grad_norm": 0.01}), ("qrdqn", {}), ("qrdqn", {"double": True, "kappa": 2.0})]


@pytest.mark.parametrize("name,switches", NUMPY_LEARNER_CASES)
def test_numpy_learner_makes_the_same_updates_as_torch(name, switches):
    fused, reference = twin_agents(name, switches)
    assert fused.numpy_learner is not None and reference.numpy_learner is None
    for _ in range(25):
        fused_loss, reference_loss = fused.learn()["loss"], reference.learn()["loss"]
        assert fused_loss == pytest.approx(reference_loss, rel=1e-5, abs=1e-6)
    for a, b in zip(fused.online.parameters(), reference.online.parameters()):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-5, atol=1e-6)
    fused_state, reference_state = fused.optimizer.state_dict()["state"], reference.optimizer.state_dict()["state"]
    for key in reference_state:
        for item in ("step", "exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(fused_state[key][item], reference_state[key][item], rtol=1e-4, atol=1e-9)
    if fused.replay.prioritized:  # the same priorities went into the sum-tree
        np.testing.assert_allclose(fused.replay.tree.total, reference.replay.tree.total, rtol=1e-5)


def test_numpy_learner_state_round_trips_and_switches_to_torch_mid_run():
    fused, reference = twin_agents("rainbow", {})
    for _ in range(10):
        fused.learn(), reference.learn()
    # a checkpoint of the fused agent resumes on the torch path, and the other way round
    resumed_torch, resumed_fused = twin_agents("rainbow", {}, seed=5)[::-1]
    resumed_torch.load_state_dict(fused.state_dict())
    resumed_fused.load_state_dict(reference.state_dict())
    for agent in (fused, reference, resumed_torch, resumed_fused):
        agent.np_rng = np.random.default_rng(9)
        agent.torch_rng.manual_seed(9)
        for _ in range(10):
            agent.learn()
    for a, b, c, d in zip(*(agent.online.parameters() for agent in (fused, reference, resumed_torch, resumed_fused))):
        for other in (b, c, d):
            torch.testing.assert_close(a.detach(), other.detach(), rtol=1e-5, atol=1e-6)


def test_numpy_learner_declines_what_it_cannot_compute():
    for name, switches in (("iqn", {}), ("dqn", {"numpy_update": False})):
        fused, _ = twin_agents(name, switches)
        assert fused.numpy_learner is None


@pytest.mark.parametrize("name", ["dqn", "rainbow", "qrdqn"])
def test_concurrent_passes_make_exactly_the_sequential_updates(name, monkeypatch):
    """The passes over s' on the side thread compute what the sequential update computes, bit for bit
    (on MinAtar-sized networks, which would not use the side thread unless told to)."""
    from gymnasium import spaces

    import plugins.value.agent as agent_module

    monkeypatch.setattr(agent_module, "SIDE_PASS_MIN_MULTIPLY_ADDS", 0)
    algo = get_algorithm(name)
    spec = EnvSpec("MinAtar/Breakout-v1", spaces.Box(0, 1, (4, 10, 10), bool), spaces.Discrete(3), 2)
    twins = [algo.make_agent(spec, algo.resolve_config({"preset": "minatar", "learning_starts": 10**9, "buffer_size": 500,
                                                        "concurrent_passes": side}), 0, None)
             for side in (True, False)]
    assert twins[0]._side_passes is not None and twins[1]._side_passes is None
    rng = np.random.default_rng(0)
    for step in range(200):
        obs, next_obs = rng.random((2, 2, 4, 10, 10)) < 0.1
        transition = Transition(obs, rng.integers(3, size=2), rng.normal(size=2).astype(np.float32), next_obs,
                                np.array([step % 50 == 49, False]), np.zeros(2, bool))
        for agent in twins:
            agent.observe(transition)
    for _ in range(10):
        assert twins[0].learn()["loss"] == twins[1].learn()["loss"]
    for a, b in zip(twins[0].online.parameters(), twins[1].online.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_side_thread_is_used_where_a_pass_is_big_enough():
    from gymnasium import spaces

    from harness.nets import MinAtarCNN, NatureCNN, multiply_adds

    # by hand: conv 20·20·32·(4·8·8) + 9·9·64·(32·4·4) + 7·7·64·(64·3·3), then 3136·512 and 512·4
    nature = 12_800 * 256 + 5_184 * 512 + 3_136 * 576 + 3_136 * 512 + 512 * 4
    assert multiply_adds(QNetwork(NatureCNN(), 4), torch.zeros(1, 4, 84, 84)) == nature
    assert multiply_adds(MinAtarCNN(4, 10, 10), torch.zeros(1, 4, 10, 10)) == 8 * 8 * 16 * 4 * 9 + 1024 * 128
    algo = get_algorithm("dqn")
    config = algo.resolve_config({"preset": "nature", "buffer_size": 100})
    atari = EnvSpec("ALE/Pong-v5", spaces.Box(0, 255, (4, 84, 84), np.uint8), spaces.Discrete(4), 1)
    minatar = EnvSpec("MinAtar/Breakout-v1", spaces.Box(0, 1, (4, 10, 10), bool), spaces.Discrete(3), 1)
    assert algo.make_agent(atari, config, 0, None)._side_passes is not None
    assert algo.make_agent(minatar, config, 0, None)._side_passes is None
    assert algo.make_agent(atari, dataclasses.replace(config, concurrent_passes=False), 0, None)._side_passes is None
