"""Feed-forward layers and losses of rnnlab.reference: backward passes against finite differences.

Every check: analytic gradient in float64 vs centred differences (h = 1e-6, taken in extended
precision by `gradient_errors`), largest elementwise relative error below 1e-7.
"""

import warnings

import numpy as np
import pytest

from rnnlab.reference import (
    affine_backward,
    affine_forward,
    batchnorm_backward,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    gradient_errors,
    rel_error,
    relu_backward,
    relu_forward,
    sigmoid,
    softmax_loss,
    svm_loss,
)

TOLERANCE = 1e-7


def assert_gradients(loss, inputs, grads):
    errors = gradient_errors(loss, inputs, grads, h=1e-6)
    print(f"[gradcheck] max rel error {max(errors.values()):.2e}", errors)
    assert max(errors.values()) < TOLERANCE, errors


def away_from_zero(rng, shape, margin=0.1):
    """Random values with |x| >= margin, so that no kink of relu/max lies within h of a point."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (margin + np.abs(x))


def test_affine_backward():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((3, 2, 3)), rng.standard_normal((6, 4)), rng.standard_normal(4)
    dout = rng.standard_normal((3, 4))
    out, cache = affine_forward(x, w, b)
    np.testing.assert_allclose(out, x.reshape(3, 6) @ w + b)
    dx, dw, db = affine_backward(dout, cache)
    assert_gradients(
        lambda x, w, b: np.sum(affine_forward(x, w, b)[0] * dout),
        {"x": x, "w": w, "b": b},
        {"x": dx, "w": dw, "b": db},
    )


def test_relu_backward():
    rng = np.random.default_rng(1)
    x, dout = away_from_zero(rng, (4, 5)), rng.standard_normal((4, 5))
    out, cache = relu_forward(x)
    assert np.all(out >= 0) and np.all(out[x > 0] == x[x > 0])
    dx = relu_backward(dout, cache)
    assert_gradients(lambda x: np.sum(relu_forward(x)[0] * dout), {"x": x}, {"x": dx})


def test_softmax_loss():
    rng = np.random.default_rng(2)
    N, C = 5, 4
    x, y = rng.standard_normal((N, C)), rng.integers(0, C, size=N)
    loss, dx = softmax_loss(x, y)
    expected = -np.mean([np.log(np.exp(x[n, y[n]]) / np.exp(x[n]).sum()) for n in range(N)])
    assert rel_error(loss, expected) < 1e-12
    assert_gradients(lambda x: softmax_loss(x, y)[0], {"x": x}, {"x": dx})
    # Scores of 1e4 would overflow a naive exp; the shifted form does not.
    loss_big, _ = softmax_loss(x * 1e4, y)
    assert np.isfinite(loss_big)


def test_softmax_loss_at_uniform_scores_is_log_c():
    """The assignment's sanity check: small random weights give loss ≈ log C."""
    loss, _ = softmax_loss(np.zeros((3, 10)), np.array([0, 3, 9]))
    assert rel_error(loss, np.log(10)) < 1e-12


def test_svm_loss():
    rng = np.random.default_rng(3)
    N, C = 5, 4
    y = rng.integers(0, C, size=N)
    while True:  # redraw until no margin x_c - x_y + 1 sits within 0.05 of the hinge's kink
        x = rng.standard_normal((N, C))
        margins = x - x[np.arange(N), y][:, None] + 1
        margins[np.arange(N), y] = 1  # the correct class is excluded from the sum
        if np.all(np.abs(margins) > 0.05):
            break
    loss, dx = svm_loss(x, y)
    expected = sum(max(0, x[n, c] - x[n, y[n]] + 1) for n in range(N) for c in range(C) if c != y[n]) / N
    assert rel_error(loss, expected) < 1e-12
    assert_gradients(lambda x: svm_loss(x, y)[0], {"x": x}, {"x": dx})


def test_batchnorm_backward_and_statistics():
    rng = np.random.default_rng(4)
    N, D = 6, 3
    x = 3 * rng.standard_normal((N, D)) + 5
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
    dout = rng.standard_normal((N, D))
    out, cache = batchnorm_forward(x, np.ones(D), np.zeros(D), {"mode": "train"})
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)  # normalised columns
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-5)  # 1 up to eps = 1e-5
    out, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    assert_gradients(
        lambda x, gamma, beta: np.sum(batchnorm_forward(x, gamma, beta, {"mode": "train"})[0] * dout),
        {"x": x, "gamma": gamma, "beta": beta},
        {"x": dx, "gamma": dgamma, "beta": dbeta},
    )


def test_batchnorm_running_averages_by_value():
    # momentum 0.9 (the default, written out): running ← 0.9 · running + 0.1 · batch statistic, from
    # mean 0 and variance 1; swapping momentum and 1 − momentum, or using the unbiased variance, fails.
    x1 = np.array([[1.0, -2.0], [3.0, 2.0]])  # means (2, 0), biased variances (1, 4)
    x2 = np.array([[0.0, 5.0], [4.0, 5.0], [2.0, 5.0]])  # means (2, 5), variances (8/3, 0)
    gamma, beta = np.ones(2), np.zeros(2)
    bn_param = {"mode": "train"}
    batchnorm_forward(x1, gamma, beta, bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], [0.2, 0.0], rtol=1e-12)
    np.testing.assert_allclose(bn_param["running_var"], [0.9 + 0.1, 0.9 + 0.4], rtol=1e-12)
    bn_param["momentum"] = 0.9
    batchnorm_forward(x2, gamma, beta, bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], [0.9 * 0.2 + 0.2, 0.5], rtol=1e-12)
    np.testing.assert_allclose(bn_param["running_var"], [0.9 * 1.0 + 0.1 * 8 / 3, 0.9 * 1.3], rtol=1e-12)


def test_batchnorm_running_averages_and_test_mode():
    rng = np.random.default_rng(5)
    bn_param = {"mode": "train", "momentum": 0.5}
    gamma, beta = np.ones(2), np.zeros(2)
    for _ in range(60):  # the running averages converge to the data's mean 2 and variance 4
        batchnorm_forward(2 * rng.standard_normal((500, 2)) + 2, gamma, beta, bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], 2, atol=0.3)
    np.testing.assert_allclose(bn_param["running_var"], 4, atol=1.0)
    bn_param["mode"] = "test"
    x = rng.standard_normal((3, 2))
    out, cache = batchnorm_forward(x, gamma, beta, bn_param)
    expected = (x - bn_param["running_mean"]) / np.sqrt(bn_param["running_var"] + 1e-5)
    np.testing.assert_allclose(out, expected)
    assert cache is None
    with pytest.raises(ValueError, match="train"):
        batchnorm_backward(np.ones((3, 2)), cache)


def test_dropout_backward_and_scaling():
    rng = np.random.default_rng(6)
    x, dout = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    param = {"mode": "train", "p": 0.6, "seed": 123}
    out, cache = dropout_forward(x, param)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / 0.6)  # inverted dropout scales the survivors
    dx = dropout_backward(dout, cache)
    assert_gradients(lambda x: np.sum(dropout_forward(x, param)[0] * dout), {"x": x}, {"x": dx})
    # p is the keep probability, and the expected activation is unchanged.
    big = np.ones((400, 500))
    out_big, _ = dropout_forward(big, {"mode": "train", "p": 0.3, "seed": 0})
    assert abs(np.mean(out_big != 0) - 0.3) < 0.01
    assert abs(out_big.mean() - 1) < 0.02
    out_test, cache_test = dropout_forward(x, {"mode": "test", "p": 0.3})
    assert out_test is x and dropout_backward(dout, cache_test) is dout


def test_sigmoid_is_stable_and_exact():
    x = np.linspace(-30, 30, 121)
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-14)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning at extreme inputs
        extreme = sigmoid(np.array([-1000.0, 1000.0]))
    np.testing.assert_array_equal(extreme, [0.0, 1.0])
    assert sigmoid(np.array([0])).dtype == np.float64  # integers are promoted
    assert float(sigmoid(0.0)) == 0.5
