"""PBT figures of a report: the population's lineage and every member's hyperparameter schedule.

Read from ``STUDY/pbt/lineage.json`` (written by ``plugins.pbt``). The data behind each figure is
saved next to it as CSV (``pbt_lineage.csv``: one row per exploit; ``pbt_schedules.csv``: one row per
member, hyperparameter and change), so a reader can check a figure against the lineage or re-plot it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from harness.analysis import plots
from harness.analysis.plots import FULL_WIDTH, SINGLE_COLUMN, paper_style, plt

CAPTIONS = {
    "pbt_lineage": "PBT lineage: one row per member, coloured by its evaluation score at the end of each round; "
                   "an arrow from donor to recipient at each exploit (the recipient copied the donor's checkpoint "
                   "at that step, then explored its hyperparameters).",
    "pbt_schedules": "PBT hyperparameter schedules: each member's hyperparameters over training steps (inherited "
                     "from its donors at each exploit), one line per member.",
}


def load_lineage(study_folder: Path) -> dict[str, Any] | None:
    path = Path(study_folder) / "pbt" / "lineage.json"
    return json.loads(path.read_text()) if path.exists() else None


def exploit_edges(lineage: Mapping[str, Any]) -> pd.DataFrame:
    """One row per exploit: the step, donor and recipient members, and their scores then."""
    columns = ["round", "step", "donor", "recipient", "donor_score", "recipient_score"]
    return pd.DataFrame([{k: item[k] for k in columns} for item in lineage["exploits"]], columns=columns)


def member_scores(lineage: Mapping[str, Any]) -> pd.DataFrame:
    """One row per (round, member): the member's score at the end of the round."""
    interval = lineage["config"]["perturbation_interval"]
    return pd.DataFrame([{"round": r, "step": (r + 1) * interval, "member": m, "score": s}
                         for r, scores in enumerate(lineage["scores"]) for m, s in enumerate(scores)],
                        columns=["round", "step", "member", "score"])


def schedules(lineage: Mapping[str, Any]) -> pd.DataFrame:
    """One row per member, hyperparameter and schedule entry: the value in force from ``step`` on."""
    rows = [{"member": member["member"], "hyper": name, "step": entry["step"], "value": value}
            for member in lineage["members"] for entry in member["schedule"] for name, value in entry["hyper"].items()]
    return pd.DataFrame(rows, columns=["member", "hyper", "step", "value"])


def budget(lineage: Mapping[str, Any]) -> int:
    return len(lineage["scores"]) * lineage["config"]["perturbation_interval"]


def lineage_figure(lineage: Mapping[str, Any]) -> plt.Figure:
    members = len(lineage["members"])
    scores, edges, end = member_scores(lineage), exploit_edges(lineage), budget(lineage)
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, max(1.6, 0.3 * members + 0.8)))
    for member in range(members):
        ax.plot([0, end], [member, member], color="0.8", linewidth=0.8, zorder=1)
    points = ax.scatter(scores["step"], scores["member"], c=scores["score"], cmap="viridis", s=18, zorder=3)
    fig.colorbar(points, ax=ax, label="score", pad=0.01)
    for edge in edges.itertuples():
        ax.annotate("", xy=(edge.step, edge.recipient), xytext=(edge.step, edge.donor), zorder=2,
                    arrowprops={"arrowstyle": "->", "color": "tab:red", "linewidth": 0.9,
                                "connectionstyle": "arc3,rad=0.25"})
    ax.set_xlim(0, end * 1.02)
    ax.set_yticks(range(members))
    ax.set_ylim(-0.6, members - 0.4)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("member")
    ax.xaxis.set_major_formatter(plots.matplotlib.ticker.FuncFormatter(plots._compact))
    ax.set_title(f"{lineage['algorithm']} on {lineage['task']}: {len(edges)} exploits")
    return fig


def schedule_figure(lineage: Mapping[str, Any]) -> plt.Figure:
    table, end = schedules(lineage), budget(lineage)
    names = list(dict.fromkeys(table["hyper"])) or ["(none)"]
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(FULL_WIDTH if cols > 1 else SINGLE_COLUMN, 1.7 * rows),
                             squeeze=False)
    colours = plots.palette([str(m["member"]) for m in lineage["members"]])
    for ax, name in zip(axes.flat, names):
        for member, group in table[table["hyper"] == name].groupby("member"):
            steps, values = step_line(group, end)
            ax.plot(steps, values, drawstyle="steps-post", color=colours[str(member)], label=str(member))
        values = pd.to_numeric(table.loc[table["hyper"] == name, "value"], errors="coerce")
        if (values > 0).all() and values.max() > 10 * values.min():
            ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("environment steps")
        ax.xaxis.set_major_formatter(plots.matplotlib.ticker.FuncFormatter(plots._compact))
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    axes.flat[0].legend(title="member", ncol=2, fontsize=6)
    fig.tight_layout()
    return fig


def step_line(group: pd.DataFrame, end: int) -> tuple[np.ndarray, np.ndarray]:
    """A member's schedule of one hyperparameter as a step line to the end of training."""
    group = group.sort_values("step", kind="stable").drop_duplicates("step", keep="last")
    steps = np.append(group["step"].to_numpy(), end)
    values = group["value"].to_numpy()
    return steps, np.append(values, values[-1])


def lineage_figures(study_folder: Path, folder: Path) -> dict[str, list[Path]]:
    """The lineage and schedule figures (PNG, PDF) and their data (CSV), when the study ran PBT."""
    lineage = load_lineage(study_folder)
    if lineage is None:
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    edges = exploit_edges(lineage)
    edges.to_csv(folder / "pbt_lineage.csv", index=False)
    schedules(lineage).to_csv(folder / "pbt_schedules.csv", index=False)
    with paper_style():
        return {"pbt_lineage": plots.save(lineage_figure(lineage), folder, "pbt_lineage") + [folder / "pbt_lineage.csv"],
                "pbt_schedules": plots.save(schedule_figure(lineage), folder, "pbt_schedules")
                + [folder / "pbt_schedules.csv"]}
