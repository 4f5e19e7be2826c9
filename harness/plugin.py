"""The plugin contract and entry-point discovery.

An algorithm is an :class:`Algorithm` object exposed through the entry-point group
``harness.algorithms``. The harness owns the loop (steps, seeding, evaluation, checkpoints); the
plugin owns only its learning rule, behind the small :class:`Agent` interface below. Built-in
algorithms are registered exactly like third-party ones.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Mapping

import numpy as np

from harness.errors import UserError

ENTRY_POINT_GROUP = "harness.algorithms"

# Observation kinds: "vector" (1-D Box), "image" (3-D Box, channels first, uint8 frames).
# Action kinds: "discrete" (Discrete), "continuous" (Box).
OBSERVATION_KINDS = ("vector", "image")
ACTION_KINDS = ("discrete", "continuous")


class PluginError(UserError):
    """A user-facing error about plugins: printed as one line, exit status 2."""


def observation_kind(space: Any) -> str:
    """Classify a gymnasium observation space into one of OBSERVATION_KINDS (or 'unsupported')."""
    from gymnasium import spaces

    if isinstance(space, spaces.Box):
        if len(space.shape) == 1:
            return "vector"
        if len(space.shape) == 3:
            return "image"
    return f"unsupported ({type(space).__name__} {getattr(space, 'shape', '')})"


def action_kind(space: Any) -> str:
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        return "discrete"
    if isinstance(space, spaces.Box) and len(space.shape) == 1:
        return "continuous"
    return f"unsupported ({type(space).__name__})"


@dataclass(frozen=True)
class EnvSpec:
    """What an agent may know about its environments before acting.

    ``observation_space`` and ``action_space`` are the single-environment spaces; the agent acts
    on batches of ``num_envs`` observations at once.
    """

    task: str
    observation_space: Any
    action_space: Any
    num_envs: int
    frames_per_step: int = 1
    # the task's buildable environment (harness.envs.EnvRef: id, family, env_options), for agents
    # that build their own copies (impala's actors); None where a caller does not give one
    env: Any = None

    @property
    def observation_kind(self) -> str:
        return observation_kind(self.observation_space)

    @property
    def action_kind(self) -> str:
        return action_kind(self.action_space)


@dataclass
class Transition:
    """One batched environment step, ``num_envs`` rows in every array.

    ``next_obs`` is the true successor: for a row whose episode ended it is the final observation
    of that episode, not the first observation of the next one. ``terminated`` rows must not
    bootstrap; ``truncated`` rows (time limits) must.
    """

    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray

    @property
    def done(self) -> np.ndarray:
        return np.logical_or(self.terminated, self.truncated)


class Agent(ABC):
    """A learning agent acting on a batch of vectorized environments.

    The harness calls ``act`` then ``observe`` once per environment step; the agent decides when to
    learn. ``state_dict`` must capture *all* state (networks, optimizers, replay, RNGs, counters) so
    that a run restored from it continues exactly as if it had never stopped.
    """

    @abstractmethod
    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        """Actions for a batch of observations; ``explore=False`` is the greedy/evaluation policy."""

    @abstractmethod
    def observe(self, transition: Transition) -> Mapping[str, float] | None:
        """Store a batched transition, learn if due; return scalar training metrics or None."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (tensors, numpy arrays, plain Python values)."""

    @abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""

    # Evaluation hooks, for agents with per-episode state (recurrent cores): the harness evaluates on
    # separate environments, so such an agent keeps a separate evaluation state between these calls.
    def begin_evaluation(self, num_envs: int) -> None:
        """Evaluation on ``num_envs`` fresh environments starts; ``act(..., explore=False)`` follows."""

    def evaluation_step(self, action: np.ndarray, reward: np.ndarray, done: np.ndarray) -> None:
        """After each evaluation step: the actions taken (an evaluation ε may have replaced the agent's
        own), the rewards, and which evaluation environments just ended an episode."""

    def end_evaluation(self) -> None:
        """Evaluation is over; training acting resumes from the training state."""

    def set_hyperparameters(self, values: Mapping[str, Any]) -> None:
        """Change hyperparameters mid-run (population-based training). Override where supported."""
        raise PluginError(f"{type(self).__name__} does not support changing hyperparameters mid-run")


AgentFactory = Callable[[EnvSpec, Any, int, Any], Agent]


@dataclass(frozen=True)
class Algorithm:
    """What a plugin registers: a name, a config dataclass, supported spaces and an agent factory.

    ``make_agent(spec, config, seed, fabric)`` builds the agent; place tensors on
    ``fabric.device``. ``presets`` maps a preset name (e.g. a suite's hyperparameter setting from a
    paper) to config overrides. ``search_space`` declares tunable hyperparameters for
    ``harness tune``: ``{"lr": ("log_float", 1e-5, 1e-2), "gamma": ("float", 0.9, 0.999),
    "batch_size": ("categorical", [32, 64, 128])}``.
    """

    name: str
    summary: str
    config: type
    make_agent: AgentFactory
    observations: tuple[str, ...] = ("vector",)
    actions: tuple[str, ...] = ("discrete",)
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    search_space: Mapping[str, tuple] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not dataclasses.is_dataclass(self.config):
            raise PluginError(f"algorithm {self.name!r}: config must be a dataclass, got {self.config!r}")
        for kind in self.observations:
            if kind not in OBSERVATION_KINDS:
                raise PluginError(f"algorithm {self.name!r}: unknown observation kind {kind!r}; allowed: {', '.join(OBSERVATION_KINDS)}")
        for kind in self.actions:
            if kind not in ACTION_KINDS:
                raise PluginError(f"algorithm {self.name!r}: unknown action kind {kind!r}; allowed: {', '.join(ACTION_KINDS)}")

    def unsupported_reason(self, spec: EnvSpec) -> str | None:
        """Why this algorithm cannot run on ``spec``, or None if it can."""
        if spec.observation_kind not in self.observations:
            return (f"algorithm {self.name!r} supports observations {'/'.join(self.observations)}, "
                    f"but task {spec.task!r} has {spec.observation_kind} observations")
        if spec.action_kind not in self.actions:
            return (f"algorithm {self.name!r} supports {'/'.join(self.actions)} actions, "
                    f"but task {spec.task!r} has {spec.action_kind} actions")
        return None

    def resolve_config(self, overrides: Mapping[str, Any] | None = None, where: str = "") -> Any:
        """Build the config dataclass from an optional ``preset`` name plus overrides, validated.

        Raises PluginError naming ``where`` (e.g. ``suites/x.toml: tasks[0].hyper.dqn``), the field
        and what is allowed.
        """
        values = dict(overrides or {})
        preset = values.pop("preset", None)
        prefix = f"{where}: " if where else ""
        merged: dict[str, Any] = {}
        if preset is not None:
            if preset not in self.presets:
                allowed = ", ".join(sorted(self.presets)) or "(none)"
                raise PluginError(f"{prefix}preset {preset!r} is not defined by algorithm {self.name!r}; allowed: {allowed}")
            merged.update(self.presets[preset])
        merged.update(values)
        fields = {f.name: f for f in dataclasses.fields(self.config)}
        hints = typing.get_type_hints(self.config)
        for key, value in merged.items():
            if key not in fields:
                raise PluginError(f"{prefix}unknown hyperparameter {key!r} for algorithm {self.name!r}; allowed: {', '.join(sorted(fields))}")
            merged[key] = coerce(value, hints[key], f"{prefix}hyperparameter {key!r} of {self.name!r}")
        return self.config(**merged)


def coerce(value: Any, annotation: Any, what: str) -> Any:
    """Check ``value`` against a simple type annotation (ints widen to floats); raise PluginError."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(annotation):
            try:
                return coerce(value, option, what)
            except PluginError as err:
                errors.append(str(err))
        raise PluginError(f"{what} must be {format_type(annotation)}, got {value!r}")
    if annotation is type(None):
        if value is None:
            return None
        raise PluginError(f"{what} must be None, got {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise PluginError(f"{what} must be a list, got {value!r}")
        args = typing.get_args(annotation)
        inner = args[0] if args else Any
        items = [coerce(v, inner, what) for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is Any:
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PluginError(f"{what} must be a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise PluginError(f"{what} must be an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise PluginError(f"{what} must be true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise PluginError(f"{what} must be a string, got {value!r}")
        return value
    if typing.get_origin(annotation) is typing.Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise PluginError(f"{what} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value
    return value


def format_type(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


# --------------------------------------------------------------------------------------- discovery

@dataclass(frozen=True)
class PluginInfo:
    """One discovered entry point: the loaded algorithm, or the error that kept it from loading."""

    name: str
    package: str
    version: str
    entry_point: str
    algorithm: Algorithm | None = None
    error: str | None = None

    @property
    def broken(self) -> bool:
        return self.algorithm is None


def _entry_points() -> list[tuple[Any, str, str]]:
    found = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        found.append((ep, dist.metadata["Name"] if dist is not None else "?", dist.version if dist is not None else "?"))
    return found


def _load(ep: Any, package: str, version: str) -> PluginInfo:
    try:
        obj = ep.load()
        if callable(obj) and not isinstance(obj, Algorithm):
            obj = obj()
        if not isinstance(obj, Algorithm):
            raise PluginError(f"entry point {ep.value!r} gave {type(obj).__name__}, not harness.plugin.Algorithm")
        if obj.name != ep.name:
            raise PluginError(f"entry point {ep.name!r} loads an algorithm named {obj.name!r}")
        return PluginInfo(ep.name, package, version, ep.value, algorithm=obj)
    except Exception as err:  # a broken plugin must not break the others
        return PluginInfo(ep.name, package, version, ep.value, error=f"{type(err).__name__}: {err}")


def discover() -> list[PluginInfo]:
    """Load every entry point of the group; a plugin that fails to import is kept as broken."""
    return sorted((_load(*found) for found in _entry_points()), key=lambda p: (p.name, p.package))


def _check_unique(found: list[tuple[Any, str, str]]) -> dict[str, tuple[Any, str, str]]:
    by_name: dict[str, tuple[Any, str, str]] = {}
    for ep, package, version in found:
        if ep.name in by_name and by_name[ep.name][0].value != ep.value:
            other_ep, other_package, _ = by_name[ep.name]
            raise PluginError(
                f"algorithm name {ep.name!r} is registered twice: by package {other_package} "
                f"({other_ep.value}) and by package {package} ({ep.value}); uninstall one")
        by_name[ep.name] = (ep, package, version)
    return by_name


def check_unique_names() -> None:
    """Raise PluginError if two packages register one algorithm name (nothing is imported)."""
    _check_unique(_entry_points())


def plugin_info(name: str) -> PluginInfo:
    """Load just one plugin (others are not imported), after checking names are unique."""
    by_name = _check_unique(_entry_points())
    if name not in by_name:
        raise PluginError(f"unknown algorithm {name!r}; installed: {', '.join(sorted(by_name)) or '(none)'}")
    return _load(*by_name[name])


def get_algorithm(name: str) -> Algorithm:
    return loaded(plugin_info(name))


def loaded(info: PluginInfo) -> Algorithm:
    """The plugin's algorithm, or a PluginError saying why it is broken."""
    if info.algorithm is None:
        raise PluginError(f"algorithm {info.name!r} from package {info.package} is broken: {info.error}")
    return info.algorithm
