"""MuJoCo continuous control through gymnasium (``HalfCheetah-v5`` ...), declared ``family = "mujoco"``.

The environments are gymnasium's own, unchanged (no observation or reward normalization here: that
is an algorithm's business). What changes a score is recorded for the fingerprint: the task id and
its version, the episode cap, the env options and MuJoCo's major version (gymnasium warns that
results differ across simulator versions; patch releases do not change the dynamics).
"""

from __future__ import annotations

from typing import Any, Mapping

import gymnasium as gym

from harness.envs.classic import GymFamily, unknown


def mujoco_ids() -> list[str]:
    return sorted(env_id for env_id, spec in gym.registry.items()
                  if isinstance(spec.entry_point, str) and spec.entry_point.startswith("gymnasium.envs.mujoco"))


class MujocoFamily(GymFamily):
    """gymnasium's MuJoCo environments, built like any gymnasium environment; only validation and the
    recorded protocol differ."""

    name = "mujoco"

    def validate(self, env_id: str, options: Mapping[str, Any]) -> str | None:
        ids = mujoco_ids()
        if env_id in ids:
            import mujoco  # noqa: F401  (a missing simulator is reported as the family being unavailable)

            return None
        return unknown(env_id, ids, "gymnasium MuJoCo environment")

    def protocol(self, env_id: str, options: Mapping[str, Any]) -> dict[str, Any]:
        import mujoco

        spec = gym.spec(env_id)
        return {"env_version": f"v{spec.version}", "max_episode_steps": spec.max_episode_steps,
                "options": dict(sorted(options.items())), "mujoco_major": int(mujoco.__version__.split(".")[0])}


FAMILY = MujocoFamily()
