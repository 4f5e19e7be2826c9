"""Run directories, atomic writes, run status and the study index.

Layout: ``<root>/<study>/<run_id>/`` with ``config.json``, ``manifest.json``, ``metrics.parquet``,
``status.json``, ``checkpoint.pt`` and ``logs/``. Every write goes to a temporary file in the same
folder, is fsynced and renamed over the target, so a reader (or a crash) never sees half a file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from harness.errors import UserError

STATES = ("pending", "running", "interrupted", "paused", "done", "failed")


class CorruptRunError(UserError):
    """A run's checkpoint or metrics file cannot be read."""


# ------------------------------------------------------------------------------------ atomic writes

def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n").encode())


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CorruptRunError(f"{path}: unreadable JSON ({err})") from None


def config_hash(config: Mapping[str, Any], length: int = 12) -> str:
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]


# ------------------------------------------------------------------------------------------- a run

@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.parquet"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def logs_path(self) -> Path:
        return self.path / "logs"

    # status ---------------------------------------------------------------------------------
    def read_status(self) -> dict[str, Any]:
        if not self.status_path.exists():
            return {"state": "pending"}
        status = read_json(self.status_path)
        if status.get("state") == "running" and not _process_alive(status.get("host"), status.get("pid"),
                                                                   status.get("owner")):
            status = {**status, "state": "interrupted"}
        return status

    def write_status(self, state: str, **extra: Any) -> None:
        assert state in STATES, state
        owner = {"owner": os.environ[OWNER_VARIABLE]} if os.environ.get(OWNER_VARIABLE) else {}
        atomic_write_json(self.status_path, {"state": state, "pid": os.getpid(), "host": socket.gethostname(),
                                             "updated": time.time(), **owner, **extra})

    # metrics --------------------------------------------------------------------------------
    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        import pandas as pd

        buffer = io.BytesIO()
        pd.DataFrame(rows).to_parquet(buffer, index=False)
        atomic_write_bytes(self.metrics_path, buffer.getvalue())

    def read_metrics(self):
        import pandas as pd

        try:
            return pd.read_parquet(self.metrics_path)
        except FileNotFoundError:
            return pd.DataFrame()
        except Exception as err:
            raise CorruptRunError(f"{self.metrics_path}: metrics file is corrupted ({type(err).__name__}: {err}); "
                                  f"pass --redo-corrupt to discard run {self.run_id} and run it again") from None

    # checkpoints ----------------------------------------------------------------------------
    def save_checkpoint(self, state: Mapping[str, Any]) -> None:
        import torch

        buffer = io.BytesIO()
        torch.save(dict(state), buffer)
        atomic_write_bytes(self.checkpoint_path, buffer.getvalue())

    def load_checkpoint(self) -> dict[str, Any] | None:
        import torch

        if not self.checkpoint_path.exists():
            return None
        try:
            return torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        except Exception as err:
            raise self._corrupt_checkpoint(err) from None

    def verify_checkpoint(self) -> None:
        """Cheap integrity check (zip CRCs) without unpickling the whole agent."""
        if not self.checkpoint_path.exists():
            return
        try:
            with zipfile.ZipFile(self.checkpoint_path) as archive:
                bad = archive.testzip()
            if bad is not None:
                raise ValueError(f"CRC mismatch in {bad}")
        except Exception as err:
            raise self._corrupt_checkpoint(err) from None

    def _corrupt_checkpoint(self, err: Exception) -> CorruptRunError:
        return CorruptRunError(f"{self.checkpoint_path}: checkpoint is corrupted ({type(err).__name__}: {err}); "
                               f"pass --redo-corrupt to discard run {self.run_id} and run it again")

    def verify(self) -> None:
        """Raise CorruptRunError if what a resume or a report needs cannot be read."""
        status = self.read_status()
        if status["state"] == "done":
            self.read_metrics()
        else:
            self.verify_checkpoint()

    def discard(self) -> None:
        """Remove everything of this run (used by --redo-corrupt)."""
        import shutil

        shutil.rmtree(self.path, ignore_errors=True)


# A run's status names what runs it: its process on its host and, where an engine manages it, an
# owner ("KIND:ID", from this environment variable) whose liveness that engine can tell from anywhere.
OWNER_VARIABLE = "HARNESS_RUN_OWNER"
OWNER_CHECKS: dict[str, Callable[[str], bool | None]] = {}  # KIND -> alive(ID), None when it cannot tell


def register_owner_check(kind: str, alive: Callable[[str], bool | None]) -> None:
    """E.g. the Ray scheduler, once connected, tells whether the Ray job that ran a run still lives."""
    OWNER_CHECKS[kind] = alive


def _process_alive(host: str | None, pid: int | None, owner: str | None = None) -> bool:
    if pid is None or host is None:
        return False
    if host != socket.gethostname():  # a run on another host (a Ray node)
        kind, _, ident = (owner or "").partition(":")
        verdict = OWNER_CHECKS[kind](ident) if kind in OWNER_CHECKS else None
        return True if verdict is None else verdict  # trust its word where nothing can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ------------------------------------------------------------------------------------------ studies

@dataclass(frozen=True)
class Study:
    root: Path
    name: str

    @property
    def path(self) -> Path:
        return self.root / self.name

    @property
    def plan_path(self) -> Path:
        return self.path / "plan.json"

    def run(self, run_id: str) -> RunDir:
        return RunDir(self.path / run_id)

    def runs(self) -> list[RunDir]:
        if not self.path.is_dir():
            return []
        return [RunDir(p) for p in sorted(self.path.iterdir()) if p.is_dir() and (p / "config.json").exists()]

    def record_plan(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Merge planned runs into plan.json so that ``status`` can show runs not started yet."""
        plan = self.read_plan()
        for entry in entries:
            plan[entry["run_id"]] = dict(entry)
        atomic_write_json(self.plan_path, plan)

    def read_plan(self) -> dict[str, dict[str, Any]]:
        return read_json(self.plan_path) if self.plan_path.exists() else {}

    def summary(self) -> list[dict[str, Any]]:
        """One row per planned or existing run: run_id, algorithm, task, seed, state, step, budget, error."""
        rows: dict[str, dict[str, Any]] = {}
        for run_id, entry in self.read_plan().items():
            rows[run_id] = {**{k: entry.get(k) for k in ("algorithm", "task", "seed", "budget")},
                            "run_id": run_id, "state": "pending", "step": 0}
        for run in self.runs():
            config = read_json(run.config_path)
            status = run.read_status()
            rows[run.run_id] = {"run_id": run.run_id, "algorithm": config["algorithm"], "task": config["task"]["id"],
                                "seed": config["seed"], "budget": config["task"]["budget"], "state": status["state"],
                                "step": status.get("step", 0), "error": status.get("error", "")}
        return sorted(rows.values(), key=lambda r: (str(r["algorithm"]), str(r["task"]), r["seed"] or 0))
