"""Finite-difference gradient checks, as in the CS231n assignments.

A hand-written backward pass is only trusted once it agrees with the centred difference

    ∂f/∂x_i ≈ (f(x + h e_i) - f(x - h e_i)) / (2h)

whose error is O(h²) from truncation plus about ε·|f|/h from rounding (ε ≈ 1e-16 in float64).
With h ≈ 1e-6 both are around 1e-10, which is why every check here runs in float64: in float32
(ε ≈ 1e-7) rounding alone would swamp the comparison.

The functions perturb `x` *in place* and restore it, so `f` must read `x` each time it is called
(a closure over the very array passed in), not a copy taken earlier.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def eval_numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, verbose: bool = True, h: float = 1e-5
) -> np.ndarray:
    """Centred-difference gradient of a scalar function `f` at `x`.

    Args:
        f: takes the array `x` (any shape) and returns a scalar.
        x: the point, perturbed in place one element at a time and restored.
        verbose: print each element's index and numerical gradient (the assignment's default).
        h: step size.

    Returns:
        grad, an array of the same shape as `x`.
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(*x.shape):
        old_value = x[ix]
        x[ix] = old_value + h
        f_plus = f(x)  # f(x + h)
        x[ix] = old_value - h
        f_minus = f(x)  # f(x - h)
        x[ix] = old_value  # restore
        grad[ix] = (f_plus - f_minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Centred-difference gradient of Σ f(x) ⊙ df with respect to `x`, for an array-valued `f`.

    This is the vector-Jacobian product dfᵀ (∂f/∂x) that a backward pass computes when it is
    handed the upstream gradient `df` (same shape as f(x)).

    Returns:
        grad, an array of the same shape as `x`.
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(*x.shape):
        old_value = x[ix]
        x[ix] = old_value + h
        f_plus = np.array(f(x), copy=True)  # copy: f may return a view of a reused buffer
        x[ix] = old_value - h
        f_minus = np.array(f(x), copy=True)
        x[ix] = old_value
        grad[ix] = np.sum((f_plus - f_minus) * df) / (2 * h)
    return grad


def rel_error(x: np.ndarray | float, y: np.ndarray | float) -> float:
    """The largest elementwise relative error max |x - y| / max(1e-8, |x| + |y|)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def gradient_errors(
    loss: Callable[..., float],
    inputs: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    h: float = 1e-6,
    dtype: type = np.longdouble,
) -> dict[str, float]:
    """Relative error (`rel_error`) of analytic gradients against centred differences of `loss`.

    The finite differences are taken in `dtype`, extended precision by default, while the analytic
    gradients are whatever the backward pass computed (float64 in the tests). Why: `rel_error` takes the
    *largest elementwise* error, and in float64 rounding alone contributes about ε·|f|/h ≈ 1e-10 to
    every numerical derivative; an element whose true gradient happens to be 1e-3 then shows a relative
    error of 1e-7 although the backward pass is exact. On x86 `np.longdouble` has ε ≈ 1e-19, which
    takes the finite differences' rounding out of the picture and leaves the backward pass's own error.
    (On platforms where longdouble is plain float64 this is the ordinary float64 check.)

    Args:
        loss: called as loss(**arrays) with the arrays of `inputs` converted to `dtype`; returns a
            scalar. Non-differentiable arguments (indices, labels, upstream gradients) belong in its
            closure.
        inputs: the point at which to differentiate, by argument name.
        grads: analytic gradients for some or all of `inputs`, by the same names.
        h: step size.
        dtype: precision of the finite differences.

    Returns:
        {name: relative error} for every name in `grads`.
    """
    point = {name: np.array(value, dtype=dtype) for name, value in inputs.items()}
    errors = {}
    for name, analytic in grads.items():
        numerical = eval_numerical_gradient(lambda _: loss(**point), point[name], verbose=False, h=h)
        errors[name] = rel_error(analytic, numerical)
    return errors
