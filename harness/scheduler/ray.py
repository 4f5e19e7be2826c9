"""Run a grid on a Ray cluster, with the same interface and guarantees as the local scheduler.

Each run is one Ray task requesting ``threads`` CPUs and ``1 / runs_per_gpu`` of a GPU when GPUs are
asked for, so ``--gpus``/``--runs-per-gpu`` mean the same on one machine or a cluster: Ray's fractional
GPU scheduling packs K runs per GPU and sets CUDA_VISIBLE_DEVICES; HARNESS_EXPECT_DEVICE makes a run
that did not land on CUDA fail instead of silently training on the CPU.

A GPU run's worker process exits after its run (``max_calls=1``) so CUDA memory never leaks into the
next run; CPU runs reuse warm workers (a fresh process costs seconds of imports, more than a short
run). Every run ends by recording done, failed or paused, and a driver's death ends its tasks'
processes, so a reused worker's pid never makes an interrupted run look alive.
Runs write into the results directory when their node sees it (NFS, a mounted bucket; the driver leaves
a marker file there that each task looks for); elsewhere they train in a local temporary folder and
stream their files back to the driver's machine (:mod:`harness.scheduler.streaming`). The mode is
``results`` (``HARNESS_RAY_RESULTS``): ``auto`` (that check), ``shared`` or ``stream``.
A run whose worker or node dies is resubmitted and resumes from its last checkpoint elsewhere, up to
``max_retries`` times; a run that raises or produces NaN losses is recorded as failed and not retried.
"""

from __future__ import annotations

import os
import secrets
import signal
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

# Ray 2.5x turns token authentication on for a head started while ~/.ray/auth_token exists, and then
# refuses clients that do not also opt in. Local clusters here run without it; set RAY_AUTH_MODE=token
# (and distribute the token) to use a secured cluster.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import ray  # noqa: E402

from harness.errors import UserError
from harness.plan import PlannedRun
from harness.scheduler.common import GridSummary, prepare, thread_environment
from harness.scheduler.streaming import MODES, execute_streamed, start_store
from harness.store import OWNER_VARIABLE, Study, register_owner_check

OWNER_KIND = "ray-job"  # a run's status owner: the Ray job (driver) whose task runs it

# Environment variables a driver forwards to its tasks (plugins on PYTHONPATH, harness switches).
FORWARDED_PREFIXES = ("HARNESS_",)
FORWARDED = ("PYTHONPATH",)


@dataclass(frozen=True)
class RunRequest:
    """What one run asks of the cluster."""

    num_cpus: float
    num_gpus: float

    @classmethod
    def of(cls, threads: int, gpus: Sequence[str], runs_per_gpu: int) -> "RunRequest":
        if gpus and runs_per_gpu < 1:
            raise UserError(f"--runs-per-gpu must be at least 1, got {runs_per_gpu}")
        return cls(num_cpus=float(max(threads, 1)), num_gpus=1.0 / runs_per_gpu if gpus else 0.0)

    def options(self) -> dict[str, Any]:
        return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}

    @property
    def task(self) -> Any:
        """The remote function: a GPU run gets a fresh process that exits (and frees CUDA) after it."""
        return execute_run_fresh if self.num_gpus > 0 else execute_run


@ray.remote(num_cpus=0)
class ProgressSink:
    """Collects progress reports from runs; the driver drains it for the live display."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put(self, info: dict[str, Any]) -> None:
        self.items.append(info)

    def drain(self) -> list[dict[str, Any]]:
        items, self.items = self.items, []
        return items


def _execute_run(planned: PlannedRun, root: str, threads: int, expect_cuda: bool, sink: Any,
                 store: Any = None, marker: str | None = None) -> str:
    """Body of a run's task: limit threads, demand CUDA when a GPU was requested, run, record.

    With a ``store`` the run streams its files to the driver, unless this node sees the driver's
    ``marker`` file in ``root`` (the results directory is shared)."""
    # Ray ends the tasks of a dead driver (and cancelled ones) with SIGTERM, which it turns into
    # SystemExit: that run is interrupted, not failed. Vanish as under SIGKILL; the next invocation
    # resumes it from its last (atomically written) checkpoint.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(128 + signal.SIGTERM))
    os.environ.update({**thread_environment(threads),
                       OWNER_VARIABLE: f"{OWNER_KIND}:{ray.get_runtime_context().get_job_id()}"})
    if expect_cuda:
        os.environ["HARNESS_EXPECT_DEVICE"] = "cuda"
    from harness.threads import limit_threads

    limit_threads(threads)
    from harness.run import execute_recording_failure

    progress = (lambda info: sink.put.remote(info)) if sink is not None else None
    if store is not None and not (marker and (Path(root) / marker).exists()):
        return execute_streamed(planned.spec, store, root, progress=progress)
    return execute_recording_failure(planned.spec, Path(root), progress=progress)


def ray_job_alive(job_id: str) -> bool | None:
    """Whether the Ray job (a driver) that ran a run is alive; None when this cluster never knew it.

    A run's status says "running" until its process writes otherwise; killed with its driver, it
    never does. Its host may be another node, where no pid can be checked, but the cluster's job
    table knows whether that driver died (and with it the job's tasks)."""
    for job in ray._private.state.jobs():  # the GCS job table (no public API reads a driver's state)
        if job["JobID"] == job_id:
            return not job["IsDead"]
    return None


execute_run = ray.remote(max_retries=0)(_execute_run)
execute_run_fresh = ray.remote(max_retries=0, max_calls=1)(_execute_run)


def forwarded_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if k in FORWARDED or k.startswith(FORWARDED_PREFIXES)}


class RayScheduler:
    """At most ``workers`` runs in flight on the cluster at ``address`` (a new local one when None)."""

    def __init__(self, workers: int = 1, gpus: Sequence[str] = (), runs_per_gpu: int = 1, threads: int = 1,
                 show_progress: bool = True, redo_corrupt: bool = False, address: str | None = None,
                 max_retries: int = 1, results: str | None = None):
        self.workers = max(1, workers)
        self.gpus = list(gpus)
        self.request = RunRequest.of(threads, self.gpus, runs_per_gpu)
        self.threads = max(threads, 1)
        self.show_progress = show_progress
        self.redo_corrupt = redo_corrupt
        self.address = address
        self.max_retries = max_retries
        self.results = results or os.environ.get("HARNESS_RAY_RESULTS", "auto")
        if self.results not in MODES:
            raise UserError(f"--results-transfer / HARNESS_RAY_RESULTS {self.results!r}: allowed: {', '.join(MODES)}")

    # ------------------------------------------------------------------------------ the cluster
    def connect(self) -> bool:
        """Join (or start) the cluster; True when this call started Ray and must shut it down."""
        if ray.is_initialized():
            return False
        # worker processes start with the thread limits: numpy's OpenBLAS sizes its pool on import
        options: dict[str, Any] = {"runtime_env": {"env_vars": {**forwarded_environment(),
                                                                **thread_environment(self.threads)}},
                                   "logging_level": "WARNING", "log_to_driver": True}
        if self.address:
            ray.init(address=self.address, **options)
        else:
            if self.gpus:  # a local cluster sees exactly the GPUs given
                os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(self.gpus)
            ray.init(num_cpus=self.workers * self.threads, num_gpus=len(self.gpus), include_dashboard=False,
                     **options)
        return True

    # ------------------------------------------------------------------------------- the grid
    def run(self, plan: Sequence[PlannedRun], root: Path) -> GridSummary:
        root = Path(root).resolve()
        summary, todo = prepare(plan, root, self.redo_corrupt)
        if not todo and not summary.busy:
            return summary
        started = self.connect()
        try:
            register_owner_check(OWNER_KIND, ray_job_alive)
            if summary.busy:  # "running" on another node: only while the Ray job that ran it lives
                summary, todo = prepare(plan, root, self.redo_corrupt)
            if not todo:
                return summary
            return self._run(plan, todo, root, summary)
        finally:
            if started:
                ray.shutdown()

    def _run(self, plan: Sequence[PlannedRun], todo: list[PlannedRun], root: Path,
             summary: GridSummary) -> GridSummary:
        sink = ProgressSink.remote() if self.show_progress else None
        store = start_store(root) if self.results != "shared" else None
        marker = f".ray-driver-{secrets.token_hex(8)}" if self.results == "auto" else None
        if marker:
            (root / marker).write_text("the Ray driver of this results directory is running\n")
        try:
            return self._loop(plan, todo, root, summary, sink, store, marker)
        finally:
            if marker:
                (root / marker).unlink(missing_ok=True)
            for actor in (sink, store):
                if actor is not None:
                    ray.kill(actor)

    def _loop(self, plan: Sequence[PlannedRun], todo: list[PlannedRun], root: Path, summary: GridSummary,
              sink: Any, store: Any, marker: str | None) -> GridSummary:
        from harness.scheduler.display import GridDisplay

        pending = deque(todo)
        attempts: dict[str, int] = {}
        active: dict[Any, PlannedRun] = {}
        with GridDisplay(len(plan), len(plan) - len(todo), enabled=self.show_progress) as display:
            while pending or active:
                while pending and len(active) < self.workers:
                    planned = pending.popleft()
                    attempts[planned.run_id] = attempts.get(planned.run_id, 0) + 1
                    ref = self.request.task.options(**self.request.options()).remote(
                        planned, str(root), self.threads, self.request.num_gpus > 0, sink, store, marker)
                    active[ref] = planned
                    if attempts[planned.run_id] == 1:
                        display.start(planned)
                ready, _ = ray.wait(list(active), num_returns=1, timeout=0.2)
                if sink is not None:
                    for info in ray.get(sink.drain.remote()):
                        display.update(info)
                for ref in ready:
                    planned = active.pop(ref)
                    lost = self._outcome(ref, planned, root)
                    if lost is not None and attempts[planned.run_id] <= self.max_retries:
                        pending.appendleft(planned)  # resumes from its last checkpoint, wherever it lands
                        continue
                    if lost is not None:
                        self._record_lost(planned, root, lost, attempts[planned.run_id])
                    state = summary.record_exit(planned, root, None)
                    display.finish(planned, state)
        return summary

    @classmethod
    def _outcome(cls, ref: Any, planned: PlannedRun, root: Path) -> str | None:
        """None when the task returned or raised (its state is recorded), else why its worker was lost."""
        try:
            ray.get(ref)
        except ray.exceptions.RayTaskError as err:  # e.g. the run's arguments failed to unpickle there
            cls._record_lost(planned, root, f"task raised {str(err).splitlines()[0]}", 1, error_prefix="")
        except ray.exceptions.RayError as err:
            return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        return None

    @staticmethod
    def _record_lost(planned: PlannedRun, root: Path, reason: str, attempts: int,
                     error_prefix: str = "worker process died") -> None:
        run = Study(root, planned.spec.study).run(planned.run_id)
        status = run.read_status()
        if status["state"] in ("done", "failed"):
            return
        run.path.mkdir(parents=True, exist_ok=True)
        error = f"{error_prefix} ({reason}) on each of {attempts} attempts" if error_prefix else reason
        run.write_status("failed", step=status.get("step", 0), error=error)
