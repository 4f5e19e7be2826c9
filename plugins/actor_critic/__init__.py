"""Recurrent actor-critic agents: ``a2c``, ``impala``, ``unreal`` and ``metagrad``, plus PopArt.

One shared core (``core.py``: UNREAL conv torso or MLP → LSTM fed last action and reward → policy
and value heads) and one loss (``losses.py``, V-trace targets); each method is a small module.
"""

from plugins.actor_critic import envs
from plugins.actor_critic.a2c import a2c
from plugins.actor_critic.impala import impala
from plugins.actor_critic.metagrad import metagrad
from plugins.actor_critic.unreal import unreal

envs.register()

__all__ = ["a2c", "impala", "metagrad", "unreal"]
