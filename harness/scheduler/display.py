"""A live view of the grid: one line per active run (steps, steps/s, last evaluation) and a total."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.plan import PlannedRun


class GridDisplay:
    def __init__(self, total: int, already_done: int, enabled: bool = True):
        self.console = Console(stderr=True)
        self.enabled = enabled
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=self.console,
                                 disable=not enabled)
        self.grid = self.progress.add_task("grid", total=total, completed=already_done, info="runs")
        self.rows: dict[str, Any] = {}

    def __enter__(self) -> "GridDisplay":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    @staticmethod
    def label(planned: PlannedRun) -> str:
        spec = planned.spec
        return f"{spec.algorithm} {spec.task.id} s{spec.seed}"

    def start(self, planned: PlannedRun) -> None:
        self.rows[planned.run_id] = self.progress.add_task(self.label(planned), total=planned.spec.task.budget,
                                                           info="starting")

    def update(self, info: dict[str, Any]) -> None:
        row = self.rows.get(info["run_id"])
        if row is None:
            return
        last = info.get("last_eval")
        text = f"{info['sps']:,.0f} steps/s" + (f"  eval {last:.1f}" if last is not None else "")
        self.progress.update(row, completed=info["step"], info=text)

    def finish(self, planned: PlannedRun, state: str) -> None:
        row = self.rows.pop(planned.run_id, None)
        if row is not None:
            self.progress.remove_task(row)
        self.progress.advance(self.grid)
        style = "green" if state == "done" else "red"
        if self.enabled:
            self.console.print(f"[{style}]{state}[/] {self.label(planned)} ({planned.run_id})")
