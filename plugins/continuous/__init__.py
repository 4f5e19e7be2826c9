"""Continuous control: PPO, SAC and TD3, registered as ``ppo``, ``sac`` and ``td3``.

Each learning rule reads top to bottom in its own module; the parts they share (policy heads, twin
critics, running normalizers, the off-policy acting/update schedule) are small
modules beside them.
"""

from plugins.continuous.ppo import ppo
from plugins.continuous.sac import sac
from plugins.continuous.td3 import td3

__all__ = ["ppo", "sac", "td3"]
