"""Feed-forward layers and losses in numpy, each a forward that returns a cache and a backward.

Letters: N batch (the assignment's name for B), D input features, M output features, C classes.

The signatures are the CS231n assignments':

    out, cache = layer_forward(inputs..., parameters...)
    d_inputs..., d_parameters... = layer_backward(dout, cache)
    loss, dx = some_loss(scores, labels)          # losses return the gradient directly

Backward passes are written from the chain rule on the forward's computational graph; every one is
checked against finite differences in tests/reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """Numerically stable logistic σ(x) = 1 / (1 + e^{-x}), elementwise.

    The textbook formula overflows e^{-x} for very negative x (numpy warns and may return nan in
    the gradient). For x < 0 we use the equal form σ(x) = e^{x} / (1 + e^{x}), where e^{x} ≤ 1, so no
    exponent is ever positive.
    """
    x = np.asarray(x)
    x = x.astype(np.result_type(x.dtype, np.float32), copy=False)  # integers become float64
    positive = x >= 0
    e = np.exp(-np.abs(x))  # e^{-|x|} ∈ (0, 1]: never overflows
    return np.where(positive, 1.0 / (1.0 + e), e / (1.0 + e))


# ----------------------------------------------------------------------------------- affine


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Fully connected layer out = x w + b.

    Args:
        x: (N, d_1, ..., d_k) inputs; each row is flattened to D = d_1·…·d_k features.
        w: (D, M) weights.
        b: (M,) bias.

    Returns:
        out (N, M) and cache (x, w, b).
    """
    x_flat = x.reshape(x.shape[0], -1)  # (N, D)
    out = x_flat @ w + b  # (N, M)
    return out, (x, w, b)


def affine_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of `affine_forward`: dx = dout wᵀ, dw = xᵀ dout, db = Σ_n dout.

    Returns:
        dx (N, d_1, ..., d_k), dw (D, M), db (M,).
    """
    x, w, _ = cache
    x_flat = x.reshape(x.shape[0], -1)  # (N, D)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x_flat.T @ dout  # (D, M)
    db = dout.sum(axis=0)  # (M,)
    return dx, dw, db


# ------------------------------------------------------------------------------------- relu


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rectified linear unit out = max(0, x), elementwise. Returns (out, cache = x)."""
    return np.maximum(0, x), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Backward of `relu_forward`: the max gate routes the gradient to where x > 0.

    At x = 0 exactly the function has a kink; we use the subgradient 0 there (as PyTorch does).
    """
    x = cache
    return dout * (x > 0)


# ----------------------------------------------------------------------------------- losses


def softmax_loss(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy averaged over the batch.

        p_{n,c} = exp(x_{n,c}) / Σ_k exp(x_{n,k})
        loss = -(1/N) Σ_n log p_{n,y_n}
        dx_{n,c} = (p_{n,c} - [c = y_n]) / N

    Args:
        x: (N, C) scores.
        y: (N,) integer labels in [0, C).

    Returns:
        loss (float) and dx (N, C).
    """
    N = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)  # subtracting the max changes nothing but overflow
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C)
    loss = -log_probs[np.arange(N), y].sum() / N
    dx = np.exp(log_probs)  # p, (N, C)
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


def svm_loss(x: np.ndarray, y: np.ndarray, delta: float = 1.0) -> tuple[float, np.ndarray]:
    """Multiclass hinge (Weston-Watkins SVM) loss averaged over the batch.

        loss = (1/N) Σ_n Σ_{c ≠ y_n} max(0, x_{n,c} - x_{n,y_n} + Δ)

    Each positive margin contributes +1 to its class's gradient and -1 to the correct class's.

    Args:
        x: (N, C) scores.
        y: (N,) integer labels.
        delta: the margin Δ.

    Returns:
        loss (float) and dx (N, C).
    """
    N = x.shape[0]
    correct = x[np.arange(N), y][:, None]  # (N, 1)
    margins = np.maximum(0, x - correct + delta)  # (N, C)
    margins[np.arange(N), y] = 0
    loss = margins.sum() / N
    positive = (margins > 0).astype(x.dtype)  # (N, C)
    dx = positive.copy()
    dx[np.arange(N), y] -= positive.sum(axis=1)
    dx /= N
    return loss, dx


# ------------------------------------------------------------------------------- batchnorm


def batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict[str, Any]
) -> tuple[np.ndarray, tuple | None]:
    """Batch normalisation (Ioffe & Szegedy) over the batch axis.

    Training mode uses the batch's statistics and updates running averages in `bn_param`:

        μ = (1/N) Σ_n x_n        σ² = (1/N) Σ_n (x_n - μ)²        (biased variance, as in the paper)
        x̂ = (x - μ) / sqrt(σ² + ε)
        out = γ ⊙ x̂ + β
        running_mean ← momentum · running_mean + (1 - momentum) · μ   (same for running_var)

    Test mode normalises with the running averages instead.

    Args:
        x: (N, D) inputs.
        gamma, beta: (D,) scale and shift.
        bn_param: dict with 'mode' ('train' or 'test'), optional 'eps' (1e-5), 'momentum' (0.9),
            'running_mean' and 'running_var' (D,), created as zeros/ones when missing.

    Returns:
        out (N, D) and the cache for the backward pass (None in test mode).
    """
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(D, dtype=x.dtype))

    if mode == "train":
        mu = x.mean(axis=0)  # (D,)
        var = x.var(axis=0)  # (D,)
        inv_std = 1.0 / np.sqrt(var + eps)  # (D,)
        x_hat = (x - mu) * inv_std  # (N, D)
        out = gamma * x_hat + beta
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
        cache = (x_hat, gamma, inv_std)
    elif mode == "test":
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * x_hat + beta
        bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
        cache = None
    else:
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}.")
    return out, cache


def batchnorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of `batchnorm_forward` in training mode.

    μ and σ² depend on every row, so each x_n also influences the others' outputs. Pushing the
    gradient through x̂ = (x - μ)/σ and simplifying gives the compact form

        dγ = Σ_n dout ⊙ x̂        dβ = Σ_n dout        dx̂ = dout ⊙ γ
        dx = (1/N) (1/σ) (N dx̂ - Σ_n dx̂ - x̂ ⊙ Σ_n (dx̂ ⊙ x̂))

    Returns:
        dx (N, D), dgamma (D,), dbeta (D,).
    """
    if cache is None:
        raise ValueError("batchnorm_backward needs the cache of a forward pass in 'train' mode.")
    x_hat, gamma, inv_std = cache
    N = dout.shape[0]
    dgamma = (dout * x_hat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dx_hat = dout * gamma  # (N, D)
    dx = (inv_std / N) * (N * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0))
    return dx, dgamma, dbeta


# --------------------------------------------------------------------------------- dropout


def dropout_forward(x: np.ndarray, dropout_param: dict[str, Any]) -> tuple[np.ndarray, tuple]:
    """Inverted dropout.

    Careful: `p` is the probability of *keeping* a unit, as in the current CS231n assignment (PyTorch's
    `nn.Dropout(p)` takes the probability of *dropping* it). In training each unit is kept with
    probability p and the survivors are scaled by 1/p, so the expected activation equals the test-time
    activation and test mode is the identity:

        mask = [u < p] / p,  u ~ U(0, 1)        out = x ⊙ mask    (train)
        out = x                                                    (test)

    Args:
        x: inputs of any shape.
        dropout_param: dict with 'p' (keep probability, 0 < p ≤ 1), 'mode' ('train' or 'test'), and
            optional 'seed' for a reproducible mask (used in gradient checks).

    Returns:
        out (same shape as x) and cache (dropout_param, mask).
    """
    p, mode = dropout_param["p"], dropout_param["mode"]
    if not 0 < p <= 1:
        raise ValueError(f"dropout_param['p'] is the keep probability and must lie in (0, 1], got {p}.")
    if mode == "train":
        rng = np.random.default_rng(dropout_param.get("seed"))
        mask = (rng.random(x.shape) < p) / p
        out = x * mask
    elif mode == "test":
        mask = None
        out = x
    else:
        raise ValueError(f"dropout_param['mode'] must be 'train' or 'test', got {mode!r}.")
    return out.astype(x.dtype, copy=False), (dropout_param, mask)


def dropout_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward of `dropout_forward`: the same mask multiplies the gradient (identity in test mode)."""
    dropout_param, mask = cache
    if dropout_param["mode"] == "train":
        return dout * mask
    return dout
