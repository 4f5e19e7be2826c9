"""Atari 2600 games through ale-py (ids ``ALE/<Game>-v5``), under one of two declared protocols.

Papers differ on sticky actions, no-op starts, life loss and reward clipping, and their scores do not
compare. A task therefore names a protocol (env option ``protocol``), each a full set of settings
(:class:`AtariSettings`); a single setting may be overridden by an env option of the same name, and
every setting is recorded in :meth:`AtariFamily.protocol`, so the run's fingerprint covers it.

Two backends produce identical observations (checked frame for frame by the tests):

- ``native``: ale-py's C++ ``AtariVectorEnv`` (threads, preprocessing in C++), the fast path;
- ``sync`` / ``async``: gymnasium's ``AtariPreprocessing`` + ``FrameStackObservation`` in a
  ``SyncVectorEnv`` / ``AsyncVectorEnv``, with a small wrapper that reproduces the native env's no-op
  starts and frame cap exactly (see :class:`_StartAndFrameCap`).

Life-loss terminals and reward clipping are applied by :class:`AtariVectorEnv` on top of either
backend, from the unclipped reward and the ``lives`` counter, so both backends share one
implementation. A life loss marks ``terminated`` (no bootstrapping) while the game goes on, as in the
Nature DQN; the unclipped reward is always in ``info["raw_reward"]``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from typing import Any, Mapping

import gymnasium as gym
import numpy as np

BACKENDS = ("auto", "native", "sync", "async")
NON_PROTOCOL_OPTIONS = ("protocol", "backend")  # the backend does not change what a score means


@dataclass(frozen=True)
class AtariSettings:
    """Everything that changes what an Atari score means. Frames are emulator frames."""

    sticky_actions: float  # ALE repeat_action_probability, at training and evaluation
    noop_max: int  # at reset, a uniform number in 0..noop_max of no-op *frames*
    life_loss_terminal: bool  # training only: a lost life ends the bootstrapped return
    reward_clipping: bool  # training only: rewards clipped to [-1, 1]
    frameskip: int = 4  # agent step = this many frames, action repeated
    maxpool: bool = True  # observation frame = max of the last two frames of a step
    frame_cap: int = 108_000  # episode truncated after this many frames (30 minutes at 60 Hz)
    screen_size: int = 84  # square, grayscale, resized with cv2.INTER_AREA
    frame_stack: int = 4
    full_action_space: bool = False  # False: the game's minimal action set
    fire_reset: bool = False  # press FIRE after reset (neither protocol does)

    def evaluation(self) -> "AtariSettings":
        """Evaluation scores the real game: no life-loss terminal, no clipping."""
        return dataclasses.replace(self, life_loss_terminal=False, reward_clipping=False)


PROTOCOLS: dict[str, AtariSettings] = {
    # Machado et al. (2018), "Revisiting the ALE"; Dopamine's and ALE v5's defaults. Training rewards
    # are clipped, as Dopamine's agents do; evaluation uses the unclipped game score.
    "machado2018": AtariSettings(sticky_actions=0.25, noop_max=0, life_loss_terminal=False, reward_clipping=True),
    # Mnih et al. (2015), Nature DQN; also the Atari-100k (data-efficient) literature's protocol.
    "nature2015": AtariSettings(sticky_actions=0.0, noop_max=30, life_loss_terminal=True, reward_clipping=True),
}
DEFAULT_PROTOCOL = "machado2018"
SETTING_FIELDS = {f.name: f.type for f in dataclasses.fields(AtariSettings)}


def game_name(env_id: str) -> str | None:
    """``ALE/MontezumaRevenge-v5`` → ``montezuma_revenge`` (ale-py's ROM name), None if unknown."""
    import ale_py

    gym.register_envs(ale_py)
    if not (env_id.startswith("ALE/") and env_id.endswith("-v5")) or env_id not in gym.registry:
        return None
    return gym.spec(env_id).kwargs.get("game")


def settings_of(options: Mapping[str, Any]) -> AtariSettings:
    """The protocol's settings with any per-setting overrides from the task's env options."""
    base = PROTOCOLS[options.get("protocol", DEFAULT_PROTOCOL)]
    overrides = {k: v for k, v in options.items() if k in SETTING_FIELDS}
    return dataclasses.replace(base, **overrides)


def _check_option(key: str, value: Any) -> str | None:
    kind = SETTING_FIELDS[key]
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0
    return None if ok else f"env option {key!r} must be {'true or false' if kind == 'bool' else 'a non-negative ' + kind}" \
                           f"{' in [0, 1]' if kind == 'float' else ''}, got {value!r}"


# ---------------------------------------------------------------------------------- the vector env

class AtariVectorEnv(gym.vector.VectorEnv):
    """A backend vector env adapted to the harness contract, with training-time reward clipping and
    life-loss terminals.

    SAME_STEP autoreset: ``info["final_obs"]`` (a batched array) with mask ``info["_final_obs"]``
    where a game really ended; ``info["raw_reward"]`` holds the unclipped game rewards. Where a life
    was lost and the game goes on, ``terminated`` is set but the mask is not: the next observation
    is the true successor.
    """

    def __init__(self, backend: gym.vector.VectorEnv, settings: AtariSettings, backend_name: str):
        self.backend = backend
        self.backend_name = backend_name
        self.settings = settings
        self.num_envs = backend.num_envs
        self.single_observation_space = backend.single_observation_space
        self.single_action_space = backend.single_action_space
        self.observation_space = backend.observation_space
        self.action_space = backend.action_space
        self.metadata = {**backend.metadata, "autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
        self._lives = np.zeros(self.num_envs, dtype=np.int64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        if isinstance(seed, int):
            self.action_space.seed(seed)
        obs, info = self.backend.reset(seed=seed, options=options)
        self._lives = np.asarray(info["lives"], dtype=np.int64).copy()
        return obs, info

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        actions = np.asarray(actions, dtype=np.int64)
        obs, reward, terminated, truncated, info = self.backend.step(actions)
        raw = np.asarray(reward, dtype=np.float64)
        ended = np.logical_or(terminated, truncated)
        info = dict(info)
        info["raw_reward"] = raw
        info["final_obs"], info["_final_obs"] = self._final_obs(obs, ended, info)
        lives = np.asarray(info["lives"], dtype=np.int64)
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.logical_and(truncated, ~terminated)  # as the native env reports
        if self.settings.life_loss_terminal:
            lost = (lives < self._lives) & (lives > 0) & ~ended
            terminated = terminated | lost
        self._lives = lives.copy()
        out_reward = np.clip(raw, -1.0, 1.0) if self.settings.reward_clipping else raw
        return obs, out_reward, terminated, truncated, info

    def _final_obs(self, obs: np.ndarray, ended: np.ndarray, info: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        final = info.get("final_obs")
        if final is None:
            return obs, ended.copy()
        if final.dtype == object:  # gymnasium's vector envs: one observation per ended env, else None
            batched = obs.copy()
            for i in np.flatnonzero(ended):
                batched[i] = final[i]
            return batched, ended.copy()
        return final, ended.copy()

    def close_extras(self, **kwargs: Any) -> None:
        self.backend.close()

    def __getstate__(self) -> dict[str, Any]:
        # Emulator state is not saved by ale-py's environments: a resumed run starts fresh episodes.
        raise TypeError("Atari vector environments cannot be pickled")


# ------------------------------------------------------------------------------------- backends

def native_available() -> bool:
    try:
        from ale_py import AtariVectorEnv as _  # noqa: F401
    except ImportError:
        return False
    return True


def make_native(game: str, settings: AtariSettings, num_envs: int) -> gym.vector.VectorEnv:
    """ale-py's C++ vector env; its no-op draw is uniform in 0..noop_max-1, hence the +1."""
    from ale_py import AtariVectorEnv as Native

    return Native(
        game, num_envs,
        num_threads=min(num_envs, os.cpu_count() or 1),
        max_num_frames_per_episode=settings.frame_cap,
        repeat_action_probability=settings.sticky_actions,
        full_action_space=settings.full_action_space,
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        img_height=settings.screen_size, img_width=settings.screen_size, grayscale=True,
        stack_num=settings.frame_stack, frameskip=settings.frameskip, maxpool=settings.maxpool,
        noop_max=settings.noop_max + 1 if settings.noop_max > 0 else 0,
        episodic_life=False, life_loss_info=False, reward_clipping=False,  # both applied by AtariVectorEnv
        use_fire_reset=settings.fire_reset,
    )


class _StartAndFrameCap(gym.Wrapper):
    """Below ``AtariPreprocessing``: the native env's episode start and frame cap, exactly.

    At reset: FIRE if asked, then a uniform 0..noop_max no-op frames (restarting a game that ends
    meanwhile). Steps: ``truncated`` once ``frame_cap`` frames have passed since the start, so that
    ``AtariPreprocessing`` stops its frame loop at the same frame as the native env.
    """

    def __init__(self, env: gym.Env, noop_max: int, frame_cap: int, fire_reset: bool):
        super().__init__(env)
        self.noop_max = noop_max
        self.frame_cap = frame_cap
        self.fire = fire_reset and "FIRE" in env.unwrapped.get_action_meanings()
        self.frames = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        from ale_py import Action

        ale = self.env.unwrapped.ale
        if self.fire:
            ale.act(Action.FIRE)
        noops = int(self.env.unwrapped.np_random.integers(0, self.noop_max + 1)) - int(self.fire)
        for _ in range(max(noops, 0)):
            ale.act(Action.NOOP)
            if ale.game_over():
                ale.reset_game()
        info = {**info, "lives": ale.lives()}
        self.frames = 0
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.frames += 1
        return obs, reward, terminated, truncated or self.frames >= self.frame_cap, info


def make_single(game: str, settings: AtariSettings) -> gym.Env:
    """One gymnasium Atari env with the same preprocessing as the native vector env."""
    from ale_py.env import AtariEnv
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    env = AtariEnv(game=game, obs_type="grayscale", frameskip=1, repeat_action_probability=settings.sticky_actions,
                   full_action_space=settings.full_action_space, max_num_frames_per_episode=0)
    env = _StartAndFrameCap(env, settings.noop_max, settings.frame_cap, settings.fire_reset)
    env = AtariPreprocessing(env, noop_max=0, frame_skip=settings.frameskip, screen_size=settings.screen_size,
                             terminal_on_life_loss=False, grayscale_obs=True, scale_obs=False)
    if not settings.maxpool:
        raise ValueError("the gymnasium backend always max-pools the last two frames")
    # The native env starts a stack with zeros, not with copies of the first frame.
    return FrameStackObservation(env, settings.frame_stack, padding_type="zero")


def make_gymnasium(game: str, settings: AtariSettings, num_envs: int, asynchronous: bool) -> gym.vector.VectorEnv:
    make = functools.partial(make_single, game, settings)  # picklable, for subprocesses
    vector = gym.vector.AsyncVectorEnv if asynchronous else gym.vector.SyncVectorEnv
    return vector([make] * num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def make_atari(env_id: str, options: Mapping[str, Any], num_envs: int, evaluation: bool = False) -> AtariVectorEnv:
    """The task's vector env: evaluation settings if ``evaluation``, else training settings."""
    game = game_name(env_id)
    if game is None:
        raise ValueError(f"unknown Atari game id {env_id!r}")
    settings = settings_of(options)
    if evaluation:
        settings = settings.evaluation()
    backend = options.get("backend", "auto")
    if backend == "auto":
        backend = "native" if native_available() else "async"
    if backend == "native":
        inner = make_native(game, settings, num_envs)
    else:
        inner = make_gymnasium(game, settings, num_envs, asynchronous=backend == "async")
    return AtariVectorEnv(inner, settings, backend)


# -------------------------------------------------------------------------------------- the family

class AtariFamily:
    name = "atari"

    def validate(self, env_id: str, options: Mapping[str, Any]) -> str | None:
        if game_name(env_id) is None:
            return f"unknown Atari game {env_id!r}; ids look like ALE/Pong-v5 (ale-py's v5 games)"
        for key, value in options.items():
            if key == "protocol":
                if value not in PROTOCOLS:
                    return f"env option protocol: unknown {value!r}; allowed: {', '.join(PROTOCOLS)}"
            elif key == "backend":
                if value not in BACKENDS:
                    return f"env option backend: unknown {value!r}; allowed: {', '.join(BACKENDS)}"
            elif key in SETTING_FIELDS:
                problem = _check_option(key, value)
                if problem:
                    return problem
            else:
                return f"unknown env option {key!r}; allowed: {', '.join([*NON_PROTOCOL_OPTIONS, *SETTING_FIELDS])}"
        settings = settings_of(options)
        if settings.frameskip < 1 or settings.frame_stack < 1 or settings.screen_size < 1:
            return "env options frameskip, frame_stack and screen_size must be positive"
        if settings.frame_cap % settings.frameskip:
            return f"env option frame_cap ({settings.frame_cap}) must be a multiple of frameskip ({settings.frameskip})"
        if not settings.maxpool and options.get("backend", "auto") in ("sync", "async"):
            return "env option maxpool = false needs backend = \"native\""
        return None

    def make_vector(self, env_id: str, options: Mapping[str, Any], num_envs: int, seed: int,
                    evaluation: bool) -> AtariVectorEnv:
        envs = make_atari(env_id, options, num_envs, evaluation)
        envs.action_space.seed(seed)
        return envs

    def protocol(self, env_id: str, options: Mapping[str, Any]) -> dict[str, Any]:
        settings = settings_of(options)
        return {
            "protocol": options.get("protocol", DEFAULT_PROTOCOL),
            "game": game_name(env_id),
            "env_version": "v5",
            "observation": f"{settings.frame_stack}x{settings.screen_size}x{settings.screen_size} grayscale uint8",
            "training": dataclasses.asdict(settings),
            "evaluation": dataclasses.asdict(settings.evaluation()),
        }

    def frames_per_step(self, env_id: str, options: Mapping[str, Any]) -> int:
        return settings_of(options).frameskip


FAMILY = AtariFamily()
