"""Suite files (TOML, data only) → validated :class:`Suite` objects, with one-line errors.

A suite declares tasks and the defaults they override::

    [suite]
    name = "classic"
    description = "Classic control"

    [defaults]
    budget = 100_000              # environment steps per run (summed over vectorized envs)
    num_envs = 1                  # training environments per run
    checkpoint_every = 10_000     # steps between checkpoints (evaluations also checkpoint)
    eval = { every = 5_000, episodes = 10, epsilon = 0.0, num_envs = 5 }   # optional: stop_return = 475.0
    hyper.dqn = { preset = "classic" }      # per-algorithm preset and hyperparameters

    [[tasks]]
    id = "CartPole-v1"            # the task's name in results; env defaults to it
    reference = { low = 22.0, high = 500.0, kind = "random-max", source = "..." }

Every error names the file, the field and what is allowed.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from harness.envs import FAMILY_MODULES, EnvRef, get_family, infer_family
from harness.errors import UserError


class SuiteError(UserError):
    """A suite file is invalid."""


@dataclass(frozen=True)
class EvalProtocol:
    every: int = 10_000
    episodes: int = 10
    epsilon: float = 0.0
    num_envs: int = 1
    final: bool = True  # evaluate once more at the end of the budget
    # End the run, as done, at the first evaluation whose mean return reaches this ("solved"). A
    # test of "reaches X within the budget" then stops paying for the budget once it has passed.
    stop_return: float | None = None

    def record(self) -> dict[str, Any]:
        """The protocol as recorded in a run's config; an unset ``stop_return`` is left out, so runs
        declared before the field existed keep their run ids."""
        record = asdict(self)
        if self.stop_return is None:
            del record["stop_return"]
        return record


@dataclass(frozen=True)
class Reference:
    """Scores for normalization: (score - low) / (high - low)."""

    low: float
    high: float
    kind: str = "reference"  # e.g. "human" (Atari), "d4rl", "oracle"
    source: str = ""


@dataclass(frozen=True)
class Task:
    id: str
    env: EnvRef
    budget: int
    num_envs: int
    checkpoint_every: int
    eval: EvalProtocol
    hyper: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    reference: Reference | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    path: Path
    tasks: tuple[Task, ...]

    def task(self, task_id: str) -> Task:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise SuiteError(f"{self.path}: no task {task_id!r}; tasks: {', '.join(t.id for t in self.tasks)}")


# ------------------------------------------------------------------------------------------ schema
# field -> (python type(s), description of allowed values)
_INT = ((int,), "an integer")
_POS_INT = ((int,), "a positive integer")
_FLOAT = ((int, float), "a number")
_STR = ((str,), "a string")
_BOOL = ((bool,), "true or false")
_TABLE = ((dict,), "a table")

SUITE_FIELDS = {"name": _STR, "description": _STR}
EVAL_FIELDS = {"every": _POS_INT, "episodes": _POS_INT, "epsilon": _FLOAT, "num_envs": _POS_INT, "final": _BOOL,
               "stop_return": _FLOAT}
REFERENCE_FIELDS = {"low": _FLOAT, "high": _FLOAT, "kind": _STR, "source": _STR}
COMMON_FIELDS = {"budget": _POS_INT, "num_envs": _POS_INT, "checkpoint_every": _POS_INT, "eval": _TABLE,
                 "hyper": _TABLE, "family": _STR, "env_options": _TABLE}
TASK_FIELDS = {"id": _STR, "env": _STR, "reference": _TABLE, **COMMON_FIELDS}
TOP_FIELDS = {"suite": _TABLE, "defaults": _TABLE, "tasks": ((list,), "an array of tables ([[tasks]])")}


def _check_fields(table: Mapping[str, Any], schema: Mapping[str, tuple], where: str, path: Path) -> None:
    for key, value in table.items():
        if key not in schema:
            raise SuiteError(f"{path}: {where}{key}: unknown key; allowed: {', '.join(schema)}")
        types, allowed = schema[key]
        if isinstance(value, bool) and bool not in types:
            raise SuiteError(f"{path}: {where}{key}: must be {allowed}, got {value!r}")
        if not isinstance(value, types):
            raise SuiteError(f"{path}: {where}{key}: must be {allowed}, got {value!r}")
        if schema[key] is _POS_INT and value <= 0:
            raise SuiteError(f"{path}: {where}{key}: must be {allowed}, got {value!r}")


def find_suite(name_or_path: str | Path) -> Path:
    """A suite by file path, or by name in ./suites or the project's shipped suites."""
    candidate = Path(name_or_path)
    if candidate.is_file():
        return candidate
    name = candidate.name if candidate.suffix == ".toml" else f"{candidate.name}.toml"
    for folder in (Path.cwd() / "suites", shipped_suites_dir()):
        if (folder / name).is_file():
            return folder / name
    available = ", ".join(sorted(p.stem for p in shipped_suites_dir().glob("*.toml")))
    raise SuiteError(f"suite {str(name_or_path)!r} not found (a file path or a shipped suite: {available})")


def shipped_suites_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "suites"


def load_suite(name_or_path: str | Path) -> Suite:
    path = find_suite(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SuiteError(f"{path}: not valid TOML: {err}") from None
    return parse_suite(data, path)


def parse_suite(data: Mapping[str, Any], path: Path) -> Suite:
    _check_fields(data, TOP_FIELDS, "", path)
    header = data.get("suite", {})
    _check_fields(header, SUITE_FIELDS, "suite.", path)
    defaults = data.get("defaults", {})
    _check_fields(defaults, COMMON_FIELDS, "defaults.", path)
    raw_tasks = data.get("tasks", [])
    if not raw_tasks:
        raise SuiteError(f"{path}: tasks: a suite needs at least one [[tasks]] entry")
    tasks = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_tasks):
        where = f"tasks[{index}]."
        if not isinstance(raw, dict):
            raise SuiteError(f"{path}: tasks[{index}]: must be a table")
        _check_fields(raw, TASK_FIELDS, where, path)
        if "id" not in raw:
            raise SuiteError(f"{path}: {where}id: missing (every task needs an id)")
        if raw["id"] in seen:
            raise SuiteError(f"{path}: {where}id: duplicate task id {raw['id']!r}")
        seen.add(raw["id"])
        tasks.append(_parse_task(raw, defaults, where, path))
    return Suite(name=header.get("name", path.stem), description=header.get("description", ""),
                 path=path, tasks=tuple(tasks))


def _parse_task(raw: Mapping[str, Any], defaults: Mapping[str, Any], where: str, path: Path) -> Task:
    def pick(key: str, default: Any) -> Any:
        return raw.get(key, defaults.get(key, default))

    env_id = raw.get("env", raw["id"])
    family = pick("family", None) or infer_family(env_id)
    if family not in FAMILY_MODULES:
        raise SuiteError(f"{path}: {where}family: unknown family {family!r}; allowed: {', '.join(FAMILY_MODULES)}")
    options = {**defaults.get("env_options", {}), **raw.get("env_options", {})}
    try:
        problem = get_family(family).validate(env_id, options)
    except ImportError as err:
        problem = f"environment family {family!r} is not available: {err}"
    if problem:
        raise SuiteError(f"{path}: {where}env: {problem}")

    eval_table = {**defaults.get("eval", {}), **raw.get("eval", {})}
    for source, table in (("defaults.eval.", defaults.get("eval", {})), (where + "eval.", raw.get("eval", {}))):
        _check_fields(table, EVAL_FIELDS, source, path)
    if "stop_return" in eval_table:
        eval_table["stop_return"] = float(eval_table["stop_return"])
    evaluation = EvalProtocol(**eval_table)
    if not 0.0 <= evaluation.epsilon <= 1.0:
        raise SuiteError(f"{path}: {where}eval.epsilon: must be in [0, 1], got {evaluation.epsilon}")

    hyper: dict[str, dict[str, Any]] = {}
    for source, table in (("defaults.hyper.", defaults.get("hyper", {})), (where + "hyper.", raw.get("hyper", {}))):
        for algo, values in table.items():
            if not isinstance(values, dict):
                raise SuiteError(f"{path}: {source}{algo}: must be a table of hyperparameters")
            hyper.setdefault(algo, {}).update(values)

    reference = None
    if "reference" in raw:
        _check_fields(raw["reference"], REFERENCE_FIELDS, where + "reference.", path)
        if "low" not in raw["reference"] or "high" not in raw["reference"]:
            raise SuiteError(f"{path}: {where}reference: needs both low and high")
        reference = Reference(**{k: (float(v) if k in ("low", "high") else v) for k, v in raw["reference"].items()})
        if reference.high == reference.low:
            raise SuiteError(f"{path}: {where}reference: high must differ from low")

    budget = pick("budget", 100_000)
    return Task(
        id=raw["id"],
        env=EnvRef(family, env_id, tuple(sorted(options.items()))),
        budget=budget,
        num_envs=pick("num_envs", 1),
        checkpoint_every=pick("checkpoint_every", max(budget // 10, 1)),
        eval=evaluation,
        hyper=hyper,
        reference=reference,
    )


def make_task(env_id: str, *, budget: int = 50_000, num_envs: int = 1, family: str | None = None,
              env_options: Mapping[str, Any] | None = None, eval: Mapping[str, Any] | None = None,
              hyper: Mapping[str, Mapping[str, Any]] | None = None, checkpoint_every: int | None = None,
              reference: Mapping[str, Any] | None = None, task_id: str | None = None) -> Task:
    """One validated task without a suite file (for tests, benchmarks and scripts)."""
    raw: dict[str, Any] = {"id": task_id or env_id, "env": env_id, "budget": budget, "num_envs": num_envs}
    for key, value in (("family", family), ("env_options", env_options), ("eval", eval), ("hyper", hyper),
                       ("checkpoint_every", checkpoint_every), ("reference", reference)):
        if value is not None:
            raw[key] = dict(value) if isinstance(value, Mapping) else value
    return parse_suite({"tasks": [raw]}, Path("<make_task>")).tasks[0]
