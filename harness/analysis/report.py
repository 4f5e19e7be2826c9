"""``harness report``: a study (and optional published baselines) → report.md, tables, figures, main.tex.

The report states, next to every number, which runs produced it (finished runs only in tables), under
which protocol, and how scores were normalized; the normalization table is written with it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from harness.analysis import plots
from harness.analysis.baselines import BaselineSpec, align_to_study, load_baselines
from harness.analysis.compute import Results, check_protocols, compute
from harness.analysis.lineage import CAPTIONS as PBT_CAPTIONS, lineage_figures
from harness.analysis.load import StudyData, load_study_data
from harness.analysis.normalize import Normalization, choose_normalization
from harness.analysis.paper import write_main_tex
from harness.analysis.tables import Table, aggregate_table, fmt, fmt_ci, per_task_table, poi_table, reference_table
from harness.errors import UserError


@dataclass
class Report:
    path: Path          # report.md
    summary: str        # the text the CLI prints
    results: Results
    normalization: Normalization
    files: list[Path]
    timings: dict[str, float]  # seconds per phase: load, statistics, tables, figures


def is_baseline_spec(study: str) -> bool:
    return study.lower().split(":")[0].split("/")[0] == "dopamine" and ":" in study


def load_sources(results_root: Path, study: str, baselines: list[str]) -> StudyData:
    """The study's runs plus the requested baselines (renamed to the study's tasks); or baselines alone."""
    if is_baseline_spec(study):
        return load_baselines([study, *baselines])
    data = load_study_data(results_root, study)
    if baselines:
        data = StudyData.concat([data, align_to_study(load_baselines(baselines), data)])
    return data


def write_report(results_root: Path, study: str, out: Path, baselines: list[str] = [],
                 allow_mixed_protocols: bool = False, reps: int = 50_000, seed: int = 0,
                 normalization: str = "auto") -> Path:
    """Write the report into ``out`` and return the path of ``report.md`` (the summary is ``summary.txt``)."""
    return build_report(results_root, study, out, baselines, allow_mixed_protocols, reps, seed, normalization).path


def build_report(results_root: Path, study: str, out: Path, baselines: list[str] = (),
                 allow_mixed_protocols: bool = False, reps: int = 50_000, seed: int = 0,
                 normalization: str = "auto") -> Report:
    if reps < 1:
        raise UserError(f"--reps must be a positive number of bootstrap replicates, got {reps}")
    baselines = [b for b in baselines if b.strip()]
    clock = _Clock()
    data = load_sources(Path(results_root), study, list(baselines))
    check_protocols(data, allow_mixed_protocols)
    norm = choose_normalization(data, normalization)
    clock.lap("load")
    results = compute(data, norm, reps=reps, seed=seed)
    clock.lap("statistics")
    out = Path(out)
    tables_dir, figures_dir = out / "tables", out / "figures"
    note = protocol_note(data)
    tables = [per_task_table(results, note)]
    if not results.aggregates.empty:
        tables.append(aggregate_table(results, norm.label, reps, note))
        if len(results.poi):
            tables.append(poi_table(results))
    if not norm.table.empty:
        tables.append(reference_table(norm.table, norm.label))
    files = [p for t in tables for p in t.write(tables_dir)]
    clock.lap("tables")
    figures = _figures(results, norm, figures_dir)
    if not is_baseline_spec(study):
        figures.update(lineage_figures(Path(results_root) / study, figures_dir))
    clock.lap("figures")
    files += [p for paths in figures.values() for p in paths]
    summary = summarize(study, data, results, norm, out)
    report_md = out / "report.md"
    report_md.write_text(_markdown(study, data, results, norm, tables, figures, reps, seed, summary))
    (out / "summary.txt").write_text(summary + "\n")
    files += [report_md, out / "summary.txt", write_main_tex(out, study, tables, figures, norm.label)]
    return Report(report_md, summary, results, norm, files, clock.laps)


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now


def _figures(results: Results, norm: Normalization, folder: Path) -> dict[str, list[Path]]:
    colours = plots.palette(results.algorithms)
    figures = {"learning_curves": plots.learning_curves(results, colours, folder)}
    if not results.aggregates.empty:
        figures["aggregate_metrics"] = plots.aggregate_intervals(results, colours, norm.short, folder)
        figures["performance_profiles"] = plots.performance_profiles(results, colours, norm.short, folder)
        if len(results.poi):
            figures["probability_of_improvement"] = plots.probability_of_improvement(results, folder)
        if not results.iqm_curves.empty:
            figures["sample_efficiency"] = plots.sample_efficiency(results, colours, norm.short, folder)
    if not results.gamma.empty:
        figures["gamma"] = plots.gamma_curves(results, colours, folder)
    return figures


def protocol_note(data: StudyData) -> str:
    """One sentence for captions: which protocol produced which numbers."""
    runs = data.runs
    own = runs[runs["source"] == "study"]
    parts = []
    if len(own):
        fps = sorted(own["protocol"].dropna().unique())
        parts.append(f"Study runs: protocol fingerprint{'s' if len(fps) > 1 else ''} {', '.join(fps)} "
                     f"(separate evaluation episodes; settings in report.md).")
    if (runs["source"] == "baseline").any():
        parts.append("Dopamine baselines: a different protocol (sticky actions p = 0.25 as in Machado et al. 2018; "
                     "scores are mean training-episode returns per 1M-frame iteration, not evaluation returns).")
    return " ".join(parts)


def summarize(study: str, data: StudyData, results: Results, norm: Normalization, out: Path) -> str:
    """Per-task final scores (mean and 95% bootstrap CI over finished runs), then aggregates."""
    states = data.runs["state"].value_counts()
    lines = [f"Study {study}: {len(data.runs)} runs (" + ", ".join(f"{n} {s}" for s, n in states.items()) + ")",
             "Final score per task (last evaluation of each finished run"
             + ("; baselines: last iteration's training return" if (data.runs["source"] == "baseline").any() else "")
             + "): mean [95% bootstrap CI] over runs"]
    width = max(len(t) for t in results.tasks)
    alg_width = max(len(a) for a in results.algorithms)
    for row in results.per_task.itertuples():
        if row.runs == 0:
            text = f"no finished run ({row.unfinished} unfinished)"
        else:
            text = f"{fmt_ci(row.mean, row.ci_low, row.ci_high, row.runs)}  ({row.runs} runs)"
        lines.append(f"  {row.task:<{width}}  {row.algorithm:<{alg_width}}  {text}")
    if not results.aggregates.empty:
        lines.append(f"Aggregates over {len(results.aggregate_tasks)} tasks, {norm.label}:")
        for algorithm, group in results.aggregates.groupby("algorithm", sort=False):
            cells = ", ".join(f"{r.metric} {fmt_ci(r.value, r.ci_low, r.ci_high)}" for r in group.itertuples())
            lines.append(f"  {algorithm:<{alg_width}}  {cells}")
    elif norm.method == "none":
        lines.append("No aggregates: normalization disabled.")
    else:
        lines.append("No aggregates: no task can be normalized with a finished run of every algorithm.")
    if results.excluded:
        lines.append("Not in aggregates: " + "; ".join(f"{t} ({w})" for t, w in sorted(results.excluded.items())))
    lines.append(f"Report: {out / 'report.md'}")
    return "\n".join(lines)


def _markdown(study: str, data: StudyData, results: Results, norm: Normalization, tables: list[Table],
              figures: dict[str, list[Path]], reps: int, seed: int, summary: str) -> str:
    def figure(name: str, caption: str) -> list[str]:
        if name not in figures:
            return []
        return [f"![{name}](figures/{name}.png)", "", f"*Figure: {caption}* ([PDF](figures/{name}.pdf))", ""]

    unfinished = data.runs[data.runs["state"] != "done"]
    lines = [f"# Report: {study}", "",
             f"{len(data.runs)} runs, {len(results.algorithms)} algorithms, {len(results.tasks)} tasks. "
             f"Bootstrap: {reps:,} replicates for aggregates and per-task CIs, 2,000 for curves, profiles "
             f"and probabilities of improvement; seed {seed} (the report is reproducible).", "",
             "## Summary", "", "```", summary, "```", "",
             "## Which runs count", "",
             "The final score of a run is its last evaluation. Tables, aggregates, performance profiles, "
             "probabilities of improvement and IQM curves use finished (`done`) runs only; the per-task "
             "learning curves also show unfinished runs.", ""]
    if len(unfinished):
        lines += ["Unfinished runs (left out of tables):", "", "| run | algorithm | task | seed | state |",
                  "|---|---|---|--:|---|"]
        lines += [f"| {r.run_id} | {r.algorithm} | {r.task} | {r.seed} | {r.state} |" for r in unfinished.itertuples()]
        lines.append("")
    lines += ["## Protocols", "", protocol_note(data), "", "| protocol | algorithms | tasks |", "|---|---|---|"]
    for fp, group in data.runs.groupby("protocol", sort=True):
        tasks = sorted(group["task"].unique())
        shown = ", ".join(tasks[:8]) + (f", … ({len(tasks)} tasks)" if len(tasks) > 8 else "")
        lines.append(f"| `{fp}` | {', '.join(sorted(group['algorithm'].unique()))} | {shown} |")
    lines += ["", "<details><summary>Protocol settings</summary>", "", "```json",
              json.dumps(data.protocols, indent=1, sort_keys=True, default=str), "```", "</details>", "",
              "## Normalization", "", f"{norm.label}.", ""]
    if norm.method == "minmax":
        lines += ["No task declares reference scores, so aggregates use min-max normalization over this report's "
                  "own evaluations: a fallback that ranks the algorithms here but does not compare with other "
                  "studies. Declare `reference = { low = ..., high = ... }` per task in the suite to fix it.", ""]
    lines += ["## Tables", ""]
    for table in tables:
        lines += [table.markdown(), f"Files: `tables/{table.name}.md`, `.csv`, `.tex`", ""]
    lines += ["## Figures", ""]
    baseline_note = (" Baselines: training-episode returns." if (data.runs["source"] == "baseline").any() else "")
    lines += figure("learning_curves", "mean evaluation return over training per task, 95% bootstrap band over "
                                       "runs (unfinished runs included)." + baseline_note)
    lines += figure("aggregate_metrics", f"aggregate {norm.label} scores with 95% stratified bootstrap CIs "
                                         f"(bars) and point estimates (black ticks).")
    lines += figure("performance_profiles", "fraction of runs whose normalized score exceeds τ, with 95% "
                                            "bootstrap bands.")
    lines += figure("probability_of_improvement", "probability that a run of the row algorithm beats a run of "
                                                  "the column algorithm on a random task.")
    lines += figure("sample_efficiency", "IQM of normalized scores over training (finished runs; the range "
                                         "every run reached), with 95% stratified bootstrap bands.")
    lines += figure("gamma", "the meta-learned discount γ (`train/gamma`) over training, one line per run.")
    if "pbt_lineage" in figures:
        lines += ["## Population-based training", "", "From `pbt/lineage.json`; the data behind both figures: "
                  "`figures/pbt_lineage.csv` (exploits) and `figures/pbt_schedules.csv` (schedules).", ""]
        lines += figure("pbt_lineage", PBT_CAPTIONS["pbt_lineage"]) + figure("pbt_schedules", PBT_CAPTIONS["pbt_schedules"])
    lines += ["## Statistics", "",
              "IQM: mean of the middle 50% of all run scores pooled over tasks. Median and mean: over per-task "
              "mean scores. Optimality gap: 1 − mean of min(score, 1) (lower is better). CIs: 95% percentile "
              "bootstrap, resampling runs with replacement within each task (stratified), as recommended by "
              "Agarwal et al. (2021), *Deep RL at the Edge of the Statistical Precipice*.", ""]
    return "\n".join(lines)


def default_out(results_root: Path, study: str) -> Path:
    """``results/<study>/report``; baselines-only reports go to ``results/<source>-report``."""
    if is_baseline_spec(study):
        return Path(results_root) / (BaselineSpec.parse(study).source + "-report")
    return Path(results_root) / study / "report"

