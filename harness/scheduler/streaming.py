"""Ray runs on nodes that do not see the driver's results directory: streamed back to the driver.

The worker trains into a local temporary folder through a :class:`StreamedRunDir`. Every status write
(the run starts, each checkpoint, the end, a failure) first sends the files that changed since the last
one to a :class:`ResultStore` actor pinned to the driver's node, and waits until it has written them
into the results tree (each file atomically: temporary file, fsync, rename; ``status.json`` last). So
a checkpoint the run reports is already on the driver's disk: a run whose node dies, or whose driver
is killed, resumes from it on any node, which first pulls the run's files back from the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray

from harness.store import RunDir, atomic_write_bytes

# What a resumed run needs from the driver (logs of earlier segments stay there, never overwritten).
RESUME_FILES = ("config.json", "manifest.json", "metrics.parquet", "checkpoint.pt", "status.json")
MODES = ("auto", "shared", "stream")


@ray.remote(num_cpus=0, max_concurrency=16)
class ResultStore:
    """Owns the results tree on the driver's machine; runs push their files to it and pull them back."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def pull(self, rel: str) -> dict[str, bytes]:
        folder = self.root / rel
        return {name: (folder / name).read_bytes() for name in RESUME_FILES if (folder / name).is_file()}

    def push(self, rel: str, files: dict[str, bytes]) -> None:
        for name, data in files.items():  # in the order sent: status.json comes last
            atomic_write_bytes(self.root / rel / name, data)


def start_store(root: Path) -> Any:
    """A ResultStore on the driver's own node (it writes where the driver reads)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    strategy = NodeAffinitySchedulingStrategy(node_id=here, soft=False)
    return ResultStore.options(scheduling_strategy=strategy).remote(str(root))


@dataclass(frozen=True)
class StreamedRunDir(RunDir):
    """A run folder on the worker whose every status write ships the changed files to the driver."""

    store: Any = None
    rel: str = ""
    shipped: dict[str, tuple[int, int]] = field(default_factory=dict, compare=False)

    def pull(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        for name, data in ray.get(self.store.pull.remote(self.rel)).items():
            (self.path / name).write_bytes(data)
            self.shipped[name] = _signature(self.path / name)

    def write_status(self, state: str, **extra: Any) -> None:
        super().write_status(state, **extra)
        self.ship()

    def ship(self) -> None:
        changed: dict[str, bytes] = {}
        for path in sorted(self.path.rglob("*"), key=lambda p: p.name == "status.json"):
            name = path.relative_to(self.path).as_posix()
            if not path.is_file() or path.name.startswith("."):  # .NAME.tmp: an atomic write in progress
                continue
            signature = _signature(path)  # before reading: a file that changes meanwhile ships again
            if self.shipped.get(name) != signature:
                changed[name] = path.read_bytes()
                self.shipped[name] = signature
        if changed:
            ray.get(self.store.push.remote(self.rel, changed))


def _signature(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def local_folder(root: str) -> Path:
    """Where a worker trains runs of the driver's results tree ``root``: the same folder for a run each
    time, so a resumed run clears what a killed attempt on this node left behind."""
    return Path(tempfile.gettempdir()) / f"harness-stream-{hashlib.sha256(root.encode()).hexdigest()[:12]}"


def execute_streamed(spec: Any, store: Any, root: str, progress: Any = None) -> str:
    """``harness.run.execute_recording_failure`` for a worker without the results directory ``root``."""
    from harness.run import Runner, execute_recording_failure

    local = local_folder(root)
    used: list[Path] = []

    def stream(runner: Runner) -> None:
        shutil.rmtree(runner.dir.path, ignore_errors=True)  # a run never runs twice at once: stale
        runner.dir = StreamedRunDir(runner.dir.path, store, runner.dir.path.relative_to(local).as_posix())
        used.append(runner.dir.path)
        runner.dir.pull()

    try:
        return execute_recording_failure(spec, local, progress, prepare=stream)
    finally:
        for path in used:
            shutil.rmtree(path, ignore_errors=True)
            for folder in (path.parent, local):  # empty now unless other runs train here
                with contextlib.suppress(OSError):
                    folder.rmdir()
