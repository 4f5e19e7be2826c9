"""A tiny real learner for tuning and PBT tests (fast enough for CI on 2 cores), and its own checks.

``linear_pg``: a linear softmax policy trained by REINFORCE with whitened returns, one step per
finished episode, with plain SGD. Its learning rate decides everything (1e-5 learns nothing on
CartPole, ~0.05 learns fast), so tuning and PBT have something real to find. It saves its whole
state and supports ``set_hyperparameters`` like any plugin agent.
"""

from __future__ import annotations

import numpy as np

from fake_plugins import fake_distribution

LEARNER_SOURCE = '''
from dataclasses import dataclass

import numpy as np

from harness.plugin import Agent, Algorithm


@dataclass
class Config:
    lr: float = 1e-5
    gamma: float = 0.99


class LinearPG(Agent):
    def __init__(self, spec, config, seed, fabric):
        self.config = config
        self.weights = np.zeros((spec.observation_space.shape[0] + 1, spec.action_space.n))
        self.rng = np.random.default_rng(seed)
        self.open = [[] for _ in range(spec.num_envs)]

    def probs(self, obs):
        x = np.concatenate([obs, np.ones((len(obs), 1))], axis=1)
        logits = x @ self.weights
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return x, p / p.sum(axis=1, keepdims=True)

    def act(self, obs, explore=True):
        _, p = self.probs(np.asarray(obs, dtype=np.float64))
        if not explore:
            return p.argmax(axis=1)
        return (self.rng.random((len(p), 1)) > p.cumsum(axis=1)).sum(axis=1).clip(0, p.shape[1] - 1)

    def observe(self, t):
        metrics = None
        for i in range(len(t.reward)):
            self.open[i].append((t.obs[i], int(t.action[i]), float(t.reward[i])))
            if t.terminated[i] or t.truncated[i]:
                metrics = self.learn(self.open[i])
                self.open[i] = []
        return metrics

    def learn(self, episode):
        obs = np.array([o for o, _, _ in episode], dtype=np.float64)
        actions = np.array([a for _, a, _ in episode])
        g, returns = 0.0, []
        for _, _, r in reversed(episode):
            g = r + self.config.gamma * g
            returns.append(g)
        returns = np.array(returns[::-1])
        advantage = (returns - returns.mean()) / (returns.std() + 1e-8)
        x, p = self.probs(obs)
        grad_logits = -p
        grad_logits[np.arange(len(actions)), actions] += 1.0
        self.weights += self.config.lr * x.T @ (grad_logits * advantage[:, None]) / len(actions) * 10
        return {"episode_length": float(len(episode))}

    def state_dict(self):
        return {"weights": self.weights.copy(), "rng": self.rng.bit_generator.state,
                "open": [list(e) for e in self.open], "config": dict(vars(self.config))}

    def load_state_dict(self, state):
        self.weights = state["weights"].copy()
        self.rng.bit_generator.state = state["rng"]
        self.open = [list(e) for e in state["open"]]
        for key, value in state["config"].items():
            setattr(self.config, key, value)

    def set_hyperparameters(self, values):
        for key, value in values.items():
            setattr(self.config, key, value)


linear_pg = Algorithm(name="linear_pg", summary="linear softmax REINFORCE (test learner)", config=Config,
                      make_agent=LinearPG, search_space={"lr": ("log_float", 1e-5, 1.0)})
'''


def learner_site(folder):
    """A fake installed distribution registering ``linear_pg``; put it on PYTHONPATH."""
    return fake_distribution(folder, "linear-pg", {"linear_pg": "linear_pg_learner:linear_pg"},
                             {"linear_pg_learner": LEARNER_SOURCE})


def test_learner_state_round_trips_and_hyperparameters_change(tmp_path):
    namespace: dict = {}
    exec(compile(LEARNER_SOURCE, "linear_pg_learner", "exec"), namespace)
    import gymnasium as gym

    from harness.plugin import EnvSpec, Transition

    env = gym.make("CartPole-v1")
    spec = EnvSpec("CartPole-v1", env.observation_space, env.action_space, 1)
    agent = namespace["LinearPG"](spec, namespace["Config"](lr=0.05), 0, None)
    obs, _ = env.reset(seed=0)
    for _ in range(300):
        action = agent.act(obs[None])
        nxt, reward, term, trunc, _ = env.step(int(action[0]))
        agent.observe(Transition(obs[None], action, np.array([reward]), nxt[None], np.array([term]), np.array([trunc])))
        obs = nxt if not (term or trunc) else env.reset()[0]
    assert np.abs(agent.weights).sum() > 0
    clone = namespace["LinearPG"](spec, namespace["Config"](), 1, None)
    clone.load_state_dict(agent.state_dict())
    assert clone.config.lr == 0.05 and np.array_equal(clone.weights, agent.weights)
    assert np.array_equal(clone.act(np.ones((3, 4)) * 0.1), agent.act(np.ones((3, 4)) * 0.1))
    clone.set_hyperparameters({"lr": 0.5})
    assert clone.config.lr == 0.5
