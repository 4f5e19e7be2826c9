"""Read a study's run directories into two tidy tables: metrics (one row per evaluation) and runs.

The run loop writes ``<root>/<study>/<run_id>/{config.json, status.json, metrics.parquet}``; this
module is the one place that knows that layout on the analysis side. Bad or missing files raise
:class:`harness.errors.UserError` naming the file, so a report never silently drops a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.references import reference_for
from harness.errors import UserError
from harness.store import CorruptRunError, RunDir, Study, read_json

REQUIRED_COLUMNS = ("study", "algorithm", "task", "seed", "run_id", "env_steps", "frames", "return_mean", "protocol")
RUN_COLUMNS = ("run_id", "study", "algorithm", "task", "seed", "state", "protocol", "family", "env", "budget",
               "ref_low", "ref_high", "ref_kind", "ref_source", "source")


@dataclass
class StudyData:
    """Everything a report needs: metrics rows, one row per run, and each protocol fingerprint's settings."""

    metrics: pd.DataFrame
    runs: pd.DataFrame
    protocols: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @staticmethod
    def concat(parts: list["StudyData"]) -> "StudyData":
        metrics = pd.concat([p.metrics for p in parts if len(p.metrics)], ignore_index=True) \
            if any(len(p.metrics) for p in parts) else parts[0].metrics
        runs = pd.concat([p.runs for p in parts], ignore_index=True)
        protocols: dict[str, Any] = {}
        notes: list[str] = []
        for part in parts:
            protocols.update(part.protocols)
            notes.extend(part.notes)
        return StudyData(metrics, runs, protocols, notes)


def load_study(results_root: Path, study: str) -> pd.DataFrame:
    """The tidy metrics of every run of ``study`` (all states), with each run's ``state`` as a column."""
    return load_study_data(results_root, study).metrics


def load_study_data(results_root: Path, study: str) -> StudyData:
    """Metrics, runs and protocols of a study; raises UserError if it has no run with metrics."""
    store = Study(Path(results_root), study)
    if not store.path.is_dir():
        raise UserError(f"no study {study!r}: {store.path} does not exist (results root {results_root})")
    run_dirs = store.runs()
    if not run_dirs:
        raise UserError(f"study {study!r} is empty: no run folder with a config.json under {store.path}")
    run_rows, frames, protocols = [], [], {}
    for run in run_dirs:
        config = read_json(run.config_path)
        state = run.read_status().get("state", "pending")
        run_rows.append(_run_row(run, config, state))
        fp = config.get("fingerprint")
        if fp and fp not in protocols:
            protocols[fp] = config.get("protocol", {})
        metrics = _read_metrics(run)
        if metrics is not None and len(metrics):
            frames.append(metrics.assign(state=state))
    runs = pd.DataFrame(run_rows, columns=list(RUN_COLUMNS))
    if not frames:
        states = runs["state"].value_counts().to_dict()
        raise UserError(f"study {study!r} has no evaluation rows yet ({len(runs)} runs: {states}); "
                        f"nothing to report")
    metrics = pd.concat(frames, ignore_index=True)
    runs = _fill_protocols(runs, metrics)
    return StudyData(metrics, runs, protocols)


def _read_metrics(run: RunDir) -> pd.DataFrame | None:
    if not run.metrics_path.exists():
        return None
    try:
        metrics = pd.read_parquet(run.metrics_path)
    except Exception as err:
        raise CorruptRunError(f"{run.metrics_path}: metrics file is corrupted ({type(err).__name__}: {err})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in metrics.columns]
    if missing and len(metrics):
        raise UserError(f"{run.metrics_path}: missing columns {', '.join(missing)}")
    return metrics.sort_values("env_steps", kind="stable")


def _run_row(run: RunDir, config: dict[str, Any], state: str) -> dict[str, Any]:
    try:
        task = config["task"]
        task_id = str(task["id"])
        row = {"run_id": config.get("run_id", run.run_id), "study": config["study"],
               "algorithm": str(config["algorithm"]), "task": task_id, "seed": int(config["seed"]),
               "state": state, "protocol": config.get("fingerprint", ""), "family": task.get("family"),
               "env": task.get("env", task_id), "budget": task.get("budget"), "source": "study"}
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{run.config_path}: not a run config (missing or bad {err})") from None
    ref = reference_for(task_id, task.get("family"), task.get("reference"))
    row.update(ref_low=ref.low if ref else None, ref_high=ref.high if ref else None,
               ref_kind=ref.kind if ref else None, ref_source=ref.source if ref else None)
    return row


def _fill_protocols(runs: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """A config without a fingerprint takes the one its metrics rows carry."""
    from_metrics = metrics.groupby("run_id")["protocol"].last()
    missing = runs["protocol"].isna() | (runs["protocol"] == "")
    runs.loc[missing, "protocol"] = runs.loc[missing, "run_id"].map(from_metrics)
    return runs


def final_rows(metrics: pd.DataFrame) -> pd.DataFrame:
    """The last evaluation row of each run: its final score."""
    ordered = metrics.sort_values(["run_id", "env_steps"], kind="stable")
    return ordered.groupby("run_id", sort=False).tail(1).reset_index(drop=True)
