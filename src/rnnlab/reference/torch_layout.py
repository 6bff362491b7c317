"""Convert cell parameters between the course's layout and PyTorch's (pure numpy, no torch).

Letters: D input size, H hidden size, G gate blocks (1 RNN, 3 GRU, 4 LSTM).

    course (CS231n, this package's numpy reference)       PyTorch (torch.nn, rnnlab.nn cells)
    Wx (D, G·H)   x @ Wx: gate blocks side by side         weight_ih (G·H, D)  W x: blocks stacked by rows
    Wh (H, G·H)                                           weight_hh (G·H, H)
    b  (G·H,)     one bias                                bias_ih, bias_hh (G·H,)  two biases

Three differences, each explicit here:

1. Transpose: the course multiplies x @ Wx with inputs on the left; PyTorch computes W x, so
   weight_ih = Wxᵀ and weight_hh = Whᵀ.
2. LSTM gate order: the course stacks (i, f, o, g), PyTorch (i, f, g, o); the last two blocks swap.
   GRU blocks are (r, z, n) in both.
3. Biases: PyTorch keeps b_ih and b_hh, and only their sum enters the pre-activations, so
   b = bias_ih + bias_hh — except in the reset-after GRU (PyTorch's `GRU`, `rnnlab.nn.GRUCell`), where
   b_hn sits inside r ⊙ (W_hn h + b_hn) and becomes the separate parameter `b_hn` of `gru_forward`.

Going from the course to PyTorch puts the whole bias into bias_ih and zeros into bias_hh (except b_hn),
so course -> torch -> course is the identity, while torch -> course -> torch gives different biases
that compute the same function.

Cell names are those of `rnnlab.nn.cells`: 'rnn-tanh', 'rnn-relu', 'lstm', 'gru', 'gru-cho'.

Like all of `rnnlab.reference`, this module imports nothing of rnnlab outside the reference. The
PyTorch orders below are therefore written out here once more; on the torch side they are named in
`rnnlab.nn.gates` (LSTM_GATES, GRU_GATES), and tests/nn/test_gates.py checks that the two agree.
"""

from __future__ import annotations

import numpy as np

COURSE_LSTM_GATES = ("i", "f", "o", "g")
TORCH_LSTM_GATES = ("i", "f", "g", "o")
GRU_GATES = ("r", "z", "n")

#: gate-block order of each cell type in each layout: (course, torch)
GATE_ORDERS = {
    "rnn-tanh": (("h",), ("h",)),
    "rnn-relu": (("h",), ("h",)),
    "lstm": (COURSE_LSTM_GATES, TORCH_LSTM_GATES),
    "gru": (GRU_GATES, GRU_GATES),
    "gru-cho": (GRU_GATES, GRU_GATES),
}


def reorder_gates(
    array: np.ndarray, from_order: tuple[str, ...], to_order: tuple[str, ...], axis: int
) -> np.ndarray:
    """Split `array` into len(from_order) equal blocks along `axis` and stack them in `to_order`.

    Example: reorder_gates(Wx, ("i", "f", "o", "g"), ("i", "f", "g", "o"), axis=1) on Wx (D, 4H).
    """
    if sorted(from_order) != sorted(to_order):
        raise ValueError(f"Gate orders {from_order} and {to_order} name different gates.")
    blocks = dict(zip(from_order, np.split(array, len(from_order), axis=axis), strict=True))
    return np.concatenate([blocks[gate] for gate in to_order], axis=axis)


def _gate_orders(cell: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if cell not in GATE_ORDERS:
        raise ValueError(f"Unknown cell {cell!r}; the layouts cover {sorted(GATE_ORDERS)}.")
    return GATE_ORDERS[cell]


def course_from_torch(
    cell: str, weight_ih: np.ndarray, weight_hh: np.ndarray, bias_ih: np.ndarray, bias_hh: np.ndarray
) -> dict[str, np.ndarray]:
    """PyTorch layout -> course layout.

    Args:
        cell: 'rnn-tanh', 'rnn-relu', 'lstm', 'gru' or 'gru-cho'.
        weight_ih (G·H, D), weight_hh (G·H, H), bias_ih (G·H,), bias_hh (G·H,): PyTorch's tensors as
            numpy arrays (e.g. `p.detach().numpy()`).

    Returns:
        {'Wx': (D, G·H), 'Wh': (H, G·H), 'b': (G·H,)} in the course's gate order, plus 'b_hn': (H,)
        for 'gru'. These are the arguments of `rnn_forward`, `lstm_forward`, `gru_forward`,
        `gru_cho_forward`.
    """
    course_order, torch_order = _gate_orders(cell)
    H = weight_hh.shape[1]
    if cell == "gru":
        # b_hn is multiplied by r, so only the r and z parts of bias_hh merge into b.
        b = bias_ih + np.concatenate([bias_hh[: 2 * H], np.zeros(H, dtype=bias_hh.dtype)])
        extra = {"b_hn": bias_hh[2 * H :].copy()}
    else:
        b, extra = bias_ih + bias_hh, {}
    return {
        "Wx": reorder_gates(weight_ih, torch_order, course_order, axis=0).T.copy(),  # (D, G·H)
        "Wh": reorder_gates(weight_hh, torch_order, course_order, axis=0).T.copy(),  # (H, G·H)
        "b": reorder_gates(b, torch_order, course_order, axis=0),  # (G·H,)
        **extra,
    }


def torch_from_course(
    cell: str, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, b_hn: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Course layout -> PyTorch layout (the inverse of `course_from_torch` on the course side).

    Args:
        cell: 'rnn-tanh', 'rnn-relu', 'lstm', 'gru' or 'gru-cho'.
        Wx (D, G·H), Wh (H, G·H), b (G·H,): course parameters; b_hn (H,) is required for 'gru' only.

    Returns:
        {'weight_ih': (G·H, D), 'weight_hh': (G·H, H), 'bias_ih': (G·H,), 'bias_hh': (G·H,)}, ready
        to copy into an `rnnlab.nn` cell or a `torch.nn.RNN/LSTM/GRU` layer.
    """
    course_order, torch_order = _gate_orders(cell)
    H = Wh.shape[0]
    if (cell == "gru") != (b_hn is not None):
        raise ValueError(
            "b_hn is the reset-after GRU's candidate bias: pass it for cell 'gru' and only then."
        )
    bias_hh = np.zeros_like(b)
    if cell == "gru":
        bias_hh[2 * H :] = b_hn
    return {
        "weight_ih": reorder_gates(Wx.T, course_order, torch_order, axis=0).copy(),  # (G·H, D)
        "weight_hh": reorder_gates(Wh.T, course_order, torch_order, axis=0).copy(),  # (G·H, H)
        "bias_ih": reorder_gates(b, course_order, torch_order, axis=0),
        "bias_hh": bias_hh,
    }


def course_gradients_from_torch(
    cell: str,
    grad_weight_ih: np.ndarray,
    grad_weight_hh: np.ndarray,
    grad_bias_ih: np.ndarray,
    grad_bias_hh: np.ndarray,
) -> dict[str, np.ndarray]:
    """Gradients of PyTorch's parameters -> gradients of the course's parameters.

    Weights map like the parameters themselves (transpose, reorder). Biases do not: b = bias_ih +
    bias_hh means ∂L/∂b = ∂L/∂bias_ih = ∂L/∂bias_hh, the *same* gradient, not the sum of the two
    (summing would double it). For the reset-after GRU, ∂L/∂b takes all three blocks of ∂L/∂bias_ih
    and ∂L/∂b_hn is the candidate block of ∂L/∂bias_hh.

    Returns:
        {'Wx', 'Wh', 'b'} (+ 'b_hn' for 'gru'), in the course's shapes and gate order: the values
        `rnn_backward`, `lstm_backward`, `gru_backward`, `gru_cho_backward` return.
    """
    course_order, torch_order = _gate_orders(cell)
    H = grad_weight_hh.shape[1]
    grads = {
        "Wx": reorder_gates(grad_weight_ih, torch_order, course_order, axis=0).T.copy(),
        "Wh": reorder_gates(grad_weight_hh, torch_order, course_order, axis=0).T.copy(),
        "b": reorder_gates(grad_bias_ih, torch_order, course_order, axis=0),
    }
    if cell == "gru":
        grads["b_hn"] = grad_bias_hh[2 * H :].copy()
    return grads
