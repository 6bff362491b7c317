"""A tiny scalar computational graph: backpropagation one gate at a time, as the notes draw it.

Every gate knows its *local* gradient, ∂output/∂input, as soon as its forward value is computed.
Backpropagation then visits the gates from the output back to the inputs and applies the chain rule
at each one:

    downstream gradient = upstream gradient × local gradient        (summed where a value fans out)

The four gates of the lecture and their local gradients:

    add        q = a + b          ∂q/∂a = 1,  ∂q/∂b = 1           "distributes" the gradient
    multiply   q = a · b          ∂q/∂a = b,  ∂q/∂b = a           "swaps" the inputs
    max        q = max(a, b)      1 for the larger input, 0 for the other   "routes" the gradient
    sigmoid    q = σ(a)           ∂q/∂a = σ(a)(1 - σ(a))          (`sigmoid_gate` in rnnlab.reference)

Example (the lecture's f = (x + y) · z at x = -2, y = 5, z = -4):

    x, y, z = variable("x", -2), variable("y", 5), variable("z", -4)
    q = add(x, y, "q")                # 3
    f = multiply(q, z, "f")           # -12
    for step in backward(f):
        print(step)                   # f (multiply): dq = 1 × -4 = -4, ...
    x.grad, y.grad, z.grad            # (-4, -4, 3)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(eq=False)
class Node:
    """One value of the graph: an input variable or the output of a gate.

    Attributes:
        name: label used in the printed steps; a gate's default label is its expression, e.g. '(x + y)'.
        value: the forward value.
        gate: 'input', 'add', 'multiply', 'max' or 'sigmoid'.
        inputs: the nodes this gate read.
        local_grads: ∂value/∂input for each input, fixed at forward time.
        grad: ∂(output of the last `backward`)/∂value, filled in by `backward`.
    """

    name: str
    value: float
    gate: str = "input"
    inputs: tuple[Node, ...] = ()
    local_grads: tuple[float, ...] = ()
    grad: float = field(default=0.0)


@dataclass(frozen=True)
class BackpropStep:
    """One application of the chain rule: input.grad += upstream × local."""

    node: str
    gate: str
    input: str
    upstream: float
    local: float
    downstream: float

    def __str__(self) -> str:
        return (
            f"{self.node} ({self.gate}): d{self.input} += {self.upstream:.6g} × {self.local:.6g}"
            f" = {self.downstream:.6g}"
        )


def variable(name: str, value: float) -> Node:
    """An input of the graph."""
    return Node(name=name, value=float(value))


def add(a: Node, b: Node, name: str | None = None) -> Node:
    """Add gate: a + b, local gradients (1, 1)."""
    return Node(name or f"({a.name} + {b.name})", a.value + b.value, "add", (a, b), (1.0, 1.0))


def multiply(a: Node, b: Node, name: str | None = None) -> Node:
    """Multiply gate: a · b, local gradients (b, a)."""
    return Node(name or f"({a.name} · {b.name})", a.value * b.value, "multiply", (a, b), (b.value, a.value))


def maximum(a: Node, b: Node, name: str | None = None) -> Node:
    """Max gate: max(a, b); the gradient goes to the larger input (to `a` on a tie)."""
    local = (1.0, 0.0) if a.value >= b.value else (0.0, 1.0)
    return Node(name or f"max({a.name}, {b.name})", max(a.value, b.value), "max", (a, b), local)


def sigmoid(a: Node, name: str | None = None) -> Node:
    """Sigmoid gate: σ(a) = 1 / (1 + e^{-a}), local gradient σ(a)(1 - σ(a))."""
    if a.value >= 0:
        s = 1.0 / (1.0 + math.exp(-a.value))
    else:  # same value, but e^{a} cannot overflow for very negative a
        s = math.exp(a.value) / (1.0 + math.exp(a.value))
    return Node(name or f"σ({a.name})", s, "sigmoid", (a,), (s * (1.0 - s),))


def _topological_order(output: Node) -> list[Node]:
    """Every node reachable from `output`, each after all of its inputs."""
    order: list[Node] = []
    seen: set[int] = set()

    def visit(node: Node) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        for parent in node.inputs:
            visit(parent)
        order.append(node)

    visit(output)
    return order


def backward(output: Node) -> list[BackpropStep]:
    """Backpropagate from `output`, setting `.grad` on every node, and return the steps taken.

    Gradients are reset first, so calling `backward` twice gives the same result. A node used by
    several gates receives the sum of their downstream gradients (the multivariate chain rule).
    """
    order = _topological_order(output)
    for node in order:
        node.grad = 0.0
    output.grad = 1.0  # df/df
    steps = []
    for node in reversed(order):  # from the output back to the inputs
        for parent, local in zip(node.inputs, node.local_grads, strict=True):
            downstream = node.grad * local
            parent.grad += downstream
            steps.append(BackpropStep(node.name, node.gate, parent.name, node.grad, local, downstream))
    return steps
