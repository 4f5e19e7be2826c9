"""Normalization against hand-computed values, and the clear errors of missing or conflicting references."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_analysis_helpers import make_run

from harness.analysis.load import load_study_data
from harness.analysis.normalize import choose_normalization
from harness.analysis.references import game_key, human_reference
from harness.errors import UserError


@pytest.mark.parametrize("name, key", [("ALE/Pong-v5", "pong"), ("PongNoFrameskip-v4", "pong"), ("Pong", "pong"),
                                       ("battle_zone", "battlezone"), ("ALE/BattleZone-v5", "battlezone"),
                                       ("MontezumaRevenge", "montezumarevenge")])
def test_game_names_meet_on_one_key(name: str, key: str) -> None:
    assert game_key(name) == key


def test_human_normalized_scores_match_hand_computation(tmp_path: Path) -> None:
    # (score - random) / (human - random) with DQN Zoo's table: Pong -20.7/14.6, Breakout 1.7/30.5,
    # BattleZone 2360/37187.5.
    for task, score in [("ALE/Pong-v5", 0.0), ("ALE/Breakout-v5", 30.5), ("ALE/BattleZone-v5", 10_000.0)]:
        make_run(tmp_path, "s", "dqn", task, 0, [score], family="atari", frameskip=4)
    data = load_study_data(tmp_path, "s")
    norm = choose_normalization(data)
    assert norm.method == "reference" and norm.label.startswith("human-normalized")
    got = norm.apply(data.metrics).set_axis(data.metrics["task"]).to_dict()
    assert got["ALE/Pong-v5"] == pytest.approx(20.7 / 35.3)
    assert got["ALE/Breakout-v5"] == pytest.approx(1.0)
    assert got["ALE/BattleZone-v5"] == pytest.approx((10_000 - 2360) / (37187.5 - 2360))
    assert human_reference("Seaquest").high == 42054.7


def test_declared_reference_wins_over_the_atari_table(tmp_path: Path) -> None:
    make_run(tmp_path, "s", "dqn", "ALE/Pong-v5", 0, [1.0], family="atari",
             reference={"low": 0.0, "high": 2.0, "kind": "oracle", "source": "mine"})
    norm = choose_normalization(load_study_data(tmp_path, "s"))
    assert norm.table.iloc[0][["low", "high", "kind"]].tolist() == [0.0, 2.0, "oracle"]
    assert norm.label.startswith("reference-normalized")


def test_strict_reference_normalization_names_tasks_without_references(tmp_path: Path) -> None:
    make_run(tmp_path, "s", "dqn", "CartPole-v1", 0, [100.0], reference={"low": 22, "high": 500})
    make_run(tmp_path, "s", "dqn", "Acrobot-v1", 0, [-100.0])
    data = load_study_data(tmp_path, "s")
    with pytest.raises(UserError, match="these tasks have none: Acrobot-v1"):
        choose_normalization(data, "reference")
    auto = choose_normalization(data)
    assert auto.tasks == ["CartPole-v1"] and auto.excluded == {"Acrobot-v1": "no reference scores"}


def test_minmax_fallback_is_labelled_and_spans_the_study(tmp_path: Path) -> None:
    make_run(tmp_path, "s", "dqn", "CartPole-v1", 0, [10.0, 50.0])
    make_run(tmp_path, "s", "ppo", "CartPole-v1", 0, [20.0, 110.0])
    data = load_study_data(tmp_path, "s")
    norm = choose_normalization(data)
    assert norm.method == "minmax" and "not comparable with other studies" in norm.label
    assert norm.apply(data.metrics).tolist() == pytest.approx([0.0, 0.4, 0.1, 1.0])


def test_conflicting_references_for_one_task_are_refused(tmp_path: Path) -> None:
    make_run(tmp_path, "s", "dqn", "CartPole-v1", 0, [1.0], reference={"low": 0, "high": 500})
    make_run(tmp_path, "s", "dqn", "CartPole-v1", 1, [1.0], reference={"low": 22, "high": 500})
    with pytest.raises(UserError, match="different reference scores"):
        choose_normalization(load_study_data(tmp_path, "s"))


def test_unknown_mode_is_a_user_error(tmp_path: Path) -> None:
    make_run(tmp_path, "s", "dqn", "CartPole-v1", 0, [1.0])
    with pytest.raises(UserError, match="choose one of"):
        choose_normalization(load_study_data(tmp_path, "s"), "zscore")
