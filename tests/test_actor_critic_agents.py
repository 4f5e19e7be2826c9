"""Agents' contract: exact resume from state_dict, hyperparameter changes, evaluation state, actors."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch

import plugins.actor_critic as ac
from harness.plugin import EnvSpec, Transition
from harness.run import true_next_obs


def vector_env(env_id: str, n: int, **kwargs) -> gym.vector.VectorEnv:
    return gym.vector.SyncVectorEnv([lambda: gym.make(env_id, **kwargs)] * n,
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def maze_env(n: int):
    from harness.envs.maze import FAMILY

    return FAMILY.make_vector("Maze/nav_maze_static_01", {"width": 42, "height": 42}, n, 0, False)


CASES = {
    "a2c": (lambda: vector_env("CartPole-v1", 3), {"rollout_length": 5}),
    "a2c_popart": (lambda: vector_env("CartPole-v1", 3), {"rollout_length": 5, "popart": True}),
    "metagrad": (lambda: vector_env("actor_critic/DelayedChain-v0", 3), {"rollout_length": 5}),
    "unreal": (lambda: maze_env(2), {"rollout_length": 5, "pixel_control_crop": 1, "replay_size": 40,
                                     "sequence_length": 4, "lstm_size": 32}),
    "impala": (lambda: vector_env("CartPole-v1", 3), {"rollout_length": 5, "num_actors": 0}),
}


def run(agent, envs, obs, steps: int, record: list) -> np.ndarray:
    for _ in range(steps):
        action = agent.act(obs)
        next_obs, reward, terminated, truncated, info = envs.step(action)
        done = terminated | truncated
        transition = Transition(obs, action, reward, true_next_obs(next_obs, done, info), terminated, truncated)
        record.append((transition, next_obs))
        agent.observe(transition)
        obs = next_obs
    return obs


@pytest.mark.parametrize("case", sorted(CASES))
def test_restored_agent_continues_exactly(case):
    make_envs, hyper = CASES[case]
    algorithm = getattr(ac, case.split("_")[0])
    envs = make_envs()
    spec = EnvSpec("t", envs.single_observation_space, envs.single_action_space, envs.num_envs)
    agent = algorithm.make_agent(spec, algorithm.resolve_config(hyper), 0, None)
    obs, _ = envs.reset(seed=0)
    obs = run(agent, envs, obs, 12, [])  # mid-rollout, after two updates
    snapshot = copy.deepcopy(agent.state_dict())
    continued: list = []
    run(agent, envs, obs, 13, continued)
    restored = algorithm.make_agent(spec, algorithm.resolve_config(hyper), 99, None)  # another seed: state must win
    restored.load_state_dict(snapshot)
    for transition, _ in continued:
        action = restored.act(transition.obs)
        np.testing.assert_array_equal(action, transition.action)
        restored.observe(transition)
    for (name, a), b in zip(agent.net.state_dict().items(), restored.net.state_dict().values()):
        assert torch.equal(a, b), name
    if case == "metagrad":
        assert torch.equal(agent.eta, restored.eta) and agent.eta.item() != torch.logit(torch.tensor(0.95)).item()


def test_set_hyperparameters_changes_lr_and_entropy_cost_only():
    envs = vector_env("CartPole-v1", 2)
    spec = EnvSpec("t", envs.single_observation_space, envs.single_action_space, 2)
    agent = ac.a2c.make_agent(spec, ac.a2c.resolve_config({}), 0, None)
    agent.set_hyperparameters({"lr": 1e-4, "entropy_cost": 0.05})
    assert agent.optimizer.param_groups[0]["lr"] == 1e-4 and agent.weights().entropy_cost == 0.05
    with pytest.raises(ValueError, match="gamma"):
        agent.set_hyperparameters({"gamma": 0.5})


def test_evaluation_uses_its_own_recurrent_state():
    envs = vector_env("CartPole-v1", 2)
    spec = EnvSpec("t", envs.single_observation_space, envs.single_action_space, 2)
    agent = ac.a2c.make_agent(spec, ac.a2c.resolve_config({}), 0, None)
    obs, _ = envs.reset(seed=0)
    run(agent, envs, obs, 7, [])
    before = copy.deepcopy(agent.state_dict())
    eval_envs = vector_env("CartPole-v1", 3)
    eval_obs, _ = eval_envs.reset(seed=1)
    agent.begin_evaluation(3)
    for _ in range(5):
        action = agent.act(eval_obs, explore=False)
        eval_obs, reward, terminated, truncated, _ = eval_envs.step(action)
        agent.evaluation_step(action, reward, terminated | truncated)
    agent.end_evaluation()
    after = agent.state_dict()
    assert torch.equal(before["acting"]["h"], after["acting"]["h"]) and len(after["rollout"]["steps"]) == 7


def test_evaluation_feeds_the_action_taken_back_to_the_lstm():
    """An evaluation ε replaces some of the agent's actions: its last-action input must be the one taken."""
    envs = vector_env("CartPole-v1", 3)
    spec = EnvSpec("t", envs.single_observation_space, envs.single_action_space, 3)
    agent = ac.a2c.make_agent(spec, ac.a2c.resolve_config({}), 0, None)
    obs, _ = envs.reset(seed=2)
    agent.begin_evaluation(3)
    own = agent.act(obs, explore=False)
    taken = 1 - own  # every action replaced
    _, reward, terminated, truncated, _ = envs.step(taken)
    agent.evaluation_step(taken, reward, terminated | truncated)
    assert agent.evaluating.prev_action.tolist() == taken.tolist()
    agent.end_evaluation()
