"""Layers applied at every time step: word embedding, temporal affine, temporal softmax loss.

Letters: N batch, T time, V vocabulary, D word-vector (or input) size, M output size.
"""

from __future__ import annotations

import numpy as np


def word_embedding_forward(x: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Look up a word vector for every index: out[n, t] = W[x[n, t]].

    This equals multiplying a one-hot vector of x[n, t] by W, without building the one-hot.

    Args:
        x: (N, T) integer word indices in [0, V).
        W: (V, D) word vectors, one per row.

    Returns:
        out (N, T, D) and cache (x, W).
    """
    return W[x], (x, W)


def word_embedding_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward of `word_embedding_forward`: dW[v] = Σ over positions holding word v of dout.

    A word can appear several times in the batch, so the gradients must be accumulated: a fancy
    assignment `dW[x] += dout` would keep only one of the repeated rows; `np.add.at` sums them all.

    Returns:
        dW (V, D).
    """
    x, W = cache
    dW = np.zeros_like(W)
    np.add.at(dW, x, dout)
    return dW


def temporal_affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """The same affine map at every step: out[n, t] = x[n, t] w + b (e.g. hidden states to scores).

    Args:
        x: (N, T, D), w: (D, M), b: (M,).

    Returns:
        out (N, T, M) and cache (x, w, b, out).
    """
    N, T, D = x.shape
    out = (x.reshape(N * T, D) @ w + b).reshape(N, T, -1)  # (N, T, M)
    return out, (x, w, b, out)


def temporal_affine_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of `temporal_affine_forward`: an affine backward over N·T rows.

    Returns:
        dx (N, T, D), dw (D, M), db (M,).
    """
    x, w, _, _ = cache
    N, T, D = x.shape
    dout_flat = dout.reshape(N * T, -1)  # (N·T, M)
    dx = (dout_flat @ w.T).reshape(N, T, D)
    dw = x.reshape(N * T, D).T @ dout_flat
    db = dout_flat.sum(axis=0)
    return dx, dw, db


def temporal_softmax_loss(
    x: np.ndarray, y: np.ndarray, mask: np.ndarray, verbose: bool = False
) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy at every step, summed over time and averaged over the batch.

        loss = -(1/N) Σ_n Σ_t mask[n, t] · log softmax(x[n, t])[y[n, t]]

    Masked positions (mask = 0, e.g. `<NULL>` padding after a caption ends) contribute neither loss
    nor gradient. Note the normalisation: by N only, not by the number of unmasked tokens, as in
    the assignment (divide by T yourself for a per-token loss).

    Args:
        x: (N, T, V) scores.
        y: (N, T) integer targets in [0, V).
        mask: (N, T) booleans (or 0/1) saying which positions count.
        verbose: print the gradient's shape, as the assignment's helper does.

    Returns:
        loss (float) and dx (N, T, V).
    """
    N, T, V = x.shape
    x_flat = x.reshape(N * T, V)
    y_flat = y.reshape(N * T)
    mask_flat = mask.reshape(N * T).astype(x.dtype)
    shifted = x_flat - x_flat.max(axis=1, keepdims=True)  # (N·T, V), for numerical stability
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(N * T)
    loss = -np.sum(mask_flat * log_probs[rows, y_flat]) / N
    dx_flat = np.exp(log_probs)  # softmax probabilities
    dx_flat[rows, y_flat] -= 1
    dx_flat *= mask_flat[:, None] / N
    if verbose:
        print("dx_flat: ", dx_flat.shape)
    return loss, dx_flat.reshape(N, T, V)
