"""Public replay buffers: uniform and proportional prioritized, with n-step returns, stored compactly.

Why this layout. Every environment of a vector gets its own column of a preallocated ring
``frames[T, num_envs, ...]``; a step writes one slot per environment. A transition lives in the
slot of its observation and its successor is simply the next slot of the same column, so
``next_obs`` is never stored twice. For frame-stacked images (``frame_stack=k > 1``) a slot holds
only the newest frame and a stack is rebuilt from the ``k`` slots ending there: the first
observation of an episode writes its whole stack (``k`` slots, whatever padding the environment
used), every later observation one frame, and an episode's true final observation one frame too.
Stacks are therefore rebuilt exactly, across episode ends and vectorized environments, in uint8.

n-step returns are computed at sampling time from the stored rewards (so a changed ``gamma``
applies at once): the window stops at the episode's end, a terminated end does not bootstrap, a
truncated one bootstraps from its final observation. A transition becomes sampleable once its
window is complete; a slot whose stack would reach into overwritten slots is withdrawn.

Writing a step is one compiled pass (``harness.replay_kernels.add_step``). Sampling is batched:
numpy calls for gathering, compiled loops for n-step windows and for prioritized replay's
:class:`SumTree` draws, importance weights and priority updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np


class SumTree:
    """Sums of non-negative leaf values in a complete binary tree stored in one float64 array.

    ``tree[1]`` is the total; leaves sit at ``tree[size:size+capacity]``. Parents are recomputed
    from their children on update (never incremented), so totals do not drift.
    """

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self.size = 1 << max(0, (self.capacity - 1).bit_length())
        self.tree = np.zeros(2 * self.size, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def get(self, index: np.ndarray) -> np.ndarray:
        return self.tree[np.asarray(index) + self.size]

    def update(self, index: np.ndarray, value: np.ndarray) -> None:
        """Set leaves ``index`` to ``value`` (the last write wins for a repeated index)."""
        index = np.asarray(index, dtype=np.int64).ravel()
        value = np.broadcast_to(np.asarray(value, dtype=np.float64), index.shape)
        _kernels().update(self.tree, self.size, index, np.ascontiguousarray(value))

    def find(self, mass: np.ndarray) -> np.ndarray:
        """Leaf indices whose cumulative-sum interval contains each ``mass`` in [0, total)."""
        mass = np.asarray(mass, dtype=np.float64)
        return _kernels().find(self.tree, self.size, np.ascontiguousarray(mass.ravel())).reshape(mass.shape)


def _kernels() -> Any:
    """The replay's compiled loops (numba, cached on disk), imported on first use so that importing
    this module stays cheap. Why compiled: the vectorized numpy version walks the tree's ~16 levels
    with ~6 calls each, 0.2-0.5 ms per batch, a sixth of a CartPole Rainbow update, and writes a step
    in ~20 calls; these loops take microseconds."""
    from harness import replay_kernels

    return replay_kernels


@dataclass
class Batch:
    """A sampled batch (numpy). ``discount`` is γ^m where the window bootstraps, 0 where it ended
    terminated; ``weights`` are importance weights (ones for uniform replay); ``index`` identifies
    the sampled slots for :meth:`ReplayBuffer.update_priorities`."""

    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    next_obs: np.ndarray
    discount: np.ndarray
    weights: np.ndarray
    index: np.ndarray


class ReplayBuffer:
    """Uniform replay over vectorized environments, compact frames, n-step returns.

    ``capacity`` counts slots over all environments; ``add`` takes one batched step (``num_envs``
    rows) in the :class:`harness.plugin.Transition` convention (``next_obs`` is the true successor).
    """

    prioritized = False

    def __init__(self, capacity: int, num_envs: int, obs_shape: tuple[int, ...], obs_dtype: Any = np.float32,
                 action_shape: tuple[int, ...] = (), action_dtype: Any = np.int64, frame_stack: int = 1,
                 n_step: int = 1):
        self.num_envs = int(num_envs)
        self.rows = max(int(capacity) // self.num_envs, 1)
        self.k = int(frame_stack)
        self.n_step = int(n_step)
        if self.rows < 2 * (self.k + self.n_step + 1):
            raise ValueError(f"replay of {capacity} slots is too small for {num_envs} envs, frame_stack {frame_stack}, n_step {n_step}")
        self.obs_shape = tuple(obs_shape)
        frame_shape = self.obs_shape[1:] if self.k > 1 else self.obs_shape
        if self.k > 1 and self.obs_shape[0] != self.k:
            raise ValueError(f"frame_stack={self.k} needs observations shaped ({self.k}, ...), got {self.obs_shape}")
        T, E = self.rows, self.num_envs
        self.frames = np.zeros((T, E, *frame_shape), dtype=obs_dtype)
        self.action = np.zeros((T, E, *action_shape), dtype=action_dtype)
        self.reward = np.zeros((T, E), dtype=np.float32)
        self.terminated = np.zeros((T, E), dtype=bool)
        self.ended = np.zeros((T, E), dtype=bool)  # the episode ended (terminated or truncated) here
        self.valid = np.zeros((T, E), dtype=bool)  # a complete, sampleable transition starts here
        self.pos = np.zeros(E, dtype=np.int64)  # next slot to write, per column (monotone, not wrapped)
        self.episode_steps = np.zeros(E, dtype=np.int64)  # transitions of the running episode so far
        self.continuing = np.zeros(E, dtype=bool)  # the next obs already sits at slot pos-1
        self.num_valid = 0
        # add()'s record of the slots it admitted or withdrew, at most E·(k² + k + n) a step
        self._changed = np.empty(E * (self.k * self.k + self.k + self.n_step), dtype=np.int64)
        self._admitted = np.empty(len(self._changed), dtype=bool)

    # ------------------------------------------------------------------------------ writing
    def __len__(self) -> int:
        return self.num_valid

    def _priorities_changed(self, flat: np.ndarray, admitted: np.ndarray) -> None:
        """Hook for prioritized replay: the slots ``flat`` (in order) were admitted, at the maximal
        priority, where ``admitted`` is set, and withdrawn elsewhere."""

    def add(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray,
            terminated: np.ndarray, truncated: np.ndarray) -> None:
        """One batched step, in one compiled pass (``replay_kernels.add_step``: ~20 numpy calls took
        ~90 µs a step, a third of a one-env CartPole step)."""
        E, T = self.num_envs, self.rows
        frames = self.frames.reshape(T, E, -1)
        stacks = (E, self.k, frames.shape[2])
        obs, next_obs = np.asarray(obs), np.asarray(next_obs)
        if self.k > 1 and not np.array_equal(next_obs[:, :-1], obs[:, 1:]):  # before any write
            raise ValueError("frame_stack > 1 but next_obs is not obs shifted by one frame; use frame_stack=1")
        change, written = _kernels().add_step(
            frames, self.action.reshape(T, E, -1), self.reward, self.terminated, self.ended, self.valid,
            self.pos, self.episode_steps, self.continuing,
            np.ascontiguousarray(obs, dtype=frames.dtype).reshape(stacks),
            np.ascontiguousarray(action, dtype=self.action.dtype).reshape(E, -1),
            np.ascontiguousarray(reward, dtype=self.reward.dtype),
            np.ascontiguousarray(next_obs, dtype=frames.dtype).reshape(stacks),
            np.ascontiguousarray(terminated, dtype=bool), np.ascontiguousarray(truncated, dtype=bool),
            self.n_step, self._changed, self._admitted)
        self.num_valid += change
        if written:
            self._priorities_changed(self._changed[:written], self._admitted[:written])

    # ----------------------------------------------------------------------------- sampling
    def _uniform_slots(self, rng: np.random.Generator, batch_size: int) -> np.ndarray:
        """Flat slot indices uniform over valid transitions (uniform over a covering box, rejected)."""
        if self.num_valid == 0:
            raise ValueError("no complete transition to sample yet")
        filled = int(min(self.pos.max(), self.rows))
        out = np.empty(batch_size, dtype=np.int64)
        todo = np.arange(batch_size)
        while len(todo):
            flat = rng.integers(filled * self.num_envs, size=len(todo))
            ok = self.valid.ravel()[flat]
            out[todo[ok]] = flat[ok]
            todo = todo[~ok]
        return out

    def _stack(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        if self.k == 1:
            return self.frames[rows % self.rows, cols]
        window = (rows[:, None] + np.arange(1 - self.k, 1)) % self.rows
        return self.frames[window, cols[:, None]]

    def gather(self, flat: np.ndarray, gamma: float) -> tuple[np.ndarray, ...]:
        """obs, action, n-step reward, bootstrap obs and discount for flat slot indices."""
        rows, cols = np.divmod(flat, self.num_envs)
        n = self.n_step
        if n == 1:
            reward = self.reward[rows, cols]
            discount = np.where(self.terminated[rows, cols], 0.0, gamma).astype(np.float32)
            boot = rows + 1
        else:  # up to n steps, up to and including the first episode end in the window
            reward, discount, boot = _kernels().n_step_returns(self.reward, self.terminated, self.ended, rows, cols,
                                                               n, float(gamma))
        return (self._stack(rows, cols), self.action[rows, cols], reward, self._stack(boot, cols), discount)

    def sample(self, batch_size: int, rng: np.random.Generator, gamma: float, beta: float = 1.0) -> Batch:
        flat = self._uniform_slots(rng, batch_size)
        obs, action, reward, next_obs, discount = self.gather(flat, gamma)
        return Batch(obs, action, reward, next_obs, discount, np.ones(batch_size, np.float32), flat)

    def update_priorities(self, index: np.ndarray, priority: np.ndarray) -> None:
        """Uniform replay ignores priorities (so agents need not branch)."""

    # ------------------------------------------------------------------------------- state
    _ARRAYS = ("frames", "action", "reward", "terminated", "ended", "valid", "pos", "episode_steps", "continuing")

    def state_dict(self) -> dict[str, Any]:
        filled = int(min(self.pos.max(), self.rows))  # only filled rows: checkpoints stay small early on
        state: dict[str, Any] = {"filled": filled, "num_valid": self.num_valid}
        for name in self._ARRAYS:
            array = getattr(self, name)
            state[name] = array[:filled].copy() if array.shape[:1] == (self.rows,) else array.copy()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        filled = int(state["filled"])
        for name in self._ARRAYS:
            array = getattr(self, name)
            if array.shape[:1] == (self.rows,):
                array[:] = 0
                array[:filled] = state[name]
            else:
                array[:] = state[name]
        self.num_valid = int(state["num_valid"])


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016): P(i) = p_i^α / Σ p^α, new transitions
    at the maximal priority seen, importance weights (N·P(i))^-β normalized by the batch maximum."""

    prioritized = True

    def __init__(self, *args: Any, alpha: float = 0.6, eps: float = 1e-6, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.alpha = float(alpha)
        self.eps = float(eps)
        self.max_priority = 1.0
        self.tree = SumTree(self.rows * self.num_envs)

    def _priorities_changed(self, flat: np.ndarray, admitted: np.ndarray) -> None:
        self.tree.update(flat, np.where(admitted, self.max_priority ** self.alpha, 0.0))

    def update_priorities(self, index: np.ndarray, priority: np.ndarray) -> None:
        """|priority| + eps, to the power α; a slot withdrawn since sampling keeps priority 0."""
        top = _kernels().set_priorities(self.tree.tree, self.tree.size, np.ascontiguousarray(index, dtype=np.int64),
                                        np.ascontiguousarray(priority), self.valid.ravel(), self.eps, self.alpha)
        self.max_priority = max(self.max_priority, top)

    def sample(self, batch_size: int, rng: np.random.Generator, gamma: float, beta: float = 1.0) -> Batch:
        if self.num_valid == 0:
            raise ValueError("no complete transition to sample yet")
        kernels, tree = _kernels(), self.tree
        # stratified: one draw per equal segment of the total mass
        flat, empty = kernels.stratified_find(tree.tree, tree.size, rng.random(batch_size))
        if empty:  # float rounding can land on an empty leaf: redraw those
            bad = tree.get(flat) <= 0
            while bad.any():
                flat[bad] = tree.find(rng.random(int(bad.sum())) * tree.total)
                bad = tree.get(flat) <= 0
        weights = kernels.importance_weights(tree.tree, tree.size, flat, self.num_valid, beta)
        obs, action, reward, next_obs, discount = self.gather(flat, gamma)
        return Batch(obs, action, reward, next_obs, discount, weights, flat)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "tree": self.tree.tree.copy(), "max_priority": self.max_priority}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.tree.tree[:] = state["tree"]
        self.max_priority = float(state["max_priority"])
