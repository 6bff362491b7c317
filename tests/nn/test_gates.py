"""The gate layout of rnnlab.nn.gates: against torch.nn's own cells, and the reference's copy of it."""

import pytest
import torch

from rnnlab.nn import GRUCell, GRUChoCell, LSTMCell, PeepholeLSTMCell, RNNCell
from rnnlab.nn.gates import GRU_GATES, LSTM_GATES, LSTM_SIGMOID_FIRST, RNN_GATES
from rnnlab.reference import torch_layout

H = 3


def _blocks(layout, values):
    """A (G·H,) vector whose block of each gate holds that gate's value."""
    return torch.cat([torch.full((H,), values[gate], dtype=torch.double) for gate in layout.names])


def test_lstm_gates_are_torch_nn_lstm_rows():
    """With zero weights each gate is σ or tanh of its own bias block, so a mislabelled block shows."""
    cell = torch.nn.LSTMCell(2, H).double()
    bias = {"i": 0.3, "f": -0.7, "g": 1.1, "o": 2.0}
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()
        cell.bias_ih.copy_(_blocks(LSTM_GATES, bias))
    c0 = torch.full((1, H), 0.5, dtype=torch.double)
    h1, c1 = cell(torch.zeros(1, 2, dtype=torch.double), (torch.zeros_like(c0), c0))
    a = {gate: torch.tensor(value, dtype=torch.double) for gate, value in bias.items()}
    c_expected = torch.sigmoid(a["f"]) * 0.5 + torch.sigmoid(a["i"]) * torch.tanh(a["g"])
    torch.testing.assert_close(c1, c_expected.expand(1, H), atol=1e-15, rtol=0)  # float64, exact formula
    torch.testing.assert_close(h1, torch.sigmoid(a["o"]) * torch.tanh(c1), atol=1e-15, rtol=0)


def test_gru_gates_are_torch_nn_gru_rows():
    cell = torch.nn.GRUCell(2, H).double()
    bias_ih, b_hn = {"r": 0.4, "z": -1.2, "n": 0.8}, -0.6
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()
        cell.bias_ih.copy_(_blocks(GRU_GATES, bias_ih))
        cell.bias_hh[GRU_GATES.rows("n", hidden_size=H)] = b_hn
    h0 = torch.full((1, H), 0.5, dtype=torch.double)
    h1 = cell(torch.zeros(1, 2, dtype=torch.double), h0)
    a = {gate: torch.tensor(value, dtype=torch.double) for gate, value in bias_ih.items()}
    r, z = torch.sigmoid(a["r"]), torch.sigmoid(a["z"])
    n = torch.tanh(a["n"] + r * b_hn)
    torch.testing.assert_close(h1, ((1 - z) * n + z * 0.5).expand(1, H), atol=1e-15, rtol=0)


def test_every_cell_names_its_layout():
    cells = {LSTMCell: LSTM_GATES, PeepholeLSTMCell: LSTM_GATES, GRUCell: GRU_GATES, GRUChoCell: GRU_GATES,
             RNNCell: RNN_GATES}
    for cls, layout in cells.items():
        cell = cls(2, H)
        assert cell.layout is layout and cell.gates == layout.count, cls.__name__
        assert cell.weight_ih.shape == (layout.count * H, 2)


def test_the_reference_spells_the_same_orders():
    """rnnlab.reference may not import rnnlab.nn, so it writes PyTorch's orders out again; they must agree."""
    assert torch_layout.TORCH_LSTM_GATES == LSTM_GATES.names
    assert torch_layout.GRU_GATES == GRU_GATES.names
    assert torch_layout.COURSE_LSTM_GATES == LSTM_SIGMOID_FIRST.names


def test_rows_split_and_reorder():
    w = torch.arange(8.0).view(8, 1)  # (4H, 1), H = 2: blocks i=0,1 f=2,3 g=4,5 o=6,7
    assert LSTM_GATES.rows("g", hidden_size=2) == slice(4, 6)
    assert LSTM_GATES.rows("f", "g", hidden_size=2) == slice(2, 6)
    i, f, g, o = LSTM_GATES.split(w)
    assert g.flatten().tolist() == [4.0, 5.0]
    kernel = LSTM_GATES.reorder(w, LSTM_SIGMOID_FIRST, scale={"g": 2.0})
    assert kernel.flatten().tolist() == [0, 1, 2, 3, 6, 7, 8, 10]  # (i, f, o, 2g)
    assert LSTM_GATES.reorder(w, LSTM_GATES).data_ptr() != w.data_ptr()  # always a copy
    with pytest.raises(ValueError, match="not consecutive"):
        LSTM_GATES.rows("i", "g", hidden_size=2)
    with pytest.raises(ValueError, match="not one of"):
        GRU_GATES.rows("i", hidden_size=2)
    with pytest.raises(ValueError, match="different gates"):
        LSTM_GATES.reorder(w, GRU_GATES)
