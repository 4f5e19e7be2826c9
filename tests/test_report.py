"""`harness report` end to end on real run directories: the first report, baselines, protocols, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner
from test_analysis_helpers import make_run

from harness.analysis.cli import report_command
from harness.analysis.load import load_study
from harness.analysis.report import build_report, write_report
from harness.errors import UserError

REPS = 2_000


def first_study(root: Path) -> dict[tuple[str, int], list[float]]:
    """Two classic tasks × 3 seeds of one algorithm, no reference scores, one run still running."""
    rng = np.random.default_rng(0)
    curves = {}
    for task in ("CartPole-v1", "Acrobot-v1"):
        for seed in range(3):
            returns = list(np.cumsum(rng.uniform(0, 20, size=6)) * (1 if task == "CartPole-v1" else -1))
            state = "running" if (task, seed) == ("Acrobot-v1", 2) else "done"
            make_run(root, "first", "dqn", task, seed, returns[:4] if state == "running" else returns, state=state)
            curves[(task, seed)] = returns
    return curves


def table_files(out: Path) -> list[Path]:
    return sorted((out / "tables").glob("*.*"))


def test_load_study_reads_every_run_with_its_state(tmp_path: Path) -> None:
    first_study(tmp_path)
    metrics = load_study(tmp_path, "first")
    assert len(metrics) == 5 * 6 + 4
    assert set(metrics["state"]) == {"done", "interrupted"}  # "running" with no live process
    assert {"study", "algorithm", "task", "seed", "env_steps", "frames", "return_mean", "protocol"} <= set(metrics)


def test_first_report_small_study_without_references(tmp_path: Path) -> None:
    curves = first_study(tmp_path / "results")
    out = tmp_path / "out"
    report = build_report(tmp_path / "results", "first", out, reps=REPS)
    per_task = pd.read_csv(out / "tables" / "per_task.csv").set_index("task")
    for task, seeds in (("CartPole-v1", [0, 1, 2]), ("Acrobot-v1", [0, 1])):
        finals = [curves[(task, s)][-1] for s in seeds]
        assert per_task.at[task, "mean"] == pytest.approx(np.mean(finals))
        assert per_task.at[task, "runs"] == len(seeds)
        assert min(finals) <= per_task.at[task, "ci_low"] <= per_task.at[task, "mean"] <= per_task.at[task, "ci_high"]
        assert task in report.summary and f"{np.mean(finals):.1f}"[:3] in report.summary
    assert per_task.at["Acrobot-v1", "unfinished"] == 1
    assert report.normalization.method == "minmax"
    assert "min-max normalized" in report.summary
    for name in ("report.md", "summary.txt", "main.tex", "figures/learning_curves.png", "figures/learning_curves.pdf",
                 "tables/per_task.md", "tables/per_task.csv", "tables/per_task.tex"):
        assert (out / name).stat().st_size > 0, name
    text = (out / "report.md").read_text()
    assert "Unfinished runs (left out of tables)" in text and "interrupted" in text
    for path in table_files(out):
        assert "nan" not in path.read_text().lower(), path
    main = (out / "main.tex").read_text()
    for path in (out / "tables").glob("*.tex"):
        assert f"\\input{{tables/{path.stem}.tex}}" in main
    assert "figures/learning_curves.pdf" in main


def test_write_report_returns_report_md_and_is_reproducible(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for algorithm, shift in (("dqn", 0.0), ("ppo", 30.0)):
        for seed in range(3):
            make_run(tmp_path / "r", "two", algorithm, "CartPole-v1", seed, rng.uniform(0, 100, 5) + shift,
                     reference={"low": 22.0, "high": 500.0, "kind": "random-max", "source": "suite"})
    first = write_report(tmp_path / "r", "two", tmp_path / "a", reps=REPS, seed=3)
    write_report(tmp_path / "r", "two", tmp_path / "b", reps=REPS, seed=3)
    assert first == tmp_path / "a" / "report.md"
    a, b = (pd.read_csv(tmp_path / x / "tables" / "aggregate.csv") for x in "ab")
    pd.testing.assert_frame_equal(a, b)
    poi = pd.read_csv(tmp_path / "a" / "tables" / "probability_of_improvement.csv")
    forward = poi.set_index(["x", "y"])["value"]
    assert forward[("dqn", "ppo")] + forward[("ppo", "dqn")] == pytest.approx(1.0)
    tex = (tmp_path / "a" / "tables" / "aggregate.tex").read_text()
    assert "\\toprule" in tex and "\\textbf{" in tex and "reference-normalized" in tex
    for name in ("aggregate_metrics", "performance_profiles", "probability_of_improvement", "sample_efficiency"):
        assert (tmp_path / "a" / "figures" / f"{name}.png").exists(), name


def test_mixed_protocols_are_refused_unless_allowed(tmp_path: Path) -> None:
    make_run(tmp_path, "mixed", "dqn", "CartPole-v1", 0, [1.0, 2.0], fingerprint="aaaaaaaaaaaaaaaa")
    make_run(tmp_path, "mixed", "dqn", "CartPole-v1", 1, [1.0, 3.0], fingerprint="bbbbbbbbbbbbbbbb")
    with pytest.raises(UserError, match="different evaluation protocols.*CartPole-v1.*aaaaaaaaaaaaaaaa"):
        build_report(tmp_path, "mixed", tmp_path / "out", reps=REPS)
    report = build_report(tmp_path, "mixed", tmp_path / "out", reps=REPS, allow_mixed_protocols=True)
    assert report.results.per_task.iloc[0]["protocol"] == "aaaaaaaaaaaaaaaa+bbbbbbbbbbbbbbbb"
    assert "aaaaaaaaaaaaaaaa" in (tmp_path / "out" / "report.md").read_text()


def test_bad_input_gives_clear_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no study 'nothing'"):
        build_report(tmp_path, "nothing", tmp_path / "o")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="study 'empty' is empty"):
        build_report(tmp_path, "empty", tmp_path / "o")
    run = make_run(tmp_path, "broken", "dqn", "CartPole-v1", 0, [1.0])
    (run / "metrics.parquet").write_bytes(b"not parquet")
    with pytest.raises(UserError, match="metrics.parquet: metrics file is corrupted"):
        build_report(tmp_path, "broken", tmp_path / "o")
    make_run(tmp_path, "atari", "dqn", "ALE/Pong-v5", 0, [1.0], family="atari")
    make_run(tmp_path, "atari", "dqn", "ALE/NotAGame-v5", 0, [1.0], family="atari")
    with pytest.raises(UserError, match="these tasks have none: ALE/NotAGame-v5"):
        build_report(tmp_path, "atari", tmp_path / "o", normalization="reference")
    with pytest.raises(UserError, match="unknown Dopamine variant"):
        build_report(tmp_path, "atari", tmp_path / "o", baselines=["dopamine/Nature:DQN"])
    with pytest.raises(UserError, match="no agent 'PPO'"):
        build_report(tmp_path, "atari", tmp_path / "o", baselines=["dopamine:PPO"])
    make_run(tmp_path, "pending", "dqn", "CartPole-v1", 0, [1.0], state="running")
    with pytest.raises(UserError, match="no finished run"):
        build_report(tmp_path, "pending", tmp_path / "o")


def test_dopamine_baselines_join_an_atari_study_with_their_protocol_stated(tmp_path: Path) -> None:
    for task in ("ALE/Pong-v5", "ALE/Breakout-v5"):
        for seed in range(2):
            make_run(tmp_path, "atari", "dqn", task, seed, [-20.0, 5.0 + seed], every=250_000, family="atari",
                     frameskip=4)
    report = build_report(tmp_path, "atari", tmp_path / "out", baselines=["dopamine:DQN"], reps=REPS)
    per_task = report.results.per_task.set_index(["task", "algorithm"])
    pong = per_task.loc[("ALE/Pong-v5", "DQN (Dopamine)")]
    raw = pd.read_parquet(Path(__file__).resolve().parent.parent / "results/baselines/dopamine_atari.parquet")
    raw = raw[(raw["variant"] == "legacy") & (raw["agent"] == "DQN") & (raw["game"] == "pong")]
    last = raw.sort_values("iteration").groupby("run")["value"].last()
    assert pong["mean"] == pytest.approx(last.mean()) and pong["runs"] == 5
    assert pong["protocol"] == "dopamine-machado2018"
    assert set(report.results.tasks) == {"ALE/Pong-v5", "ALE/Breakout-v5"}
    assert report.normalization.label.startswith("human-normalized")
    text = (tmp_path / "out" / "report.md").read_text()
    assert "sticky actions p = 0.25" in text and "training-episode returns" in text
    curves = report.results.curves
    assert curves[curves["algorithm"] == "DQN (Dopamine)"]["frames"].max() == 198_000_000


def test_gamma_figure_when_runs_log_train_gamma(tmp_path: Path) -> None:
    make_run(tmp_path, "meta", "a2c_meta", "CartPole-v1", 0, [1.0, 2.0, 3.0],
             extra={"train/gamma": [0.99, 0.985, 0.98], "train/loss": [1.0, 0.5, 0.2]})
    report = build_report(tmp_path, "meta", tmp_path / "out", reps=REPS)
    assert report.results.gamma["gamma"].tolist() == [0.99, 0.985, 0.98]
    assert (tmp_path / "out" / "figures" / "gamma.png").exists()
    assert "figures/gamma.pdf" in (tmp_path / "out" / "main.tex").read_text()


def test_cli_command_prints_the_summary_and_imports_cheaply(tmp_path: Path) -> None:
    first_study(tmp_path / "results")
    app = typer.Typer()
    app.command("report")(report_command)
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["report", "first", "--results", str(tmp_path / "results"), "--reps", "500"])
    assert result.exit_code == 0, result.output
    assert "CartPole-v1" in result.output and "mean [95% bootstrap CI]" in result.output
    assert (tmp_path / "results" / "first" / "report" / "report.md").exists()
    probe = "import sys, harness.analysis.cli; print(sorted({'pandas','matplotlib','seaborn','torch'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "[]"


def test_constant_returns_give_per_task_scores_and_no_aggregates(tmp_path: Path) -> None:
    for seed in range(2):
        make_run(tmp_path, "flat", "dqn", "MountainCar-v0", seed, [-200.0, -200.0])
    report = build_report(tmp_path, "flat", tmp_path / "out", reps=REPS)
    assert "-200 [-200, -200]" in report.summary
    assert "MountainCar-v0 (every evaluation has the same return (min = max))" in report.summary
    assert report.results.aggregates.empty
