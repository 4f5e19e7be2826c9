"""Environment families: each turns a task's ``env`` id and options into vectorized environments.

A family module exposes a module-level object satisfying :class:`EnvFamily`. Families are loaded
lazily so that, e.g., a classic-control run never imports ale-py. The family of a task is declared
in its suite (``family = "atari"``) or inferred from the id's prefix.

Contract for ``make_vector``: return a ``gymnasium.vector.VectorEnv`` whose autoreset mode is
``SAME_STEP`` (the final observation of an ended episode is in ``info["final_obs"]`` with mask
``info["_final_obs"]``), whose observations are what agents see (e.g. uint8 frame stacks, channels
first), and whose rewards are the *training* rewards. A family may put the unclipped game reward in
``info["raw_reward"]`` (a float array) so that logged training returns are real game scores.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Mapping, Protocol


class EnvFamily(Protocol):
    name: str

    def validate(self, env_id: str, options: Mapping[str, Any]) -> str | None:
        """None if ``env_id`` with ``options`` can be built, else a one-line reason with allowed values."""

    def make_vector(self, env_id: str, options: Mapping[str, Any], num_envs: int, seed: int,
                    evaluation: bool) -> Any:
        """A SAME_STEP-autoreset VectorEnv of ``num_envs`` copies; ``evaluation`` selects the eval protocol."""

    def protocol(self, env_id: str, options: Mapping[str, Any]) -> dict[str, Any]:
        """Every setting that changes what a score means (for the run's fingerprint)."""

    def frames_per_step(self, env_id: str, options: Mapping[str, Any]) -> int:
        """Emulator frames per agent step (frameskip), 1 where it does not apply."""


# family name -> module implementing it (module attribute ``FAMILY``)
FAMILY_MODULES: dict[str, str] = {
    "gym": "harness.envs.classic",
    "atari": "harness.envs.atari",
    "minatar": "harness.envs.minatar",
    "mujoco": "harness.envs.mujoco",
    "maze": "harness.envs.maze",
}

# id prefix -> family, for tasks that do not name one
PREFIXES: dict[str, str] = {"ALE/": "atari", "MinAtar/": "minatar", "Maze/": "maze"}


def infer_family(env_id: str) -> str:
    for prefix, family in PREFIXES.items():
        if env_id.startswith(prefix):
            return family
    return "gym"


def get_family(name: str) -> EnvFamily:
    if name not in FAMILY_MODULES:
        raise KeyError(name)
    return importlib.import_module(FAMILY_MODULES[name]).FAMILY


@dataclass(frozen=True)
class EnvRef:
    """A buildable reference to one task's environments (picklable, for worker processes)."""

    family: str
    env_id: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.options)

    def make_vector(self, num_envs: int, seed: int, evaluation: bool = False) -> Any:
        return get_family(self.family).make_vector(self.env_id, self.kwargs, num_envs, seed, evaluation)

    def protocol(self) -> dict[str, Any]:
        return {"family": self.family, "env_id": self.env_id,
                **get_family(self.family).protocol(self.env_id, self.kwargs)}

    def frames_per_step(self) -> int:
        return get_family(self.family).frames_per_step(self.env_id, self.kwargs)
