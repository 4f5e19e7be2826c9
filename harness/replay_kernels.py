"""Compiled loops of the replay buffers: the sum-tree's leaf updates and prefix-sum search,
prioritized replay's stratified draw with its importance weights and its priority updates, and n-step
returns (each a dozen numpy calls over a batch or a (batch, n) window otherwise)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _set_leaf(tree: np.ndarray, size: int, leaf: int, value: float) -> None:
    """Set one leaf, then recompute (never increment) its ancestors, so totals cannot drift."""
    node = leaf + size
    tree[node] = value
    node >>= 1
    while node >= 1:
        tree[node] = tree[2 * node] + tree[2 * node + 1]
        node >>= 1


@numba.njit(cache=True)
def update(tree: np.ndarray, size: int, index: np.ndarray, value: np.ndarray) -> None:
    """Set each leaf in order (the last write wins for a repeated index)."""
    for i in range(index.shape[0]):
        _set_leaf(tree, size, index[i], value[i])


@numba.njit(cache=True)
def set_priorities(tree: np.ndarray, size: int, index: np.ndarray, priority: np.ndarray, alive: np.ndarray,
                   eps: float, alpha: float) -> float:
    """Proportional priorities: leaf ``index[i]`` becomes (|priority[i]| + eps)^alpha where ``alive`` (by
    flat slot) still holds; returns the largest |priority| + eps, alive or not."""
    top = 0.0
    for i in range(index.shape[0]):
        p = abs(np.float64(priority[i])) + eps
        top = max(top, p)
        if alive[index[i]]:
            _set_leaf(tree, size, index[i], p ** alpha)
    return top


@numba.njit(cache=True)
def importance_weights(tree: np.ndarray, size: int, leaves: np.ndarray, count: int, beta: float) -> np.ndarray:
    """(count · P(i))^-β with P(i) = p_i / Σ p, divided by the batch's largest, in float32."""
    total = tree[1]
    weights = np.empty(leaves.shape[0], dtype=np.float64)
    for i in range(leaves.shape[0]):
        weights[i] = (count * (tree[leaves[i] + size] / total)) ** (-beta)
    return (weights / weights.max()).astype(np.float32)


@numba.njit(cache=True)
def stratified_find(tree: np.ndarray, size: int, uniform: np.ndarray) -> tuple[np.ndarray, int]:
    """One leaf per equal segment of the total mass, at (i + uniform[i]) · total / batch (kept below the
    total); also how many landed on an empty leaf (float rounding), which the caller redraws."""
    batch = uniform.shape[0]
    total = tree[1]
    below_total = np.nextafter(total, 0.0)
    mass = np.empty(batch, dtype=np.float64)
    for i in range(batch):
        mass[i] = min((i + uniform[i]) * (total / batch), below_total)
    leaves = find(tree, size, mass)
    empty = 0
    for i in range(batch):
        if tree[leaves[i] + size] <= 0:
            empty += 1
    return leaves, empty


@numba.njit(cache=True)
def find(tree: np.ndarray, size: int, mass: np.ndarray) -> np.ndarray:
    """For each mass, descend right whenever it is at least the left subtree's sum."""
    out = np.empty(mass.shape[0], dtype=np.int64)
    for i in range(mass.shape[0]):
        m = mass[i]
        node = 1
        while node < size:
            left = 2 * node
            if m >= tree[left]:
                m -= tree[left]
                node = left + 1
            else:
                node = left
        out[i] = node - size
    return out


@numba.njit(cache=True)
def n_step_returns(reward: np.ndarray, terminated: np.ndarray, ended: np.ndarray, rows: np.ndarray,
                   cols: np.ndarray, n: int, gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each (row, col): Σ_j γ^j r over up to ``n`` steps, stopping after the step where the episode
    ended; the bootstrap discount (0 if that end was a termination, else γ^steps); the bootstrap row."""
    size = reward.shape[0]
    batch = rows.shape[0]
    returns = np.empty(batch, dtype=np.float32)
    discount = np.empty(batch, dtype=np.float32)
    boot = np.empty(batch, dtype=np.int64)
    for i in range(batch):
        row, col = rows[i], cols[i]
        total, steps = 0.0, 0
        for j in range(n):
            slot = (row + j) % size
            total += np.float64(reward[slot, col]) * gamma ** j
            steps += 1
            if ended[slot, col]:
                break
        returns[i] = total
        discount[i] = 0.0 if terminated[(row + steps - 1) % size, col] else gamma ** steps
        boot[i] = row + steps
    return returns, discount, boot


@numba.njit(cache=True)
def _withdraw_column(valid: np.ndarray, row: int, col: int, count: int, changed: np.ndarray,
                     admitted: np.ndarray) -> tuple[int, int]:
    """Withdraw the transitions of one column starting at rows ``row .. row+k-1`` (k = ``count``)."""
    rows, num_envs = valid.shape
    withdrawn, written = 0, 0
    for d in range(count):
        r = (row + d) % rows
        if valid[r, col]:
            valid[r, col] = False
            changed[written] = r * num_envs + col
            admitted[written] = False
            written += 1
            withdrawn += 1
    return withdrawn, written


@numba.njit(cache=True)
def add_step(frames: np.ndarray, actions: np.ndarray, rewards: np.ndarray, terminated_buf: np.ndarray,
             ended_buf: np.ndarray, valid: np.ndarray, pos: np.ndarray, episode_steps: np.ndarray,
             continuing: np.ndarray, obs: np.ndarray, action: np.ndarray, reward: np.ndarray,
             next_obs: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, n_step: int,
             changed: np.ndarray, admitted: np.ndarray) -> tuple[int, int]:
    """One batched step into the ring (``ReplayBuffer.add``'s rule, one pass instead of ~20 numpy calls).

    ``frames`` is (T, E, F), ``obs``/``next_obs`` (E, k, F) stacks, ``actions`` (T, E, A). Returns the
    change in the count of sampleable transitions and how many entries of ``changed`` (flat slots,
    in order; ``admitted`` tells admitted from withdrawn) were written."""
    rows, num_envs, _ = frames.shape
    k = obs.shape[1]
    delta, written = 0, 0
    for e in range(num_envs):  # episode starts: write the whole first stack
        if not continuing[e]:
            for j in range(k):
                slot = pos[e] % rows
                frames[slot, e, :] = obs[e, j, :]
                gone, n = _withdraw_column(valid, slot, e, k, changed[written:], admitted[written:])
                delta -= gone
                written += n
                pos[e] += 1
    for e in range(num_envs):  # the transition lives in its observation's slot
        slot = (pos[e] - 1) % rows
        actions[slot, e, :] = action[e, :]
        rewards[slot, e] = reward[e]
        terminated_buf[slot, e] = terminated[e]
        ended_buf[slot, e] = terminated[e] or truncated[e]
        nxt = pos[e] % rows  # the successor's newest frame goes to the next slot
        frames[nxt, e, :] = next_obs[e, k - 1, :]
        gone, n = _withdraw_column(valid, nxt, e, k, changed[written:], admitted[written:])
        delta -= gone
        written += n
    for e in range(num_envs):  # the window starting n-1 steps ago is complete
        pos[e] += 1
        episode_steps[e] += 1
        if episode_steps[e] >= n_step:
            r = (pos[e] - 1 - 1 - (n_step - 1)) % rows
            valid[r, e] = True
            changed[written] = r * num_envs + e
            admitted[written] = True
            written += 1
            delta += 1
    for e in range(num_envs):  # shorter windows of an ended episode are complete too
        if terminated[e] or truncated[e]:
            slot = (pos[e] - 2) % rows
            for d in range(min(n_step - 1, episode_steps[e])):
                r = (slot - d) % rows
                valid[r, e] = True
                changed[written] = r * num_envs + e
                admitted[written] = True
                written += 1
                delta += 1
            episode_steps[e] = 0
        continuing[e] = not (terminated[e] or truncated[e])
    return delta, written
