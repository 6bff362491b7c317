"""Soft attention over L locations (Show, Attend and Tell; the lecture's captioning with attention).

Letters: N batch, L locations (e.g. the cells of a CNN feature grid), D feature size, H query
(hidden-state) size, K attention size.

At each step the decoder's hidden state h asks "where should I look?": every location l gets a
score e_l, the scores become a distribution α over locations, and the context vector z is the
α-weighted average of the features. Soft attention is differentiable end to end, unlike hard
attention (pick one location), which needs sampling-based gradients.

    α = softmax_l(e)                  (N, L), rows sum to 1
    z = Σ_l α_l A_l                   (N, D)

Two scoring functions:

    dot      e_l = A_l · h                                 needs D = H; no parameters (Luong)
    additive e_l = v · tanh(A_l W_a + h W_h + b)            W_a (D, K), W_h (H, K), b (K,), v (K,)
                                                            (Bahdanau; "concat" in Luong)

Forward functions return (z, α, cache); α is returned so it can be plotted over the image.
Backward functions take dz only: α is an intermediate, not an output the loss reads.
"""

from __future__ import annotations

import numpy as np


def _softmax_over_locations(e: np.ndarray) -> np.ndarray:
    """Softmax along the last axis, shifted by the max for stability. e: (N, L) -> (N, L)."""
    shifted = e - e.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _softmax_backward(dalpha: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """de = α ⊙ (dα - Σ_l α_l dα_l): the softmax's Jacobian-vector product. (N, L) -> (N, L)."""
    return alpha * (dalpha - np.sum(alpha * dalpha, axis=1, keepdims=True))


def _weighted_sum_backward(dz: np.ndarray, alpha: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, ...]:
    """Backward of z = Σ_l α_l A_l: dα_l = A_l · dz and dA_l = α_l dz."""
    dalpha = np.einsum("nld,nd->nl", A, dz)  # (N, L)
    dA = alpha[:, :, None] * dz[:, None, :]  # (N, L, D)
    return dalpha, dA


def dot_attention_forward(h: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Dot-product soft attention: e_l = A_l · h, α = softmax(e), z = Σ_l α_l A_l.

    Args:
        h: (N, H) queries (decoder hidden states).
        A: (N, L, H) features at L locations (their size must equal H).

    Returns:
        z (N, H) context vectors, alpha (N, L) attention weights, and a cache.
    """
    if A.shape[2] != h.shape[1]:
        raise ValueError(
            f"Dot attention needs features of the query's size, got A {A.shape} and h {h.shape}; "
            "project the features first or use additive attention."
        )
    e = np.einsum("nlh,nh->nl", A, h)  # (N, L)
    alpha = _softmax_over_locations(e)
    z = np.einsum("nl,nlh->nh", alpha, A)  # (N, H)
    return z, alpha, (h, A, alpha)


def dot_attention_backward(dz: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Backward of `dot_attention_forward`.

    A reaches z twice: as the values being averaged and through the scores e_l = A_l · h.

        dα_l = A_l · dz      de = α ⊙ (dα - Σ_l α_l dα_l)
        dh = Σ_l de_l A_l    dA_l = α_l dz + de_l h

    Returns:
        dh (N, H), dA (N, L, H).
    """
    h, A, alpha = cache
    dalpha, dA = _weighted_sum_backward(dz, alpha, A)
    de = _softmax_backward(dalpha, alpha)  # (N, L)
    dh = np.einsum("nl,nlh->nh", de, A)
    dA += de[:, :, None] * h[:, None, :]
    return dh, dA


def additive_attention_forward(
    h: np.ndarray, A: np.ndarray, W_h: np.ndarray, W_a: np.ndarray, b: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Additive (Bahdanau) soft attention.

        u_l = tanh(A_l W_a + h W_h + b)     (N, L, K)
        e_l = u_l · v                       (N, L)
        α = softmax(e)     z = Σ_l α_l A_l  (N, D)

    Args:
        h: (N, H) queries.
        A: (N, L, D) features.
        W_h: (H, K), W_a: (D, K), b: (K,), v: (K,) attention parameters.

    Returns:
        z (N, D), alpha (N, L), and a cache.
    """
    query = h @ W_h + b  # (N, K): computed once, broadcast over locations
    u = np.tanh(A @ W_a + query[:, None, :])  # (N, L, K)
    e = u @ v  # (N, L)
    alpha = _softmax_over_locations(e)
    z = np.einsum("nl,nld->nd", alpha, A)  # (N, D)
    return z, alpha, (h, A, W_h, W_a, v, u, alpha)


def additive_attention_backward(dz: np.ndarray, cache: tuple) -> tuple[np.ndarray, ...]:
    """Backward of `additive_attention_forward`.

        dα_l = A_l · dz                 de = α ⊙ (dα - Σ_l α_l dα_l)
        dv = Σ_{n,l} de_l u_l           dp = (de_l v) ⊙ (1 - u_l²)       (N, L, K), p the pre-tanh
        dW_a = Σ_{n,l} A_lᵀ dp_l        dA_l = α_l dz + dp_l W_aᵀ
        dq = Σ_l dp_l  (N, K)           dW_h = hᵀ dq    db = Σ_n dq    dh = dq W_hᵀ

    Returns:
        dh (N, H), dA (N, L, D), dW_h (H, K), dW_a (D, K), db (K,), dv (K,).
    """
    h, A, W_h, W_a, v, u, alpha = cache
    N, L, D = A.shape
    dalpha, dA = _weighted_sum_backward(dz, alpha, A)
    de = _softmax_backward(dalpha, alpha)  # (N, L)
    dv = np.einsum("nl,nlk->k", de, u)
    dp = de[:, :, None] * v * (1 - u**2)  # (N, L, K)
    dA += dp @ W_a.T
    dW_a = A.reshape(N * L, D).T @ dp.reshape(N * L, -1)  # (D, K)
    dq = dp.sum(axis=1)  # (N, K)
    dW_h = h.T @ dq
    db = dq.sum(axis=0)
    dh = dq @ W_h.T
    return dh, dA, dW_h, dW_a, db, dv
