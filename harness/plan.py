"""Expand a suite into its grid of runs (algorithms × tasks × seeds), validated before anything runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from harness.errors import UserError
from harness.plugin import EnvSpec, PluginError, get_algorithm
from harness.run import RunSpec
from harness.suite import Suite, SuiteError, Task


@dataclass(frozen=True)
class PlannedRun:
    spec: RunSpec
    run_id: str

    def entry(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "algorithm": self.spec.algorithm, "task": self.spec.task.id,
                "seed": self.spec.seed, "budget": self.spec.task.budget}


def task_spec(task: Task) -> EnvSpec:
    """The task's spaces, from one throwaway environment."""
    envs = task.env.make_vector(1, 0, evaluation=False)
    try:
        return EnvSpec(task.id, envs.single_observation_space, envs.single_action_space, task.num_envs,
                       task.env.frames_per_step(), env=task.env)
    finally:
        envs.close()


def build_plan(suite: Suite, algorithms: Sequence[str], seeds: Sequence[int], study: str,
               hyper: Mapping[str, Any] | None = None, tasks: Sequence[str] | None = None,
               budget: int | None = None, precision: str = "32-true") -> list[PlannedRun]:
    """Every (algorithm, task, seed) run, after checking that each algorithm can run each task."""
    if not algorithms:
        raise UserError("no algorithm given; pass --algo NAME (see `harness list`)")
    chosen = list(suite.tasks)
    if tasks:
        chosen = [suite.task(name) for name in tasks]
    if budget is not None:
        from dataclasses import replace

        chosen = [replace(t, budget=budget, checkpoint_every=min(t.checkpoint_every, budget),
                          eval=replace(t.eval, every=min(t.eval.every, budget))) for t in chosen]
    algos = {name: get_algorithm(name) for name in algorithms}
    plan: list[PlannedRun] = []
    for task in chosen:
        spec = task_spec(task)
        for name, algo in algos.items():
            reason = algo.unsupported_reason(spec)
            if reason:
                raise SuiteError(f"{suite.path}: tasks {task.id!r}: {reason}")
            for seed in seeds:
                run = RunSpec(study=study, algorithm=name, task=task, seed=seed, hyper=dict(hyper or {}),
                              suite=suite.name, precision=precision)
                try:
                    run_id = run.run_id(algo)
                except PluginError as err:
                    raise SuiteError(f"{suite.path}: {err}") from None
                plan.append(PlannedRun(run, run_id))
    return plan
