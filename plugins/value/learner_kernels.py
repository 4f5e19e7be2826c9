"""Compiled loops of :class:`plugins.value.numpy_learner.NumpyLearner`: Adam, noisy layers' noise,
weights and gradients, the dueling combine and its backward (on a batch's outputs, or folded into a
one-layer head's weights), C51's softmaxes, target and loss, and QR-DQN's quantile Huber loss.

Why: all of these are elementwise work that numpy spreads over several (noisy weights, Adam) to ~25
(C51) calls, each a pass over memory plus ~2 µs of dispatch, and a reduction over a short axis (the
dueling mean over actions, the max over atoms) costs numpy ~15 µs a call. Rainbow's CartPole update spent 0.15 ms
in Adam (its noisy layers double the parameters) and 0.21 ms in the C51 loss, a quarter of the update.
One pass each computes the same formulas in the same float32 arithmetic, mostly in the order torch
rounds them (``tests/test_value.py`` compares them with torch). ``error_model="numpy"`` lets a division
skip Python's zero check, so that LLVM vectorizes the loops: with the check, Adam ran 1.5x slower than
numpy's calls; without it, 5x faster (75k parameters).
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def _noisy_row(w_mu: np.ndarray, w_sigma: np.ndarray, b_mu: np.ndarray, b_sigma: np.ndarray, eps_out: np.ndarray,
               eps_in: np.ndarray, row: int, out: np.ndarray) -> np.float32:
    """Row ``row`` of :func:`noisy_layer`'s weight into ``out``; returns that row's bias."""
    e_out = eps_out[row]
    for j in range(out.shape[0]):
        out[j] = w_mu[row, j] + w_sigma[row, j] * (e_out * eps_in[j])
    return b_mu[row] + b_sigma[row] * e_out


@numba.njit(cache=True, error_model="numpy")
def noisy_layer(w_mu: np.ndarray, w_sigma: np.ndarray, b_mu: np.ndarray, b_sigma: np.ndarray, eps_out: np.ndarray,
                eps_in: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> None:
    """weight = μ_w + σ_w ⊙ (ε_out ε_inᵀ) and bias = μ_b + σ_b ⊙ ε_out, rounded as torch's
    ``mu + sigma * outer(eps_out, eps_in)`` and ``mu + sigma * eps_out``."""
    for i in range(weight.shape[0]):
        bias[i] = _noisy_row(w_mu, w_sigma, b_mu, b_sigma, eps_out, eps_in, i, weight[i])


@numba.njit(cache=True, error_model="numpy")
def factorize(noise: np.ndarray) -> None:
    """f(ε) = sgn(ε)·√|ε| in place (float32; square roots are correctly rounded, so this is numpy's
    ``copysign(sqrt(abs(ε)), ε)`` bit for bit in one call instead of three)."""
    for i in range(noise.shape[0]):
        noise[i] = np.copysign(np.sqrt(abs(noise[i])), noise[i])


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _log(x: np.ndarray, out: np.ndarray, mantissa_bits: np.ndarray) -> None:
    """out = log(x) for positive normal float32 x (``out`` may be ``x``): Cephes' logf, the
    exponent and mantissa read from the bits so that the loops vectorize. Within 1 ulp."""
    x_bits = x.view(np.int32)
    for i in range(x.shape[0]):
        b = x_bits[i]
        mantissa_bits[i] = (b & 0x7FFFFF) | 0x3F000000  # the mantissa as a float in [0.5, 1)
        out[i] = np.float32(((b >> 23) & 0xFF) - 126)
    mantissas = mantissa_bits.view(np.float32)
    for i in range(x.shape[0]):
        m, e = mantissas[i], out[i]
        below = m < np.float32(0.707106781186547524)  # m in [√½, √2) around 1
        e = e - np.float32(1.0) if below else e
        m = m + m - np.float32(1.0) if below else m - np.float32(1.0)
        z = m * m
        y = np.float32(7.0376836292e-2)
        y = y * m - np.float32(1.1514610310e-1)
        y = y * m + np.float32(1.1676998740e-1)
        y = y * m - np.float32(1.2420140846e-1)
        y = y * m + np.float32(1.4249322787e-1)
        y = y * m - np.float32(1.6668057665e-1)
        y = y * m + np.float32(2.0000714765e-1)
        y = y * m - np.float32(2.4999993993e-1)
        y = y * m + np.float32(3.3333331174e-1)
        y = y * m * z + e * np.float32(-2.12194440e-4) - np.float32(0.5) * z
        out[i] = m + y + e * np.float32(0.693359375)


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def normal_from_uniform(noise: np.ndarray) -> None:
    """Uniform draws u in [0, 1) (float32, a 2^-24 grid) to N(0, 1) draws in place: √2·erfinv(x)
    at x = 2u − 1 + 2^-24, a grid symmetric about 0 that never reaches ±1 (so |ε| <= 5.42; the
    normal puts 6e-8 of its mass beyond). erfinv is Giles' single-precision approximation ("Approximating
    the erfinv function", 2010), within 1e-6 of the exact inverse (``tests/test_value.py``).

    Why: numpy's ziggurat took 10 ns a float32 normal on an Intel Xeon (AVX-512); a uniform and this
    transform take 4.4 (818 draws, a Rainbow CartPole update's noise: 8.1 -> 3.6 µs)."""
    n = noise.shape[0]
    x = np.empty(n, dtype=np.float32)
    w = np.empty(n, dtype=np.float32)
    for i in range(n):
        x[i] = (noise[i] * np.float32(2.0) - np.float32(1.0)) + np.float32(2.0 ** -24)
        w[i] = (np.float32(1.0) - x[i]) * (np.float32(1.0) + x[i])
    _log(w, w, np.empty(n, dtype=np.int32))
    for i in range(n):
        v = -w[i]  # −log(1 − x²) > 0
        c = v - np.float32(2.5)  # the centre's polynomial, for v < 5
        p = np.float32(2.81022636e-08)
        p = np.float32(3.43273939e-07) + p * c
        p = np.float32(-3.5233877e-06) + p * c
        p = np.float32(-4.39150654e-06) + p * c
        p = np.float32(0.00021858087) + p * c
        p = np.float32(-0.00125372503) + p * c
        p = np.float32(-0.00417768164) + p * c
        p = np.float32(0.246640727) + p * c
        p = np.float32(1.50140941) + p * c
        t = np.sqrt(v) - np.float32(3.0)  # the tails'
        q = np.float32(-0.000200214257)
        q = np.float32(0.000100950558) + q * t
        q = np.float32(0.00134934322) + q * t
        q = np.float32(-0.00367342844) + q * t
        q = np.float32(0.00573950773) + q * t
        q = np.float32(-0.0076224613) + q * t
        q = np.float32(0.00943887047) + q * t
        q = np.float32(1.00167406) + q * t
        q = np.float32(2.83297682) + q * t
        noise[i] = (p if v < np.float32(5.0) else q) * x[i] * np.float32(1.41421356237309505)


@numba.njit(cache=True, error_model="numpy")
def _noisy_row_sigma_grads(mu_grad: np.ndarray, e_out: np.float32, eps_in: np.ndarray, sigma_grad: np.ndarray) -> None:
    """One row's d/dσ = d/dw ⊙ ε_out ε_in from its d/dμ (= d/dw)."""
    for j in range(mu_grad.shape[0]):
        sigma_grad[j] = mu_grad[j] * (e_out * eps_in[j])


@numba.njit(cache=True, error_model="numpy")
def noisy_layer_grads(grad_weight: np.ndarray, grad_bias: np.ndarray, eps_out: np.ndarray, eps_in: np.ndarray,
                      w_mu: np.ndarray, w_sigma: np.ndarray, b_mu: np.ndarray, b_sigma: np.ndarray) -> None:
    """The parameters' gradients of :func:`noisy_layer` from the composed weight's and bias's:
    d/dμ = d/dw, d/dσ = d/dw ⊙ (ε_out ε_inᵀ) (and likewise for the bias, with ε_out)."""
    for i in range(grad_weight.shape[0]):
        w_mu[i] = grad_weight[i]
        b_mu[i] = grad_bias[i]
        _noisy_row_sigma_grads(w_mu[i], eps_out[i], eps_in, w_sigma[i])
        b_sigma[i] = grad_bias[i] * eps_out[i]


@numba.njit(cache=True, error_model="numpy")
def adam(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray, lr: float,
         beta1: float, beta2: float, eps: float, step: float, grad_scale: float) -> None:
    """torch.optim.Adam's step (no weight decay, not amsgrad), in place on flat float32 buffers, on
    the gradient times ``grad_scale`` (global-norm clipping's factor, rounded as torch's in-place
    multiplication; one pass fewer over the gradient).

    The second moment's bias correction is a multiplication by its reciprocal where torch divides:
    the loop is bound by its divisions and square root (the SIMD units' slowest instructions), and
    one division fewer took a Rainbow CartPole step from 31 to 21 µs. The denominator may differ from
    torch's in its last bit."""
    scale = np.float32(grad_scale)
    one_minus_beta1 = np.float32(1.0 - beta1)
    beta2_32, one_minus_beta2 = np.float32(beta2), np.float32(1.0 - beta2)
    step_size = np.float32(lr / (1.0 - beta1 ** step))
    inverse_bias_correction2_sqrt = np.float32(1.0 / math.sqrt(1.0 - beta2 ** step))
    eps32 = np.float32(eps)
    for i in range(param.shape[0]):
        g = grad[i] * scale
        m = exp_avg[i] + (g - exp_avg[i]) * one_minus_beta1
        v = exp_avg_sq[i] * beta2_32 + one_minus_beta2 * g * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        param[i] -= step_size * m / (np.sqrt(v) * inverse_bias_correction2_sqrt + eps32)


@numba.njit(cache=True, error_model="numpy")
def _action_sums(x: np.ndarray, b: int, column: int, actions: int, atoms: int, out: np.ndarray) -> None:
    """out[k] = Σ_a x[b, column + a·atoms + k], summed in order in float32 (as torch and numpy sum a
    short axis)."""
    out[:] = 0.0
    for a in range(actions):
        for k in range(atoms):
            out[k] += x[b, column + a * atoms + k]


@numba.njit(cache=True, error_model="numpy")
def dueling_combine(advantage: np.ndarray, advantage_column: int, value: np.ndarray, value_column: int,
                    actions: int, atoms: int) -> np.ndarray:
    """Q = (V + A) − mean_a A, rounded as torch's ``value + advantage - advantage.mean(dim=-2)``.

    A is ``advantage[:, advantage_column:]`` (actions × atoms columns) and V ``value[:,
    value_column:]`` (atoms columns): whole C-ordered arrays and a column offset rather than
    column slices, so that the loops run over contiguous rows (strided views made this 2–3x slower)."""
    batch = advantage.shape[0]
    out = np.empty((batch, actions, atoms), dtype=np.float32)
    mean = np.empty(atoms, dtype=np.float32)
    count = np.float32(actions)
    for b in range(batch):
        _action_sums(advantage, b, advantage_column, actions, atoms, mean)
        for k in range(atoms):
            mean[k] /= count
        for a in range(actions):
            for k in range(atoms):
                out[b, a, k] = (value[b, value_column + k] + advantage[b, advantage_column + a * atoms + k]) - mean[k]
    return out


@numba.njit(cache=True, error_model="numpy")
def dueling_backward(grad_out: np.ndarray) -> np.ndarray:
    """The gradients of :func:`dueling_combine`'s inputs from its output's (B, A, K): d/dA = g − Σ_a g / A
    in the first A·K columns, d/dV = Σ_a g in the last K."""
    batch, actions, atoms = grad_out.shape
    flat = grad_out.reshape(batch, actions * atoms)
    grad = np.empty((batch, (actions + 1) * atoms), dtype=np.float32)
    total = np.empty(atoms, dtype=np.float32)
    count = np.float32(actions)
    for b in range(batch):
        _action_sums(flat, b, 0, actions, atoms, total)
        for k in range(atoms):
            grad[b, actions * atoms + k] = total[k]
        for a in range(actions):
            for k in range(atoms):
                grad[b, a * atoms + k] = flat[b, a * atoms + k] - total[k] / count
    return grad


@numba.njit(cache=True, error_model="numpy")
def _sum_action_rows(x: np.ndarray, k: int, actions: int, atoms: int, out: np.ndarray) -> None:
    """out = Σ_a x[a·atoms + k], row by row in order in float32: the weight-row twin of
    :func:`_action_sums`."""
    out[:] = 0.0
    for a in range(actions):
        for j in range(x.shape[1]):
            out[j] += x[a * atoms + k, j]


@numba.njit(cache=True, error_model="numpy")
def _fold_rows(x: np.ndarray, actions: int, atoms: int, out: np.ndarray) -> None:
    """out[a·K + k] = (x[A·K + k] + x[a·K + k]) − mean_a x[a·K + k], for (A+1)·K stacked rows."""
    mean = np.empty(x.shape[1], dtype=np.float32)
    count = np.float32(actions)
    for k in range(atoms):
        _sum_action_rows(x, k, actions, atoms, mean)
        for j in range(x.shape[1]):
            mean[j] /= count
        for a in range(actions):
            row = a * atoms + k
            for j in range(x.shape[1]):
                out[row, j] = (x[actions * atoms + k, j] + x[row, j]) - mean[j]


@numba.njit(cache=True, error_model="numpy")
def fold_dueling(weight: np.ndarray, bias: np.ndarray, actions: int, atoms: int, q_weight: np.ndarray,
                 q_bias: np.ndarray) -> None:
    """A one-layer dueling head's Q weights: the aggregation Q = V + A − mean_a A is linear in the
    head's outputs, so it applies to the stacked weights' rows (the advantage's A·K rows, then the
    value's K) as it does to the outputs, and the head needs one (A·K)-wide product instead of an
    (A+1)·K-wide one and the aggregation over every batch row. Each weight is rounded as
    :func:`dueling_combine` rounds an output; Q, a product of rounded weights, then differs from
    torch's in the last bits (``tests/test_value.py`` compares the two paths to 1e-5)."""
    _fold_rows(weight, actions, atoms, q_weight)
    _fold_rows(bias.reshape(-1, 1), actions, atoms, q_bias.reshape(-1, 1))


@numba.njit(cache=True, error_model="numpy")
def fold_noisy_dueling(a_w_mu: np.ndarray, a_w_sigma: np.ndarray, a_b_mu: np.ndarray, a_b_sigma: np.ndarray,
                       a_eps_out: np.ndarray, a_eps_in: np.ndarray, v_w_mu: np.ndarray, v_w_sigma: np.ndarray,
                       v_b_mu: np.ndarray, v_b_sigma: np.ndarray, v_eps_out: np.ndarray, v_eps_in: np.ndarray,
                       actions: int, atoms: int, q_weight: np.ndarray, q_bias: np.ndarray) -> None:
    """:func:`noisy_layer` for a dueling head's advantage (``a_``) and value (``v_``) layers, then
    :func:`fold_dueling`, in one pass: each atom's A + 1 noisy rows are composed into a scratch row
    and folded at once, with the same roundings as the two steps (Rainbow's head: the composed
    (A+1)·K rows were written and read back for nothing)."""
    width = q_weight.shape[1]
    value = np.empty(width, dtype=np.float32)
    advantage = np.empty((actions, width), dtype=np.float32)
    advantage_bias = np.empty(actions, dtype=np.float32)
    mean = np.empty(width, dtype=np.float32)
    count = np.float32(actions)
    for k in range(atoms):
        value_bias = _noisy_row(v_w_mu, v_w_sigma, v_b_mu, v_b_sigma, v_eps_out, v_eps_in, k, value)
        mean[:] = 0.0
        mean_bias = np.float32(0.0)
        for a in range(actions):
            advantage_bias[a] = _noisy_row(a_w_mu, a_w_sigma, a_b_mu, a_b_sigma, a_eps_out, a_eps_in, a * atoms + k,
                                           advantage[a])
            for j in range(width):
                mean[j] += advantage[a, j]
            mean_bias += advantage_bias[a]
        for j in range(width):
            mean[j] /= count
        mean_bias /= count
        for a in range(actions):
            row = a * atoms + k
            for j in range(width):
                q_weight[row, j] = (value[j] + advantage[a, j]) - mean[j]
            q_bias[row] = (value_bias + advantage_bias[a]) - mean_bias


@numba.njit(cache=True, error_model="numpy")
def unfold_noisy_dueling_grads(grad_q_weight: np.ndarray, grad_q_bias: np.ndarray, actions: int, atoms: int,
                               a_eps_out: np.ndarray, a_eps_in: np.ndarray, a_w_mu: np.ndarray, a_w_sigma: np.ndarray,
                               a_b_mu: np.ndarray, a_b_sigma: np.ndarray, v_eps_out: np.ndarray, v_eps_in: np.ndarray,
                               v_w_mu: np.ndarray, v_w_sigma: np.ndarray, v_b_mu: np.ndarray,
                               v_b_sigma: np.ndarray) -> None:
    """:func:`unfold_dueling_grads` then :func:`noisy_layer_grads` for both layers in one pass, into
    the parameters' gradient views (the inverse of :func:`fold_noisy_dueling`)."""
    width = grad_q_weight.shape[1]
    count = np.float32(actions)
    for k in range(atoms):
        total = v_w_mu[k]  # d/dV = Σ_a g, summed in order, written straight into μ_w's gradient row
        total[:] = 0.0
        total_bias = np.float32(0.0)
        for a in range(actions):
            for j in range(width):
                total[j] += grad_q_weight[a * atoms + k, j]
            total_bias += grad_q_bias[a * atoms + k]
        _noisy_row_sigma_grads(total, v_eps_out[k], v_eps_in, v_w_sigma[k])
        v_b_mu[k] = total_bias
        v_b_sigma[k] = total_bias * v_eps_out[k]
        for a in range(actions):
            row = a * atoms + k
            for j in range(width):
                a_w_mu[row, j] = grad_q_weight[row, j] - total[j] / count
            _noisy_row_sigma_grads(a_w_mu[row], a_eps_out[row], a_eps_in, a_w_sigma[row])
            g = grad_q_bias[row] - total_bias / count
            a_b_mu[row] = g
            a_b_sigma[row] = g * a_eps_out[row]


@numba.njit(cache=True, error_model="numpy")
def _unfold_rows(grad_q: np.ndarray, actions: int, atoms: int) -> np.ndarray:
    """d/dA = g − Σ_a g / A in the first A·K rows, d/dV = Σ_a g in the last K."""
    grad = np.empty(((actions + 1) * atoms, grad_q.shape[1]), dtype=np.float32)
    count = np.float32(actions)
    for k in range(atoms):
        total = grad[actions * atoms + k]
        _sum_action_rows(grad_q, k, actions, atoms, total)
        for a in range(actions):
            row = a * atoms + k
            for j in range(grad_q.shape[1]):
                grad[row, j] = grad_q[row, j] - total[j] / count
    return grad


@numba.njit(cache=True, error_model="numpy")
def unfold_dueling_grads(grad_q_weight: np.ndarray, grad_q_bias: np.ndarray, actions: int,
                         atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """The stacked weights' and biases' gradients from those of :func:`fold_dueling`'s outputs (as
    :func:`dueling_backward`, over weight rows instead of batch rows)."""
    grad_bias = _unfold_rows(grad_q_bias.reshape(-1, 1), actions, atoms)
    return _unfold_rows(grad_q_weight, actions, atoms), grad_bias.reshape(-1)


@numba.njit(cache=True, error_model="numpy")
def chosen_action_grad(grad_chosen: np.ndarray, action: np.ndarray, weights: np.ndarray, per_sample: np.ndarray,
                       actions: int) -> tuple[np.ndarray, float]:
    """d loss / d output (B, A, K) from the per-sample gradients of the taken actions' outputs
    (B, K), each scaled by its importance weight over B and zero for the other actions; and the
    weighted mean loss. One pass where numpy took four calls and a fancy-indexed write."""
    batch, atoms = grad_chosen.shape
    grad = np.zeros((batch, actions, atoms), dtype=np.float32)
    size = np.float32(batch)
    loss = 0.0
    for b in range(batch):
        scale = weights[b] / size
        taken = action[b]
        for k in range(atoms):
            grad[b, taken, k] = grad_chosen[b, k] * scale
        loss += per_sample[b] * weights[b]
    return grad, loss / batch


@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _sum(x: np.ndarray) -> float:
    """Σ x in float64, reassociated so that LLVM vectorizes it (a sequential chain of 51 additions
    waits on each one's latency)."""
    total = 0.0
    for j in range(x.shape[0]):
        total += x[j]
    return total


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _exp(x: np.ndarray, out: np.ndarray, scale_bits: np.ndarray) -> None:
    """out = exp(x) for x <= 0, elementwise over flat float32 arrays.

    Cephes' expf: range reduction by ln 2, a degree-7 polynomial, and 2^k written into a float32's
    exponent bits. Within 1.02 ulp of the exact value (numpy's float32 exp: 2.4) and vectorized, where
    a compiled loop calling exp is not (~9 ns an element against ~0.4). Inputs below −87 give
    exp(−87) instead of a subnormal; in a softmax whose largest term is 1 that is below 1e-37."""
    for i in range(x.shape[0]):
        v = max(x[i], np.float32(-87.0))
        k = np.floor(v * np.float32(1.44269504088896341) + np.float32(0.5))
        r = v - k * np.float32(0.693359375) - k * np.float32(-2.12194440e-4)
        p = np.float32(1.9875691500e-4)
        p = p * r + np.float32(1.3981999507e-3)
        p = p * r + np.float32(8.3334519073e-3)
        p = p * r + np.float32(4.1665795894e-2)
        p = p * r + np.float32(1.6666665459e-1)
        p = p * r + np.float32(5.0000001201e-1)
        out[i] = p * r * r + r + np.float32(1.0)
        scale_bits[i] = (np.int32(k) + 127) << 23
    scale = scale_bits.view(np.float32)
    for i in range(x.shape[0]):
        out[i] *= scale[i]


@numba.njit(cache=True, error_model="numpy")
def _shifted_exp(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z − max z over the last axis (atoms), and its exp: the softmax's exponentials."""
    flat = logits.reshape(-1, logits.shape[-1])
    shifted = np.empty_like(flat)
    for i in range(flat.shape[0]):
        top = flat[i, 0]
        for j in range(1, flat.shape[1]):
            top = max(top, flat[i, j])
        for j in range(flat.shape[1]):
            shifted[i, j] = flat[i, j] - top
    exps = np.empty_like(shifted)
    _exp(shifted.reshape(-1), exps.reshape(-1), np.empty(shifted.size, dtype=np.int32))
    return shifted.reshape(logits.shape), exps.reshape(logits.shape)


@numba.njit(cache=True, error_model="numpy")
def _rows_at(logits: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """logits[b, chosen[b]] for each of the first len(chosen) rows: (B, K)."""
    out = np.empty((chosen.shape[0], logits.shape[2]), dtype=np.float32)
    for b in range(chosen.shape[0]):
        out[b] = logits[b, chosen[b]]
    return out


@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _greedy_by_mean(exps: np.ndarray, support: np.ndarray) -> np.ndarray:
    """argmax_a E[Z(a)] = Σ_j softmax_j · z_j for each row of exponentials (B, A, K)."""
    batch, actions, atoms = exps.shape
    best = np.empty(batch, dtype=np.int64)
    for b in range(batch):
        best[b], best_q = 0, -np.inf
        for a in range(actions):
            e = exps[b, a]
            total = np.float32(_sum(e))
            q = np.float32(0.0)
            for j in range(atoms):
                q += (e[j] / total) * support[j]
            if q > best_q:  # the first of equal maxima, as argmax
                best[b], best_q = a, q
    return best


@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def c51_loss(online: np.ndarray, target: np.ndarray, action: np.ndarray, reward: np.ndarray, discount: np.ndarray,
             support: np.ndarray, double: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample cross-entropy of the online logits of the taken actions against the categorical
    projection of the target distribution at a* = argmax_a E[Z(s', a)], and its gradient with respect
    to those logits: softmax(z)·Σt − t.

    The logits are the online network's (B', A, K: the first B rows are s; with ``double``
    Q-learning the other B are s', and they choose a*) and the target network's on s' (B, A, K:
    they choose a* otherwise). Only the softmaxes the loss reads are computed: every action's where
    they choose a*, then the target's at a* and the online network's at the taken action, in one
    call (numpy's exp over every row of both, then this loop, cost ~8 µs more for CartPole).

    Sums are reassociated (vectorized; torch's own reductions are not sequential either). Where each
    atom lands and its two shares are computed in a loop of their own that vectorizes, then scattered:
    one loop doing both was scalar (25 µs instead of 16 for a CartPole batch). The lower and upper
    shares go into separate arrays: in one array, atom j's upper share and atom j+1's lower share
    usually hit the same slot, so each addition waited on the last (44 µs instead of 23)."""
    batch = target.shape[0]
    chooser_exps = _shifted_exp(online[batch:] if double else target)[1]
    best = _greedy_by_mean(chooser_exps, support)
    target_exps = _shifted_exp(_rows_at(target, best))[1] if double else _rows_at(chooser_exps, best)
    shifted, exps = _shifted_exp(_rows_at(online, action))
    batch, atoms = target_exps.shape
    v_min, v_max = support[0], support[atoms - 1]
    delta = (v_max - v_min) / np.float32(atoms - 1)
    last = np.float32(atoms - 1)
    per_sample = np.empty(batch, dtype=np.float32)
    grad = np.empty((batch, atoms), dtype=np.float32)
    lower_share = np.empty(atoms + 1, dtype=np.float64)  # + 1: the last atom's (zero) upper share
    upper_share = np.empty(atoms + 1, dtype=np.float64)
    landing = np.empty(atoms, dtype=np.int32)
    lower_part = np.empty(atoms, dtype=np.float32)
    upper_part = np.empty(atoms, dtype=np.float32)
    for b in range(batch):
        e = target_exps[b]
        total = np.float32(_sum(e))
        for j in range(atoms):  # where each atom lands and its two shares (vectorized)
            target_z = reward[b] + discount[b] * support[j]
            target_z = v_min if target_z < v_min else target_z
            target_z = v_max if target_z > v_max else target_z
            position = (target_z - v_min) / delta
            position = last if position > last else position
            low = np.int32(position)  # position >= 0: truncation is floor (and inlined, unlike floor)
            lower = np.float32(low)
            # on an atom (position == lower) the upper share is 0 and the lower share 1, as torch's
            # w_lower = ceil - b + (floor == ceil)
            p = e[j] / total
            landing[j] = low
            lower_part[j] = p * ((lower + np.float32(1.0)) - position)
            upper_part[j] = p * (position - lower)
        lower_share[:] = 0.0
        upper_share[:] = 0.0
        for j in range(atoms):  # the scatter, alone in its loop
            lower_share[landing[j]] += lower_part[j]
            upper_share[landing[j] + 1] += upper_part[j]
        e, z, g = exps[b], shifted[b], grad[b]
        total64 = _sum(e)
        log_total = np.float32(math.log(total64))
        loss, mass = 0.0, 0.0
        for j in range(atoms):
            t = np.float32(lower_share[j] + upper_share[j])
            loss -= t * (z[j] - log_total)
            mass += t
            g[j] = t
        per_sample[b] = loss
        total, mass32 = np.float32(total64), np.float32(mass)
        for j in range(atoms):
            g[j] = (e[j] / total) * mass32 - g[j]
    return per_sample, grad


@numba.njit(cache=True, error_model="numpy")
def quantile_huber_loss(quantiles: np.ndarray, target: np.ndarray, kappa: float) -> tuple[np.ndarray, np.ndarray]:
    """QR-DQN's loss of the taken actions' N quantiles (B, N) against M target samples (B, M): the
    quantile Huber loss summed over the quantiles and averaged over the targets, and its gradient
    with respect to the quantiles."""
    batch, n = quantiles.shape
    m = target.shape[1]
    kappa32 = np.float32(kappa)
    half_kappa = np.float32(0.5) * kappa32
    per_sample = np.empty(batch, dtype=np.float32)
    grad = np.empty((batch, n), dtype=np.float32)
    for b in range(batch):
        loss = 0.0
        for i in range(n):
            tau = (np.float32(i) + np.float32(0.5)) / np.float32(n)
            loss_i, slope_i = 0.0, 0.0
            for k in range(m):
                u = target[b, k] - quantiles[b, i]
                weight = abs(tau - (np.float32(1.0) if u < 0 else np.float32(0.0)))
                if abs(u) <= kappa32:
                    huber, slope = np.float32(0.5) * u * u, u
                else:
                    huber, slope = kappa32 * (abs(u) - half_kappa), kappa32 * np.sign(u)
                loss_i += weight * huber / kappa32
                slope_i += weight * slope / kappa32
            loss += loss_i
            grad[b, i] = -np.float32(slope_i / m)
        per_sample[b] = loss / m
    return per_sample, grad
