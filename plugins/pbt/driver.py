"""The PBT driver: rounds of parallel segments, then exploit and explore, all durable.

Each member is one ordinary harness run (its seed is ``seed + index``) advanced ``interval`` steps per
round with ``Runner(stop_at=)``. After a round, members in the bottom quantile (by their last
evaluation) exploit a member of the top quantile: the donor's checkpoint at that step (networks,
optimizer, replay, RNGs, environments) is snapshotted under ``pbt/exploits/`` and copied into the
recipient's run, keeping the recipient's own metric rows; then its hyperparameters are perturbed
(×0.8/×1.2) or resampled. Agents get their current hyperparameters through ``set_hyperparameters``
each time a segment starts.

Kill/resume at any point gives the same lineage: every decision is drawn from an RNG seeded by
(seed, round), is written (atomically) before it is applied, and applying it is idempotent.
``lineage.json`` holds every exploit and every member's hyperparameter schedule; a schedule replays
as a fixed run with :func:`replay_schedule`.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from harness.errors import UserError
from harness.plugin import Algorithm, get_algorithm
from harness.run import Runner, RunSpec
from harness.store import Study, atomic_write_bytes, atomic_write_json, read_json
from harness.suite import Task, load_suite


@dataclass
class PBTConfig:
    """The population's knobs (also the ``pbt`` plugin's config, as `harness list` shows it)."""

    algorithm: str = "dqn"
    population: int = 8
    perturbation_interval: int = 10_000
    quantile: float = 0.25
    resample_probability: float = 0.25
    perturb_factors: tuple[float, ...] = (0.8, 1.2)
    workers: int = 2


@dataclass(frozen=True)
class PBTJob:
    """Where and on what a population trains."""

    suite: str
    task: str
    study: str
    root: Path = Path("results")
    seed: int = 0
    budget: int | None = None
    pbt: PBTConfig = field(default_factory=PBTConfig)
    space: Mapping[str, tuple] = field(default_factory=dict)  # default: the algorithm's search_space
    fixed: Mapping[str, Any] = field(default_factory=dict)
    exploit: bool = True  # False: the same population with fixed hyperparameters (the baseline)
    backend: str = "local"
    address: str | None = None

    @property
    def folder(self) -> Path:
        return Path(self.root) / self.study / "pbt"

    def load_task(self) -> Task:
        task = load_suite(self.suite).task(self.task)
        interval = self.pbt.perturbation_interval
        budget = self.budget or task.budget
        if interval % task.num_envs or budget % interval:
            raise UserError(f"pbt: perturbation_interval {interval} must divide the budget {budget} and be a "
                            f"multiple of num_envs {task.num_envs}")
        # every round ends with an evaluation and a checkpoint at exactly the round's step
        return dataclasses.replace(task, budget=budget, checkpoint_every=interval,
                                   eval=dataclasses.replace(task.eval, every=interval))

    def space_of(self, algo: Algorithm) -> dict[str, tuple]:
        from harness.tune import check_space

        space = check_space(self.space or algo.search_space, f"pbt space of {algo.name!r}")
        if not space:
            raise UserError(f"pbt: algorithm {algo.name!r} declares no search space to explore")
        return space


# ------------------------------------------------------------------------------ hyperparameters

def sample(space: Mapping[str, tuple], rng: np.random.Generator) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec[0]
        if kind == "categorical":
            values[name] = spec[1][int(rng.integers(len(spec[1])))]
        elif kind.startswith("log_"):
            value = math.exp(rng.uniform(math.log(spec[1]), math.log(spec[2])))
            values[name] = round(value) if kind == "log_int" else value
        else:
            value = rng.uniform(spec[1], spec[2])
            values[name] = round(value) if kind == "int" else value
    return values


def explore(hyper: Mapping[str, Any], space: Mapping[str, tuple], config: PBTConfig,
            rng: np.random.Generator) -> dict[str, Any]:
    """Resample each hyperparameter with ``resample_probability``, else perturb it by a factor."""
    out = dict(hyper)
    for name, spec in space.items():
        if rng.random() < config.resample_probability:
            out[name] = sample({name: spec}, rng)[name]
        elif spec[0] == "categorical":
            choices = list(spec[1])
            index = choices.index(out[name]) + int(rng.choice([-1, 1]))
            out[name] = choices[min(max(index, 0), len(choices) - 1)]
        else:
            value = min(max(out[name] * float(rng.choice(config.perturb_factors)), spec[1]), spec[2])
            out[name] = round(value) if spec[0] in ("int", "log_int") else value
    return out


# ----------------------------------------------------------------------------------- segments

def _scheduled(algo: Algorithm, hyper: Mapping[str, Any]) -> Algorithm:
    """The algorithm, but its agents take ``hyper`` after building and after every state load."""

    def make_agent(spec: Any, config: Any, seed: int, fabric: Any) -> Any:
        agent = algo.make_agent(spec, config, seed, fabric)
        load = agent.load_state_dict

        def load_then_set(state: Mapping[str, Any]) -> None:
            load(state)
            agent.set_hyperparameters(dict(hyper))

        agent.load_state_dict = load_then_set
        agent.set_hyperparameters(dict(hyper))
        return agent

    return dataclasses.replace(algo, make_agent=make_agent)


def run_segment(spec: RunSpec, root: str, hyper: Mapping[str, Any], stop_at: int) -> dict[str, Any]:
    """Advance one member to ``stop_at`` with ``hyper``; its last evaluation and state."""
    from harness.threads import limit_threads

    limit_threads(1)
    runner = Runner(spec, Path(root), loggers=False, stop_at=stop_at)
    runner.algo = _scheduled(runner.algo, hyper)
    result = runner.execute()
    return {"run_id": result.run_id, "state": result.state, "step": int(result.metrics["env_steps"].iloc[-1]),
            "score": float(result.metrics["return_mean"].iloc[-1])}


class SegmentPool:
    """Runs segments in parallel: warm spawned processes locally, or Ray tasks on a cluster."""

    def __init__(self, workers: int, backend: str, address: str | None):
        self.backend = backend
        if backend == "local":
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(max_workers=max(1, workers), mp_context=mp.get_context("spawn"))
        elif backend == "ray":
            import ray

            from harness.scheduler.ray import forwarded_environment

            self.started = not ray.is_initialized()
            if self.started:
                ray.init(address=address, runtime_env={"env_vars": forwarded_environment()}, logging_level="WARNING",
                         **({} if address else {"num_cpus": max(1, workers), "include_dashboard": False}))
            self.remote = ray.remote(num_cpus=1, max_retries=1)(run_segment)
        else:
            raise UserError(f"--backend {backend!r}: allowed: local, ray")

    def map(self, jobs: Sequence[tuple[RunSpec, str, Mapping[str, Any], int]]) -> list[dict[str, Any]]:
        if self.backend == "local":
            return [f.result() for f in [self.pool.submit(run_segment, *job) for job in jobs]]
        import ray

        return ray.get([self.remote.remote(*job) for job in jobs])

    def close(self) -> None:
        if self.backend == "local":
            self.pool.shutdown()
        elif self.started:
            import ray

            ray.shutdown()


# -------------------------------------------------------------------------------------- driver

def member_spec(job: PBTJob, task: Task, index: int, initial: Mapping[str, Any]) -> RunSpec:
    return RunSpec(study=job.study, algorithm=job.pbt.algorithm, task=task, seed=job.seed + index,
                   hyper={**job.fixed, **initial}, suite=job.suite)


def run_population(job: PBTJob) -> dict[str, Any]:
    """Train (or resume) the population to the end of its budget; returns the lineage."""
    algo = get_algorithm(job.pbt.algorithm)
    task = job.load_task()
    space = job.space_of(algo)
    folder = job.folder
    folder.mkdir(parents=True, exist_ok=True)
    state_path = folder / "state.json"
    if state_path.exists():
        state = read_json(state_path)
    else:
        rng = np.random.default_rng([job.seed, 0])
        initial = [sample(space, rng) for _ in range(job.pbt.population)]
        state = {"round": 0, "initial": initial, "hyper": [dict(h) for h in initial],
                 "schedules": [[{"step": 0, "hyper": dict(h)}] for h in initial], "exploits": [], "scores": []}
        atomic_write_json(state_path, state)
    specs = [member_spec(job, task, i, h) for i, h in enumerate(state["initial"])]
    rounds = task.budget // job.pbt.perturbation_interval
    pool = SegmentPool(job.pbt.workers, job.backend, job.address)
    try:
        while state["round"] < rounds:
            number = state["round"]
            step = (number + 1) * job.pbt.perturbation_interval
            decision_path = folder / "rounds" / f"round-{number:04d}.json"
            if not decision_path.exists():
                results = pool.map([(spec, str(Path(job.root).resolve()), hyper, step)
                                    for spec, hyper in zip(specs, state["hyper"])])
                assert all(r["step"] == step for r in results), results
                decision = decide(job, space, number, step, [r["score"] for r in results], state["hyper"], specs,
                                  last=number == rounds - 1)
                atomic_write_json(decision_path, decision)  # committed: from here on, only applied
            decision = read_json(decision_path)
            apply(job, decision, specs)
            state = advance(state, decision)
            atomic_write_json(state_path, state)
    finally:
        pool.close()
    lineage = build_lineage(job, state, specs)
    atomic_write_json(folder / "lineage.json", lineage)
    return lineage


def decide(job: PBTJob, space: Mapping[str, tuple], number: int, step: int, scores: list[float],
           hyper: list[dict[str, Any]], specs: Sequence[RunSpec], last: bool) -> dict[str, Any]:
    """Which members exploit whom, and their explored hyperparameters (seeded by the round).

    The last round only records scores: the runs are finished, nothing is left to exploit for."""
    rng = np.random.default_rng([job.seed, number + 1])
    order = sorted(range(len(scores)), key=lambda i: (scores[i], -i))  # worst first, ties broken stably
    cut = max(1, int(round(len(scores) * job.pbt.quantile))) if len(scores) > 1 else 0
    bottom, top = order[:cut], order[len(order) - cut:]
    exploits = []
    for recipient in bottom if job.exploit and not last else []:
        donor = int(top[int(rng.integers(len(top)))])
        new = explore(hyper[donor], space, job.pbt, rng)
        snapshot = Path("exploits") / f"round-{number:04d}-member-{recipient}-from-{donor}.pt"
        exploits.append({"round": number, "step": step, "recipient": int(recipient), "donor": donor,
                         "donor_run": specs[donor].run_id(), "recipient_run": specs[recipient].run_id(),
                         "checkpoint": str(snapshot), "donor_hyper": hyper[donor], "old_hyper": hyper[recipient],
                         "new_hyper": new, "donor_score": scores[donor], "recipient_score": scores[recipient]})
    for item in exploits:  # snapshot the donors' checkpoints (at this very step) before anything changes
        source = Study(Path(job.root), job.study).run(item["donor_run"]).checkpoint_path
        target = job.folder / item["checkpoint"]
        if not target.exists():
            atomic_write_bytes(target, source.read_bytes())
    return {"round": number, "step": step, "scores": scores, "exploits": exploits}


def apply(job: PBTJob, decision: Mapping[str, Any], specs: Sequence[RunSpec]) -> None:
    """Copy each snapshot into its recipient's run (idempotent: same bytes each time)."""
    import torch

    study = Study(Path(job.root), job.study)
    for item in decision["exploits"]:
        run = study.run(item["recipient_run"])
        donor_state = torch.load(job.folder / item["checkpoint"], map_location="cpu", weights_only=False)
        assert donor_state["step"] == item["step"], (donor_state["step"], item)
        mine = run.load_checkpoint()
        if mine.get("pbt_exploit") == item["checkpoint"]:
            continue  # applied before a kill
        donor_state.update({"run_id": item["recipient_run"], "rows": mine["rows"], "pbt_exploit": item["checkpoint"]})
        run.save_checkpoint(donor_state)


def advance(state: dict[str, Any], decision: Mapping[str, Any]) -> dict[str, Any]:
    hyper = [dict(h) for h in state["hyper"]]
    schedules = [list(s) for s in state["schedules"]]
    for item in decision["exploits"]:
        hyper[item["recipient"]] = dict(item["new_hyper"])
        schedules[item["recipient"]] = [*schedules[item["donor"]], {"step": item["step"], "hyper": dict(item["new_hyper"])}]
    return {**state, "round": decision["round"] + 1, "hyper": hyper, "schedules": schedules,
            "exploits": [*state["exploits"], *decision["exploits"]], "scores": [*state["scores"], decision["scores"]]}


def build_lineage(job: PBTJob, state: Mapping[str, Any], specs: Sequence[RunSpec]) -> dict[str, Any]:
    final = state["scores"][-1] if state["scores"] else []
    best = int(np.argmax(final)) if final else 0
    return {"study": job.study, "algorithm": job.pbt.algorithm, "task": job.task, "seed": job.seed,
            "config": dataclasses.asdict(job.pbt), "exploit": job.exploit,
            "members": [{"member": i, "run_id": spec.run_id(), "seed": spec.seed, "initial": state["initial"][i],
                         "schedule": state["schedules"][i]} for i, spec in enumerate(specs)],
            "exploits": state["exploits"], "scores": state["scores"], "best_member": best,
            "best_score": final[best] if final else None}


def replay_schedule(job: PBTJob, schedule: Sequence[Mapping[str, Any]], seed: int, study: str) -> dict[str, Any]:
    """Train one run with a recorded hyperparameter schedule as a fixed schedule (no exploits)."""
    task = job.load_task()
    spec = RunSpec(study=study, algorithm=job.pbt.algorithm, task=task, seed=seed,
                   hyper={**job.fixed, **schedule[0]["hyper"]}, suite=job.suite)
    changes = [int(c["step"]) for c in schedule[1:]] + [task.budget]
    result: dict[str, Any] = {}
    for change, stop in zip(schedule, changes):
        result = run_segment(spec, str(Path(job.root).resolve()), change["hyper"], stop)
    return result
