"""What every backend shares: GPU slots, skipping and verifying runs, and the grid's summary."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from harness.errors import UserError
from harness.plan import PlannedRun
from harness.store import CorruptRunError, Study


@dataclass(frozen=True)
class Slot:
    """Where one run executes: a GPU id (as CUDA_VISIBLE_DEVICES sees it) or None for the CPU."""

    index: int
    gpu: str | None = None


def make_slots(gpus: Sequence[str], runs_per_gpu: int, workers: int) -> list[Slot]:
    """``runs_per_gpu`` slots per GPU, interleaved so that consecutive runs go to different GPUs."""
    if not gpus:
        return [Slot(i) for i in range(workers)]
    if runs_per_gpu < 1:
        raise UserError(f"--runs-per-gpu must be at least 1, got {runs_per_gpu}")
    slots = [Slot(0, gpu) for _ in range(runs_per_gpu) for gpu in gpus]
    return [Slot(i, s.gpu) for i, s in enumerate(slots[:max(workers, 1)])]


# Each library sizes its thread pool from these when it loads: torch's OpenMP and MKL, and numpy's
# OpenBLAS, whose idle threads spin. A worker must start with them, since numpy is imported while a
# spawned process unpickles its task, before the task's own code runs.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def thread_environment(threads: int) -> dict[str, str]:
    """The thread-limit variables for a process that may use ``threads`` threads."""
    return {name: str(threads) for name in THREAD_VARIABLES}


def worker_environment(slot: Slot, threads: int) -> dict[str, str]:
    """Environment variables a worker process starts with."""
    env = thread_environment(threads)
    if slot.gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = slot.gpu
        env["HARNESS_EXPECT_DEVICE"] = "cuda"
    return env


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set, restored on exit: a process spawned inside starts with them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class GridSummary:
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # running in another live process

    @property
    def ok(self) -> bool:
        return not self.failed

    def record_exit(self, planned: PlannedRun, root: Path, exitcode: int | None) -> str:
        """Classify a finished worker; a process that died without saying why is failed here."""
        run = Study(root, planned.spec.study).run(planned.run_id)
        status = run.read_status()
        if status["state"] == "done":
            self.done.append(planned.run_id)
            return "done"
        error = status.get("error") if status["state"] == "failed" else None
        if error is None:
            error = f"worker process died (exit code {exitcode})"
            run.path.mkdir(parents=True, exist_ok=True)
            run.write_status("failed", error=error, step=status.get("step", 0))
        self.failed[planned.run_id] = error
        return "failed"


def prepare(plan: Sequence[PlannedRun], root: Path, redo_corrupt: bool) -> tuple[GridSummary, list[PlannedRun]]:
    """Record the plan, skip finished runs, refuse (or discard) corrupted ones. Returns what to run."""
    summary = GridSummary()
    todo: list[PlannedRun] = []
    corrupt: list[str] = []
    studies = {p.spec.study for p in plan}
    for name in studies:
        Study(root, name).record_plan(p.entry() for p in plan if p.spec.study == name)
    for planned in plan:
        run = Study(root, planned.spec.study).run(planned.run_id)
        try:
            run.verify()
        except CorruptRunError as err:
            if not redo_corrupt:
                corrupt.append(str(err))
                continue
            run.discard()
        state = run.read_status()["state"]
        if state == "done":
            summary.skipped.append(planned.run_id)
        elif state == "running":
            summary.busy.append(planned.run_id)
        else:
            todo.append(planned)
    if corrupt:
        raise UserError("\n".join(corrupt))
    return summary, todo
