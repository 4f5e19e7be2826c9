"""The report on the shipped Dopamine data against an independent plain-pandas computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness.analysis.report import Report, build_report

REPO = Path(__file__).resolve().parent.parent
PARQUET = REPO / "results" / "baselines" / "dopamine_atari.parquet"
ATARI57 = REPO / "harness" / "analysis" / "atari57_reference_scores.csv"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    out = tmp_path_factory.mktemp("dopamine")
    return build_report(out / "results", "dopamine:DQN,Rainbow", out / "report", reps=500)


def independent_finals() -> pd.DataFrame:
    """Final iteration of every legacy DQN/Rainbow run, human-normalized, on the 55 Atari-57 games."""
    raw = pd.read_parquet(PARQUET)
    raw = raw[(raw["variant"] == "legacy") & raw["agent"].isin(["DQN", "Rainbow"])].astype({"game": str, "agent": str})
    last = raw.loc[raw.groupby(["agent", "game", "run"])["iteration"].idxmax()]
    refs = pd.read_csv(ATARI57)
    refs["game"] = refs["game"].str.replace("_", "")
    merged = last.merge(refs, on="game", how="inner")
    merged["score"] = (merged["value"] - merged["random"]) / (merged["human"] - merged["random"])
    return merged


def test_shipped_copy_has_every_row() -> None:
    raw = pd.read_parquet(PARQUET)
    assert len(raw) == 958_027
    assert raw["game"].nunique() == 60 and set(raw["variant"]) == {"legacy", "CNN", "Impala"}


def test_final_aggregates_equal_an_independent_computation(report: Report) -> None:
    finals = independent_finals()
    assert finals["game"].nunique() == 55
    aggregates = report.results.aggregates.set_index(["algorithm", "metric"])["value"]
    for agent in ("DQN", "Rainbow"):
        scores = finals[finals["agent"] == agent]
        per_game = scores.groupby("game")["score"].mean()
        label = f"{agent} (Dopamine)"
        assert aggregates[(label, "Median")] == pytest.approx(per_game.median(), rel=1e-12)
        assert aggregates[(label, "Mean")] == pytest.approx(per_game.mean(), rel=1e-12)
        assert aggregates[(label, "IQM")] == pytest.approx(sps.trim_mean(scores["score"], 0.25), rel=1e-12)
        gap = 1 - np.minimum(scores["score"], 1).mean()
        assert aggregates[(label, "Optimality gap")] == pytest.approx(gap, rel=1e-12)
    assert report.results.aggregates["tasks"].unique().tolist() == [55]
    assert aggregates[("Rainbow (Dopamine)", "IQM")] > aggregates[("DQN (Dopamine)", "IQM")]


def test_games_without_human_scores_are_named_not_silently_dropped(report: Report) -> None:
    assert set(report.results.excluded) == {"AirRaid", "Carnival", "ElevatorAction", "JourneyEscape", "Pooyan"}
    assert "AirRaid (no reference scores)" in report.summary
    per_task = report.results.per_task
    assert len(per_task) == 120 and per_task["mean"].notna().all()


def test_large_tables_and_every_figure_are_written(report: Report) -> None:
    out = report.path.parent
    assert "\\begin{longtable}" in (out / "tables" / "per_task.tex").read_text()
    for name in ("learning_curves", "aggregate_metrics", "performance_profiles", "probability_of_improvement",
                 "sample_efficiency"):
        assert (out / "figures" / f"{name}.pdf").stat().st_size > 5_000, name
    assert "human-normalized" in (out / "tables" / "aggregate.tex").read_text()
