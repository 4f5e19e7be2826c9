"""``harness tune``: an optuna study over a suite's tasks; heavy imports happen only when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def tune_command(
    suite: str = typer.Argument(..., help="A suite name or file: the tasks a trial trains on."),
    algo: str = typer.Option(..., "--algo", "-a", help="The algorithm to tune (see `harness list`)."),
    study: str = typer.Option("", help="Study name: the optuna study and the results folder (default: SUITE-ALGO-tune)."),
    trials: int = typer.Option(20, help="Trials in all (over every worker)."),
    parallel: int = typer.Option(1, help="Trials run at once, each in a worker process (or Ray task)."),
    seeds: int = typer.Option(1, help="Seeds 0..N-1 per task in every trial."),
    tasks: str = typer.Option("", help="Only these task ids, comma-separated."),
    budget: Optional[int] = typer.Option(None, help="Override every task's step budget per run."),
    pruner: str = typer.Option("median", help="median, hyperband or none (pruning on intermediate evaluations)."),
    storage: str = typer.Option("", help="optuna storage URL (default: sqlite:///RESULTS/STUDY/optuna.db); "
                                         "postgresql://..., mysql://..., journal:PATH."),
    space: Optional[Path] = typer.Option(None, help="TOML file whose [space] table overrides the plugin's search space."),
    set_: list[str] = typer.Option([], "--set", help="Hyperparameter held fixed in every trial, KEY=VALUE (repeatable)."),
    results: Path = typer.Option(Path("results"), help="Results root folder."),
    backend: str = typer.Option("local", help="Where trials run: local (processes) or ray."),
    address: str = typer.Option("", help="Ray cluster address (with --backend ray)."),
    sampler_seed: Optional[int] = typer.Option(None, help="Seed of the TPE sampler (reproducible suggestions)."),
) -> None:
    """Tune an algorithm's hyperparameters with optuna; export the best as a preset and a tuned suite."""
    from rich.console import Console

    from harness.cli import parse_assignments, parse_seeds, split
    from harness.tune import TuneConfig, export_best, run_study, trial_counts

    console = Console()
    name = study or f"{Path(suite).stem}-{algo}-tune"
    config = TuneConfig(suite=suite, algorithm=algo, study=name, root=results, tasks=tuple(split(tasks)),
                        seeds=tuple(parse_seeds(seeds, "")), trials=trials, parallel=parallel, pruner=pruner,
                        storage=storage, space_file=space, budget=budget, fixed=parse_assignments(set_),
                        sampler_seed=sampler_seed)
    console.print(f"optuna study [bold]{name}[/] at {config.storage_url}: {trials} trials, {parallel} at once")
    result = run_study(config, backend=backend, address=address or None)
    counts = trial_counts(result)
    console.print(", ".join(f"{state} {n}" for state, n in counts.items()))
    if counts["complete"] == 0:
        console.print("[red]no trial completed[/]")
        raise typer.Exit(1)
    best = result.best_trial
    console.print(f"best trial {best.number}: score {best.value:.4f} with {best.params}")
    preset, tuned = export_best(config, result)
    console.print(f"preset: {preset}\nsuite with it: {tuned}")
