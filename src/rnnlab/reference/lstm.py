"""LSTM in numpy, with the course's gate order (i, f, o, g) in one weight matrix.

Letters: N batch, T time, D input size, H hidden size.

    a = x_t Wx + h_{t-1} Wh + b                      (N, 4H); Wx (D, 4H), Wh (H, 4H), b (4H,)
    a_i, a_f, a_o, a_g = a[:, :H], a[:, H:2H], a[:, 2H:3H], a[:, 3H:]
    i = σ(a_i)   input gate          f = σ(a_f)   forget gate
    o = σ(a_o)   output gate         g = tanh(a_g) candidate ("gate gate")
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

PyTorch (and `rnnlab.nn.LSTMCell`) stack the gate blocks as (i, f, g, o) in rows of W_ih (4H, D):
`rnnlab.reference.torch_layout` converts, swapping the last two blocks and transposing.
"""

from __future__ import annotations

import numpy as np

from rnnlab.reference.layers import sigmoid


def lstm_step_forward(
    x: np.ndarray, prev_h: np.ndarray, prev_c: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple]:
    """One LSTM time step (equations in the module docstring).

    Args:
        x: (N, D) inputs at this step.
        prev_h, prev_c: (N, H) previous hidden and cell states.
        Wx: (D, 4H), Wh: (H, 4H), b: (4H,) with column blocks (i, f, o, g).

    Returns:
        next_h (N, H), next_c (N, H) and a cache for `lstm_step_backward`.
    """
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b  # (N, 4H)
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H : 2 * H])
    o = sigmoid(a[:, 2 * H : 3 * H])
    g = np.tanh(a[:, 3 * H :])
    next_c = f * prev_c + i * g
    tanh_c = np.tanh(next_c)
    next_h = o * tanh_c
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c)


def lstm_step_backward(dnext_h: np.ndarray, dnext_c: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    """Backward of `lstm_step_forward`.

    The cell receives gradient both directly (dnext_c, from step t+1) and through h_t = o ⊙ tanh(c_t):

        dc = dnext_c + dnext_h ⊙ o ⊙ (1 - tanh²(c_t))
        do = dnext_h ⊙ tanh(c_t)    di = dc ⊙ g    dg = dc ⊙ i    df = dc ⊙ c_{t-1}
        dprev_c = dc ⊙ f                    <- elementwise: the LSTM's "gradient highway"
        da = [di ⊙ i(1-i), df ⊙ f(1-f), do ⊙ o(1-o), dg ⊙ (1-g²)]        (N, 4H)
        dx = da Wxᵀ    dprev_h = da Whᵀ    dWx = xᵀ da    dWh = prev_hᵀ da    db = Σ_n da

    Returns:
        dx (N, D), dprev_h (N, H), dprev_c (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c = cache
    dc = dnext_c + dnext_h * o * (1 - tanh_c**2)  # (N, H)
    do = dnext_h * tanh_c
    di = dc * g
    dg = dc * i
    df = dc * prev_c
    dprev_c = dc * f
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g**2)], axis=1)
    dx = da @ Wx.T  # (N, D)
    dprev_h = da @ Wh.T  # (N, H)
    dWx = x.T @ da  # (D, 4H)
    dWh = prev_h.T @ da  # (H, 4H)
    db = da.sum(axis=0)  # (4H,)
    return dx, dprev_h, dprev_c, dWx, dWh, db


def lstm_forward(
    x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, list]:
    """Run the LSTM over a sequence. As in the assignment, the initial cell state c_0 is zero.

    Args:
        x: (N, T, D) inputs.
        h0: (N, H) initial hidden state.
        Wx, Wh, b: as in `lstm_step_forward`.

    Returns:
        h (N, T, H), the hidden states, and the list of per-step caches.
    """
    N, T, _ = x.shape
    H = h0.shape[1]
    h = np.zeros((N, T, H), dtype=np.result_type(x, h0, Wx))
    prev_h, prev_c = h0, np.zeros_like(h0)
    caches = []
    for t in range(T):
        prev_h, prev_c, step_cache = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        h[:, t] = prev_h
        caches.append(step_cache)
    return h, caches


def lstm_backward(dh: np.ndarray, cache: list) -> tuple[np.ndarray, ...]:
    """Backpropagation through time for `lstm_forward`.

    Two gradients flow backwards between steps, dprev_h and dprev_c; both start at zero after the
    last step. Parameter gradients are summed over time.

    Args:
        dh: (N, T, H) upstream gradients of every hidden state.

    Returns:
        dx (N, T, D), dh0 (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    N, T, H = dh.shape
    x0, _, _, Wx, Wh = cache[0][:5]
    dx = np.zeros((N, T, x0.shape[1]), dtype=dh.dtype)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(4 * H, dtype=dh.dtype)
    dprev_h = np.zeros((N, H), dtype=dh.dtype)
    dprev_c = np.zeros((N, H), dtype=dh.dtype)
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(
            dh[:, t] + dprev_h, dprev_c, cache[t]
        )
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db
