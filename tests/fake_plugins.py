"""Real installed-looking distributions for plugin tests: a package folder plus its .dist-info with
entry points, put on PYTHONPATH of a `harness` subprocess. importlib.metadata finds them exactly as it
finds pip-installed packages."""

from __future__ import annotations

import textwrap
from pathlib import Path

AGENTS_SOURCE = textwrap.dedent('''
    """Agents that misbehave on purpose, to test failure isolation."""
    from dataclasses import dataclass

    import numpy as np

    from harness.plugin import Agent, Algorithm


    @dataclass
    class Config:
        fail_after: int = 300


    class RandomAgent(Agent):
        def __init__(self, spec, config, seed, fabric):
            self.n, self.config, self.steps = spec.action_space.n, config, 0
            self.rng = np.random.default_rng(seed)

        def act(self, obs, explore=True):
            return self.rng.integers(self.n, size=len(obs))

        def observe(self, t):
            self.steps += len(t.reward)
            return {"loss": self.loss()}

        def loss(self):
            return 0.0

        def state_dict(self):
            return {"steps": self.steps, "rng": self.rng.bit_generator.state}

        def load_state_dict(self, state):
            self.steps = state["steps"]
            self.rng.bit_generator.state = state["rng"]


    class NanAgent(RandomAgent):
        def loss(self):
            return float("nan") if self.steps >= self.config.fail_after else 1.0


    class CrashAgent(RandomAgent):
        def loss(self):
            if self.steps >= self.config.fail_after:
                raise RuntimeError("deliberate crash in the learning step")
            return 1.0


    class DyingAgent(RandomAgent):
        def loss(self):
            if self.steps >= self.config.fail_after:
                import os, signal
                os.kill(os.getpid(), signal.SIGKILL)  # the process vanishes without a word
            return 1.0


    def make(name, cls):
        return Algorithm(name=name, summary=f"test agent {name}", config=Config, make_agent=cls)


    random_agent = make("random_agent", RandomAgent)
    nan_agent = make("nan_agent", NanAgent)
    crash_agent = make("crash_agent", CrashAgent)
    dying_agent = make("dying_agent", DyingAgent)
''')


def fake_distribution(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> Path:
    """Write modules and a ``<dist>-1.0.dist-info`` declaring ``harness.algorithms`` entry points."""
    root.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (root / f"{name}.py").write_text(source)
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[harness.algorithms]\n{lines}")
    return root


FAULTY = ("random_agent", "nan_agent", "crash_agent", "dying_agent")

# A tiny suite for failure-isolation tests of every backend.
FAULTS_SUITE = """
[suite]
name = "faults"
[defaults]
budget = 2000
checkpoint_every = 500
eval = { every = 1000, episodes = 3, num_envs = 3 }
[[tasks]]
id = "CartPole-v1"
"""


def faulty_site(root: Path) -> Path:
    """A distribution registering the well-behaved and the misbehaving test agents."""
    return fake_distribution(root, "faulty-algos", {name: f"faulty_algos:{name}" for name in FAULTY},
                             {"faulty_algos": AGENTS_SOURCE})
