"""Per-task score normalization, chosen once per report and recorded with it.

Methods: ``reference`` ((score − low)/(high − low) with each task's declared or human reference),
``minmax`` (low/high = the lowest/highest evaluation of the task in this report: a labelled fallback
that is not comparable across studies), ``none`` (raw returns only, no aggregates). ``auto`` picks
``reference`` where tasks have references (tasks without are left out of aggregates, and named),
else ``minmax``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.analysis.load import StudyData
from harness.errors import UserError

MODES = ("auto", "reference", "minmax", "none")


@dataclass(frozen=True)
class Normalization:
    method: str                       # reference | minmax | none
    label: str                        # what a normalized score means, for captions
    table: pd.DataFrame               # task, low, high, kind, source (tasks in aggregates only)
    excluded: dict[str, str] = field(default_factory=dict)  # task → why it is not in aggregates

    @property
    def short(self) -> str:
        """``human-normalized``, ``reference-normalized`` or ``min-max normalized``: for axis labels."""
        return {"minmax": "min-max normalized", "none": "raw"}.get(self.method, self.label.split(":")[0])

    @property
    def tasks(self) -> list[str]:
        return list(self.table["task"])

    def apply(self, frame: pd.DataFrame, column: str = "return_mean") -> pd.Series:
        """Normalized scores of the rows whose task is normalized (other rows are dropped)."""
        ref = self.table.set_index("task")
        rows = frame[frame["task"].isin(ref.index)]
        low = rows["task"].map(ref["low"])
        high = rows["task"].map(ref["high"])
        return (rows[column] - low) / (high - low)


def task_references(data: StudyData) -> pd.DataFrame:
    """One reference per task (the study's own before a baseline's); conflicting ones are an error."""
    runs = data.runs.assign(_order=(data.runs["source"] != "study").astype(int))
    rows = []
    for task, group in runs.sort_values("_order", kind="stable").groupby("task", sort=True):
        declared = group.dropna(subset=["ref_low", "ref_high"])
        if declared.empty:
            rows.append({"task": task, "low": np.nan, "high": np.nan, "kind": None, "source": None})
            continue
        own = declared[declared["source"] == declared["source"].iloc[0]]
        distinct = own[["ref_low", "ref_high"]].drop_duplicates()
        if len(distinct) > 1:
            pairs = ", ".join(f"({r.ref_low:g}, {r.ref_high:g})" for r in distinct.itertuples())
            raise UserError(f"task {task!r}: runs declare different reference scores {pairs}; "
                            f"fix the suite so that every run of a task uses one reference")
        first = own.iloc[0]
        rows.append({"task": task, "low": float(first["ref_low"]), "high": float(first["ref_high"]),
                     "kind": first["ref_kind"], "source": first["ref_source"]})
    return pd.DataFrame(rows, columns=["task", "low", "high", "kind", "source"])


def choose_normalization(data: StudyData, mode: str = "auto") -> Normalization:
    if mode not in MODES:
        raise UserError(f"normalization {mode!r}: choose one of {', '.join(MODES)}")
    refs = task_references(data)
    has_ref = refs["low"].notna() & (refs["high"] != refs["low"])
    if mode == "none":
        return Normalization("none", "raw returns (no normalization)", refs.iloc[0:0],
                             {t: "normalization disabled" for t in refs["task"]})
    if mode == "reference" or (mode == "auto" and has_ref.any()):
        missing = list(refs.loc[~has_ref, "task"])
        if mode == "reference" and missing:
            raise UserError(f"normalized aggregates need reference scores, and these tasks have none: "
                            f"{', '.join(missing)}; declare `reference = {{ low = ..., high = ... }}` in the "
                            f"suite, or use min-max normalization")
        kinds = set(refs.loc[has_ref, "kind"])
        label = ("human-normalized: (score − random) / (human − random)" if kinds == {"human"} else
                 "reference-normalized: (score − low) / (high − low), per-task references in the table")
        excluded = {t: "no reference scores" for t in missing}
        return Normalization("reference", label, refs[has_ref].reset_index(drop=True), excluded)
    return _minmax(data)


def _minmax(data: StudyData) -> Normalization:
    grouped = data.metrics.groupby("task")["return_mean"]
    table = pd.DataFrame({"low": grouped.min(), "high": grouped.max()}).reset_index()
    flat = table["high"] <= table["low"]
    excluded = {t: "every evaluation has the same return (min = max)" for t in table.loc[flat, "task"]}
    table = table[~flat].assign(kind="min-max over this report", source="this report's evaluations")
    label = ("min-max normalized over this report's evaluations (no reference scores; "
             "not comparable with other studies)")
    return Normalization("minmax", label, table.reset_index(drop=True), excluded)
