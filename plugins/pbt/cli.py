"""``harness pbt``: train a population of any algorithm on one task; resumable at any point."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def pbt_command(
    suite: str = typer.Argument(..., help="A suite name or file."),
    algo: str = typer.Option(..., "--algo", "-a", help="The algorithm whose population trains."),
    task: str = typer.Option("", help="Task id (default: the suite's first task)."),
    study: str = typer.Option("", help="Study name (default: SUITE-ALGO-pbt)."),
    population: int = typer.Option(8, help="Members trained at once."),
    interval: int = typer.Option(10_000, help="Steps between exploit/explore rounds (perturbation_interval)."),
    quantile: float = typer.Option(0.25, help="Bottom/top fraction that exploits/is exploited."),
    resample: float = typer.Option(0.25, help="Probability of resampling a hyperparameter instead of perturbing it."),
    budget: Optional[int] = typer.Option(None, help="Steps per member (default: the task's budget)."),
    seed: int = typer.Option(0, help="Base seed: member i uses seed+i; decisions are seeded by it."),
    workers: int = typer.Option(2, help="Members trained in parallel."),
    fixed_hyperparameters: bool = typer.Option(False, "--fixed", help="No exploit/explore: the baseline population."),
    set_: list[str] = typer.Option([], "--set", help="Hyperparameter held fixed, KEY=VALUE (repeatable)."),
    results: Path = typer.Option(Path("results"), help="Results root folder."),
    backend: str = typer.Option("local", help="local (processes) or ray."),
    address: str = typer.Option("", help="Ray cluster address (with --backend ray)."),
) -> None:
    """Population-based training; lineage and hyperparameter schedules in STUDY/pbt/lineage.json."""
    from rich.console import Console

    from harness.cli import parse_assignments
    from harness.suite import load_suite
    from plugins.pbt.driver import PBTConfig, PBTJob, run_population

    task_id = task or load_suite(suite).tasks[0].id
    name = study or f"{Path(suite).stem}-{algo}-pbt"
    job = PBTJob(suite=suite, task=task_id, study=name, root=results, seed=seed, budget=budget,
                 pbt=PBTConfig(algorithm=algo, population=population, perturbation_interval=interval,
                               quantile=quantile, resample_probability=resample, workers=workers),
                 fixed=parse_assignments(set_), exploit=not fixed_hyperparameters, backend=backend,
                 address=address or None)
    lineage = run_population(job)
    console = Console()
    console.print(f"{len(lineage['exploits'])} exploits; best member {lineage['best_member']} "
                  f"scored {lineage['best_score']}; lineage in {job.folder / 'lineage.json'}")


if __name__ == "__main__":
    typer.run(pbt_command)
