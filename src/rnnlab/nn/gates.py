"""The gate layout of a cell's stacked weights, named once for the cells, kernels and stepper.

Letters: D input size, H hidden size, G number of gate blocks (1 RNN, 3 GRU, 4 LSTM).

`torch.nn.RNN/LSTM/GRU`, and every cell of `rnnlab.nn.cells`, keep one layer's parameters as

    weight_ih (G·H, D)   weight_hh (G·H, H)   bias_ih (G·H,)   bias_hh (G·H,)

with the G gate blocks of H rows each stacked by rows: block k is rows k·H .. (k+1)·H. The order of
the blocks is PyTorch's (its documentation's `weight_ih_l[k]` = (W_ii|W_if|W_ig|W_io) for the LSTM,
(W_ir|W_iz|W_in) for the GRU):

    LSTM_GATES  (i, f, g, o)   i, f, o = σ(a_i, a_f, a_o)   g = tanh(a_g)
                               c_t = f ⊙ c_{t-1} + i ⊙ g    h_t = o ⊙ tanh(c_t)
    GRU_GATES   (r, z, n)      r, z = σ(a_r, a_z)           n = tanh(x_n + r ⊙ (W_hn h_{t-1} + b_hn))
                               h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}
    RNN_GATES   (h,)           h_t = tanh(a) or relu(a)

where a = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh, split into the blocks above (the equations in full
are in the docstrings of `rnnlab.nn.cells`).

One more order is used inside: LSTM_SIGMOID_FIRST (i, f, o, g), the course's order, puts the three
sigmoid gates in one contiguous block of 3H rows, so that one sigmoid launch covers them. The
hand-written BPTT kernels (`rnnlab.nn.bptt`) and the generation stepper (`rnnlab.nn.stepper`) copy
the parameters into it with `reorder`; the parameters themselves always stay in PyTorch's order.

(`rnnlab.reference.torch_layout` spells out the same PyTorch orders in numpy for the course's
reference, which may import nothing of rnnlab.nn; tests/nn/test_gates.py checks that the two agree.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class GateLayout:
    """An order of the H-row gate blocks in a stacked (G·H, ...) weight or (G·H,) bias."""

    #: the gate names, block 0 first, e.g. ("i", "f", "g", "o")
    names: tuple[str, ...]

    @property
    def count(self) -> int:
        """G, the number of gate blocks."""
        return len(self.names)

    def index(self, gate: str) -> int:
        """The block number of `gate` (0-based)."""
        if gate not in self.names:
            raise ValueError(f"Gate {gate!r} is not one of this layout's gates {self.names}.")
        return self.names.index(gate)

    def rows(self, *gates: str, hidden_size: int) -> slice:
        """The rows of one gate block, or of several consecutive ones, e.g. rows("r", "z", hidden_size=H).

        Index dim 0 of a weight or bias with it (or the last dim of gates/activations: x[..., rows]).
        """
        first, last = self.index(gates[0]), self.index(gates[-1])
        if [self.index(gate) for gate in gates] != list(range(first, last + 1)):
            raise ValueError(f"Gates {gates} are not consecutive blocks of the layout {self.names}.")
        return slice(first * hidden_size, (last + 1) * hidden_size)

    def split(self, stacked: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
        """The G blocks of `stacked` along `dim` (views) in this layout's order: (.., G·H) -> G × (.., H)."""
        return stacked.chunk(self.count, dim=dim)

    def reorder(self, stacked: Tensor, to: GateLayout, scale: Mapping[str, float] | None = None) -> Tensor:
        """Copy the row blocks of `stacked` (G·H, ...) from this layout into the layout `to`; differentiable.

        `scale` multiplies named blocks on the way, e.g. {"g": 2.0} (see `rnnlab.nn.bptt`, which
        feeds tanh its pre-activation doubled). The result is always a new tensor.
        """
        if sorted(self.names) != sorted(to.names):
            raise ValueError(f"Gate layouts {self.names} and {to.names} name different gates.")
        scale = scale or {}
        H = stacked.shape[0] // self.count
        parts = []
        for gate in to.names:
            block = stacked[self.rows(gate, hidden_size=H)]  # (H, ...)
            factor = scale.get(gate, 1.0)
            parts.append(block * factor if factor != 1 else block)
        return torch.cat(parts)


#: torch.nn.LSTM's (and `LSTMCell`'s, `PeepholeLSTMCell`'s) row order
LSTM_GATES = GateLayout(("i", "f", "g", "o"))
#: torch.nn.GRU's (and `GRUCell`'s, `GRUChoCell`'s) row order
GRU_GATES = GateLayout(("r", "z", "n"))
#: torch.nn.RNN's single block
RNN_GATES = GateLayout(("h",))
#: the LSTM with its three sigmoid gates first, one contiguous 3H block: the kernels' and stepper's order
LSTM_SIGMOID_FIRST = GateLayout(("i", "f", "o", "g"))
