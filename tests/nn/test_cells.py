"""Cells against PyTorch's own cells (copied weights), hand-written formulas, and gradcheck."""

import pytest
import torch

from rnnlab.nn import GRUCell, GRUChoCell, LSTMCell, PeepholeLSTMCell, RNNCell, make_cell

TOL = dict(atol=1e-12, rtol=1e-12)  # float64 throughout


def _copy_into(torch_cell, ours):
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(torch_cell, name).copy_(getattr(ours, name))


@pytest.mark.parametrize(
    "ours, reference",
    [
        (lambda: RNNCell(4, 5, "tanh"), lambda: torch.nn.RNNCell(4, 5, nonlinearity="tanh")),
        (lambda: RNNCell(4, 5, "relu"), lambda: torch.nn.RNNCell(4, 5, nonlinearity="relu")),
        (lambda: LSTMCell(4, 5), lambda: torch.nn.LSTMCell(4, 5)),
        (lambda: GRUCell(4, 5), lambda: torch.nn.GRUCell(4, 5)),
    ],
)
def test_cell_matches_torch_cell(ours, reference):
    torch.manual_seed(0)
    cell, ref = ours().double(), reference().double()
    _copy_into(ref, cell)
    x = torch.randn(3, 4, dtype=torch.double)
    h = torch.randn(3, 5, dtype=torch.double)
    if isinstance(cell, LSTMCell):
        c = torch.randn(3, 5, dtype=torch.double)
        h_ours, c_ours = cell(x, (h, c))
        h_ref, c_ref = ref(x, (h, c))
        torch.testing.assert_close(c_ours, c_ref, **TOL)
    else:
        h_ours, h_ref = cell(x, h), ref(x, h)
    torch.testing.assert_close(h_ours, h_ref, **TOL)


def test_gru_cho_formula():
    """Reset gate applied to h *before* the recurrent matmul (Cho et al., deeplearning.ai)."""
    torch.manual_seed(1)
    cell = GRUChoCell(3, 4).double()
    x, h = torch.randn(2, 3, dtype=torch.double), torch.randn(2, 4, dtype=torch.double)
    W_ir, W_iz, W_in = cell.weight_ih.chunk(3)
    W_hr, W_hz, W_hn = cell.weight_hh.chunk(3)
    b_ir, b_iz, b_in = cell.bias_ih.chunk(3)
    b_hr, b_hz, b_hn = cell.bias_hh.chunk(3)
    r = torch.sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    n = torch.tanh(x @ W_in.T + b_in + (r * h) @ W_hn.T + b_hn)
    expected = (1 - z) * n + z * h
    torch.testing.assert_close(cell(x, h), expected, **TOL)
    # and it really differs from the reset-after variant with the same weights
    after = GRUCell(3, 4).double()
    after.load_state_dict(cell.state_dict())
    assert not torch.allclose(after(x, h), expected)


def test_peephole_formula_and_reduction_to_lstm():
    torch.manual_seed(2)
    cell = PeepholeLSTMCell(3, 4).double()
    plain = LSTMCell(3, 4).double()
    plain.load_state_dict(cell.state_dict(), strict=False)
    x = torch.randn(2, 3, dtype=torch.double)
    state = (torch.randn(2, 4, dtype=torch.double), torch.randn(2, 4, dtype=torch.double))
    # zero peepholes: exactly an LSTM
    for a, b in zip(cell(x, state), plain(x, state)):
        torch.testing.assert_close(a, b, **TOL)
    with torch.no_grad():
        for p in (cell.weight_ci, cell.weight_cf, cell.weight_co):
            p.normal_()
    h, c = state
    gates = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    i, f, g, o = gates.chunk(4, dim=1)
    i = torch.sigmoid(i + cell.weight_ci * c)
    f = torch.sigmoid(f + cell.weight_cf * c)
    c_next = f * c + i * torch.tanh(g)
    o = torch.sigmoid(o + cell.weight_co * c_next)
    h_next = o * torch.tanh(c_next)
    got_h, got_c = cell(x, state)
    torch.testing.assert_close(got_c, c_next, **TOL)
    torch.testing.assert_close(got_h, h_next, **TOL)


@pytest.mark.parametrize("name", ["rnn-tanh", "rnn-relu", "lstm", "lstm-peephole", "gru", "gru-cho"])
def test_cell_gradcheck(name):
    torch.manual_seed(3)
    cell = make_cell(name, 3, 2).double()
    if name == "lstm-peephole":
        with torch.no_grad():
            for p in (cell.weight_ci, cell.weight_cf, cell.weight_co):
                p.normal_()
    x = torch.randn(2, 3, dtype=torch.double, requires_grad=True)
    h = torch.randn(2, 2, dtype=torch.double, requires_grad=True)
    params = list(cell.parameters())
    if name.startswith("lstm"):
        c = torch.randn(2, 2, dtype=torch.double, requires_grad=True)

        def fn(x, h, c, *ps):
            return cell(x, (h, c))

        inputs = (x, h, c, *params)
    else:

        def fn(x, h, *ps):
            return cell(x, h)

        inputs = (x, h, *params)
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7)


def test_unknown_cell_name():
    with pytest.raises(ValueError, match="unknown cell"):
        make_cell("transformer", 3, 2)
