"""The gradient-check helpers themselves, on functions whose derivatives are known exactly."""

import numpy as np

from rnnlab.reference import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    gradient_errors,
    rel_error,
)


def test_eval_numerical_gradient_of_a_cubic():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    original = x.copy()
    grad = eval_numerical_gradient(lambda x: np.sum(x**3), x, verbose=False, h=1e-5)
    assert rel_error(grad, 3 * original**2) < 1e-9  # centred differences: error h² f'''/6 = h²
    np.testing.assert_array_equal(x, original)  # every perturbation was undone


def test_eval_numerical_gradient_prints_when_verbose(capsys):
    eval_numerical_gradient(lambda x: float(np.sum(x)), np.zeros(2))
    lines = capsys.readouterr().out.splitlines()  # one line per element: index and derivative
    assert [line.split()[0] for line in lines] == ["(0,)", "(1,)"]
    assert all(abs(float(line.split()[1]) - 1) < 1e-9 for line in lines)


def test_eval_numerical_gradient_array_is_a_vector_jacobian_product():
    rng = np.random.default_rng(0)
    x, df = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    grad = eval_numerical_gradient_array(np.tanh, x, df, h=1e-6)
    assert rel_error(grad, df * (1 - np.tanh(x) ** 2)) < 1e-7


def test_rel_error():
    assert rel_error(1.0, 1.0) == 0.0
    assert abs(rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.2])) - 0.2 / 4.2) < 1e-15  # largest
    assert abs(rel_error(0.0, 1e-12) - 1e-4) < 1e-15  # the 1e-8 floor for gradients that are ~0


def test_gradient_errors_catches_a_wrong_backward():
    x = np.array([0.3, -1.2, 2.0])
    good = gradient_errors(lambda x: np.sum(np.sin(x)), {"x": x}, {"x": np.cos(x)})
    bad = gradient_errors(lambda x: np.sum(np.sin(x)), {"x": x}, {"x": np.cos(x) * 1.001})
    assert good["x"] < 1e-9 and bad["x"] > 4e-4  # 0.001 / (2 + 0.001)
