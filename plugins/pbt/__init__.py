"""Population-based training (Jaderberg et al. 2017) of any registered algorithm.

``pbt`` is listed like any plugin (its config dataclass documents the knobs); a population is
driven by :mod:`plugins.pbt.driver` (``harness pbt``), which trains the members as checkpointed
segments of ordinary harness runs, in parallel worker processes or Ray tasks.
"""

from __future__ import annotations

from typing import Any

from harness.plugin import Algorithm, EnvSpec, PluginError
from plugins.pbt.driver import PBTConfig


def _not_a_single_agent(spec: EnvSpec, config: Any, seed: int, fabric: Any) -> Any:
    raise PluginError("pbt trains a population, not one agent: use `harness pbt SUITE --algo NAME` "
                      "(plugins.pbt.cli:pbt_command)")


pbt = Algorithm(
    name="pbt",
    summary="population-based training of any algorithm (exploit top-quantile checkpoints, perturb ×0.8/×1.2)",
    config=PBTConfig,
    make_agent=_not_a_single_agent,
    observations=("vector", "image"),
    actions=("discrete", "continuous"),
)
