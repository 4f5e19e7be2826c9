"""Hyperparameter search with optuna over the harness's own runs.

A trial is a set of real runs (the chosen tasks × seeds) with the trial's hyperparameters, stored in
the study's results folder like any other run. Its objective is the normalized score (by each task's
reference) averaged over those runs. The runs advance evaluation by evaluation (``Runner(stop_at=)``),
and the trial reports the averaged score after each one, so optuna's median or Hyperband pruner can
stop a poor trial early. Search spaces come from the plugins (``Algorithm.search_space``), overridable
in a TOML file. Trials run in parallel as tune workers sharing one optuna storage: SQLite by default,
any optuna URL (PostgreSQL, MySQL, ``journal:PATH``) across machines. The best configuration exports
as a preset file and as a suite whose defaults carry it.
"""

from __future__ import annotations

import math
import os
import time
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness.errors import UserError
from harness.plugin import get_algorithm
from harness.run import Runner, RunSpec
from harness.suite import Suite, Task, load_suite

KINDS = ("float", "log_float", "int", "log_int", "categorical")
PRUNERS = ("median", "hyperband", "none")


# ------------------------------------------------------------------------------------ search space

def check_space(space: Mapping[str, Any], where: str) -> dict[str, tuple]:
    """Validate ``{"lr": ("log_float", 1e-5, 1e-2), "batch": ("categorical", [32, 64])}``."""
    checked: dict[str, tuple] = {}
    for name, spec in space.items():
        spec = tuple(spec)
        if not spec or spec[0] not in KINDS:
            raise UserError(f"{where}: {name}: kind must be one of {', '.join(KINDS)}, got {spec[:1]!r}")
        if spec[0] == "categorical":
            if len(spec) != 2 or not isinstance(spec[1], (list, tuple)) or not spec[1]:
                raise UserError(f"{where}: {name}: expected [\"categorical\", [choices...]]")
        elif len(spec) != 3 or not all(isinstance(v, (int, float)) for v in spec[1:]) or spec[1] >= spec[2]:
            raise UserError(f"{where}: {name}: expected [\"{spec[0]}\", low, high] with low < high")
        checked[name] = spec
    return checked


def search_space(algorithm: str, override: Path | None = None) -> dict[str, tuple]:
    """The plugin's declared space, with entries replaced or added from ``[space]`` in a TOML file."""
    algo = get_algorithm(algorithm)
    space = check_space(algo.search_space, f"algorithm {algorithm!r} search_space")
    if override is not None:
        try:
            data = tomllib.loads(Path(override).read_text())
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise UserError(f"{override}: cannot read search space ({err})") from None
        space.update(check_space(data.get("space", {}), f"{override}: space"))
    if not space:
        raise UserError(f"algorithm {algorithm!r} declares no search space; give one with --space FILE ([space] table)")
    return space


def suggest(trial: Any, space: Mapping[str, tuple]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec[0]
        if kind == "categorical":
            values[name] = trial.suggest_categorical(name, list(spec[1]))
        elif kind in ("float", "log_float"):
            values[name] = trial.suggest_float(name, float(spec[1]), float(spec[2]), log=kind == "log_float")
        else:
            values[name] = trial.suggest_int(name, int(spec[1]), int(spec[2]), log=kind == "log_int")
    return values


# ------------------------------------------------------------------------------------- the study

@dataclass(frozen=True)
class TuneConfig:
    """One tuning study: which runs make a trial, how many trials, where optuna keeps them."""

    suite: str
    algorithm: str
    study: str
    root: Path = Path("results")
    tasks: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    trials: int = 20
    parallel: int = 1
    pruner: str = "median"
    storage: str = ""
    space_file: Path | None = None
    budget: int | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)  # hyperparameters held fixed in every trial
    sampler_seed: int | None = None

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(Path(self.root) / self.study / 'optuna.db').resolve()}"

    def load_tasks(self) -> list[Task]:
        suite: Suite = load_suite(self.suite)
        tasks = [suite.task(t) for t in self.tasks] if self.tasks else list(suite.tasks)
        if self.budget is not None:
            tasks = [replace(t, budget=self.budget, checkpoint_every=min(t.checkpoint_every, self.budget),
                             eval=replace(t.eval, every=min(t.eval.every, self.budget))) for t in tasks]
        return tasks


def make_pruner(name: str) -> Any:
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=2)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise UserError(f"--pruner {name!r}: allowed: {', '.join(PRUNERS)}")


def storage(url: str) -> Any:
    """An optuna storage for a URL; ``journal:PATH`` is a journal file (safe for many processes)."""
    import optuna

    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)


def open_study(config: TuneConfig) -> Any:
    """Create the study once, or join it: several processes may get here at once."""
    import optuna

    last: Exception | None = None
    for _ in range(10):
        try:
            return optuna.create_study(study_name=config.study, storage=storage(config.storage_url),
                                       direction="maximize", load_if_exists=True, pruner=make_pruner(config.pruner),
                                       sampler=optuna.samplers.TPESampler(seed=config.sampler_seed, n_startup_trials=4))
        except Exception as err:  # a concurrent creator won the race (duplicate study / table): join it
            last = err
            time.sleep(0.5)
    raise UserError(f"cannot open optuna study {config.study!r} at {config.storage_url}: {last}")


# ------------------------------------------------------------------------------------ objective

def normalized(task: Task, value: float) -> float:
    """The task's reference normalization; the raw return where a task has no reference."""
    if task.reference is None:
        return value
    return (value - task.reference.low) / (task.reference.high - task.reference.low)


def eval_points(task: Task) -> list[int]:
    every = task.eval.every
    points = list(range(every, task.budget, every)) + [task.budget]
    return sorted(set(points))


def objective(config: TuneConfig, space: Mapping[str, tuple], trial: Any) -> float:
    """Train the trial's runs evaluation by evaluation; report the mean normalized score after each."""
    import optuna

    hyper = {**config.fixed, **suggest(trial, space)}
    runs = [(task, RunSpec(study=config.study, algorithm=config.algorithm, task=task, seed=seed, hyper=hyper,
                           suite=config.suite)) for task in config.load_tasks() for seed in config.seeds]
    trial.set_user_attr("run_ids", [spec.run_id() for _, spec in runs])
    horizon = max(len(eval_points(task)) for task, _ in runs)
    score = math.nan
    for index in range(horizon):
        scores = []
        for task, spec in runs:
            points = eval_points(task)
            stop = points[min(index, len(points) - 1)]
            result = Runner(spec, config.root, loggers=False, stop_at=stop).execute()
            scores.append(normalized(task, float(result.metrics["return_mean"].iloc[-1])))
        score = sum(scores) / len(scores)
        trial.report(score, index)
        if index < horizon - 1 and trial.should_prune():
            raise optuna.TrialPruned(f"score {score:.3f} at evaluation {index}")
    return score


def work(config: TuneConfig, trials: int) -> None:
    """One tune worker: ``trials`` trials against the shared study (a process of its own)."""
    import optuna

    from harness.threads import limit_threads

    limit_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(config)
    space = search_space(config.algorithm, config.space_file)
    study.optimize(lambda trial: objective(config, space, trial), n_trials=trials, catch=(Exception,))


def shares(total: int, workers: int) -> list[int]:
    return [n for n in (total // workers + (1 if i < total % workers else 0) for i in range(workers)) if n > 0]


# ------------------------------------------------------------------------------- parallel trials

def run_study(config: TuneConfig, backend: str = "local", address: str | None = None) -> Any:
    """Create the study once, run ``parallel`` tune workers (processes or Ray tasks), return the study."""
    study = open_study(config)  # created here, before any worker: no creation race on SQLite
    search_space(config.algorithm, config.space_file)  # a bad space fails now, not in every worker
    counts = shares(config.trials, max(1, config.parallel))
    if backend == "local":
        import multiprocessing as mp

        context = mp.get_context("spawn")
        processes = [context.Process(target=work, args=(config, n), name=f"tune-{i}") for i, n in enumerate(counts)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
    elif backend == "ray":
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # as in harness.scheduler.ray
        import ray

        started = not ray.is_initialized()
        if started:
            from harness.scheduler.ray import forwarded_environment

            ray.init(address=address, runtime_env={"env_vars": forwarded_environment()}, logging_level="WARNING",
                     **({} if address else {"num_cpus": len(counts), "include_dashboard": False}))
        try:
            remote = ray.remote(num_cpus=1, max_retries=1)(work)
            ray.get([remote.remote(config, n) for n in counts])
        finally:
            if started:
                ray.shutdown()
    else:
        raise UserError(f"--backend {backend!r}: allowed: local, ray")
    return study


def trial_counts(study: Any) -> dict[str, int]:
    from collections import Counter

    counts = Counter(t.state.name.lower() for t in study.get_trials(deepcopy=False))
    return {state: counts.get(state, 0) for state in ("complete", "pruned", "fail", "running")}


# ------------------------------------------------------------------------------------ exporting

def export_best(config: TuneConfig, study: Any) -> tuple[Path, Path]:
    """Write the best trial as a preset file and as a copy of the suite whose defaults carry it."""
    best = study.best_trial
    hyper = {**config.fixed, **best.params}
    folder = Path(config.root) / config.study
    folder.mkdir(parents=True, exist_ok=True)
    header = (f"# best trial {best.number} of optuna study {config.study!r} ({config.storage_url}): "
              f"normalized score {best.value:.4f}\n")
    preset = folder / "best_preset.toml"
    preset.write_text(header + dump_toml({"hyper": {config.algorithm: hyper}}))
    from harness.suite import find_suite

    source = find_suite(config.suite)
    data = tomllib.loads(source.read_text())
    data.setdefault("suite", {})["name"] = f"{data.get('suite', {}).get('name', source.stem)}-tuned"
    defaults = data.setdefault("defaults", {}).setdefault("hyper", {})
    defaults[config.algorithm] = {**defaults.get(config.algorithm, {}), **hyper}
    for task in data.get("tasks", []):  # the tuned values win over per-task settings of the same keys
        mine = task.get("hyper", {}).get(config.algorithm)
        if mine:
            task["hyper"][config.algorithm] = {**mine, **hyper}
    suite = folder / f"{source.stem}-tuned.toml"
    suite.write_text(f"# {source} with the hyperparameters of the best trial\n" + header + dump_toml(data))
    return preset, suite


def dump_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """A minimal TOML writer for suite files (tables, arrays of tables, scalars, arrays)."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    arrays: list[tuple[str, list]] = []
    for key, value in data.items():
        name = f"{prefix}.{_key(key)}" if prefix else _key(key)
        if isinstance(value, Mapping):
            tables.append((name, value))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            arrays.append((name, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for name, table in tables:
        out += f"\n[{name}]\n" + dump_toml(table, name)
    for name, items in arrays:
        for item in items:
            out += f"\n[[{name}]]\n" + dump_toml(item, name)
    return out


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else f'"{key}"'


def _value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise UserError(f"cannot write {value!r} to TOML")
