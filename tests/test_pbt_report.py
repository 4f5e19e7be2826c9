"""`harness report` on a study with a tiny real PBT population (CartPole, linear policy-gradient
learner): the report has the lineage and schedule figures (PNG and PDF) linked from report.md, and what
they plot (the figures' artists and the data files saved with them) is exactly the lineage file's
exploits and every member's hyperparameter schedule."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pandas as pd

from conftest import REPO, harness_cli
from test_pbt import SUITE, pbt_command
from test_tune_learner import learner_site


def test_report_plots_pbt_lineage_and_schedules(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(learner_site(tmp_path / "site"))}
    suite = tmp_path / "pbt.toml"
    suite.write_text(SUITE.format(budget=4000, episodes=3))
    results = tmp_path / "results"
    trained = subprocess.run(pbt_command(suite, results, "p", "--population", "4", "--interval", "1000",
                                         "--workers", "2", "--seed", "3"),
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    lineage = json.loads((results / "p" / "pbt" / "lineage.json").read_text())
    assert len(lineage["exploits"]) == 3  # one per round but the last (bottom quarter of 4 members)

    report = harness_cli("report", "p", "--results", str(results), "--reps", "200", env=env)
    assert report.returncode == 0, report.stdout + report.stderr
    out = results / "p" / "report"
    markdown = (out / "report.md").read_text()
    for name in ("pbt_lineage", "pbt_schedules"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 0 and (out / "figures" / f"{name}.pdf").exists()
        assert f"![{name}](figures/{name}.png)" in markdown and f"figures/{name}.pdf" in markdown
        assert f"figures/{name}.pdf" in (out / "main.tex").read_text()

    # the data saved with the figures is the lineage file's
    edges = pd.read_csv(out / "figures" / "pbt_lineage.csv")
    assert edges[["step", "donor", "recipient"]].values.tolist() == [
        [e["step"], e["donor"], e["recipient"]] for e in lineage["exploits"]]
    table = pd.read_csv(out / "figures" / "pbt_schedules.csv")
    for member in lineage["members"]:
        mine = table[table["member"] == member["member"]]
        assert mine["step"].tolist() == [e["step"] for e in member["schedule"] for _ in e["hyper"]]
        assert np.allclose(mine["value"], [v for e in member["schedule"] for v in e["hyper"].values()])

    # and so is what the figures draw: an arrow donor -> recipient at each exploit's step; step lines
    from harness.analysis.lineage import lineage_figure, schedule_figure

    arrows = [(a.xyann, a.xy) for a in lineage_figure(lineage).axes[0].texts]
    assert arrows == [((e["step"], e["donor"]), (e["step"], e["recipient"])) for e in lineage["exploits"]]
    figure = schedule_figure(lineage)
    names = list(lineage["members"][0]["schedule"][0]["hyper"])
    for ax, name in zip(figure.axes, names):
        assert ax.get_title() == name
        for line, member in zip(ax.get_lines(), lineage["members"]):
            changes = {e["step"]: e["hyper"][name] for e in member["schedule"]}  # the last one at a step holds
            steps, values = line.get_data()
            assert list(steps) == [*changes, 4000] and np.allclose(values, [*changes.values(), values[-1]])
            assert values[-1] == list(changes.values())[-1]
