"""Update rules against values worked out by hand (two steps each, so the state is exercised)."""

import numpy as np
import pytest

from rnnlab.reference import (
    UPDATE_RULES,
    adagrad,
    adam,
    clip_global_norm,
    nesterov,
    rmsprop,
    sgd,
    sgd_momentum,
)

W = np.array([1.0, 2.0])
DW1 = np.array([0.5, -1.0])
DW2 = np.array([1.0, 1.0])


def two_steps(rule, config):
    w1, config = rule(W.copy(), DW1, config)
    w2, config = rule(w1, DW2, config)
    return w1, w2, config


def test_sgd():
    w1, w2, _ = two_steps(sgd, {"learning_rate": 0.1})
    np.testing.assert_allclose(w1, [0.95, 2.1], rtol=1e-15)
    np.testing.assert_allclose(w2, [0.85, 2.0], rtol=1e-15)
    assert sgd(W, DW1)[1]["learning_rate"] == 1e-2  # default filled in


def test_sgd_momentum():
    # v1 = -0.1·dw1 = [-0.05, 0.1];  v2 = 0.9·v1 - 0.1·dw2 = [-0.145, -0.01]
    w1, w2, config = two_steps(sgd_momentum, {"learning_rate": 0.1, "momentum": 0.9})
    np.testing.assert_allclose(w1, [0.95, 2.1], rtol=1e-15)
    np.testing.assert_allclose(config["velocity"], [-0.145, -0.01], rtol=1e-14)
    np.testing.assert_allclose(w2, [0.805, 2.09], rtol=1e-14)


def test_nesterov():
    # w1 = w0 + (1 + 0.9)·v1 = [1 - 0.095, 2 + 0.19]
    # w2 = w1 - 0.9·v1 + 1.9·v2 = [0.905 + 0.045 - 0.2755, 2.19 - 0.09 - 0.019]
    w1, w2, _ = two_steps(nesterov, {"learning_rate": 0.1, "momentum": 0.9})
    np.testing.assert_allclose(w1, [0.905, 2.19], rtol=1e-14)
    np.testing.assert_allclose(w2, [0.6745, 2.081], rtol=1e-14)


def test_adagrad():
    # cache1 = [0.25, 1] so the first step is exactly lr·sign(dw); cache2 = [1.25, 2]
    w1, w2, config = two_steps(adagrad, {"learning_rate": 0.1, "epsilon": 0.0})
    np.testing.assert_allclose(w1, [0.9, 2.1], rtol=1e-15)
    np.testing.assert_allclose(config["cache"], [1.25, 2.0], rtol=1e-15)
    np.testing.assert_allclose(w2, [0.9 - 0.1 / np.sqrt(1.25), 2.1 - 0.1 / np.sqrt(2)], rtol=1e-14)


def test_rmsprop():
    # cache1 = 0.1·dw1² = [0.025, 0.1];  cache2 = 0.9·cache1 + 0.1·[1, 1] = [0.1225, 0.19]
    w1, w2, config = two_steps(rmsprop, {"learning_rate": 0.1, "decay_rate": 0.9, "epsilon": 0.0})
    step1 = 0.1 / np.sqrt(0.1)  # dw/sqrt(0.1 dw²) = sign(dw)/sqrt(0.1)
    np.testing.assert_allclose(w1, [1 - step1, 2 + step1], rtol=1e-14)
    np.testing.assert_allclose(config["cache"], [0.1225, 0.19], rtol=1e-14)
    np.testing.assert_allclose(w2, w1 - 0.1 * DW2 / np.sqrt([0.1225, 0.19]), rtol=1e-14)


def test_adam_bias_correction():
    # Step 1: m̂ = dw1 and v̂ = dw1², so the step is exactly lr·sign(dw1) — without the correction
    # it would be lr·0.1·dw/sqrt(0.001·dw²) ≈ 3.16·lr·sign(dw).
    w1, w2, config = two_steps(adam, {"learning_rate": 0.1, "epsilon": 0.0})
    np.testing.assert_allclose(w1, [0.9, 2.1], rtol=1e-14)
    # Step 2 by hand: m = 0.9·0.1·dw1 + 0.1·dw2 = [0.145, 0.01], m̂ = m / 0.19
    #                 v = 0.999·0.001·dw1² + 0.001·dw2² = [0.00124975, 0.001999], v̂ = v / 0.001999
    assert config["t"] == 2
    np.testing.assert_allclose(config["m"], [0.145, 0.01], rtol=1e-14)
    np.testing.assert_allclose(config["v"], [0.00124975, 0.001999], rtol=1e-14)
    m_hat = np.array([0.145, 0.01]) / 0.19
    v_hat = np.array([0.00124975, 0.001999]) / 0.001999
    np.testing.assert_allclose(w2, w1 - 0.1 * m_hat / np.sqrt(v_hat), rtol=1e-13)


@pytest.mark.parametrize("name", sorted(UPDATE_RULES))
def test_every_rule_minimises_a_quadratic(name):
    """f(w) = ½‖w - 3‖²: each rule heads towards w = 3.

    AdaGrad gets a larger rate: its steps shrink as the squared gradients pile up (the lecture's
    reason for RMSProp), and at 0.1 it is still short of the minimum after 500 steps.
    """
    w, config = np.zeros(4), {"learning_rate": 1.0 if name == "adagrad" else 0.1}
    for _ in range(500):
        w, config = UPDATE_RULES[name](w, w - 3, config)
    np.testing.assert_allclose(w, 3, atol=0.1)


def test_clip_global_norm_uses_the_norm_not_its_square():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0, 4.0]])}  # global norm 5
    clipped, norm = clip_global_norm(grads, max_norm=1.0)
    assert norm == 5.0
    np.testing.assert_allclose(clipped["a"], [0.6, 0.0])
    np.testing.assert_allclose(clipped["b"], [[0.0, 0.8]])
    untouched, _ = clip_global_norm(grads, max_norm=10.0)
    np.testing.assert_array_equal(untouched["a"], grads["a"])
