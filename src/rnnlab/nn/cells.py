"""Recurrent cells: one time step each, with the course's equations.

Letters: B batch, D input size, H hidden size, G number of gate blocks (1 RNN, 3 GRU, 4 LSTM).

Every cell stores its parameters in PyTorch's own layout, so that the fused kernels of
`torch.nn.RNN/LSTM/GRU` can run the very same tensors (see `rnnlab.nn.recurrent`):

    weight_ih (G·H, D)   input-to-hidden weights, gate blocks stacked by rows
    weight_hh (G·H, H)   hidden-to-hidden weights
    bias_ih   (G·H,)     two biases, as PyTorch keeps them; only their sum matters
    bias_hh   (G·H,)     (except in the GRU candidate, where b_hn sits inside r ⊙ (...))

Gate order in the rows is PyTorch's, named in `rnnlab.nn.gates`: LSTM (i, f, g, o), GRU (r, z, n);
each cell's `layout` says which. The course writes the LSTM as (i, f, o, g); `rnnlab.reference` maps
between the two explicitly.

A cell is split in two so that the sequence layer can hoist the input projection out of the time
loop: `input_projection(x)` computes W_ih x + b_ih for any leading shape (all T steps in one matmul),
and `recurrence(gx, state)` does the rest of one step. Calling the cell does both.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .gates import GRU_GATES, LSTM_GATES, RNN_GATES, GateLayout

LSTMState = tuple[Tensor, Tensor]


class RecurrentCell(nn.Module):
    """Shared parameter handling of every cell: G gate blocks of size H."""

    #: the order of the gate blocks in the stacked weights (`rnnlab.nn.gates`), and their number G
    layout: GateLayout = RNN_GATES
    gates: int = RNN_GATES.count
    #: name of the matching fused kernel in torch._VF, or None when there is none
    fused_mode: str | None = None

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(f"input_size and hidden_size must be positive, got {input_size}, {hidden_size}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        gh = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gh, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gh, hidden_size))
        self.bias_ih = nn.Parameter(torch.zeros(gh))
        self.bias_hh = nn.Parameter(torch.zeros(gh))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default, uniform(-1/sqrt(H), 1/sqrt(H)); `rnnlab.nn.init` applies the course's."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def input_projection(self, x: Tensor) -> Tensor:
        """W_ih x + b_ih for inputs of shape (..., D); returns (..., G·H)."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def zero_state(self, batch_size: int, *, like: Tensor | None = None):
        """The all-zero state for `batch_size` sequences."""
        dtype = like.dtype if like is not None else self.weight_hh.dtype
        device = like.device if like is not None else self.weight_hh.device
        return torch.zeros(batch_size, self.hidden_size, dtype=dtype, device=device)

    def recurrence(self, gx: Tensor, state):  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: Tensor, state=None):
        """One time step: x (B, D), state -> new state."""
        if state is None:
            state = self.zero_state(x.shape[0], like=x)
        return self.recurrence(self.input_projection(x), state)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class RNNCell(RecurrentCell):
    r"""Vanilla (Elman) RNN cell.

        h_t = tanh(W_hh h_{t-1} + W_xh x_t + b)        (nonlinearity="tanh")
        h_t = relu(W_hh h_{t-1} + W_xh x_t + b)        (nonlinearity="relu")

    The output y_t = W_hy h_t is the model's head, not the cell's.
    """

    layout = RNN_GATES
    gates = RNN_GATES.count

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.fused_mode = "rnn_tanh" if nonlinearity == "tanh" else "rnn_relu"
        super().__init__(input_size, hidden_size)

    def recurrence(self, gx: Tensor, h_prev: Tensor) -> Tensor:
        a = gx + F.linear(h_prev, self.weight_hh, self.bias_hh)  # (B, H)
        return torch.tanh(a) if self.nonlinearity == "tanh" else torch.relu(a)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}"


class LSTMCell(RecurrentCell):
    r"""Long short-term memory cell (Hochreiter & Schmidhuber; the lecture's form).

        [i; f; g; o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh        rows in PyTorch's order
        i = σ(·)  input gate      f = σ(·)  forget gate
        g = tanh(·) candidate     o = σ(·)  output gate
        c_t = f ⊙ c_{t-1} + i ⊙ g
        h_t = o ⊙ tanh(c_t)

    The additive update of c_t is the "gradient highway": ∂c_t/∂c_{t-1} = f, an elementwise
    product rather than a matrix, which is why the LSTM keeps gradients alive over long spans.
    State is the tuple (h, c), each (B, H).
    """

    layout = LSTM_GATES
    gates = LSTM_GATES.count
    fused_mode = "lstm"

    def zero_state(self, batch_size: int, *, like: Tensor | None = None) -> LSTMState:
        h = super().zero_state(batch_size, like=like)
        return h, torch.zeros_like(h)

    def recurrence(self, gx: Tensor, state: LSTMState) -> LSTMState:
        h_prev, c_prev = state
        gates = gx + F.linear(h_prev, self.weight_hh, self.bias_hh)  # (B, 4H)
        i, f, g, o = self.layout.split(gates, dim=1)  # 4 × (B, H)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c_next = f * c_prev + i * g
        h_next = o * torch.tanh(c_next)
        return h_next, c_next


class PeepholeLSTMCell(LSTMCell):
    r"""LSTM with peephole connections (Gers & Schmidhuber): the gates also look at the cell.

        i = σ(W_i [x_t, h_{t-1}] + w_ci ⊙ c_{t-1} + b_i)
        f = σ(W_f [x_t, h_{t-1}] + w_cf ⊙ c_{t-1} + b_f)
        g = tanh(W_g [x_t, h_{t-1}] + b_g)
        c_t = f ⊙ c_{t-1} + i ⊙ g
        o = σ(W_o [x_t, h_{t-1}] + w_co ⊙ c_t + b_o)        the output gate peeks at the new cell
        h_t = o ⊙ tanh(c_t)

    The peephole weights w_ci, w_cf, w_co are diagonal (vectors of size H). No fused kernel exists
    for this cell: it always runs on the explicit path.
    """

    fused_mode = None

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.weight_ci = nn.Parameter(torch.zeros(hidden_size))
        self.weight_cf = nn.Parameter(torch.zeros(hidden_size))
        self.weight_co = nn.Parameter(torch.zeros(hidden_size))

    def recurrence(self, gx: Tensor, state: LSTMState) -> LSTMState:
        h_prev, c_prev = state
        gates = gx + F.linear(h_prev, self.weight_hh, self.bias_hh)  # (B, 4H)
        i, f, g, o = self.layout.split(gates, dim=1)  # 4 × (B, H)
        i = torch.sigmoid(i + self.weight_ci * c_prev)
        f = torch.sigmoid(f + self.weight_cf * c_prev)
        g = torch.tanh(g)
        c_next = f * c_prev + i * g
        o = torch.sigmoid(o + self.weight_co * c_next)
        h_next = o * torch.tanh(c_next)
        return h_next, c_next


class GRUCell(RecurrentCell):
    r"""Gated recurrent unit, reset gate applied *after* the recurrent matmul (cuDNN / PyTorch).

        r = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)            reset gate
        z = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)            update gate
        n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn))   candidate
        h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

    Multiplying r after the matmul lets one matmul serve all three gates, which is why the fused
    kernels use this form. The deeplearning.ai notes write Γ_u = z and Γ_r = r, and the candidate
    with r applied before the matmul: that is `GRUChoCell`. Note the notes' convention
    h_t = Γ_u ⊙ h̃_t + (1 - Γ_u) ⊙ h_{t-1} swaps the roles of z and 1 - z; the two are equivalent up
    to the sign of the gate's pre-activation.
    """

    layout = GRU_GATES
    gates = GRU_GATES.count
    fused_mode = "gru"

    def recurrence(self, gx: Tensor, h_prev: Tensor) -> Tensor:
        gh = F.linear(h_prev, self.weight_hh, self.bias_hh)  # (B, 3H)
        x_r, x_z, x_n = self.layout.split(gx, dim=1)  # 3 × (B, H)
        h_r, h_z, h_n = self.layout.split(gh, dim=1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        return (1 - z) * n + z * h_prev


class GRUChoCell(RecurrentCell):
    r"""Gated recurrent unit as in Cho et al. (2014) and the deeplearning.ai notes: reset *before*.

        r = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n = tanh(W_in x_t + b_in + W_hn (r ⊙ h_{t-1}) + b_hn)
        h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

    The candidate's matmul must wait for r, so it cannot share one matmul with the gates and no
    fused kernel implements it: this cell always runs on the explicit path.
    """

    layout = GRU_GATES
    gates = GRU_GATES.count
    fused_mode = None

    def recurrence(self, gx: Tensor, h_prev: Tensor) -> Tensor:
        H = self.hidden_size
        rz_rows, n_rows = self.layout.rows("r", "z", hidden_size=H), self.layout.rows("n", hidden_size=H)
        W_hrz, W_hn = self.weight_hh[rz_rows], self.weight_hh[n_rows]  # (2H, H), (H, H)
        b_hrz, b_hn = self.bias_hh[rz_rows], self.bias_hh[n_rows]
        x_r, x_z, x_n = self.layout.split(gx, dim=1)
        h_r, h_z = F.linear(h_prev, W_hrz, b_hrz).chunk(2, dim=1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + F.linear(r * h_prev, W_hn, b_hn))
        return (1 - z) * n + z * h_prev


#: the names a configuration uses for each cell
CELLS: dict[str, type[RecurrentCell]] = {
    "rnn-tanh": RNNCell,
    "rnn-relu": RNNCell,
    "lstm": LSTMCell,
    "lstm-peephole": PeepholeLSTMCell,
    "gru": GRUCell,
    "gru-cho": GRUChoCell,
}
#: short spellings accepted on the command line
CELL_ALIASES = {"rnn": "rnn-tanh", "tanh": "rnn-tanh", "relu": "rnn-relu", "peephole": "lstm-peephole"}


def canonical_cell_name(name: str) -> str:
    """Map a user's spelling (`rnn`, `lstm`, `gru-cho`, ...) to the canonical cell name."""
    name = CELL_ALIASES.get(name, name)
    if name not in CELLS:
        known = ", ".join(sorted(set(CELLS) | set(CELL_ALIASES)))
        raise ValueError(f"unknown cell {name!r}; known cells: {known}")
    return name


def make_cell(name: str, input_size: int, hidden_size: int) -> RecurrentCell:
    """Build a cell by its configuration name."""
    name = canonical_cell_name(name)
    if name.startswith("rnn-"):
        return RNNCell(input_size, hidden_size, nonlinearity=name.removeprefix("rnn-"))
    return CELLS[name](input_size, hidden_size)
