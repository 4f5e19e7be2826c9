"""The ``harness report`` command, as a plain typer-compatible function.

Importing this module is cheap (no pandas, matplotlib or seaborn): the CLI imports it at start-up and
the heavy analysis stack loads only when a report is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def report_command(
    study: Annotated[str, typer.Argument(help="Study name under the results root, or a baseline alone, "
                                              "e.g. 'dopamine:DQN,Rainbow'.")],
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: RESULTS/STUDY/report).")] = None,
    results: Annotated[Path, typer.Option(help="Results root holding the study's run folders.")] = Path("results"),
    baselines: Annotated[str, typer.Option(help="Published baselines to add, e.g. 'dopamine:DQN,Rainbow' "
                                                "(Dopamine variants: dopamine/CNN:..., dopamine/Impala:...); "
                                                "several separated by ';'.")] = "",
    allow_mixed_protocols: Annotated[bool, typer.Option(help="Report runs of one task made under different "
                                                             "evaluation protocols together.")] = False,
    reps: Annotated[int, typer.Option(help="Bootstrap replicates for aggregate CIs.")] = 50000,
    normalization: Annotated[str, typer.Option(help="auto | reference | minmax | none.")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap (reports are reproducible).")] = 0,
) -> None:
    """Write tables, figures, report.md and a LaTeX main.tex for a study; print per-task final scores."""
    from harness.analysis.report import build_report, default_out

    target = out if out is not None else default_out(results, study)
    report = build_report(results, study, target, baselines=[b for b in baselines.split(";") if b.strip()],
                          allow_mixed_protocols=allow_mixed_protocols, reps=reps, seed=seed,
                          normalization=normalization)
    typer.echo(report.summary)
