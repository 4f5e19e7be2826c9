"""`harness tune` end to end: optuna finds a far better configuration than a deliberately bad default
within a small budget, pruning poor trials on intermediate evaluations (median pruner, SQLite
default storage), exports the best as a preset and a tuned suite that `harness run` accepts; and two
processes share one study on a real PostgreSQL server (Hyperband pruner) without losing or
duplicating a trial."""

from __future__ import annotations

import os
import sys
import shutil
import subprocess
import tempfile
import tomllib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import optuna

from conftest import REPO
from test_ray import free_port, harness
from test_tune_learner import learner_site

SUITE = """
[suite]
name = "tunable"
[defaults]
budget = 8000
checkpoint_every = 2000
eval = { every = 2000, episodes = 5, num_envs = 5 }
[[tasks]]
id = "CartPole-v1"
reference = { low = 22.0, high = 500.0, kind = "random-max" }
"""


def test_tune_beats_bad_default_with_pruning_and_exports_a_usable_preset(tmp_path):
    site = learner_site(tmp_path / "site")
    env = {"PYTHONPATH": str(site)}
    suite = tmp_path / "tunable.toml"
    suite.write_text(SUITE)
    results = tmp_path / "results"
    tuned = harness("tune", str(suite), "--algo", "linear_pg", "--study", "t", "--trials", "12", "--parallel", "2",
                    "--seeds", "2", "--pruner", "median", "--sampler-seed", "0", "--results", str(results), env=env)
    assert tuned.returncode == 0, tuned.stdout + tuned.stderr
    storage = f"sqlite:///{(results / 't' / 'optuna.db').resolve()}"
    study = optuna.load_study(study_name="t", storage=storage)
    trials = study.get_trials()
    states = [t.state for t in trials]
    assert len(trials) == 12 and optuna.trial.TrialState.RUNNING not in states
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, "no trial was pruned"
    assert all(len(t.intermediate_values) < 4 for t in pruned)  # stopped before their last evaluation

    # the deliberately bad default (lr=1e-5), scored by the same objective on the same runs
    sys.path.insert(0, str(site))
    try:
        from harness.tune import TuneConfig, objective

        config = TuneConfig(suite=str(suite), algorithm="linear_pg", study="default", root=results, seeds=(0, 1))
        default = objective(config, {}, optuna.trial.FixedTrial({}))
    finally:
        sys.path.remove(str(site))
    assert study.best_value > default + 0.2, (study.best_value, default, study.best_params)

    preset = tomllib.loads((results / "t" / "best_preset.toml").read_text())
    assert preset["hyper"]["linear_pg"]["lr"] == study.best_params["lr"]
    tuned_suite = results / "t" / "tunable-tuned.toml"
    rerun = harness("run", str(tuned_suite), "--algo", "linear_pg", "--results", str(results), "--study", "t",
                    "--seed-list", "0", "--no-progress", env=env)
    # the tuned suite resolves to the best trial's seed-0 run, which is finished: nothing is recomputed
    assert rerun.returncode == 0 and "skipped (already done) 1" in rerun.stdout, rerun.stdout + rerun.stderr


# --------------------------------------------------------------------------------------- PostgreSQL

def postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    assert found, f"PostgreSQL's {name} is not installed (.ci/services.sh installs it)"
    return str(found)


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on a loopback port (as the postgres user when we are root)."""
    folder = Path(tempfile.mkdtemp(prefix="pg"))
    data, port = folder / "data", free_port()
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]

    def run(*command: str) -> None:
        done = subprocess.run([*as_owner, *command], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    run(postgres_bin("initdb"), "-D", str(data), "-U", "harness", "--auth=trust", "--no-sync")
    run(postgres_bin("pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "start",
        "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off")
    try:
        run(postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "harness", "optuna")
        yield f"postgresql+psycopg2://harness@127.0.0.1:{port}/optuna"
    finally:
        subprocess.run([*as_owner, postgres_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_processes_share_one_study_on_postgresql(tmp_path):
    site = learner_site(tmp_path / "site")
    suite = tmp_path / "tunable.toml"
    suite.write_text(SUITE.replace("budget = 8000", "budget = 4000"))
    with postgres_server() as url:
        command = [sys.executable, "-m", "harness.cli", "tune", str(suite), "--algo", "linear_pg", "--study", "shared",
                   "--trials", "5", "--pruner", "hyperband", "--storage", url]
        processes = [subprocess.Popen([*command, "--results", str(tmp_path / f"results{i}")], cwd=REPO, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      env={**os.environ, "PYTHONPATH": str(site)}) for i in range(2)]
        outputs = [p.communicate(timeout=600)[0] for p in processes]
        assert [p.returncode for p in processes] == [0, 0], outputs
        study = optuna.load_study(study_name="shared", storage=url)
        trials = study.get_trials()
        assert sorted(t.number for t in trials) == list(range(10))  # none lost, none duplicated
        assert len({t._trial_id for t in trials}) == 10
        assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in trials)
        assert all(len(t.user_attrs["run_ids"]) == 1 for t in trials)
