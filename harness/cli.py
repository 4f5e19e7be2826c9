"""The ``harness`` command: run, list, suites, status, report, and the commands plugins add.

User errors (a bad suite file, an unknown algorithm, a corrupted run) print one line naming the
culprit and exit with status 2, never a traceback.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

from harness.errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Benchmark deep RL algorithms: run suites, list plugins, report results.")
console = Console()
errors = Console(stderr=True)


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn UserError into a one-line message and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except UserError as err:
            for line in str(err).splitlines():
                errors.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def parse_assignments(values: list[str]) -> dict[str, Any]:
    """``--set lr=0.001 --set hidden=[64,64]`` → typed values (TOML syntax for the right-hand side)."""
    import tomllib

    parsed: dict[str, Any] = {}
    for item in values:
        if "=" not in item:
            raise UserError(f"--set {item!r}: expected KEY=VALUE")
        key, raw = item.split("=", 1)
        try:
            parsed[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            parsed[key.strip()] = raw
    return parsed


def parse_seeds(seeds: int, seed_list: str) -> list[int]:
    if seed_list:
        try:
            return [int(s) for s in seed_list.split(",") if s.strip()]
        except ValueError:
            raise UserError(f"--seed-list {seed_list!r}: expected comma-separated integers") from None
    if seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {seeds}")
    return list(range(seeds))


def split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@app.command("run")
@user_errors
def run_command(
    suite: str = typer.Argument(..., help="A suite name (see `harness suites`) or a path to a suite file."),
    algo: str = typer.Option(..., "--algo", "-a", help="Algorithm(s), comma-separated (see `harness list`)."),
    seeds: int = typer.Option(1, help="Seeds 0..N-1 per (algorithm, task)."),
    seed_list: str = typer.Option("", help="Explicit comma-separated seeds (overrides --seeds)."),
    workers: int = typer.Option(1, help="Runs executed at once, each in its own process."),
    gpus: str = typer.Option("", help="GPU ids for runs, e.g. 0,1 (each run pinned via CUDA_VISIBLE_DEVICES)."),
    runs_per_gpu: int = typer.Option(1, help="Runs sharing one GPU at once."),
    study: str = typer.Option("", help="Study name (default: the suite's name)."),
    results: Path = typer.Option(Path("results"), help="Results root folder."),
    tasks: str = typer.Option("", help="Only these task ids, comma-separated."),
    set_: list[str] = typer.Option([], "--set", help="Hyperparameter override KEY=VALUE (repeatable)."),
    budget: Optional[int] = typer.Option(None, help="Override every task's step budget (quick trials)."),
    precision: str = typer.Option("32-true", help="Fabric precision: 32-true, bf16-mixed, 16-mixed."),
    threads: int = typer.Option(1, help="torch threads per run process."),
    backend: str = typer.Option("local", help="Scheduler backend: local or ray."),
    address: str = typer.Option("", help="Ray cluster address (with --backend ray), e.g. auto."),
    results_transfer: str = typer.Option("", help="With --backend ray: auto, shared or stream (default: "
                                         "$HARNESS_RAY_RESULTS, else auto: stream where a node lacks the folder)."),
    redo_corrupt: bool = typer.Option(False, help="Discard runs whose checkpoint or metrics are corrupted, and redo them."),
    progress: bool = typer.Option(True, help="Show the live progress display."),
) -> None:
    """Run a suite as a grid of (algorithm, task, seed) runs; finished runs are skipped, others resumed."""
    from harness.plan import build_plan
    from harness.suite import load_suite

    loaded = load_suite(suite)
    study_name = study or loaded.name
    plan = build_plan(loaded, split(algo), parse_seeds(seeds, seed_list), study_name,
                      hyper=parse_assignments(set_), tasks=split(tasks) or None, budget=budget, precision=precision)
    scheduler = make_scheduler(backend, workers=workers, gpus=split(gpus), runs_per_gpu=runs_per_gpu,
                               threads=threads, progress=progress, redo_corrupt=redo_corrupt, address=address,
                               results_transfer=results_transfer)
    console.print(f"study [bold]{study_name}[/]: {len(plan)} runs in {results / study_name}")
    summary = scheduler.run(plan, results)
    console.print(f"done {len(summary.done)}, skipped (already done) {len(summary.skipped)}, "
                  f"running elsewhere {len(summary.busy)}, failed {len(summary.failed)}")
    for run_id, error in summary.failed.items():
        console.print(f"[red]failed[/] {run_id}: {error} (traceback in {results / study_name / run_id / 'status.json'})",
                      highlight=False)
    if summary.failed:
        raise typer.Exit(1)


def make_scheduler(backend: str, *, workers: int, gpus: list[str], runs_per_gpu: int, threads: int,
                   progress: bool, redo_corrupt: bool, address: str, results_transfer: str = "") -> Any:
    if backend == "local":
        from harness.scheduler.local import LocalScheduler

        return LocalScheduler(workers=workers, gpus=gpus, runs_per_gpu=runs_per_gpu, threads=threads,
                              show_progress=progress, redo_corrupt=redo_corrupt)
    if backend == "ray":
        try:
            from harness.scheduler.ray import RayScheduler
        except ImportError as err:
            raise UserError(f"--backend ray needs Ray: pip install 'rl-harness[ray]' ({err})") from None
        return RayScheduler(workers=workers, gpus=gpus, runs_per_gpu=runs_per_gpu, threads=threads,
                            show_progress=progress, redo_corrupt=redo_corrupt, address=address or None,
                            results=results_transfer or None)
    raise UserError(f"--backend {backend!r}: allowed: local, ray")


@app.command("list")
@user_errors
def list_command() -> None:
    """List every installed algorithm plugin, including broken ones."""
    from harness.plugin import check_unique_names, discover

    table = Table("algorithm", "package", "version", "observations", "actions", "summary")
    for info in discover():
        if info.algorithm is None:
            table.add_row(info.name, info.package, info.version, "-", "-", f"[red]BROKEN[/] {info.error.splitlines()[0][:160]}")
        else:
            a = info.algorithm
            table.add_row(a.name, info.package, info.version, ", ".join(a.observations), ", ".join(a.actions), a.summary)
    console.print(table)
    check_unique_names()  # two packages with one name: a clear error after the listing


@app.command("suites")
@user_errors
def suites_command() -> None:
    """List the shipped suites with their task counts, protocols and budgets."""
    from harness.suite import load_suite, shipped_suites_dir

    table = Table("suite", "tasks", "families", "protocols", "budget (steps)", "description")
    for path in sorted(shipped_suites_dir().glob("*.toml")):
        suite = load_suite(path)
        families = sorted({t.env.family for t in suite.tasks})
        protocols = sorted({str(t.env.kwargs.get("protocol", "default")) for t in suite.tasks})
        budgets = sorted({t.budget for t in suite.tasks})
        budget = f"{budgets[0]:,}" if len(budgets) == 1 else f"{budgets[0]:,}–{budgets[-1]:,}"
        table.add_row(suite.name, str(len(suite.tasks)), ", ".join(families), ", ".join(protocols), budget,
                      suite.description)
    console.print(table)


@app.command("status")
@user_errors
def status_command(
    study: str = typer.Argument(..., help="Study name."),
    results: Path = typer.Option(Path("results"), help="Results root folder."),
) -> None:
    """Show done / running / interrupted / failed / pending runs of a study."""
    from collections import Counter

    from harness.store import Study

    s = Study(results, study)
    if not s.path.is_dir():
        raise UserError(f"no study {study!r} in {results} (studies: {', '.join(sorted(p.name for p in results.glob('*') if p.is_dir())) or 'none'})")
    rows = s.summary()
    table = Table("run", "algorithm", "task", "seed", "state", "step", "note")
    colours = {"done": "green", "failed": "red", "running": "cyan", "interrupted": "yellow", "pending": "white"}
    for row in rows:
        budget = row.get("budget") or 0
        step = f"{row['step'] or 0:,}/{budget:,}" if budget else str(row["step"])
        table.add_row(row["run_id"], str(row["algorithm"]), str(row["task"]), str(row["seed"]),
                      f"[{colours.get(row['state'], 'white')}]{row['state']}[/]", step, str(row.get("error") or "")[:80])
    console.print(table)
    counts = Counter(r["state"] for r in rows)
    console.print(", ".join(f"{state} {counts.get(state, 0)}" for state in ("done", "running", "interrupted", "failed", "pending")))


def register_extensions() -> None:
    """Commands that live beside their subsystems (analysis, mazes, tuning), registered when present."""
    import importlib

    for module, attribute, name, kind in (
        ("harness.analysis.cli", "report_command", "report", "command"),
        ("harness.envs.maze.cli", "maze_app", "maze", "group"),
        ("harness.envs.maze.cli", "play_command", "play", "command"),
        ("harness.tune_cli", "tune_command", "tune", "command"),
        ("plugins.pbt.cli", "pbt_command", "pbt", "command"),
    ):
        try:
            target = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError):
            continue
        if kind == "group":
            app.add_typer(target, name=name)
        else:
            app.command(name)(user_errors(target))


register_extensions()


def main() -> None:
    try:
        app()
    except UserError as err:  # raised outside a command (e.g. while registering)
        errors.print(f"[bold red]error:[/] {err}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
