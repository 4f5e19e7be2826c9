"""`harness tune` on CartPole with the real `dqn` plugin: from a deliberately bad default (the classic
preset with lr = 1e-6, which leaves the network where it started), a small budget of trials finds a
configuration that scores far better by the same objective, and the median pruner stops some trials
at an intermediate evaluation (visible in the optuna study and in the command's summary)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import optuna
import pytest

from test_ray import harness

SUITE = """
[suite]
name = "cartpole-dqn"
[defaults]
budget = {budget}
checkpoint_every = {every}
eval = {{ every = {every}, episodes = 5, num_envs = 5 }}
hyper.dqn = {{ preset = "classic", lr = 1e-6 }}
[[tasks]]
id = "CartPole-v1"
reference = {{ low = 22.0, high = 500.0, kind = "random-max" }}
"""
SPACE = """
[space]
lr = ["log_float", 1e-6, 3e-3]
target_update_every = ["categorical", [100, 250, 500, 5000]]
"""


def tune_dqn(tmp_path: Path, budget: int, trials: int, seeds: int, parallel: int) -> dict[str, float]:
    suite, space, results = tmp_path / "cartpole-dqn.toml", tmp_path / "space.toml", tmp_path / "results"
    suite.write_text(SUITE.format(budget=budget, every=budget // 4))
    space.write_text(SPACE)
    tuned = harness("tune", str(suite), "--algo", "dqn", "--study", "t", "--trials", str(trials), "--parallel",
                    str(parallel), "--seeds", str(seeds), "--space", str(space), "--pruner", "median",
                    "--sampler-seed", "0", "--results", str(results))
    assert tuned.returncode == 0, tuned.stdout + tuned.stderr
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{(results / 't' / 'optuna.db').resolve()}")
    trials_ = study.get_trials()
    assert len(trials_) == trials and all(t.state.is_finished() for t in trials_)
    pruned = [t for t in trials_ if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, "no trial was pruned"
    assert all(len(t.intermediate_values) < 4 for t in pruned)  # stopped before their last evaluation
    assert f"pruned {len(pruned)}" in tuned.stdout, tuned.stdout

    from harness.tune import TuneConfig, objective

    config = TuneConfig(suite=str(suite), algorithm="dqn", study="default", root=results, seeds=tuple(range(seeds)))
    default = objective(config, {}, optuna.trial.FixedTrial({}))  # the bad default, on the same runs
    assert study.best_value > default + 0.2, (study.best_value, default, study.best_params)
    preset = tomllib.loads((results / "t" / "best_preset.toml").read_text())
    assert preset["hyper"]["dqn"]["lr"] == study.best_params["lr"]
    numbers = {"best": study.best_value, "default": default, "pruned": len(pruned), **study.best_params}
    print(f"tune dqn budget={budget} trials={trials} seeds={seeds}: {numbers}")
    return numbers


def test_tune_dqn_beats_a_bad_default_within_a_small_budget(tmp_path):
    tune_dqn(tmp_path, budget=4000, trials=6, seeds=1, parallel=1)


@pytest.mark.slow
def test_tune_dqn_with_two_seeds_and_a_larger_budget(tmp_path):
    tune_dqn(tmp_path, budget=10000, trials=12, seeds=2, parallel=1)
