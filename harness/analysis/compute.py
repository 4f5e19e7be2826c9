"""From study data to every number of a report: final scores, aggregates, profiles, curves.

Which runs count where: tables, aggregates, profiles, probability of improvement and IQM curves use
``done`` runs only (their last evaluation row is the final score); per-task learning curves also show
unfinished runs, and the tables say how many were left out. All CIs are 95% percentile bootstraps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from harness.analysis import curves, stats
from harness.analysis.load import StudyData, final_rows
from harness.analysis.normalize import Normalization
from harness.errors import UserError

CURVE_REPS = 2_000  # curves, profiles and probabilities of improvement (rliable's choice for them)
IQM_CURVE_POINTS = 50  # each point costs a 2,000-replicate IQM over every run


@dataclass
class Results:
    """The numbers of a report; tables and figures only format them."""

    algorithms: list[str]
    tasks: list[str]
    x: str                                  # env_steps or frames: the x axis of curves
    per_task: pd.DataFrame                  # task, algorithm, protocol, runs, unfinished, mean, ci_low, ci_high, ...
    aggregate_tasks: list[str]
    excluded: dict[str, str]                # task → why it is not in aggregates
    aggregates: pd.DataFrame = field(default_factory=pd.DataFrame)  # algorithm, metric, value, ci_low, ci_high
    poi: pd.DataFrame = field(default_factory=pd.DataFrame)         # x, y, value, ci_low, ci_high
    profiles: pd.DataFrame = field(default_factory=pd.DataFrame)    # algorithm, tau, value, ci_low, ci_high
    iqm_curves: pd.DataFrame = field(default_factory=pd.DataFrame)  # algorithm, <x>, value, ci_low, ci_high
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)      # algorithm, task, <x>, value, ci_low, ci_high, runs
    gamma: pd.DataFrame = field(default_factory=pd.DataFrame)       # algorithm, task, seed, <x>, gamma


def check_protocols(data: StudyData, allow_mixed: bool) -> None:
    """Runs of one task in the study must share one protocol fingerprint (baselines are stated instead)."""
    own = data.runs[data.runs["source"] == "study"]
    mixed = own.groupby("task")["protocol"].nunique()
    mixed = mixed[mixed > 1]
    if len(mixed) and not allow_mixed:
        detail = "; ".join(
            f"{task}: " + ", ".join(f"{fp} ({n} runs)" for fp, n in
                                    own[own["task"] == task]["protocol"].value_counts().items())
            for task in mixed.index)
        raise UserError(f"runs of the same task were produced under different evaluation protocols ({detail}); "
                        f"their scores do not compare. Re-run under one protocol, or pass "
                        f"--allow-mixed-protocols to report them together (each number then names its protocol)")


def compute(data: StudyData, norm: Normalization, reps: int = 50_000, seed: int = 0,
            curve_reps: int = CURVE_REPS) -> Results:
    algorithms = _algorithm_order(data)
    tasks = sorted(data.runs["task"].unique())
    x = "frames" if (data.runs["family"] == "atari").all() else "env_steps"
    done = data.metrics[data.metrics["state"] == "done"]
    if done.empty:
        states = data.runs["state"].value_counts().to_dict()
        raise UserError(f"no finished run to report yet (runs by state: {states}); final scores need runs "
                        f"in state 'done'")
    finals = final_rows(done)
    per_task = _per_task(data, finals, norm, reps, seed)
    results = Results(algorithms, tasks, x, per_task, [], dict(norm.excluded))
    results.curves = _task_curves(data.metrics, x, curve_reps, seed)
    results.gamma = _gamma(data.metrics, x)
    if norm.method == "none":
        return results
    ranked = [a for a in algorithms if a in set(finals["algorithm"])]  # algorithms with a finished run
    present = finals.groupby("task")["algorithm"].nunique()
    agg_tasks = [t for t in norm.tasks if present.get(t, 0) == len(ranked)]
    for task in norm.tasks:
        if task not in agg_tasks:
            results.excluded[task] = "not every algorithm has a finished run"
    results.aggregate_tasks = agg_tasks
    if not agg_tasks:
        return results
    finals = finals[finals["task"].isin(agg_tasks)]
    finals = finals.assign(score=norm.apply(finals))
    scores = {a: _task_scores(finals[finals["algorithm"] == a]) for a in ranked}
    results.aggregates = _aggregates(scores, reps, seed)
    results.poi = _poi(ranked, scores, curve_reps, seed)
    results.profiles = _profiles(scores, curve_reps, seed)
    runs = data.metrics[data.metrics["task"].isin(agg_tasks) & (data.metrics["state"] == "done")]
    results.iqm_curves = _iqm_curves(runs.assign(score=norm.apply(runs)), x, curve_reps, seed)
    return results


def _algorithm_order(data: StudyData) -> list[str]:
    """The study's algorithms (sorted), then the baselines: the order of colours and rows everywhere."""
    runs = data.runs
    own = sorted(runs.loc[runs["source"] == "study", "algorithm"].unique())
    others = sorted(set(runs["algorithm"]) - set(own))
    return own + others


def _task_scores(finals: pd.DataFrame) -> stats.TaskScores:
    return stats.TaskScores.from_dict({t: g["score"].to_numpy() for t, g in finals.groupby("task")})


def _per_task(data: StudyData, finals: pd.DataFrame, norm: Normalization, reps: int, seed: int) -> pd.DataFrame:
    ref = norm.table.set_index("task")
    table = data.runs.groupby(["task", "algorithm"], sort=True).agg(
        protocol=("protocol", lambda p: "+".join(sorted(set(p)))),
        unfinished=("state", lambda s: int((s != "done").sum()))).reset_index()
    by_cell = {key: g["return_mean"].to_numpy(dtype=float) for key, g in finals.groupby(["task", "algorithm"])}
    table["runs"] = [len(by_cell.get((t, a), ())) for t, a in zip(table["task"], table["algorithm"])]
    for column in ("mean", "ci_low", "ci_high", "normalized"):
        table[column] = np.nan
    # cells with the same number of runs share one bootstrap draw (each CI is still a plain bootstrap CI)
    for n in sorted({len(v) for v in by_cell.values()}):
        cells = [(k, v) for k, v in by_cell.items() if len(v) == n]
        mean, low, high = stats.mean_cis(np.stack([v for _, v in cells]), reps, stats.rng_for(seed, "task", str(n)))
        index = pd.MultiIndex.from_tuples([k for k, _ in cells])
        rows = table.set_index(["task", "algorithm"]).index.get_indexer(index)
        table.loc[rows, "mean"], table.loc[rows, "ci_low"], table.loc[rows, "ci_high"] = mean, low, high
    low = table["task"].map(ref["low"]) if len(ref) else np.nan
    high = table["task"].map(ref["high"]) if len(ref) else np.nan
    table["normalized"] = (table["mean"] - low) / (high - low)
    return table[["task", "algorithm", "protocol", "runs", "unfinished", "mean", "ci_low", "ci_high", "normalized"]]


def _aggregates(scores: dict[str, stats.TaskScores], reps: int, seed: int) -> pd.DataFrame:
    rows = []
    for algorithm, s in scores.items():
        for metric, est in stats.aggregate_estimates(s, reps, stats.rng_for(seed, "aggregate", algorithm)).items():
            rows.append({"algorithm": algorithm, "metric": metric, "value": est.value, "ci_low": est.low,
                         "ci_high": est.high, "tasks": len(s.tasks), "runs": int(s.sizes.sum())})
    return pd.DataFrame(rows)


def _poi(algorithms: list[str], scores: dict[str, stats.TaskScores], reps: int, seed: int) -> pd.DataFrame:
    counts = {a: stats.resample_counts(scores[a], reps, stats.rng_for(seed, "poi", a)) for a in algorithms}
    rows = []
    for a, b in combinations(algorithms, 2):
        est = stats.probability_of_improvement(scores[a], scores[b], counts[a], counts[b])
        rows.append({"x": a, "y": b, "value": est.value, "ci_low": est.low, "ci_high": est.high})
        rows.append({"x": b, "y": a, "value": 1 - est.value, "ci_low": 1 - est.high, "ci_high": 1 - est.low})
    return pd.DataFrame(rows, columns=["x", "y", "value", "ci_low", "ci_high"])


def profile_taus(scores: dict[str, stats.TaskScores], points: int = 101) -> np.ndarray:
    """From min(0, lowest score) to the 95th percentile of all scores (at least 1): the informative range."""
    pooled = np.concatenate([s.values for s in scores.values()])
    low = min(0.0, float(np.min(pooled)))
    high = max(1.0, float(np.percentile(pooled, 95)) * 1.05)
    return np.linspace(low, high, points)


def _profiles(scores: dict[str, stats.TaskScores], reps: int, seed: int) -> pd.DataFrame:
    taus = profile_taus(scores)
    frames = []
    for algorithm, s in scores.items():
        point, low, high = stats.performance_profile(s, taus, reps, stats.rng_for(seed, "profile", algorithm))
        frames.append(pd.DataFrame({"algorithm": algorithm, "tau": taus, "value": point, "ci_low": low,
                                    "ci_high": high}))
    return pd.concat(frames, ignore_index=True)


def _task_curves(metrics: pd.DataFrame, x: str, reps: int, seed: int) -> pd.DataFrame:
    """Mean return per (algorithm, task) at each evaluated step, with a bootstrap CI over runs; NaN-aware.

    Replicates come from multinomial resampling counts (shared by the curves with the same number of
    runs), so the replicates of a curve are one einsum (not BLAS: its threads stall on a busy machine
    for matrices this small), and the percentiles of all curves are taken in one call.
    """
    groups = sorted(curves.split_runs(metrics, x, "return_mean").items())
    grids = [curves.grid_of(runs) for _, runs in groups]
    counts: dict[int, np.ndarray] = {}
    pending, lows, highs, means, covered = [], [], [], [], []
    for i, ((_, runs), grid) in enumerate(zip(groups, grids)):
        values = curves.on_grid(runs, grid)
        n = values.shape[1]
        if n not in counts:
            draw = stats.rng_for(seed, "curve", str(n)).multinomial(n, np.full(n, 1.0 / n), size=reps)
            counts[n] = draw.astype(np.float32)
        valid = ~np.isnan(values)
        filled = np.where(valid, values, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            pending.append(np.einsum("rn,gn->rg", counts[n], filled.astype(np.float32))
                           / np.einsum("rn,gn->rg", counts[n], valid.astype(np.float32)))
            means.append(filled.sum(axis=1) / valid.sum(axis=1))
        covered.append(valid.sum(axis=1))
        if sum(p.size for p in pending) > stats.CHUNK_ELEMENTS or i == len(groups) - 1:
            low, high = _percentiles(np.concatenate(pending, axis=1))
            lows.append(low)
            highs.append(high)
            pending = []
    low, high = np.concatenate(lows), np.concatenate(highs)
    sizes = [g.size for g in grids]
    return pd.DataFrame({"algorithm": np.repeat([k[0] for k, _ in groups], sizes),
                         "task": np.repeat([k[1] for k, _ in groups], sizes), x: np.concatenate(grids),
                         "value": np.concatenate(means), "ci_low": low, "ci_high": high,
                         "runs": np.concatenate(covered)})


def _percentiles(replicates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile interval per column; NaN replicates (no resampled run reached the point) ignored."""
    if np.isnan(replicates).any():
        return tuple(np.nanpercentile(replicates, [2.5, 97.5], axis=0))
    return tuple(np.percentile(replicates, [2.5, 97.5], axis=0))


def _iqm_curves(metrics: pd.DataFrame, x: str, reps: int, seed: int) -> pd.DataFrame:
    """IQM of normalized scores over the steps every run of an algorithm reached (done runs only)."""
    by_algorithm: dict[str, dict[str, list[curves.Run]]] = {}
    for (algorithm, task), runs in curves.split_runs(metrics, x, "score").items():
        by_algorithm.setdefault(algorithm, {})[task] = runs
    frames = []
    for algorithm, tasks in sorted(by_algorithm.items()):
        every = [r for runs in tasks.values() for r in runs]
        grid = curves.grid_of(every, low=max(r.x[0] for r in every), high=min(r.x[-1] for r in every),
                              limit=IQM_CURVE_POINTS)
        if grid.size == 0:
            continue
        scores = stats.TaskScores.from_dict({t: curves.on_grid(runs, grid) for t, runs in tasks.items()})
        point, low, high = stats.iqm_curve(scores, reps, stats.rng_for(seed, "iqm-curve", algorithm))
        frames.append(pd.DataFrame({"algorithm": algorithm, x: grid, "value": point, "ci_low": low,
                                    "ci_high": high}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _gamma(metrics: pd.DataFrame, x: str) -> pd.DataFrame:
    """The meta-learned discount ``train/gamma`` over training, where runs log it."""
    if "train/gamma" not in metrics.columns:
        return pd.DataFrame()
    rows = metrics.dropna(subset=["train/gamma"])
    return rows[["algorithm", "task", "seed", "run_id", x, "train/gamma"]].rename(columns={"train/gamma": "gamma"})
