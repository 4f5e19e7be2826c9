"""Actor-critic agents learn, through the harness's own loop (``harness.run.train``).

Budgets fit CI on 2 CPU cores; the multi-seed versions are marked ``slow``. IMPALA's tests are in
tests/test_impala.py, a2c's and unreal's on the maze in tests/test_maze_learning.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import plugins.actor_critic  # noqa: F401  (registers actor_critic/DelayedChain-v0 and ScaledCartPole-v1)
from harness.run import train
from harness.suite import make_task

# greedy evaluation: the argmax of a half-trained CartPole policy shows what it learned more reliably
CARTPOLE_HYPER = {"lr": 3e-3, "max_grad_norm": 40.0, "greedy_evaluation": True}


def cartpole(budget: int, env: str = "CartPole-v1"):
    return make_task(env, budget=budget, num_envs=8, eval={"every": budget // 2, "episodes": 10, "num_envs": 5})


def final_returns(algorithm: str, task, seeds, tmp_path, hyper) -> list[float]:
    return [train(algorithm, task, seed=s, root=tmp_path, hyper=hyper).final_return for s in seeds]


@pytest.mark.learning
def test_a2c_learns_cartpole(tmp_path):
    returns = final_returns("a2c", cartpole(60_000), [0], tmp_path, CARTPOLE_HYPER)
    assert returns[0] >= 150, returns  # a random policy scores about 22


@pytest.mark.learning
def test_popart_learns_with_rewards_scaled_by_1000_where_the_unnormalized_agent_does_not(tmp_path):
    task = cartpole(40_000, "actor_critic/ScaledCartPole-v1")
    hyper = {**CARTPOLE_HYPER, "greedy_evaluation": False}
    with_popart = train("a2c", task, seed=0, root=tmp_path, hyper={**hyper, "popart": True})
    without = train("a2c", task, seed=0, root=tmp_path, hyper={**hyper, "popart": False})
    # returns are 1000 × CartPole's: a random policy scores about 22,000
    assert with_popart.final_return >= 150_000, with_popart.metrics[["env_steps", "return_mean"]]
    assert without.final_return < 60_000, without.metrics[["env_steps", "return_mean"]]
    assert with_popart.metrics["train/popart_sigma"].iloc[-1] > 1_000  # the statistics found the scale


@pytest.mark.learning
def test_metagrad_raises_gamma_on_a_delayed_reward_chain(tmp_path):
    task = make_task("actor_critic/DelayedChain-v0", budget=12_000, num_envs=8,
                     eval={"every": 4_000, "episodes": 10, "num_envs": 5})
    result = train("metagrad", task, seed=0, root=tmp_path,
                   hyper={"gamma": 0.8, "reference_gamma": 0.99, "meta_lr": 0.05})
    gammas = result.metrics["train/gamma"].to_numpy()
    assert gammas[-1] > 0.85 and np.all(np.diff(gammas) > 0), gammas  # up from 0.8, at every evaluation


@pytest.mark.learning
@pytest.mark.slow
def test_a2c_cartpole_on_three_seeds(tmp_path):  # impala's: tests/test_impala.py
    returns = final_returns("a2c", cartpole(100_000), [0, 1, 2], tmp_path, CARTPOLE_HYPER)
    assert sum(r >= 200 for r in returns) >= 2, returns


@pytest.mark.learning
@pytest.mark.slow
def test_metagrad_gamma_crosses_the_horizon_the_chain_needs_on_three_seeds(tmp_path):
    # γ^5 > 1/2 from γ ≈ 0.87: beyond it going to the end is worth more than quitting
    task = make_task("actor_critic/DelayedChain-v0", budget=60_000, num_envs=8,
                     eval={"every": 15_000, "episodes": 10, "num_envs": 5})
    for seed in (0, 1, 2):
        result = train("metagrad", task, seed=seed, root=tmp_path,
                       hyper={"gamma": 0.8, "reference_gamma": 0.99, "meta_lr": 0.05})
        assert result.metrics["train/gamma"].iloc[-1] > 0.9, result.metrics["train/gamma"]
