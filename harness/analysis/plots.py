"""Figures of a report (matplotlib + seaborn): PDF for papers, PNG for reading; two-column-paper sizes.

One colour per algorithm, fixed for the whole report (the colour-blind-safe seaborn ``colorblind``
palette, in the report's algorithm order), 8-pt fonts, TrueType fonts embedded in PDFs.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from harness.analysis.compute import Results  # noqa: E402
from harness.analysis.stats import AGGREGATES  # noqa: E402

SINGLE_COLUMN = 3.25  # inches: one column of a two-column paper
FULL_WIDTH = 6.75     # inches: both columns
LINESTYLES = ("-", "--", ":", "-.")
STYLE = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
         "legend.fontsize": 7, "legend.frameon": False, "pdf.fonttype": 42, "ps.fonttype": 42,
         "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
         "grid.linewidth": 0.5, "lines.linewidth": 1.2, "savefig.dpi": 200}


def _compact(value: float, _pos: int | None = None) -> str:
    """Tick labels like 1.5k, 20k, 1.2M: no offset text to collide with panel titles."""
    for factor, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:g}{suffix}"
    return f"{value:g}"


COMPACT = matplotlib.ticker.FuncFormatter(_compact)


def palette(algorithms: list[str]) -> dict[str, tuple]:
    """Algorithm → colour, in report order (the same colour in every figure)."""
    colours = sns.color_palette("colorblind", n_colors=10)
    return {a: colours[i % len(colours)] for i, a in enumerate(algorithms)}


def linestyle(algorithms: list[str], algorithm: str) -> str:
    """Beyond 10 algorithms colours repeat; the line style tells them apart."""
    return LINESTYLES[(algorithms.index(algorithm) // 10) % len(LINESTYLES)]


@contextmanager
def paper_style() -> Iterator[None]:
    with plt.rc_context(STYLE):
        yield


def save(fig: plt.Figure, folder: Path, name: str, tight: bool = True) -> list[Path]:
    """PDF and PNG; ``tight=False`` for figures laid out by hand (a tight bounding box costs a full draw)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.pdf", folder / f"{name}.png"]
    for path in paths:
        fig.savefig(path, bbox_inches="tight" if tight else None)
    plt.close(fig)
    return paths


def x_axis(values: np.ndarray, x: str) -> tuple[float, str]:
    """Scale and label for steps or frames (millions or thousands where it helps)."""
    name = "Frames" if x == "frames" else "Environment steps"
    top = float(np.nanmax(values)) if len(values) else 0.0
    if top >= 1e6:
        return 1e6, f"{name} (millions)"
    if top >= 1e4:
        return 1e3, f"{name} (thousands)"
    return 1.0, name


def _legend(fig: plt.Figure, algorithms: list[str], colours: dict[str, tuple], top: float) -> None:
    handles = [plt.Line2D([], [], color=colours[a], linestyle=linestyle(algorithms, a), label=a)
               for a in algorithms]
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, top), ncol=min(len(algorithms), 4),
               borderaxespad=0.0)


def learning_curves(results: Results, colours: dict[str, tuple], folder: Path) -> list[Path]:
    """Mean evaluation return per task over training, with 95% bootstrap bands over runs."""
    curves = results.curves
    tasks = results.tasks
    algorithms = [a for a in results.algorithms if a in set(curves["algorithm"])]
    cols = 1 if len(tasks) == 1 else min(len(tasks), 4 if len(tasks) <= 16 else 6)
    rows = math.ceil(len(tasks) / cols)
    width = SINGLE_COLUMN if cols == 1 else FULL_WIDTH
    panel_h = 1.9 if cols <= 2 else (1.45 if cols <= 4 else 1.1)
    scale, label = x_axis(curves[results.x].to_numpy(), results.x)
    by_panel = dict(tuple(curves.groupby(["task", "algorithm"], sort=False)))
    many = rows * cols > 8  # lay out by hand: tight layout costs seconds per dozen panels
    legend_h, height = 0.3, panel_h * rows + 0.3
    with paper_style():
        fig, axes = plt.subplots(rows, cols, figsize=(width, height + (legend_h if many else 0)), squeeze=False)
        for ax, task in zip(axes.flat, tasks):
            for algorithm in algorithms:
                c = by_panel.get((task, algorithm))
                if c is None:
                    continue
                xs = c[results.x].to_numpy() / scale
                ax.plot(xs, c["value"].to_numpy(), color=colours[algorithm],
                        linestyle=linestyle(algorithms, algorithm))
                ax.fill_between(xs, c["ci_low"].to_numpy(), c["ci_high"].to_numpy(), color=colours[algorithm],
                                alpha=0.2, linewidth=0)
            ax.set_title(task)
            ax.yaxis.set_major_formatter(COMPACT)
            ax.locator_params(nbins=4)
        for ax in axes.flat[len(tasks):]:
            ax.set_visible(False)
        for ax in axes[-1, :]:
            ax.set_xlabel(label)
        for ax in axes[:, 0]:
            ax.set_ylabel("Return")
        if many:
            total = height + legend_h
            fig.subplots_adjust(left=0.5 / width, right=1 - 0.08 / width, bottom=0.42 / total,
                                top=1 - (legend_h + 0.2) / total, wspace=0.42, hspace=0.62)
            _legend(fig, algorithms, colours, 1 - legend_h / total)
            return save(fig, folder, "learning_curves", tight=False)
        fig.tight_layout(h_pad=0.6, w_pad=0.4)
        _legend(fig, algorithms, colours, 1.0)
        return save(fig, folder, "learning_curves")


def aggregate_intervals(results: Results, colours: dict[str, tuple], normalization: str, folder: Path) -> list[Path]:
    """Point estimates and 95% CIs of the four aggregates, one panel each (rliable's layout)."""
    agg = results.aggregates
    algorithms = [a for a in results.algorithms if a in set(agg["algorithm"])]
    height = 0.3 * len(algorithms) + 0.75
    with paper_style():
        fig, axes = plt.subplots(1, len(AGGREGATES), figsize=(FULL_WIDTH, height), sharey=True,
                                 layout="constrained")
        for ax, metric in zip(axes, AGGREGATES):
            sub = agg[agg["metric"] == metric].set_index("algorithm")
            for i, algorithm in enumerate(algorithms):
                r = sub.loc[algorithm]
                ax.barh(i, r["ci_high"] - r["ci_low"], left=r["ci_low"], height=0.6, color=colours[algorithm],
                        alpha=0.75)
                ax.vlines(r["value"], i - 0.3, i + 0.3, color="black", linewidth=1.2)
            ax.set_title(metric)
            ax.set_yticks(range(len(algorithms)), algorithms)
            ax.grid(axis="y", visible=False)
            ax.locator_params(axis="x", nbins=4)
            ax.use_sticky_edges = False  # bars would pin the axis limits to their left edge
            ax.margins(x=0.12)
        axes[0].set_ylim(len(algorithms) - 0.5, -0.5)  # first algorithm on top (axes share y)
        fig.supxlabel(_short(normalization), fontsize=8)
        return save(fig, folder, "aggregate_metrics")


def performance_profiles(results: Results, colours: dict[str, tuple], normalization: str,
                         folder: Path) -> list[Path]:
    """Fraction of runs scoring above τ, with 95% bootstrap bands."""
    profiles = results.profiles
    algorithms = [a for a in results.algorithms if a in set(profiles["algorithm"])]
    with paper_style():
        fig, ax = plt.subplots(figsize=(SINGLE_COLUMN, 2.3))
        for algorithm in algorithms:
            p = profiles[profiles["algorithm"] == algorithm]
            ax.plot(p["tau"], p["value"], color=colours[algorithm], linestyle=linestyle(algorithms, algorithm),
                    label=algorithm)
            ax.fill_between(p["tau"], p["ci_low"], p["ci_high"], color=colours[algorithm], alpha=0.2, linewidth=0)
        ax.set_xlabel(f"{_short(normalization)} τ")
        ax.set_ylabel("Fraction of runs with score > τ")
        ax.set_ylim(0, 1.02)
        ax.set_xlim(profiles["tau"].min(), profiles["tau"].max())
        ax.legend(loc="lower left")  # profiles fall from 1 to 0: the lower left stays empty
        fig.tight_layout()
        return save(fig, folder, "performance_profiles")


def probability_of_improvement(results: Results, folder: Path) -> list[Path]:
    """P(row > column) for every pair of algorithms."""
    poi = results.poi
    algorithms = [a for a in results.algorithms if a in set(poi["x"])]
    matrix = poi.pivot(index="x", columns="y", values="value").reindex(index=algorithms, columns=algorithms)
    size = max(SINGLE_COLUMN * 0.8, 0.55 * len(algorithms) + 1.4)
    with paper_style():
        fig, ax = plt.subplots(figsize=(min(size, FULL_WIDTH), min(size, FULL_WIDTH) * 0.8))
        with warnings.catch_warnings():  # seaborn's own use of a deprecated matplotlib call
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            sns.heatmap(matrix, ax=ax, vmin=0, vmax=1, cmap="RdBu_r", center=0.5, annot=True, fmt=".2f",
                        square=True, linewidths=0.5, cbar_kws={"shrink": 0.8}, annot_kws={"fontsize": 7})
        ax.set_title("P(X > Y): X = row, Y = column")
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(axis="x", rotation=30)
        plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
        ax.tick_params(axis="y", rotation=0)
        ax.grid(False)
        fig.tight_layout()
        return save(fig, folder, "probability_of_improvement")


def sample_efficiency(results: Results, colours: dict[str, tuple], normalization: str, folder: Path) -> list[Path]:
    """IQM of normalized scores over training, with 95% stratified bootstrap bands."""
    curves = results.iqm_curves
    algorithms = [a for a in results.algorithms if a in set(curves["algorithm"])]
    scale, label = x_axis(curves[results.x].to_numpy(), results.x)
    with paper_style():
        fig, ax = plt.subplots(figsize=(SINGLE_COLUMN, 2.3))
        for algorithm in algorithms:
            c = curves[curves["algorithm"] == algorithm]
            xs = c[results.x].to_numpy() / scale
            ax.plot(xs, c["value"], color=colours[algorithm], linestyle=linestyle(algorithms, algorithm),
                    label=algorithm)
            ax.fill_between(xs, c["ci_low"], c["ci_high"], color=colours[algorithm], alpha=0.2, linewidth=0)
        ax.set_xlabel(label)
        ax.set_ylabel(f"IQM {_short(normalization).lower()}")
        ax.legend(loc="best")
        fig.tight_layout()
        return save(fig, folder, "sample_efficiency")


def gamma_curves(results: Results, colours: dict[str, tuple], folder: Path) -> list[Path]:
    """The meta-learned discount γ (``train/gamma``) over training, one line per run."""
    gamma = results.gamma
    tasks = sorted(gamma["task"].unique())
    algorithms = [a for a in results.algorithms if a in set(gamma["algorithm"])]
    cols = min(len(tasks), 3)
    rows = math.ceil(len(tasks) / cols)
    scale, label = x_axis(gamma[results.x].to_numpy(), results.x)
    with paper_style():
        fig, axes = plt.subplots(rows, cols, figsize=(SINGLE_COLUMN if cols == 1 else FULL_WIDTH, 1.9 * rows + 0.3),
                                 squeeze=False)
        for ax, task in zip(axes.flat, tasks):
            for run_id, run in gamma[gamma["task"] == task].groupby("run_id"):
                algorithm = run["algorithm"].iloc[0]
                ax.plot(run[results.x] / scale, run["gamma"], color=colours[algorithm], alpha=0.8,
                        linestyle=linestyle(algorithms, algorithm), linewidth=0.9)
            ax.set_title(task)
            ax.set_xlabel(label)
        for ax in axes[:, 0]:
            ax.set_ylabel("γ (meta-learned)")
        for ax in axes.flat[len(tasks):]:
            ax.set_visible(False)
        fig.tight_layout()
        _legend(fig, algorithms, colours, 1.0)
        return save(fig, folder, "gamma")


def _short(normalization: str) -> str:
    """``human-normalized`` → ``Human-normalized score``."""
    return normalization[:1].upper() + normalization[1:] + " score"

