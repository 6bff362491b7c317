"""Gated recurrent unit in numpy, both placements of the reset gate, forward and backward.

Letters: N batch, T time, D input size, H hidden size.

Parameter layout (both variants): column blocks in the order (r, z, n), as in PyTorch's rows,

    Wx (D, 3H)   = [W_xr | W_xz | W_xn]        input-to-hidden
    Wh (H, 3H)   = [W_hr | W_hz | W_hn]        hidden-to-hidden
    b  (3H,)     = [b_r  | b_z  | b_n ]        one bias per gate (the sum of PyTorch's two biases)

and, for the reset-after variant only, a second candidate bias b_hn (H,) that sits *inside* the
reset gate and therefore cannot be merged into b_n.

Reset gate applied AFTER the recurrent matmul — `gru_*` (cuDNN, PyTorch, `rnnlab.nn.GRUCell`):

    r = σ(x W_xr + h_{t-1} W_hr + b_r)                      reset gate
    z = σ(x W_xz + h_{t-1} W_hz + b_z)                      update gate
    n = tanh(x W_xn + b_n + r ⊙ (h_{t-1} W_hn + b_hn))      candidate
    h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

Reset gate applied BEFORE the recurrent matmul — `gru_cho_*` (Cho et al. 2014, the deeplearning.ai
notes, `rnnlab.nn.GRUChoCell`):

    r, z as above
    n = tanh(x W_xn + (r ⊙ h_{t-1}) W_hn + b_n)
    h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

About z: the deeplearning.ai notes write c_t = Γ_u ⊙ c̃_t + (1 - Γ_u) ⊙ c_{t-1}, so their update gate
is Γ_u = 1 - z here (and Γ_r = r, c̃ = n). Both conventions describe the same family of functions.
"""

from __future__ import annotations

import numpy as np

from rnnlab.reference.layers import sigmoid

# ------------------------------------------------------------------- reset after (PyTorch)


def gru_step_forward(
    x: np.ndarray,
    prev_h: np.ndarray,
    Wx: np.ndarray,
    Wh: np.ndarray,
    b: np.ndarray,
    b_hn: np.ndarray,
) -> tuple[np.ndarray, tuple]:
    """One GRU step with the reset gate applied after the matmul (PyTorch/cuDNN form).

    Args:
        x: (N, D) inputs.
        prev_h: (N, H) previous hidden state.
        Wx: (D, 3H), Wh: (H, 3H), b: (3H,) with blocks (r, z, n).
        b_hn: (H,) the candidate's hidden-side bias, multiplied by r.

    Returns:
        next_h (N, H) and a cache for `gru_step_backward`.
    """
    H = prev_h.shape[1]
    a_x = x @ Wx + b  # (N, 3H)
    a_h = prev_h @ Wh  # (N, 3H)
    r = sigmoid(a_x[:, :H] + a_h[:, :H])
    z = sigmoid(a_x[:, H : 2 * H] + a_h[:, H : 2 * H])
    h_n = a_h[:, 2 * H :] + b_hn  # (N, H)  h_{t-1} W_hn + b_hn
    n = np.tanh(a_x[:, 2 * H :] + r * h_n)
    next_h = (1 - z) * n + z * prev_h
    return next_h, (x, prev_h, Wx, Wh, r, z, n, h_n)


def gru_step_backward(dnext_h: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    """Backward of `gru_step_forward`.

        dn = dnext_h ⊙ (1 - z)      dz = dnext_h ⊙ (h_{t-1} - n)      dprev_h = dnext_h ⊙ z  (+ below)
        da_n = dn ⊙ (1 - n²)        dr = da_n ⊙ h_n                    dh_n = da_n ⊙ r
        da_r = dr ⊙ r(1 - r)        da_z = dz ⊙ z(1 - z)
        input side:  da_x = [da_r, da_z, da_n]     dWx = xᵀ da_x    db = Σ_n da_x    dx = da_x Wxᵀ
        hidden side: da_h = [da_r, da_z, dh_n]     dWh = h_{t-1}ᵀ da_h    db_hn = Σ_n dh_n
                     dprev_h += da_h Whᵀ

    Returns:
        dx (N, D), dprev_h (N, H), dWx (D, 3H), dWh (H, 3H), db (3H,), db_hn (H,).
    """
    x, prev_h, Wx, Wh, r, z, n, h_n = cache
    dn = dnext_h * (1 - z)
    dz = dnext_h * (prev_h - n)
    da_n = dn * (1 - n**2)
    dr = da_n * h_n
    dh_n = da_n * r
    da_r = dr * r * (1 - r)
    da_z = dz * z * (1 - z)
    da_x = np.concatenate([da_r, da_z, da_n], axis=1)  # (N, 3H)
    da_h = np.concatenate([da_r, da_z, dh_n], axis=1)  # (N, 3H)
    dx = da_x @ Wx.T
    dprev_h = dnext_h * z + da_h @ Wh.T
    dWx = x.T @ da_x
    dWh = prev_h.T @ da_h
    db = da_x.sum(axis=0)
    db_hn = dh_n.sum(axis=0)
    return dx, dprev_h, dWx, dWh, db, db_hn


def gru_forward(
    x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, b_hn: np.ndarray
) -> tuple[np.ndarray, list]:
    """Run the reset-after GRU over a sequence.

    Args:
        x: (N, T, D) inputs; h0: (N, H) initial state; parameters as in `gru_step_forward`.

    Returns:
        h (N, T, H) and the list of per-step caches.
    """
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]), dtype=np.result_type(x, h0, Wx))
    prev_h, caches = h0, []
    for t in range(T):
        prev_h, step_cache = gru_step_forward(x[:, t], prev_h, Wx, Wh, b, b_hn)
        h[:, t] = prev_h
        caches.append(step_cache)
    return h, caches


def gru_backward(dh: np.ndarray, cache: list) -> tuple[np.ndarray, ...]:
    """Backpropagation through time for `gru_forward`.

    Args:
        dh: (N, T, H) upstream gradients of every hidden state.

    Returns:
        dx (N, T, D), dh0 (N, H), dWx (D, 3H), dWh (H, 3H), db (3H,), db_hn (H,).
    """
    N, T, H = dh.shape
    x0, _, Wx, Wh = cache[0][:4]
    dx = np.zeros((N, T, x0.shape[1]), dtype=dh.dtype)
    dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
    db, db_hn = np.zeros(3 * H, dtype=dh.dtype), np.zeros(H, dtype=dh.dtype)
    dprev_h = np.zeros((N, H), dtype=dh.dtype)
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dWx_t, dWh_t, db_t, db_hn_t = gru_step_backward(dh[:, t] + dprev_h, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
        db_hn += db_hn_t
    return dx, dprev_h, dWx, dWh, db, db_hn


# ------------------------------------------------------------------------ reset before (Cho)


def gru_cho_step_forward(
    x: np.ndarray, prev_h: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, tuple]:
    """One GRU step with the reset gate applied before the matmul (Cho et al., deeplearning.ai).

    Args:
        x: (N, D) inputs.
        prev_h: (N, H) previous hidden state.
        Wx: (D, 3H), Wh: (H, 3H), b: (3H,) with blocks (r, z, n).

    Returns:
        next_h (N, H) and a cache for `gru_cho_step_backward`.
    """
    H = prev_h.shape[1]
    a_x = x @ Wx + b  # (N, 3H)
    a_rz = prev_h @ Wh[:, : 2 * H]  # (N, 2H): the gates' recurrent part
    r = sigmoid(a_x[:, :H] + a_rz[:, :H])
    z = sigmoid(a_x[:, H : 2 * H] + a_rz[:, H:])
    rh = r * prev_h  # (N, H): reset first ...
    n = np.tanh(a_x[:, 2 * H :] + rh @ Wh[:, 2 * H :])  # ... then the matmul with W_hn
    next_h = (1 - z) * n + z * prev_h
    return next_h, (x, prev_h, Wx, Wh, r, z, n, rh)


def gru_cho_step_backward(dnext_h: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    """Backward of `gru_cho_step_forward`.

        dn = dnext_h ⊙ (1 - z)      dz = dnext_h ⊙ (h_{t-1} - n)      dprev_h = dnext_h ⊙ z  (+ below)
        da_n = dn ⊙ (1 - n²)        d(rh) = da_n W_hnᵀ                 dW_hn = (r ⊙ h_{t-1})ᵀ da_n
        dr = d(rh) ⊙ h_{t-1}        dprev_h += d(rh) ⊙ r
        da_r = dr ⊙ r(1 - r)        da_z = dz ⊙ z(1 - z)
        dW_hr|hz = h_{t-1}ᵀ [da_r, da_z]       dprev_h += [da_r, da_z] W_hr|hzᵀ
        da_x = [da_r, da_z, da_n]   dWx = xᵀ da_x    db = Σ_n da_x    dx = da_x Wxᵀ

    Returns:
        dx (N, D), dprev_h (N, H), dWx (D, 3H), dWh (H, 3H), db (3H,).
    """
    x, prev_h, Wx, Wh, r, z, n, rh = cache
    H = prev_h.shape[1]
    dn = dnext_h * (1 - z)
    dz = dnext_h * (prev_h - n)
    da_n = dn * (1 - n**2)
    drh = da_n @ Wh[:, 2 * H :].T  # (N, H)
    dr = drh * prev_h
    da_r = dr * r * (1 - r)
    da_z = dz * z * (1 - z)
    da_rz = np.concatenate([da_r, da_z], axis=1)  # (N, 2H)
    da_x = np.concatenate([da_rz, da_n], axis=1)  # (N, 3H)
    dprev_h = dnext_h * z + drh * r + da_rz @ Wh[:, : 2 * H].T
    dWh = np.concatenate([prev_h.T @ da_rz, rh.T @ da_n], axis=1)  # (H, 3H)
    dx = da_x @ Wx.T
    dWx = x.T @ da_x
    db = da_x.sum(axis=0)
    return dx, dprev_h, dWx, dWh, db


def gru_cho_forward(
    x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, list]:
    """Run the reset-before (Cho) GRU over a sequence.

    Args:
        x: (N, T, D) inputs; h0: (N, H) initial state; parameters as in `gru_cho_step_forward`.

    Returns:
        h (N, T, H) and the list of per-step caches.
    """
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]), dtype=np.result_type(x, h0, Wx))
    prev_h, caches = h0, []
    for t in range(T):
        prev_h, step_cache = gru_cho_step_forward(x[:, t], prev_h, Wx, Wh, b)
        h[:, t] = prev_h
        caches.append(step_cache)
    return h, caches


def gru_cho_backward(dh: np.ndarray, cache: list) -> tuple[np.ndarray, ...]:
    """Backpropagation through time for `gru_cho_forward`.

    Args:
        dh: (N, T, H) upstream gradients of every hidden state.

    Returns:
        dx (N, T, D), dh0 (N, H), dWx (D, 3H), dWh (H, 3H), db (3H,).
    """
    N, T, H = dh.shape
    x0, _, Wx, Wh = cache[0][:4]
    dx = np.zeros((N, T, x0.shape[1]), dtype=dh.dtype)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(3 * H, dtype=dh.dtype)
    dprev_h = np.zeros((N, H), dtype=dh.dtype)
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dWx_t, dWh_t, db_t = gru_cho_step_backward(dh[:, t] + dprev_h, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db
