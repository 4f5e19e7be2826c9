"""Run a grid of runs in worker processes on one machine, pinned to GPU slots when GPUs are given.

Each run gets a fresh spawned process (CUDA state, threads and memory never leak between runs). A
run that raises, produces a NaN loss or whose process dies is recorded as failed; the others go on.
Finished runs are skipped and unfinished ones resume from their checkpoint.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_module
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from harness.plan import PlannedRun
from harness.scheduler.common import GridSummary, Slot, environment, make_slots, prepare, worker_environment


def _worker(planned: PlannedRun, root: str, slot: Slot, threads: int, updates: Any) -> None:
    """Body of a worker process: pin the device, limit threads, run, report progress."""
    os.environ.update(worker_environment(slot, threads))
    parent = os.getppid()

    from harness.threads import limit_threads

    limit_threads(threads)
    from harness.run import execute_recording_failure

    def progress(info: dict[str, Any]) -> None:
        if os.getppid() != parent:  # the scheduler died: do not run on as an orphan
            os._exit(3)
        updates.put(info)

    state = execute_recording_failure(planned.spec, Path(root), progress=progress)
    updates.put({"run_id": planned.run_id, "end": state})
    os._exit(0 if state == "done" else 1)


@dataclass
class _Active:
    planned: PlannedRun
    process: Any
    slot: Slot
    started: float = field(default_factory=time.time)


class LocalScheduler:
    """``workers`` concurrent runs; with ``gpus``, each run holds one of ``runs_per_gpu`` slots per GPU."""

    def __init__(self, workers: int = 1, gpus: Sequence[str] = (), runs_per_gpu: int = 1, threads: int = 1,
                 show_progress: bool = True, redo_corrupt: bool = False):
        self.workers = max(1, workers)
        self.slots = make_slots(gpus, runs_per_gpu, self.workers)
        self.threads = threads
        self.show_progress = show_progress
        self.redo_corrupt = redo_corrupt

    def run(self, plan: Sequence[PlannedRun], root: Path) -> GridSummary:
        summary, todo = prepare(plan, root, self.redo_corrupt)
        context = mp.get_context("spawn")
        updates = context.Queue()
        pending = deque(todo)
        active: dict[str, _Active] = {}
        free = list(self.slots)
        from harness.scheduler.display import GridDisplay

        with GridDisplay(len(plan), len(plan) - len(todo), enabled=self.show_progress) as display:
            while pending or active:
                while pending and free:
                    planned = pending.popleft()
                    slot = free.pop(0)
                    process = context.Process(target=_worker, args=(planned, str(root), slot, self.threads, updates),
                                              name=f"run-{planned.run_id}", daemon=False)
                    with environment(worker_environment(slot, self.threads)):
                        process.start()
                    active[planned.run_id] = _Active(planned, process, slot)
                    display.start(planned)
                self._drain(updates, display, timeout=0.2)
                for run_id, item in list(active.items()):
                    if item.process.is_alive():
                        continue
                    item.process.join()
                    self._drain(updates, display, timeout=0.0)
                    state = summary.record_exit(item.planned, root, item.process.exitcode)
                    display.finish(item.planned, state)
                    free.append(item.slot)
                    del active[run_id]
        return summary

    @staticmethod
    def _drain(updates: Any, display: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = updates.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue_module.Empty:
                return
            if "end" not in info:
                display.update(info)
