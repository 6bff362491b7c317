"""The scalar computational graph: gradients by hand-chained local gradients vs torch autograd."""

import math

import numpy as np
import pytest
import torch

from rnnlab.reference import add, backward, maximum, multiply, rel_error, sigmoid_gate, variable


def test_lecture_example_add_multiply():
    """f = (x + y)·z at x = -2, y = 5, z = -4: the lecture's first graph."""
    x, y, z = variable("x", -2), variable("y", 5), variable("z", -4)
    q = add(x, y, "q")
    f = multiply(q, z, "f")
    steps = backward(f)
    assert (f.value, q.value) == (-12, 3)
    assert (x.grad, y.grad, z.grad, q.grad) == (-4, -4, 3, -4)
    # Step by step, from the output back: the multiply gate swaps, the add gate distributes.
    assert [str(s) for s in steps] == [
        "f (multiply): dq += 1 × -4 = -4",
        "f (multiply): dz += 1 × 3 = 3",
        "q (add): dx += -4 × 1 = -4",
        "q (add): dy += -4 × 1 = -4",
    ]


def test_lecture_example_sigmoid_neuron():
    """f = σ(w0·x0 + w1·x1 + w2) with w = (2, -3, -3), x = (-1, -2): the notes' 2D neuron."""
    w0, x0, w1, x1, w2 = (
        variable(n, v) for n, v in [("w0", 2), ("x0", -1), ("w1", -3), ("x1", -2), ("w2", -3)]
    )
    f = sigmoid_gate(add(add(multiply(w0, x0), multiply(w1, x1)), w2), "f")
    backward(f)
    assert abs(f.value - 0.7310585786) < 1e-9  # σ(1)
    local = f.value * (1 - f.value)  # ≈ 0.2, the sigmoid gate's local gradient
    for node, expected in [
        (w0, -1 * local),
        (x0, 2 * local),
        (w1, -2 * local),
        (x1, -3 * local),
        (w2, local),
    ]:
        assert abs(node.grad - expected) < 1e-12
    assert round(w0.grad, 2) == -0.2 and round(x0.grad, 2) == 0.39  # the values drawn in the notes


def graph_expression(g, x, y, z):
    """f = max(x·y, z) + x·σ(x + z) + (x + y)·(x + y): fan-out at x, y, z and at the shared sum."""
    s = g["add"](x, y)  # used twice
    first = g["max"](g["mul"](x, y), z)
    second = g["mul"](x, g["sigmoid"](g["add"](x, z)))
    return g["add"](g["add"](first, second), g["mul"](s, s))


NUMPY_GATES = {"add": add, "mul": multiply, "max": maximum, "sigmoid": sigmoid_gate}
TORCH_GATES = {"add": torch.add, "mul": torch.mul, "max": torch.maximum, "sigmoid": torch.sigmoid}


@pytest.mark.parametrize("seed", range(5))
def test_gradients_match_torch_autograd(seed):
    rng = np.random.default_rng(seed)
    while True:  # keep the max gate away from its tie x·y = z, where it has no derivative
        values = rng.standard_normal(3) * 2
        if abs(values[0] * values[1] - values[2]) > 1e-3:
            break
    nodes = [variable(name, v) for name, v in zip("xyz", values)]
    f = graph_expression(NUMPY_GATES, *nodes)
    steps = backward(f)

    tensors = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    f_torch = graph_expression(TORCH_GATES, *tensors)
    f_torch.backward()
    assert rel_error(f.value, f_torch.item()) < 1e-15
    for node, tensor in zip(nodes, tensors):
        assert rel_error(node.grad, tensor.grad.item()) < 1e-14, node.name
    assert len(steps) == 17  # one chain-rule step per edge: 8 two-input gates and a sigmoid

    # backward() resets the gradients, so a second call gives the same numbers.
    first = [n.grad for n in nodes]
    backward(f)
    assert [n.grad for n in nodes] == first


def test_max_gate_routes_and_sigmoid_gate_is_stable():
    a, b = variable("a", 3), variable("b", 1)
    m = maximum(a, b)
    backward(m)
    assert (a.grad, b.grad) == (1, 0)
    for v in (-1000.0, 1000.0):
        s = sigmoid_gate(variable("v", v))
        assert s.value == (0.0 if v < 0 else 1.0) and s.local_grads == (0.0,)
    assert math.isclose(sigmoid_gate(variable("v", 0)).local_grads[0], 0.25)
