"""IMPALA's actors (Espeholt et al. 2018): processes that act with a possibly stale copy of the
learner's policy in their own environments and hand trajectories to the learner through shared memory.

The learner owns ``slots`` trajectory buffers in shared memory. An actor takes a free slot, loads the
latest published parameters (so the policy is fixed within a trajectory and may lag the learner by
the time it took to fill it), writes ``T`` steps of ``num_envs`` environments and the LSTM state at
their start, and queues the slot as full. The learner reads full slots without waiting and frees them.

Actors build their environments from the learner's task reference (``harness.envs.EnvRef``: id,
family and the suite's ``env_options``) with the training protocol, so they act on exactly the
environment the learner does. An actor that fails reports its traceback; the learner raises it.
"""

from __future__ import annotations

import queue
import time
import traceback
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.multiprocessing as mp

from harness.envs import EnvRef
from harness.threads import limit_threads
from plugins.actor_critic.core import CoreState, RecurrentActorCritic, log_prob_of
from plugins.actor_critic.rollout import ActingState, Batch


@dataclass(frozen=True)
class ActorSetup:
    """Everything an actor process needs, picklable."""

    env: EnvRef  # the learner's task environment, options included
    observation_space: Any
    num_actions: int
    network: dict[str, Any]  # RecurrentActorCritic keyword arguments
    rollout_length: int
    num_envs: int


def actor_seed(seed: int, index: int) -> int:
    """The seed of actor ``index``'s environments and sampling: distinct from each other's and from the
    learner's training (``seed``) and evaluation (``seed + 10_000``) environments, whose episodes they would replay."""
    return seed * 1000 + 100 + index


def trajectory_buffers(setup: ActorSetup, slots: int) -> dict[str, torch.Tensor]:
    T, E = setup.rollout_length, setup.num_envs
    obs = torch.from_numpy(np.zeros((slots, T, E, *setup.observation_space.shape), setup.observation_space.dtype))
    lstm = setup.network["lstm_size"]
    buffers = {
        "obs": obs, "next_obs": obs.clone(),
        "prev_action": torch.zeros(slots, T, E, dtype=torch.long), "prev_reward": torch.zeros(slots, T, E),
        "first": torch.zeros(slots, T, E, dtype=torch.bool), "action": torch.zeros(slots, T, E, dtype=torch.long),
        "behaviour_log_prob": torch.zeros(slots, T, E), "reward": torch.zeros(slots, T, E),
        "terminated": torch.zeros(slots, T, E, dtype=torch.bool), "truncated": torch.zeros(slots, T, E, dtype=torch.bool),
        "h": torch.zeros(slots, E, lstm), "c": torch.zeros(slots, E, lstm),
        "version": torch.zeros(slots, dtype=torch.long),
    }
    return {k: v.share_memory_() for k, v in buffers.items()}


def make_actor_envs(setup: ActorSetup, seed: int) -> Any:
    """The actor's vectorized environments: the task's training protocol, refused if its spaces
    differ from the learner's (a network built for one would silently misread the other)."""
    import plugins.actor_critic  # noqa: F401  (registers the package's environments in this process)

    envs = setup.env.make_vector(setup.num_envs, seed, evaluation=False)
    space = envs.single_observation_space
    if (space.shape, space.dtype) != (setup.observation_space.shape, setup.observation_space.dtype) \
            or int(envs.single_action_space.n) != setup.num_actions:
        envs.close()
        raise ValueError(f"actor environment {setup.env.env_id!r} has observations {space.shape} {space.dtype} and "
                         f"{envs.single_action_space} actions; the learner's task has {setup.observation_space.shape} "
                         f"{setup.observation_space.dtype} and {setup.num_actions}")
    return envs


def actor_loop(index: int, setup: ActorSetup, seed: int, params: dict[str, torch.Tensor], version: Any, lock: Any,
               buffers: dict[str, torch.Tensor], free: Any, full: Any, stop: Any, errors: Any) -> None:
    limit_threads(1)
    try:
        run_actor(setup, seed, params, version, lock, buffers, free, full, stop)
    except BaseException:  # noqa: BLE001  (the learner never waits on actors: tell it why this one stopped)
        errors.put(f"actor {index}: {traceback.format_exc()}")


def run_actor(setup: ActorSetup, seed: int, params: dict[str, torch.Tensor], version: Any, lock: Any,
              buffers: dict[str, torch.Tensor], free: Any, full: Any, stop: Any) -> None:
    """Fill free slots with trajectories until told to stop or the learner is gone. A learner killed
    outright (SIGKILL) cannot set ``stop``, and may die holding ``lock``: the actor notices within 0.1 s."""
    envs = make_actor_envs(setup, seed)
    net = RecurrentActorCritic(setup.observation_space, setup.num_actions, **setup.network)
    generator = torch.Generator().manual_seed(seed)
    state = ActingState.fresh(setup.num_envs, net.lstm_size)
    obs, _ = envs.reset(seed=seed)
    parent = mp.parent_process()

    def running() -> bool:
        return not stop.is_set() and (parent is None or parent.is_alive())

    loaded = -1
    try:
        while running():
            try:
                slot = free.get(timeout=0.1)
            except queue.Empty:
                continue
            while not lock.acquire(timeout=0.1):
                if not running():
                    return
            try:
                if version.value != loaded:
                    net.load_state_dict(params)
                    loaded = version.value
            finally:
                lock.release()
            buffers["version"][slot] = loaded
            buffers["h"][slot], buffers["c"][slot] = state.core.h, state.core.c
            obs = write_trajectory(net, envs, obs, state, generator, buffers, slot, setup.rollout_length)
            full.put(slot)
    finally:
        envs.close()


@torch.no_grad()
def write_trajectory(net: RecurrentActorCritic, envs: Any, obs: np.ndarray, state: ActingState,
                     generator: torch.Generator, buffers: dict[str, torch.Tensor], slot: int, length: int) -> np.ndarray:
    """Act ``length`` steps into ``slot`` (advancing ``state`` as the learner's acting does); the next observation."""
    from harness.run import true_next_obs

    for t in range(length):
        obs_t = torch.as_tensor(obs)
        core, state.core = net.step(obs_t, state.prev_action, state.prev_reward, state.core)
        logits = net.policy_logits(core)
        action = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)
        next_obs, reward, terminated, truncated, info = envs.step(action.numpy())
        done = terminated | truncated
        row = {"obs": obs_t, "prev_action": state.prev_action, "prev_reward": state.prev_reward,
               "first": state.first, "action": action, "behaviour_log_prob": log_prob_of(logits, action),
               "reward": torch.as_tensor(reward, dtype=torch.float32),
               "terminated": torch.as_tensor(terminated), "truncated": torch.as_tensor(truncated),
               "next_obs": torch.as_tensor(true_next_obs(next_obs, done, info))}
        for key, value in row.items():
            buffers[key][slot, t] = value
        state.advance(action, row["reward"], torch.as_tensor(done))
        obs = next_obs
    return obs


class ActorPool:
    """Starts the actor processes, publishes parameters to them and collects their trajectories."""

    def __init__(self, setup: ActorSetup, num_actors: int, slots: int, seed: int, net: torch.nn.Module,
                 start_timeout: float = 300.0):
        ctx = mp.get_context("spawn")
        self.setup = setup
        # actors load torch and build environments first, which on a busy machine can take longer than
        # a short run: the first collect waits (up to start_timeout seconds) for their first trajectory
        self.start_timeout = start_timeout
        self.delivered = False
        self.buffers = trajectory_buffers(setup, slots)
        self.params = {k: v.detach().clone().share_memory_() for k, v in net.state_dict().items()}
        self.version = ctx.Value("l", 0)
        self.lock = ctx.Lock()
        self.free, self.full, self.errors, self.stop = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Event()
        for slot in range(slots):
            self.free.put(slot)
        self.processes = [ctx.Process(target=actor_loop, daemon=True,
                                      args=(i, setup, actor_seed(seed, i), self.params, self.version, self.lock,
                                            self.buffers, self.free, self.full, self.stop, self.errors))
                          for i in range(num_actors)]
        for process in self.processes:
            process.start()
        self._finalizer = weakref.finalize(self, stop_processes, self.processes, self.stop)

    def publish(self, net: torch.nn.Module, version: int) -> None:
        with self.lock:
            for key, value in net.state_dict().items():
                self.params[key].copy_(value)
            self.version.value = version

    def collect(self, limit: int) -> tuple[list[Batch], list[int]]:
        """Up to ``limit`` full trajectories (copied out; their slots freed). Only until the actors'
        first trajectory has arrived does this wait (see ``start_timeout``). Raises if an actor failed."""
        self.check()
        batches, versions = [], []
        while len(batches) < limit:
            slot = self._next_slot(wait=not self.delivered)
            if slot is None:
                break
            self.delivered = True
            b = {k: v[slot].clone() for k, v in self.buffers.items()}
            batches.append(Batch(obs=b["obs"], prev_action=b["prev_action"], prev_reward=b["prev_reward"],
                                 first=b["first"], action=b["action"], reward=b["reward"], terminated=b["terminated"],
                                 truncated=b["truncated"], next_obs=b["next_obs"],
                                 behaviour_log_prob=b["behaviour_log_prob"],
                                 task=torch.zeros_like(b["action"]), start_state=CoreState(b["h"], b["c"])))
            versions.append(int(b["version"]))
            self.free.put(slot)
        return batches, versions

    def _next_slot(self, wait: bool) -> int | None:
        """A full slot; None if there is none and ``wait`` is false. Waiting, it keeps checking for
        failed actors and raises once ``start_timeout`` has passed."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                return self.full.get(timeout=0.5) if wait else self.full.get_nowait()
            except queue.Empty:
                if not wait:
                    return None
            self.check()
            if time.monotonic() >= deadline:
                self.close()
                raise RuntimeError(f"impala: no actor delivered a trajectory within "
                                   f"actor_start_timeout={self.start_timeout:g} s")

    def check(self) -> None:
        """Raise if an actor failed: its traceback, or its exit code if it died before it could tell."""
        try:
            error = self.errors.get_nowait()
        except queue.Empty:
            dead = [(i, p.exitcode) for i, p in enumerate(self.processes) if p.exitcode is not None]
            if not dead:
                return
            time.sleep(0.2)  # a traceback may still be on its way
            try:
                error = self.errors.get_nowait()
            except queue.Empty:
                error = "; ".join(f"actor {i} exited with code {code}" for i, code in dead)
        self.close()
        raise RuntimeError(f"impala actor process failed: {error}")

    def close(self) -> None:
        self._finalizer()


def stop_processes(processes: list[Any], stop: Any) -> None:
    stop.set()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)
