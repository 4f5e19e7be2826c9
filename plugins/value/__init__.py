"""The value-based family: ten registered names, one core (:mod:`plugins.value.agent`).

Each name is the core with some switches on, and each has the same per-suite presets (a suite picks
one with ``hyper.<name> = { preset = "..." }``). A preset is the suite's base settings plus the few
values a variant's paper changes for that setting. A user can still combine parts freely, e.g.
``dqn`` with ``dueling = true, n_step = 3``.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Mapping

from harness.plugin import Algorithm
from plugins.value.agent import ValueConfig, make_agent

# name -> (switches, one-line summary)
VARIANTS: dict[str, tuple[dict[str, Any], str]] = {
    "dqn": ({}, "Nature DQN (Mnih et al. 2015): replay, target network, ε-greedy, Huber loss, Adam"),
    "double_dqn": ({"double": True}, "Double DQN (van Hasselt et al. 2016): online net selects, target evaluates"),
    "dueling_dqn": ({"double": True, "dueling": True}, "Dueling DQN (Wang et al. 2016): V + A − mean A, on Double DQN"),
    "prioritized_dqn": ({"double": True, "prioritized": True},
                        "Prioritized replay (Schaul et al. 2016): proportional, sum-tree, on Double DQN"),
    "nstep_dqn": ({"n_step": 3}, "DQN with n-step returns (n = 3)"),
    "noisy_dqn": ({"noisy": True}, "NoisyNet DQN (Fortunato et al. 2018): factorized Gaussian noise, no ε"),
    "c51": ({"distribution": "c51"}, "C51 (Bellemare et al. 2017): categorical return distribution, 51 atoms"),
    "qrdqn": ({"distribution": "qr"}, "QR-DQN (Dabney et al. 2018): 200 quantiles, quantile Huber loss"),
    "iqn": ({"distribution": "iqn"}, "IQN (Dabney et al. 2018): implicit quantiles from cosine τ embeddings"),
    "rainbow": ({"double": True, "dueling": True, "prioritized": True, "n_step": 3, "noisy": True,
                 "distribution": "c51"},
                "Rainbow (Hessel et al. 2018): double + dueling + prioritized + n-step + noisy + C51"),
}

# Per-suite base settings. Atari ones follow the papers; "classic" and "minatar" are tuned here.
SUITES: dict[str, dict[str, Any]] = {
    # CartPole-sized tasks; reaches >= 300 on CartPole-v1 within 60k steps (tests/test_value_learning.py)
    "classic": {"lr": 5e-4, "adam_eps": 1e-8, "batch_size": 64, "buffer_size": 50_000, "learning_starts": 1_000,
                "train_every": 2, "target_update_every": 500, "eps_end": 0.05, "eps_decay_steps": 10_000,
                "max_grad_norm": 10.0, "hidden": (128, 128), "v_min": -100.0, "v_max": 100.0,
                "priority_beta_steps": 60_000, "num_quantiles": 50, "iqn_tau_samples": 8,
                "iqn_target_samples": 8, "iqn_act_samples": 8},
    # Young & Tian 2019 (MinAtar), with Adam as in Obando-Ceron & Castro 2021 ("Revisiting Rainbow")
    "minatar": {"lr": 1e-4, "adam_eps": 3.125e-4, "batch_size": 32, "buffer_size": 100_000,
                "learning_starts": 5_000, "train_every": 1, "target_update_every": 1_000, "eps_end": 0.1,
                "eps_decay_steps": 100_000, "priority_beta_steps": 5_000_000},
    # Mnih et al. 2015, with Adam (as CleanRL's dqn_atari): target every 10k updates = 40k steps
    "nature": {"lr": 1e-4, "adam_eps": 1.5e-4, "batch_size": 32, "buffer_size": 1_000_000,
               "learning_starts": 50_000, "train_every": 4, "target_update_every": 40_000, "eps_end": 0.1,
               "eps_decay_steps": 1_000_000, "loss": "huber", "priority_beta_steps": 50_000_000},
    # Dopamine's apples-to-apples Atari settings (JAX agents: Adam, DQN with MSE)
    "dopamine": {"lr": 6.25e-5, "adam_eps": 1.5e-4, "batch_size": 32, "buffer_size": 1_000_000,
                 "learning_starts": 20_000, "train_every": 4, "target_update_every": 8_000, "eps_end": 0.01,
                 "eps_decay_steps": 250_000, "eps_decay_start": 20_000, "loss": "mse",
                 "priority_beta_steps": 50_000_000},
    # Data-efficient Rainbow (van Hasselt et al. 2019) for Atari 100k: one update per step
    "atari100k": {"lr": 1e-4, "adam_eps": 1.5e-4, "batch_size": 32, "buffer_size": 100_000,
                  "learning_starts": 1_600, "train_every": 1, "target_update_every": 2_000, "eps_end": 0.01,
                  "eps_decay_steps": 2_500, "eps_decay_start": 1_600, "max_grad_norm": 10.0,
                  "priority_beta_steps": 100_000},
}

# What a variant's paper (or its Dopamine config) changes in a suite's base settings.
PAPER: dict[str, dict[str, dict[str, Any]]] = {
    "c51": {"dopamine": {"lr": 2.5e-4, "adam_eps": 3.125e-4}, "nature": {"lr": 2.5e-4, "adam_eps": 3.125e-4}},
    "qrdqn": {"dopamine": {"lr": 5e-5, "adam_eps": 3.125e-4}, "nature": {"lr": 5e-5, "adam_eps": 3.125e-4}},
    "iqn": {"dopamine": {"lr": 5e-5, "adam_eps": 3.125e-4, "n_step": 3},
            "nature": {"lr": 5e-5, "adam_eps": 3.125e-4},
            # tuned here: with N = N' = 32, K = 16 and a 500-step target period seed 0 first reached 300 at
            # 50k steps (12 ms an update); with N = N' = K = 8 (the IQN paper's Fig. 2: N = N' = 8 is
            # close to its best) and a 250-step period seeds 0-2 reached it at 5k, 45k and 35k (7 ms)
            "classic": {"target_update_every": 250}},
    "rainbow": {"dopamine": {"priority_beta": 0.5},
                "nature": {"lr": 6.25e-5, "adam_eps": 1.5e-4, "learning_starts": 80_000,
                           "target_update_every": 32_000, "priority_beta": 0.4, "eps_end": 0.0},
                "atari100k": {"n_step": 20, "noisy_sigma0": 0.1, "head_hidden": 256}},
    # tuned here: with the shared 500-step target period Double DQN's CartPole curve peaked at 286
    # (seed 0, 60k steps), DQN's at 254, 500 and 227 (seeds 0-2) and prioritized (double) DQN's at 245
    # (seed 0); a 250-step period reaches 500 on each of those seeds (tests/test_value_learning.py).
    # Dueling DQN's seed 0 peaked at 286 with 500 steps; with 250, seeds 0-2 reached 305, 459 and 500
    "prioritized_dqn": {"dopamine": {"lr": 6.25e-5 / 4}, "nature": {"lr": 2.5e-5},
                        "classic": {"target_update_every": 250}},
    "double_dqn": {"classic": {"target_update_every": 250}},
    "dueling_dqn": {"classic": {"target_update_every": 250}},
    "dqn": {"classic": {"target_update_every": 250}},
}

SEARCH_SPACE: dict[str, tuple] = {
    "lr": ("log_float", 1e-5, 3e-3),
    "gamma": ("float", 0.95, 0.999),
    "batch_size": ("categorical", [32, 64, 128]),
    "train_every": ("categorical", [1, 2, 4]),
    "target_update_every": ("categorical", [250, 500, 1_000, 2_000, 8_000]),
    "eps_decay_steps": ("categorical", [5_000, 10_000, 50_000, 250_000]),
    "max_grad_norm": ("categorical", [0.0, 10.0]),
}


def variant_config(name: str, switches: Mapping[str, Any]) -> type:
    """A subclass of ValueConfig whose defaults have the variant's switches on."""
    hints = typing.get_type_hints(ValueConfig)
    fields = [(key, hints[key], dataclasses.field(default=value)) for key, value in switches.items()]
    title = "".join(part.title() for part in name.split("_")) + "Config"
    cls = dataclasses.make_dataclass(title, fields, bases=(ValueConfig,))
    cls.__module__ = __name__
    globals()[title] = cls  # importable by name, so configs pickle
    return cls


def presets_for(name: str) -> dict[str, dict[str, Any]]:
    return {suite: {**base, **PAPER.get(name, {}).get(suite, {})} for suite, base in SUITES.items()}


def _register(name: str) -> Algorithm:
    switches, summary = VARIANTS[name]
    return Algorithm(name=name, summary=summary, config=variant_config(name, switches), make_agent=make_agent,
                     observations=("vector", "image"), actions=("discrete",), presets=presets_for(name),
                     search_space=SEARCH_SPACE)


dqn = _register("dqn")
double_dqn = _register("double_dqn")
dueling_dqn = _register("dueling_dqn")
prioritized_dqn = _register("prioritized_dqn")
nstep_dqn = _register("nstep_dqn")
noisy_dqn = _register("noisy_dqn")
c51 = _register("c51")
qrdqn = _register("qrdqn")
iqn = _register("iqn")
rainbow = _register("rainbow")

__all__ = list(VARIANTS) + ["ValueConfig", "VARIANTS", "SUITES"]
