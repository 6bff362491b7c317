"""Vanilla RNN in numpy: one step and a whole sequence, forward and hand-written backward.

Letters: N batch, T time, D input size, H hidden size.

The lecture's recurrence, batch-first, with weights stored input-major (x @ Wx) as in CS231n:

    h_t = tanh(x_t Wx + h_{t-1} Wh + b)        x_t (N, D), Wx (D, H), Wh (H, H), b (H,)

`rnnlab.nn.RNNCell` computes the same thing with PyTorch's layout (W_ih = Wxᵀ, W_hh = Whᵀ and two
biases whose sum is b); `rnnlab.reference.torch_layout` converts between the two.
"""

from __future__ import annotations

import numpy as np


def rnn_step_forward(
    x: np.ndarray, prev_h: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, tuple]:
    """One time step of a tanh RNN: next_h = tanh(x Wx + prev_h Wh + b).

    Args:
        x: (N, D) inputs at this step.
        prev_h: (N, H) previous hidden state.
        Wx: (D, H) input-to-hidden weights.
        Wh: (H, H) hidden-to-hidden weights.
        b: (H,) bias.

    Returns:
        next_h (N, H) and a cache for `rnn_step_backward`.
    """
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)  # (N, H)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    """Backward of `rnn_step_forward`.

    With a = x Wx + prev_h Wh + b and tanh'(a) = 1 - tanh(a)²:

        da = dnext_h ⊙ (1 - next_h²)
        dx = da Wxᵀ    dprev_h = da Whᵀ    dWx = xᵀ da    dWh = prev_hᵀ da    db = Σ_n da

    The factor Whᵀ in dprev_h is the one that, repeated T times, makes gradients vanish or explode.

    Returns:
        dx (N, D), dprev_h (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h**2)  # (N, H)
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    return dx, dprev_h, dWx, dWh, db


def rnn_forward(
    x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, list]:
    """Run the RNN over a whole sequence: h_t = tanh(x_t Wx + h_{t-1} Wh + b) for t = 1..T.

    Args:
        x: (N, T, D) inputs, batch-first.
        h0: (N, H) initial hidden state.
        Wx, Wh, b: as in `rnn_step_forward`.

    Returns:
        h (N, T, H), the hidden state at every step, and the list of per-step caches.
    """
    N, T, _ = x.shape
    H = h0.shape[1]
    h = np.zeros((N, T, H), dtype=np.result_type(x, h0, Wx))
    caches = []
    prev_h = h0
    for t in range(T):
        prev_h, step_cache = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)
        h[:, t] = prev_h
        caches.append(step_cache)
    return h, caches


def rnn_backward(dh: np.ndarray, cache: list) -> tuple[np.ndarray, ...]:
    """Backpropagation through time for `rnn_forward`.

    `dh[:, t]` is the gradient flowing into h_t from the layer above (the loss at step t). Going
    backwards, h_t also receives the gradient from step t+1 through the recurrence, so the step's
    total upstream gradient is dh[:, t] + dprev_h. Parameter gradients are summed over time because
    the same weights are used at every step.

    Args:
        dh: (N, T, H) upstream gradients of every hidden state.
        cache: the list returned by `rnn_forward`.

    Returns:
        dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    N, T, H = dh.shape
    x0, _, Wx, Wh, _ = cache[0]
    D = x0.shape[1]
    dx = np.zeros((N, T, D), dtype=dh.dtype)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H, dtype=dh.dtype)
    dprev_h = np.zeros((N, H), dtype=dh.dtype)  # nothing flows in from beyond the last step
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dprev_h, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db
