"""One (algorithm, task, seed) run: the interaction loop, evaluation, metrics, checkpoints, resume.

The harness owns everything that must be identical across algorithms for results to compare: the
step budget, seeding, the evaluation protocol (separate environments, episodes, ε), metric rows and
checkpoints. The plugin's agent only acts, observes and learns. Lightning Fabric provides the device,
precision and loggers (CSV and TensorBoard).

Resume is exact: a checkpoint holds the agent's whole state, the training environments (pickled,
where the environment allows it), the current observations and episode accumulators, every RNG and
all metric rows so far. On CPU a resumed run ends with the same metrics as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import platform
import random
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from harness.plugin import Agent, Algorithm, EnvSpec, PluginInfo, Transition, get_algorithm, loaded, plugin_info
from harness.protocol import fingerprint, protocol_of
from harness.store import RunDir, Study, atomic_write_json, config_hash
from harness.suite import Task
from harness.threads import blas_threads, denormals_flushed, flushing_denormals

CHECKPOINT_FORMAT = 1
ProgressCallback = Callable[[dict[str, Any]], None]


class NonFiniteLossError(RuntimeError):
    """A training metric became NaN or infinite: the run is recorded as failed."""


# ----------------------------------------------------------------------------------- run identity

@dataclass(frozen=True)
class RunSpec:
    """What to run. ``hyper`` overrides the task's per-algorithm hyperparameters (CLI, tuning, PBT)."""

    study: str
    algorithm: str
    task: Task
    seed: int
    hyper: Mapping[str, Any] = field(default_factory=dict)
    suite: str = ""
    precision: str = "32-true"

    def overrides(self) -> dict[str, Any]:
        return {**self.task.hyper.get(self.algorithm, {}), **self.hyper}

    def config(self, algo: Algorithm | None = None) -> Any:
        """The algorithm's config dataclass: preset, then suite/task hyperparameters, then overrides."""
        algo = algo or get_algorithm(self.algorithm)
        return algo.resolve_config(self.overrides(), where=f"task {self.task.id!r} hyper.{self.algorithm}")

    def resolve(self, algo: Algorithm | None = None) -> dict[str, Any]:
        """The fully resolved config; its hash is the run id."""
        config = self.config(algo)
        overrides = self.overrides()
        protocol = protocol_of(self.task)
        task = self.task
        resolved = {
            "algorithm": self.algorithm,
            "preset": overrides.get("preset"),
            "hyper": dataclasses.asdict(config),
            "seed": self.seed,
            "task": {"id": task.id, "family": task.env.family, "env": task.env.env_id,
                     "env_options": task.env.kwargs, "budget": task.budget, "num_envs": task.num_envs,
                     "checkpoint_every": task.checkpoint_every, "eval": task.eval.record(),
                     "reference": dataclasses.asdict(task.reference) if task.reference else None},
            "protocol": protocol,
            "fingerprint": fingerprint(protocol),
            "precision": self.precision,
        }
        return resolved

    def run_id(self, algo: Algorithm | None = None) -> str:
        return config_hash(self.resolve(algo))


@dataclass
class RunResult:
    run_id: str
    path: Path
    state: str
    metrics: Any  # pandas.DataFrame
    resumed_from: int = 0

    @property
    def final_return(self) -> float:
        return float(self.metrics["return_mean"].iloc[-1]) if len(self.metrics) else float("nan")


# ---------------------------------------------------------------------------------- provenance

def package_versions(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    names = ["rl-harness", "torch", "numpy", "gymnasium", "ale-py", "mujoco", "minatar", "lightning-fabric",
             "pandas", "pyarrow", "scipy"]
    versions: dict[str, str] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    versions.update(extra or {})
    return versions


def git_commit() -> dict[str, Any]:
    """The harness checkout's commit and whether it had uncommitted changes (None outside git)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(dirty) if commit else None}


def build_manifest(resolved: Mapping[str, Any], plugin: PluginInfo | None, fabric: Any) -> dict[str, Any]:
    import torch

    extra = {plugin.package: plugin.version} if plugin else {}
    return {
        "config": resolved,
        "protocol": resolved["protocol"],
        "fingerprint": resolved["fingerprint"],
        "plugin": {"name": resolved["algorithm"], "package": plugin.package if plugin else None,
                   "version": plugin.version if plugin else None, "entry_point": plugin.entry_point if plugin else None},
        "versions": package_versions(extra),
        "git": git_commit(),
        "device": str(fabric.device),
        "threads": {"torch": torch.get_num_threads(), "blas": blas_threads()},
        "denormals_flushed": denormals_flushed(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "argv": sys.argv,
        "created": time.time(),
    }


# ---------------------------------------------------------------------------------------- fabric

def make_fabric(run: RunDir, precision: str = "32-true", loggers: bool = True, segment: str = "") -> Any:
    """Fabric on CUDA when present, else CPU; CSV and TensorBoard loggers under the run's logs/.

    Each resumed segment logs to its own version folder, so no earlier log is overwritten.
    """
    import torch
    from lightning_fabric import Fabric
    from lightning_fabric.loggers import CSVLogger, TensorBoardLogger

    accelerator = "cuda" if torch.cuda.is_available() else "cpu"
    chosen = []
    if loggers:
        chosen = [CSVLogger(str(run.logs_path), name="csv", version=segment),
                  TensorBoardLogger(str(run.logs_path), name="tensorboard", version=segment)]
    fabric = Fabric(accelerator=accelerator, devices=1, precision=precision, loggers=chosen)
    return fabric


# ------------------------------------------------------------------------------------------ RNGs

def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: Mapping[str, Any]) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


# ------------------------------------------------------------------------------------ evaluation

def evaluate(agent: Agent, envs: Any, episodes: int, epsilon: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of exactly ``episodes`` evaluation episodes, spread evenly over the envs.

    Each env runs a fixed quota of episodes, so short episodes are not over-represented. With
    ε > 0 and discrete actions, a uniformly random action replaces the greedy one with probability ε.
    """
    n = envs.num_envs
    quota = np.array([episodes // n + (1 if i < episodes % n else 0) for i in range(n)])
    finished = np.zeros(n, dtype=np.int64)
    returns: list[float] = []
    lengths: list[int] = []
    running_return = np.zeros(n)
    running_length = np.zeros(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    discrete = hasattr(envs.single_action_space, "n")
    obs, _ = envs.reset(seed=seed)
    agent.begin_evaluation(n)
    while (finished < quota).any():
        action = agent.act(obs, explore=False)
        if epsilon > 0 and discrete:
            explore = rng.random(n) < epsilon
            if explore.any():
                action = np.where(explore, rng.integers(envs.single_action_space.n, size=n), action)
        obs, reward, terminated, truncated, info = envs.step(action)
        running_return += info.get("raw_reward", reward)
        running_length += 1
        done = terminated | truncated
        if done.any():
            for i in np.flatnonzero(done):
                if finished[i] < quota[i]:
                    returns.append(float(running_return[i]))
                    lengths.append(int(running_length[i]))
                    finished[i] += 1
            running_return[done] = 0.0
            running_length[done] = 0
        agent.evaluation_step(action, reward, done)
    agent.end_evaluation()
    return np.asarray(returns), np.asarray(lengths)


def true_next_obs(next_obs: np.ndarray, done: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
    """The successor observation of each env: the final observation where an episode just ended."""
    if not done.any():
        return next_obs
    real = next_obs.copy()
    final = info["final_obs"]
    for i in np.flatnonzero(info["_final_obs"]):
        real[i] = final[i]
    return real


# -------------------------------------------------------------------------------------- the run

class Runner:
    """Executes one run into its run directory, resuming from its checkpoint when there is one."""

    def __init__(self, spec: RunSpec, root: Path, progress: ProgressCallback | None = None,
                 progress_every: float = 1.0, loggers: bool = True, stop_at: int | None = None):
        self.spec = spec
        self.plugin = plugin_info(spec.algorithm)
        self.algo = loaded(self.plugin)
        self.resolved = spec.resolve(self.algo)
        self.run_id = config_hash(self.resolved)
        self.study = Study(Path(root), spec.study)
        self.dir = self.study.run(self.run_id)
        self.progress = progress
        self.progress_every = progress_every
        self.loggers = loggers
        self.stop_at = stop_at  # pause (checkpointed, state "paused") once this many steps are done

    # ------------------------------------------------------------------------------ entry point
    def execute(self) -> RunResult:
        with flushing_denormals():  # the agent's threads, started in it, inherit the mode (harness/threads.py)
            return self._execute()

    def _execute(self) -> RunResult:
        task, seed = self.spec.task, self.spec.seed
        run = self.dir
        run.path.mkdir(parents=True, exist_ok=True)
        if run.read_status()["state"] == "done":
            return RunResult(self.run_id, run.path, "done", run.read_metrics())
        checkpoint = run.load_checkpoint()
        if checkpoint is not None and (checkpoint.get("run_id") != self.run_id
                                       or checkpoint.get("format") != CHECKPOINT_FORMAT):
            raise RuntimeError(f"{run.checkpoint_path}: belongs to another run or checkpoint format")
        state = LoopState.fresh(task) if checkpoint is None else LoopState.from_checkpoint(checkpoint)

        envs = pickle.loads(checkpoint["envs"]) if checkpoint is not None and checkpoint["envs"] else None
        if envs is None:
            envs = task.env.make_vector(task.num_envs, seed, evaluation=False)
        eval_envs = task.env.make_vector(min(task.eval.num_envs, task.eval.episodes), seed + 10_000, evaluation=True)
        spec = EnvSpec(task.id, envs.single_observation_space, envs.single_action_space, envs.num_envs,
                       task.env.frames_per_step(), env=task.env)
        reason = self.algo.unsupported_reason(spec)
        if reason:
            raise RuntimeError(reason)

        fabric = make_fabric(run, self.spec.precision, self.loggers, segment=f"from-step-{state.step}")
        expected = os.environ.get("HARNESS_EXPECT_DEVICE")
        if expected and fabric.device.type != expected:
            raise RuntimeError(f"run was given a {expected} slot (CUDA_VISIBLE_DEVICES="
                               f"{os.environ.get('CUDA_VISIBLE_DEVICES')}) but landed on {fabric.device}")
        seed_everything(seed)
        agent = self.algo.make_agent(spec, self.spec.config(self.algo), seed, fabric)
        if not run.config_path.exists():
            atomic_write_json(run.config_path, {"study": self.spec.study, "run_id": self.run_id,
                                                "suite": self.spec.suite, **self.resolved})
            atomic_write_json(run.manifest_path,
                              build_manifest(self.resolved, self.plugin, fabric))

        if checkpoint is None:
            obs, _ = envs.reset(seed=seed)
        else:
            agent.load_state_dict(checkpoint["agent"])
            set_rng_state(checkpoint["rng"])
            if checkpoint["envs"] is not None:
                obs = checkpoint["obs"]
            else:  # the environments could not be saved: start fresh episodes, seeded by the step
                obs, _ = envs.reset(seed=seed + state.step)
                state.episode_return[:] = 0.0
                state.episode_length[:] = 0
        run.write_status("running", step=state.step, budget=task.budget, resumed_from=state.step)
        try:
            self._loop(agent, envs, eval_envs, obs, state, fabric)
        finally:
            envs.close()
            eval_envs.close()
            for logger in fabric.loggers:
                logger.finalize("success")
        resumed_from = checkpoint["step"] if checkpoint else 0
        if state.step < task.budget and not state.solved:  # stopped at stop_at: checkpointed at this step
            run.write_status("paused", step=state.step, budget=task.budget, resumed_from=resumed_from)
            return RunResult(self.run_id, run.path, "paused", run.read_metrics(), resumed_from=resumed_from)
        solved = {"solved_at": state.step} if state.solved else {}  # eval.stop_return reached
        run.write_status("done", step=state.step, budget=task.budget, wall_time=state.wall_time,
                         resumed_from=resumed_from, **solved)
        return RunResult(self.run_id, run.path, "done", run.read_metrics(), resumed_from=resumed_from)

    # ------------------------------------------------------------------------------- the loop
    def _loop(self, agent: Agent, envs: Any, eval_envs: Any, obs: np.ndarray, state: "LoopState", fabric: Any) -> None:
        task = self.spec.task
        num_envs = envs.num_envs
        budget = task.budget
        started = time.perf_counter() - state.wall_time
        last_report = time.perf_counter()
        last_report_step = state.step
        sums, counts = state.metric_sums, state.metric_counts
        limit = budget if self.stop_at is None else min(budget, self.stop_at)
        while state.step < limit and not state.solved:
            action = agent.act(obs)
            next_obs, reward, terminated, truncated, info = envs.step(action)
            done = terminated | truncated
            metrics = agent.observe(Transition(obs, action, reward, true_next_obs(next_obs, done, info),
                                               terminated, truncated))
            if metrics:
                for key, value in metrics.items():
                    value = float(value)
                    if not math.isfinite(value):
                        raise NonFiniteLossError(f"training metric {key!r} became {value} at step {state.step}")
                    sums[key] = sums.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1
            state.episode_return += info.get("raw_reward", reward)
            state.episode_length += 1
            if done.any():
                # A game ends where the env reset it (the final-obs mask); a life-loss "terminated"
                # (Atari's nature2015 training protocol) ends no game and no logged episode.
                ended = info.get("_final_obs", done)
                for i in np.flatnonzero(ended):
                    state.train_returns.append(float(state.episode_return[i]))
                state.episode_return[ended] = 0.0
                state.episode_length[ended] = 0
            obs = next_obs
            state.step += num_envs

            evaluate = state.step >= state.next_eval or state.step >= budget
            if evaluate or state.step >= state.next_checkpoint or state.step >= limit:
                state.wall_time = time.perf_counter() - started
                if evaluate:
                    self._evaluate(agent, eval_envs, state, fabric)
                    stop_return = task.eval.stop_return
                    state.solved = stop_return is not None and state.rows[-1]["return_mean"] >= stop_return
                self._checkpoint(agent, envs, obs, state)
                started = time.perf_counter() - state.wall_time  # wall_time counts training, not these pauses
            if self.progress is not None and time.perf_counter() - last_report >= self.progress_every:
                now = time.perf_counter()
                self.progress({"run_id": self.run_id, "step": state.step, "budget": budget,
                               "sps": (state.step - last_report_step) / (now - last_report),
                               "last_eval": state.rows[-1]["return_mean"] if state.rows else None})
                last_report, last_report_step = now, state.step

    def _evaluate(self, agent: Agent, eval_envs: Any, state: "LoopState", fabric: Any) -> None:
        task = self.spec.task
        index = len(state.rows)
        returns, lengths = evaluate(agent, eval_envs, task.eval.episodes, task.eval.epsilon,
                                    seed=self.spec.seed * 1_000_003 + index)
        row: dict[str, Any] = {
            "study": self.spec.study, "algorithm": self.spec.algorithm, "task": task.id, "seed": self.spec.seed,
            "run_id": self.run_id, "env_steps": state.step, "frames": state.step * task.env.frames_per_step(),
            "wall_time": state.wall_time, "return_mean": float(returns.mean()), "return_std": float(returns.std()),
            "return_median": float(np.median(returns)), "return_min": float(returns.min()),
            "return_max": float(returns.max()), "episodes": int(len(returns)), "length_mean": float(lengths.mean()),
            "protocol": self.resolved["fingerprint"],
        }
        if state.train_returns:
            row["train/return_mean"] = float(np.mean(state.train_returns))
            row["train/episodes"] = len(state.train_returns)
        for key, total in state.metric_sums.items():
            row[f"train/{key}"] = total / state.metric_counts[key]
        state.rows.append(row)
        state.train_returns.clear()
        state.metric_sums.clear()
        state.metric_counts.clear()
        every = task.eval.every
        state.next_eval = (state.step // every + 1) * every
        if not task.eval.final and state.next_eval > task.budget:
            state.next_eval = math.inf
        self.dir.write_metrics(state.rows)
        numeric = {k: v for k, v in row.items() if isinstance(v, (int, float)) and k not in ("seed",)}
        fabric.log_dict(numeric, step=state.step)

    def _checkpoint(self, agent: Agent, envs: Any, obs: np.ndarray, state: "LoopState") -> None:
        try:
            env_blob: bytes | None = pickle.dumps(envs)
        except Exception:
            env_blob = None  # e.g. a native vector env: resume resets the environments instead
        state.next_checkpoint = (state.step // self.spec.task.checkpoint_every + 1) * self.spec.task.checkpoint_every
        self.dir.save_checkpoint({
            "format": CHECKPOINT_FORMAT, "run_id": self.run_id, "agent": agent.state_dict(), "envs": env_blob,
            "obs": obs, "rng": rng_state(), **state.to_checkpoint(),
        })
        self.dir.write_status("running", step=state.step, budget=self.spec.task.budget,
                              env_state_restorable=env_blob is not None)


@dataclass
class LoopState:
    """The harness's side of a run's state: counters, accumulators and metric rows."""

    step: int
    next_eval: float
    next_checkpoint: int
    wall_time: float
    episode_return: np.ndarray
    episode_length: np.ndarray
    train_returns: list[float]
    metric_sums: dict[str, float]
    metric_counts: dict[str, int]
    rows: list[dict[str, Any]]
    solved: bool = False  # an evaluation reached the task's eval.stop_return: the run is over

    @classmethod
    def fresh(cls, task: Task) -> "LoopState":
        return cls(step=0, next_eval=min(task.eval.every, task.budget), next_checkpoint=task.checkpoint_every,
                   wall_time=0.0, episode_return=np.zeros(task.num_envs), episode_length=np.zeros(task.num_envs, dtype=np.int64),
                   train_returns=[], metric_sums={}, metric_counts={}, rows=[])

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping[str, Any]) -> "LoopState":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: checkpoint[k] for k in fields if k in checkpoint})  # older checkpoints lack solved

    def to_checkpoint(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


# ------------------------------------------------------------------------------------ public API

def train(algorithm: str, task: Task, seed: int = 0, *, root: Path | str = "results", study: str = "default",
          hyper: Mapping[str, Any] | None = None, progress: ProgressCallback | None = None) -> RunResult:
    """Run (or resume, or skip if done) one run in-process and return its result."""
    spec = RunSpec(study=study, algorithm=algorithm, task=task, seed=seed, hyper=dict(hyper or {}))
    return Runner(spec, Path(root), progress=progress).execute()


def execute_recording_failure(spec: RunSpec, root: Path, progress: ProgressCallback | None = None,
                              prepare: Callable[[Runner], None] | None = None) -> str:
    """Execute a run; on any exception record it as failed with its traceback. Returns the final state.

    ``prepare`` adjusts the runner before it starts (a streaming worker swaps in its run directory)."""
    runner = None
    try:
        runner = Runner(spec, root, progress=progress)
        if prepare is not None:
            prepare(runner)
        runner.execute()
        return "done"
    except BaseException as err:
        if runner is not None:
            runner.dir.path.mkdir(parents=True, exist_ok=True)
            runner.dir.write_status("failed", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
        if isinstance(err, KeyboardInterrupt):
            raise
        return "failed"
