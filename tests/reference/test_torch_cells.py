"""The numpy reference against the torch cells and layers of rnnlab.nn, with the same weights copied in.

The mapping course layout ⇄ PyTorch layout (transpose; LSTM gate blocks i, f, o, g ⇄ i, f, g, o;
b = bias_ih + bias_hh, with the reset-after GRU's b_hn kept apart) is the explicit, documented
`rnnlab.reference.torch_layout`. Everything runs in float64; forward values and every gradient must
agree to a relative error below 1e-9 (`rel_error`, the largest elementwise error).
"""

import numpy as np
import pytest
import torch

from rnnlab.nn import GRUCell, GRUChoCell, LSTMCell, Recurrent, RNNCell
from rnnlab.reference import (
    additive_attention_backward,
    additive_attention_forward,
    course_from_torch,
    course_gradients_from_torch,
    dot_attention_backward,
    dot_attention_forward,
    gru_backward,
    gru_cho_backward,
    gru_cho_forward,
    gru_cho_step_backward,
    gru_cho_step_forward,
    gru_forward,
    gru_step_backward,
    gru_step_forward,
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    rel_error,
    reorder_gates,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
    torch_from_course,
)

TOLERANCE = 1e-9
N, T, D, H = 3, 5, 4, 6
GATES = {"rnn-tanh": 1, "lstm": 4, "gru": 3, "gru-cho": 3}
GATE_PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # PyTorch's names
TORCH_CELLS = {
    "rnn-tanh": lambda: RNNCell(D, H, nonlinearity="tanh"),
    "lstm": lambda: LSTMCell(D, H),
    "gru": lambda: GRUCell(D, H),
    "gru-cho": lambda: GRUChoCell(D, H),
}
STEP = {
    "rnn-tanh": (rnn_step_forward, rnn_step_backward),
    "lstm": (lstm_step_forward, lstm_step_backward),
    "gru": (gru_step_forward, gru_step_backward),
    "gru-cho": (gru_cho_step_forward, gru_cho_step_backward),
}
SEQUENCE = {
    "rnn-tanh": (rnn_forward, rnn_backward),
    "lstm": (lstm_forward, lstm_backward),
    "gru": (gru_forward, gru_backward),
    "gru-cho": (gru_cho_forward, gru_cho_backward),
}


def course_params(rng, cell):
    """Random course-layout parameters {Wx, Wh, b (, b_hn)} for `cell`."""
    G = GATES[cell]
    params = {
        "Wx": 0.5 * rng.standard_normal((D, G * H)),
        "Wh": 0.5 * rng.standard_normal((H, G * H)),
        "b": 0.5 * rng.standard_normal(G * H),
    }
    if cell == "gru":
        params["b_hn"] = 0.5 * rng.standard_normal(H)
    return params


def load_into(module, course, cell):
    """Copy course-layout parameters into a torch module with weight_ih/weight_hh/bias_ih/bias_hh."""
    module.double()
    with torch.no_grad():
        for name, value in torch_from_course(cell, **course).items():
            getattr(module, name).copy_(torch.from_numpy(value))


def tensor(array):
    return torch.tensor(array, dtype=torch.float64, requires_grad=True)


def assert_close(name, ours, theirs, errors):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.shape == theirs.shape, name
    errors[name] = rel_error(ours, theirs)


def check(errors):
    worst = max(errors.values())
    print(f"[torch parity] max rel error {worst:.2e}")
    assert worst < TOLERANCE, errors


# ----------------------------------------------------------------------------- the mapping


def test_reorder_gates_moves_labelled_blocks():
    course = np.repeat([[1.0, 2.0, 3.0, 4.0]], 2, axis=1)  # (1, 4H), H = 2: blocks i=1 f=2 o=3 g=4
    torch_order = reorder_gates(course, ("i", "f", "o", "g"), ("i", "f", "g", "o"), axis=1)
    np.testing.assert_array_equal(torch_order, [[1, 1, 2, 2, 4, 4, 3, 3]])
    with pytest.raises(ValueError, match="different gates"):
        reorder_gates(course, ("i", "f", "o", "g"), ("r", "z", "n", "g"), axis=1)


@pytest.mark.parametrize("cell", sorted(GATES))
def test_layout_round_trip(cell):
    rng = np.random.default_rng(0)
    course = course_params(rng, cell)
    back = course_from_torch(cell, **torch_from_course(cell, **course))
    assert back.keys() == course.keys()
    for name in course:
        np.testing.assert_array_equal(back[name], course[name])
    # From torch's side the biases come back split differently, but they compute the same function:
    # checked by the cell tests below, which start from torch's own random initialisation.


# ------------------------------------------------------------------------- cells, one step


@pytest.mark.parametrize("cell", sorted(GATES))
def test_step_matches_rnnlab_cell(cell):
    """Forward and backward of one step against the rnnlab.nn cell, weights from torch's own init."""
    rng = np.random.default_rng(1)
    torch.manual_seed(1)
    module = TORCH_CELLS[cell]().double()
    # Start from torch's own (two-bias) parameters, so that the mapping torch -> course is tested.
    torch_params = {name: getattr(module, name).detach().numpy().copy() for name in GATE_PARAM_NAMES}
    course = course_from_torch(cell, **torch_params)

    x, prev_h, prev_c = (rng.standard_normal((N, n)) for n in (D, H, H))
    dnext_h, dnext_c = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    x_t, prev_h_t, prev_c_t = tensor(x), tensor(prev_h), tensor(prev_c)
    forward, backward = STEP[cell]
    errors = {}
    if cell == "lstm":
        next_h, next_c, cache = forward(x, prev_h, prev_c, **course)
        dx, dprev_h, dprev_c, *dparams = backward(dnext_h, dnext_c, cache)
        next_h_t, next_c_t = module(x_t, (prev_h_t, prev_c_t))
        (next_h_t * torch.from_numpy(dnext_h) + next_c_t * torch.from_numpy(dnext_c)).sum().backward()
        assert_close("next_c", next_c, next_c_t, errors)
        assert_close("dprev_c", dprev_c, prev_c_t.grad, errors)
    else:
        next_h, cache = forward(x, prev_h, **course)
        dx, dprev_h, *dparams = backward(dnext_h, cache)
        next_h_t = module(x_t, prev_h_t)
        (next_h_t * torch.from_numpy(dnext_h)).sum().backward()
    assert_close("next_h", next_h, next_h_t, errors)
    assert_close("dx", dx, x_t.grad, errors)
    assert_close("dprev_h", dprev_h, prev_h_t.grad, errors)
    torch_grads = course_gradients_from_torch(
        cell, *(getattr(module, n).grad.numpy() for n in GATE_PARAM_NAMES)
    )
    for name, ours in zip(course, dparams, strict=True):
        assert_close(f"d{name}", ours, torch_grads[name], errors)
    check(errors)


# ---------------------------------------------------------------------- whole sequences


LAYER_CASES = [(cell, "explicit") for cell in sorted(GATES)] + [
    (cell, "fused")
    for cell in ("gru", "lstm", "rnn-tanh")  # Cho's GRU has no fused kernel
]


@pytest.mark.parametrize(("cell", "path"), LAYER_CASES)
def test_sequence_matches_rnnlab_recurrent(cell, path):
    """rnn/lstm/gru(_cho)_forward and backward against `rnnlab.nn.Recurrent` on both of its paths."""
    rng = np.random.default_rng(2)
    course = course_params(rng, cell)
    layer = Recurrent(cell, D, H, path=path)
    load_into(layer.cells[0], course, cell)
    x, h0, dh = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, T, H))

    forward, backward = SEQUENCE[cell]
    h, cache = forward(x, h0, **course)
    dx, dh0, *dparams = backward(dh, cache)

    x_t, h0_t = tensor(x), tensor(h0)
    state = (h0_t[None], torch.zeros(1, N, H, dtype=torch.float64)) if cell == "lstm" else h0_t[None]
    out, final = layer(x_t, state)  # (N, T, H), (1, N, H)
    (out * torch.from_numpy(dh)).sum().backward()

    errors = {}
    assert_close("h", h, out, errors)
    assert_close("h_T", h[:, -1], (final[0] if cell == "lstm" else final)[0], errors)
    assert_close("dx", dx, x_t.grad, errors)
    assert_close("dh0", dh0, h0_t.grad, errors)
    cell_module = layer.cells[0]
    torch_grads = course_gradients_from_torch(
        cell, *(getattr(cell_module, n).grad.numpy() for n in GATE_PARAM_NAMES)
    )
    for name, ours in zip(course, dparams, strict=True):
        assert_close(f"d{name}", ours, torch_grads[name], errors)
    check(errors)


@pytest.mark.parametrize("cell", ["rnn-tanh", "lstm", "gru"])
def test_sequence_matches_torch_nn(cell):
    """The mapping also fits torch.nn.RNN/LSTM/GRU themselves (forward values)."""
    rng = np.random.default_rng(3)
    course = course_params(rng, cell)
    layer = {"rnn-tanh": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        D, H, batch_first=True
    )
    layer.double()
    with torch.no_grad():
        for name, value in torch_from_course(cell, **course).items():
            getattr(layer, f"{name}_l0").copy_(torch.from_numpy(value))
    x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    h, _ = SEQUENCE[cell][0](x, h0, **course)
    h0_t = torch.from_numpy(h0)[None]
    state = (h0_t, torch.zeros_like(h0_t)) if cell == "lstm" else h0_t
    out, _ = layer(torch.from_numpy(x), state)
    errors = {}
    assert_close("h", h, out, errors)
    check(errors)


# ----------------------------------------------------------------------------- attention


def torch_softmax_attention(scores, A):
    alpha = torch.softmax(scores, dim=1)  # (N, L)
    return torch.einsum("nl,nld->nd", alpha, A), alpha


@pytest.mark.parametrize("kind", ["dot", "additive"])
def test_attention_matches_torch_autograd(kind):
    """No attention module exists in rnnlab.nn yet, so the torch side is written with plain ops."""
    rng = np.random.default_rng(4)
    L, K = 7, 5
    h = rng.standard_normal((N, H))
    A = rng.standard_normal((N, L, H if kind == "dot" else D))
    dz = rng.standard_normal((N, A.shape[2]))
    h_t, A_t = tensor(h), tensor(A)
    errors = {}
    if kind == "dot":
        z, alpha, cache = dot_attention_forward(h, A)
        grads = dict(zip(("h", "A"), dot_attention_backward(dz, cache)))
        z_t, alpha_t = torch_softmax_attention(torch.einsum("nlh,nh->nl", A_t, h_t), A_t)
        leaves = {"h": h_t, "A": A_t}
    else:
        params = {
            "W_h": rng.standard_normal((H, K)),
            "W_a": rng.standard_normal((D, K)),
            "b": rng.standard_normal(K),
            "v": rng.standard_normal(K),
        }
        z, alpha, cache = additive_attention_forward(h, A, **params)
        grads = dict(zip(("h", "A", *params), additive_attention_backward(dz, cache)))
        p_t = {name: tensor(value) for name, value in params.items()}
        u = torch.tanh(A_t @ p_t["W_a"] + (h_t @ p_t["W_h"] + p_t["b"])[:, None, :])  # (N, L, K)
        z_t, alpha_t = torch_softmax_attention(u @ p_t["v"], A_t)
        leaves = {"h": h_t, "A": A_t, **p_t}
    (z_t * torch.from_numpy(dz)).sum().backward()
    assert_close("z", z, z_t, errors)
    assert_close("alpha", alpha, alpha_t, errors)
    for name, leaf in leaves.items():
        assert_close(f"d{name}", grads[name], leaf.grad, errors)
    check(errors)
