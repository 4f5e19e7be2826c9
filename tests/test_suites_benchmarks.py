"""The shipped benchmark suites: every task builds and steps; references; protocol fingerprints."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from harness.envs import EnvRef
from harness.envs.atari import PROTOCOLS, AtariSettings
from harness.envs.make_atari_suites import load_games
from harness.envs.make_atari_suites import main as make_atari_suites
from harness.envs.minatar import MinAtarSettings
from harness.protocol import fingerprint, protocol_of
from harness.suite import load_suite, make_task

from conftest import REPO

SUITES = ("atari57", "atari5", "atari100k", "minatar", "mujoco")
ATARI5 = ["BattleZone", "DoubleDunk", "NameThisGame", "Phoenix", "Qbert"]


def _build_and_step(task, steps: int = 3) -> None:
    envs = task.env.make_vector(1, seed=0, evaluation=False)
    try:
        obs, _ = envs.reset()  # unseeded: the native Atari env then skips reloading its ROM
        assert obs.shape == (1, *envs.single_observation_space.shape)
        for _ in range(steps):
            obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
        assert obs.shape == (1, *envs.single_observation_space.shape) and reward.shape == (1,)
    finally:
        envs.close()


@pytest.mark.parametrize("suite", SUITES)
def test_every_task_builds_and_steps(suite):
    tasks = load_suite(suite).tasks
    for task in tasks:
        _build_and_step(task)


def test_every_task_builds_its_evaluation_envs():
    # One per family and protocol: evaluation envs differ from training ones only in settings.
    for suite in SUITES:
        task = load_suite(suite).tasks[0]
        envs = task.env.make_vector(2, seed=1, evaluation=True)
        envs.reset(seed=1)
        envs.step(envs.action_space.sample())
        envs.close()


def test_atari_suites_match_the_generator_and_the_reference_table():
    assert make_atari_suites(["--check"]) == 0
    games = {f"ALE/{g.ale_name}-v5": g for g in load_games()}
    atari57, atari5, atari100k = (load_suite(name) for name in ("atari57", "atari5", "atari100k"))
    assert len(games) == 57 and {t.id for t in atari57.tasks} == set(games)
    assert [t.id for t in atari5.tasks] == [f"ALE/{g}-v5" for g in ATARI5]
    assert len(atari100k.tasks) == 26
    for suite in (atari57, atari5, atari100k):
        for task in suite.tasks:
            game = games[task.id]
            assert task.reference is not None and task.reference.kind == "human"
            assert (task.reference.low, task.reference.high) == (game.random, game.human)
    for task in atari57.tasks:
        assert task.budget == 50_000_000 and task.eval.every == 1_000_000 and task.env.kwargs["protocol"] == "machado2018"
    for task in atari100k.tasks:
        assert task.budget == 100_000 and task.eval.every == task.budget and task.env.kwargs["protocol"] == "nature2015"
        assert task.env.frames_per_step() == 4


def test_mujoco_references_are_d4rl_where_published():
    refs = {t.id: t.reference for t in load_suite("mujoco").tasks}
    assert len(refs) == 9
    assert (refs["HalfCheetah-v5"].low, refs["HalfCheetah-v5"].high) == (-280.178953, 12135.0)
    assert (refs["Hopper-v5"].low, refs["Hopper-v5"].high) == (-20.272305, 3234.3)
    assert (refs["Walker2d-v5"].low, refs["Walker2d-v5"].high) == (1.629008, 4592.3)
    assert (refs["Ant-v5"].low, refs["Ant-v5"].high) == (-325.6, 3879.7)
    assert all(refs[k].kind == "d4rl" for k in ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5"))
    assert all(refs[k] is None for k in ("Humanoid-v5", "InvertedPendulum-v5", "InvertedDoublePendulum-v5",
                                         "Reacher-v5", "Swimmer-v5"))


def _all_fingerprints() -> dict[str, str]:
    return {f"{suite}/{task.id}": fingerprint(protocol_of(task)) for suite in SUITES for task in load_suite(suite).tasks}


def test_fingerprints_are_stable_across_processes():
    code = ("import json, sys; sys.path.insert(0, 'tests'); from test_suites_benchmarks import _all_fingerprints; "
            "print(json.dumps(_all_fingerprints()))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={"PYTHONHASHSEED": "12345", "PATH": "", "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == _all_fingerprints()


def _changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, float):
        return value + 0.125 if value < 0.5 else value - 0.125
    return value + 1


def _fingerprint(env_id: str, family: str, options: dict) -> str:
    return fingerprint(protocol_of(make_task(env_id, family=family, env_options=options)))


def test_fingerprint_changes_when_any_atari_setting_changes():
    for protocol in ("machado2018", "nature2015"):
        base = {"protocol": protocol}
        reference = _fingerprint("ALE/Pong-v5", "atari", base)
        assert reference == _fingerprint("ALE/Pong-v5", "atari", {**base, "backend": "sync"})  # same observations
        settings = PROTOCOLS[protocol]
        for field in dataclasses.fields(AtariSettings):
            value = _changed(getattr(settings, field.name))
            if field.name == "frame_cap":
                value = settings.frame_cap + settings.frameskip
            if field.name == "frameskip":
                value = 5 if settings.frame_cap % 5 == 0 else 3
            assert _fingerprint("ALE/Pong-v5", "atari", {**base, field.name: value}) != reference, field.name
    assert _fingerprint("ALE/Pong-v5", "atari", {"protocol": "nature2015"}) != _fingerprint(
        "ALE/Pong-v5", "atari", {"protocol": "machado2018"})
    assert _fingerprint("ALE/Pong-v5", "atari", {}) != _fingerprint("ALE/Breakout-v5", "atari", {})


def test_fingerprint_changes_when_any_minatar_or_mujoco_setting_changes():
    reference = _fingerprint("MinAtar/Breakout-v1", "minatar", {})
    for field in dataclasses.fields(MinAtarSettings):
        value = _changed(getattr(MinAtarSettings(), field.name))
        assert _fingerprint("MinAtar/Breakout-v1", "minatar", {field.name: value}) != reference, field.name
    assert _fingerprint("MinAtar/Breakout-v0", "minatar", {}) != reference  # full action set
    hopper = _fingerprint("Hopper-v5", "mujoco", {})
    assert _fingerprint("Hopper-v4", "mujoco", {}) != hopper
    assert _fingerprint("Hopper-v5", "mujoco", {"terminate_when_unhealthy": False}) != hopper
    assert EnvRef("mujoco", "Hopper-v5").protocol()["env_version"] == "v5"


def test_evaluation_protocol_is_in_the_fingerprint():
    a = make_task("MinAtar/Breakout-v1", eval={"epsilon": 0.0})
    b = make_task("MinAtar/Breakout-v1", eval={"epsilon": 0.05})
    assert fingerprint(protocol_of(a)) != fingerprint(protocol_of(b))
    assert np.isfinite(a.eval.epsilon)


def test_suite_presets_resolve_for_every_algorithm_they_name():
    from harness.run import RunSpec

    for suite in SUITES:
        task = load_suite(suite).tasks[0]
        assert task.hyper, suite
        for algorithm in task.hyper:
            RunSpec("check", algorithm, task, 0).config()  # raises on an unknown preset or field
