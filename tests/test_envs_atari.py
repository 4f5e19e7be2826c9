"""The Atari family: native and gymnasium backends agree frame for frame; protocol semantics hold."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harness.envs.atari import FAMILY, PROTOCOLS, AtariSettings, make_atari


def _lockstep(env_id: str, options: dict, steps: int, num_envs: int = 2, seed: int = 3) -> dict[str, int]:
    """Step both backends with the same random actions; assert identical outputs; count events."""
    native = make_atari(env_id, {**options, "backend": "native"}, num_envs)
    gym_path = make_atari(env_id, {**options, "backend": "sync"}, num_envs)
    counts = {"game_over": 0, "truncated": 0, "life_loss": 0}
    try:
        obs_a, info_a = native.reset(seed=seed)
        obs_b, info_b = gym_path.reset(seed=seed)
        assert obs_a.shape == (num_envs, 4, 84, 84) and obs_a.dtype == np.uint8
        np.testing.assert_array_equal(obs_a, obs_b)
        np.testing.assert_array_equal(info_a["lives"], info_b["lives"])
        rng = np.random.default_rng(seed)
        for t in range(steps):
            action = rng.integers(native.single_action_space.n, size=num_envs)
            a = native.step(action)
            b = gym_path.step(action)
            for name, x, y in zip(("obs", "reward", "terminated", "truncated"), a[:4], b[:4]):
                np.testing.assert_array_equal(x, y, err_msg=f"{env_id} step {t}: {name} differs")
            np.testing.assert_array_equal(a[4]["raw_reward"], b[4]["raw_reward"])
            mask = a[4]["_final_obs"]
            np.testing.assert_array_equal(mask, b[4]["_final_obs"])
            np.testing.assert_array_equal(a[4]["final_obs"][mask], b[4]["final_obs"][mask],
                                          err_msg=f"{env_id} step {t}: final observation differs")
            counts["game_over"] += int((mask & a[2]).sum())
            counts["truncated"] += int(a[3].sum())
            counts["life_loss"] += int((a[2] & ~mask).sum())
    finally:
        native.close()
        gym_path.close()
    return counts


def test_backends_agree_frame_for_frame_with_life_loss_and_game_over():
    # nature2015 training settings (life loss terminal, clipping) without the randomness that the two
    # backends draw differently: no sticky actions (the protocol's own) and no no-op starts.
    counts = _lockstep("ALE/Breakout-v5", {"protocol": "nature2015", "noop_max": 0}, steps=700)
    assert counts["game_over"] >= 2 and counts["life_loss"] >= 4


def test_backends_agree_at_the_frame_cap():
    counts = _lockstep("ALE/Pong-v5", {"protocol": "nature2015", "noop_max": 0, "frame_cap": 400}, steps=250)
    assert counts["truncated"] == 2 * 2  # two envs, truncated at steps 100 and 200


def test_training_clips_rewards_and_evaluation_does_not():
    train = make_atari("ALE/Asterix-v5", {"protocol": "machado2018"}, 2)
    evaluate = make_atari("ALE/Asterix-v5", {"protocol": "machado2018"}, 2, evaluation=True)
    rng = np.random.default_rng(0)
    seen_train = seen_eval = 0.0
    try:
        train.reset(seed=0)
        evaluate.reset(seed=0)
        for _ in range(300):
            action = rng.integers(train.single_action_space.n, size=2)
            _, reward, _, _, info = train.step(action)
            np.testing.assert_array_equal(reward, np.clip(info["raw_reward"], -1, 1))
            seen_train = max(seen_train, float(info["raw_reward"].max()))
            _, reward, _, _, info = evaluate.step(action)
            np.testing.assert_array_equal(reward, info["raw_reward"])
            seen_eval = max(seen_eval, float(reward.max()))
    finally:
        train.close()
        evaluate.close()
    assert seen_train > 1 and seen_eval > 1  # Asterix scores 50 a point: clipping had work to do


def test_life_loss_is_terminal_in_training_only_and_the_game_goes_on():
    options = {"protocol": "nature2015"}
    for evaluation, expect_life_loss_terminal in ((False, True), (True, False)):
        envs = make_atari("ALE/Breakout-v5", options, 1, evaluation=evaluation)
        obs, info = envs.reset(seed=1)
        lives = int(info["lives"][0])
        rng = np.random.default_rng(1)
        seen = False
        try:
            for _ in range(2000):
                obs, _, terminated, _, info = envs.step(rng.integers(envs.single_action_space.n, size=1))
                now = int(info["lives"][0])
                if 0 < now < lives and not info["_final_obs"][0]:
                    assert bool(terminated[0]) == expect_life_loss_terminal
                    assert obs[0, :3].any()  # no reset: the frame stack goes on
                    seen = True
                    break
                lives = now
        finally:
            envs.close()
        assert seen


def test_protocols_declare_every_setting_and_evaluation_settings():
    nature = FAMILY.protocol("ALE/Pong-v5", {"protocol": "nature2015"})
    assert nature["training"]["life_loss_terminal"] and not nature["evaluation"]["life_loss_terminal"]
    assert nature["training"]["reward_clipping"] and not nature["evaluation"]["reward_clipping"]
    assert nature["training"]["noop_max"] == 30 and nature["training"]["sticky_actions"] == 0.0
    machado = FAMILY.protocol("ALE/Pong-v5", {"protocol": "machado2018"})
    assert machado["evaluation"]["sticky_actions"] == 0.25 and not machado["training"]["life_loss_terminal"]
    assert not machado["evaluation"]["reward_clipping"]
    for settings in PROTOCOLS.values():
        assert (settings.frameskip, settings.frame_stack, settings.screen_size, settings.frame_cap) == (4, 4, 84, 108_000)
        assert settings.maxpool and not settings.full_action_space
    assert set(machado["training"]) == {f.name for f in dataclasses.fields(AtariSettings)}
    assert FAMILY.frames_per_step("ALE/Pong-v5", {}) == 4


def test_sticky_actions_and_noops_reach_the_emulator():
    # Two envs seeded alike replay identically even with sticky actions (the seed fixes ALE's draws);
    # without sticky actions the same actions give another game.
    def rollout(options: dict, seeds: list[int]) -> np.ndarray:
        envs = make_atari("ALE/Breakout-v5", options, len(seeds))
        try:
            obs, _ = envs.reset(seed=np.array(seeds))
            frames = [obs]
            for t in range(60):
                frames.append(envs.step(np.full(len(seeds), t % 4))[0])
            return np.stack(frames, axis=1)
        finally:
            envs.close()

    sticky = rollout({"protocol": "machado2018"}, [5, 5])
    np.testing.assert_array_equal(sticky[0], sticky[1])
    plain = rollout({"protocol": "machado2018", "sticky_actions": 0.0}, [5])
    assert not np.array_equal(sticky[0], plain[0])
    envs = make_atari("ALE/Breakout-v5", {"protocol": "nature2015"}, 8)
    starts = envs.reset(seed=0)[1]["episode_frame_number"]  # no-op frames taken at the start
    envs.close()
    assert len(set(starts.tolist())) > 3 and starts.max() <= 30


@pytest.mark.parametrize("options, message", [
    ({"protocol": "dopamine"}, "allowed: machado2018, nature2015"),
    ({"sticky": 0.25}, "unknown env option 'sticky'"),
    ({"sticky_actions": 2.0}, "in [0, 1]"),
    ({"life_loss_terminal": 1}, "true or false"),
    ({"frame_cap": 1001}, "multiple of frameskip"),
    ({"backend": "envpool"}, "allowed: auto, native, sync, async"),
])
def test_invalid_options_are_refused_with_the_allowed_values(options, message):
    assert message in FAMILY.validate("ALE/Pong-v5", options)


def test_unknown_game_is_refused():
    assert "unknown Atari game" in FAMILY.validate("ALE/Pongg-v5", {})
    assert FAMILY.validate("ALE/MontezumaRevenge-v5", {}) is None


def test_atari_runs_through_the_run_loop_with_life_loss_terminals(tmp_path):
    """DQN's Atari path end to end (no updates: learning starts after the budget); an Atari run's
    checkpoint holds no environments (they cannot be pickled) and its manifest holds the protocol."""
    import json

    from harness.run import train
    from harness.suite import make_task

    # A short frame cap bounds the untrained greedy policy's evaluation episode (it may never FIRE).
    task = make_task("ALE/Breakout-v5", budget=400, env_options={"protocol": "nature2015", "frame_cap": 2_000},
                     eval={"every": 400, "episodes": 1, "num_envs": 1}, checkpoint_every=200)
    result = train("dqn", task, seed=0, root=tmp_path, study="test",
                   hyper={"preset": "nature", "learning_starts": 10_000, "buffer_size": 1_000})
    assert result.state == "done" and result.metrics["frames"].iloc[-1] == 1_600
    assert result.metrics["train/episodes"].iloc[-1] >= 2  # lives lost within 400 random-ish steps
    manifest = json.loads((result.path / "manifest.json").read_text())
    env_protocol = manifest["protocol"]["env"]
    assert env_protocol["protocol"] == "nature2015" and env_protocol["training"]["frame_cap"] == 2_000
    status = json.loads((result.path / "status.json").read_text())
    assert status["state"] == "done"
