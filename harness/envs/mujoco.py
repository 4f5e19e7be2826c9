"""MuJoCo continuous control through gymnasium (``HalfCheetah-v5`` ...), declared ``family = "mujoco"``.

The environments are gymnasium's own, unchanged (no observation or reward normalization here: that
is an algorithm's business). What changes a score is recorded for the fingerprint: the task id and
its version, the episode cap, the env options and MuJoCo's major version (gymnasium warns that
results differ across simulator versions; patch releases do not change the dynamics).
"""

from __future__ import annotations

import difflib
import functools
from typing import Any, Mapping

import gymnasium as gym


def mujoco_ids() -> list[str]:
    return sorted(env_id for env_id, spec in gym.registry.items()
                  if isinstance(spec.entry_point, str) and spec.entry_point.startswith("gymnasium.envs.mujoco"))


class MujocoFamily:
    name = "mujoco"

    def validate(self, env_id: str, options: Mapping[str, Any]) -> str | None:
        ids = mujoco_ids()
        if env_id in ids:
            import mujoco  # noqa: F401  (a missing simulator is reported as the family being unavailable)

            return None
        close = difflib.get_close_matches(env_id, ids, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return f"unknown gymnasium MuJoCo environment {env_id!r}{hint}"

    def make_vector(self, env_id: str, options: Mapping[str, Any], num_envs: int, seed: int,
                    evaluation: bool) -> gym.vector.VectorEnv:
        # functools.partial keeps the vector env picklable: its state is checkpointed.
        make = functools.partial(gym.make, env_id, **dict(options))
        envs = gym.vector.SyncVectorEnv([make] * num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        envs.action_space.seed(seed)
        return envs

    def protocol(self, env_id: str, options: Mapping[str, Any]) -> dict[str, Any]:
        import mujoco

        spec = gym.spec(env_id)
        return {"env_version": f"v{spec.version}", "max_episode_steps": spec.max_episode_steps,
                "options": dict(sorted(options.items())), "mujoco_major": int(mujoco.__version__.split(".")[0])}

    def frames_per_step(self, env_id: str, options: Mapping[str, Any]) -> int:
        return 1


FAMILY = MujocoFamily()
