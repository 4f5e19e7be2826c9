"""``eval.stop_return``: a run ends, as done, at the first evaluation whose mean return reaches it."""

from __future__ import annotations

import json

from harness.run import RunSpec, train
from harness.suite import make_task

EVAL = {"every": 500, "episodes": 2, "num_envs": 2}


def cartpole(stop_return: float | None):
    evaluation = EVAL if stop_return is None else {**EVAL, "stop_return": stop_return}
    return make_task("CartPole-v1", budget=3_000, checkpoint_every=1_000, eval=evaluation,
                     hyper={"dqn": {"preset": "classic", "learning_starts": 500}})


def test_a_run_stops_at_the_first_evaluation_that_reaches_the_return(tmp_path):
    # any policy lasts at least 8 steps on CartPole, so the first evaluation (at step 500) reaches 5
    result = train("dqn", cartpole(5.0), seed=0, root=tmp_path, study="s")
    assert result.state == "done"
    assert list(result.metrics["env_steps"]) == [500]
    assert result.metrics["return_mean"].iloc[0] >= 5.0
    status = json.loads((result.path / "status.json").read_text())
    assert status["state"] == "done" and status["solved_at"] == 500 and status["budget"] == 3_000
    # done is done: running it again changes nothing
    again = train("dqn", cartpole(5.0), seed=0, root=tmp_path, study="s")
    assert again.state == "done" and list(again.metrics["env_steps"]) == [500]


def test_an_unreached_return_runs_the_whole_budget(tmp_path):
    result = train("dqn", cartpole(10_000.0), seed=0, root=tmp_path, study="s")
    assert result.state == "done" and result.metrics["env_steps"].iloc[-1] == 3_000
    assert "solved_at" not in json.loads((result.path / "status.json").read_text())


def test_an_unset_stop_return_leaves_the_recorded_config_and_run_id_as_before():
    spec = RunSpec(study="s", algorithm="dqn", task=cartpole(None), seed=0)
    assert "stop_return" not in spec.resolve()["task"]["eval"]
    with_stop = RunSpec(study="s", algorithm="dqn", task=cartpole(5.0), seed=0)
    assert with_stop.resolve()["task"]["eval"]["stop_return"] == 5.0
    assert with_stop.run_id() != spec.run_id()
