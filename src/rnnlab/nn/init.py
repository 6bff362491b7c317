"""Initialisation as the course teaches it.

- Input weights W_ih: Xavier/Glorot uniform, fan-in D and fan-out H per gate block, so the
  pre-activations start with unit-ish variance whatever the number of gates.
- Recurrent weights W_hh: orthogonal per gate block. An orthogonal matrix keeps ‖W_hh h‖ = ‖h‖,
  so at initialisation repeated multiplication neither explodes nor vanishes (largest singular
  value exactly 1; see `rnnlab gradflow`).
- ReLU RNNs: He (Kaiming) for the input weights, since ReLU halves the variance.
- Biases zero, except the LSTM forget gate: bias 1, so that f = σ(1) ≈ 0.73 and the cell remembers
  by default early in training (Gers et al.; Jozefowicz et al. 2015).
"""

from __future__ import annotations

import torch
from torch import nn

from .cells import LSTMCell, RecurrentCell, RNNCell
from .recurrent import Recurrent


@torch.no_grad()
def init_cell(cell: RecurrentCell, forget_bias: float = 1.0) -> None:
    """Apply the course's initialisation to one cell, gate block by gate block."""
    H = cell.hidden_size
    relu = isinstance(cell, RNNCell) and cell.nonlinearity == "relu"
    for block in range(cell.gates):
        rows = slice(block * H, (block + 1) * H)
        if relu:
            nn.init.kaiming_uniform_(cell.weight_ih[rows], nonlinearity="relu")
        else:
            nn.init.xavier_uniform_(cell.weight_ih[rows])
        nn.init.orthogonal_(cell.weight_hh[rows])
    cell.bias_ih.zero_()
    cell.bias_hh.zero_()
    if isinstance(cell, LSTMCell):
        cell.bias_ih[cell.layout.rows("f", hidden_size=H)] = forget_bias  # the forget gate's block
    for name in ("weight_ci", "weight_cf", "weight_co"):
        if hasattr(cell, name):
            getattr(cell, name).zero_()


def init_recurrent(layer: Recurrent, forget_bias: float = 1.0) -> None:
    """Apply `init_cell` to every cell of a sequence layer."""
    for cell in layer.cells:
        init_cell(cell, forget_bias)
