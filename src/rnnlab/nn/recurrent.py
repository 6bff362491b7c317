"""The sequence layer: any cell, stacked and bidirectional, over batch-first sequences.

Letters: B batch, T time, D input size, H hidden size, K = num_layers × num_directions.

One set of parameters, three ways to run it (`path`):

- **explicit**: each layer and direction is one autograd Function whose backward is the course's
  hand-derived BPTT (`rnnlab.nn.bptt`): the time loop runs without recording autograd, and the
  input projection W_ih x_t + b of all T steps is one matmul before the loop. Every cell of
  `rnnlab.nn.cells` has such a kernel, including those no library fuses (peephole LSTM, Cho's GRU);
  a cell class without one (a user's subclass) runs on the loop below;
- **loop**: the cells of `rnnlab.nn.cells` in a plain Python time loop under autograd — the
  equations exactly as the course writes them, and the reference the other two are tested against
  (also the path for gradients of gradients, which the BPTT Functions do not support);
- **fused**: the very same tensors handed to PyTorch's RNN kernels (`torch._VF.lstm/gru/rnn_tanh/
  rnn_relu`, what `torch.nn.LSTM` itself calls; oneDNN on the CPU, cuDNN on a GPU).

`path="auto"` picks, per cell type, the path measured faster for training on the CPU
(`benchmarks/explicit_speed.py`; see `AUTO_PATHS`), and the fused kernels on a GPU. The choice is a
fixed rule rather than a timing taken at run time, so that a run and its resumption take the same
path. The tests prove all paths give the same outputs, final states and parameter gradients.

State convention (PyTorch's): h of shape (K, B, H), and for LSTMs the tuple (h, c); row
`layer * num_directions + direction` belongs to `self.cells[layer * num_directions + direction]`.

Variable lengths: pass `lengths` (B,) or a boolean `mask` (B, T) of valid steps (a prefix of each
row). Padded steps never change the state, the final state is taken at each sequence's own last
step, and outputs at padded positions are zero — on every path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .bptt import has_kernel, run_sequence
from .cells import RecurrentCell, canonical_cell_name, make_cell

PATHS = ("auto", "explicit", "fused", "loop")

#: What `path="auto"` runs on the CPU, per cell: the faster path for a training step, as measured by
#: benchmarks/explicit_speed.py (2-layer models, 2×256 B 32 and 2×512 B 64, T 128). PyTorch's LSTM
#: kernel is oneDNN's fused RNN, about 1.2× faster than the explicit path; its GRU and vanilla-RNN
#: kernels are a loop of BLAS calls, which the explicit path beats by 1.3–2×. Cells without a fused
#: kernel always run explicit.
AUTO_PATHS = {"lstm": "fused", "gru": "explicit", "rnn-tanh": "explicit", "rnn-relu": "explicit"}


def map_state(fn, state):
    """Apply `fn` to every tensor of a state (a tensor or a tuple of tensors)."""
    if isinstance(state, tuple):
        return tuple(fn(s) for s in state)
    return fn(state)


def detach_state(state):
    """Cut the autograd graph at a truncation boundary of truncated BPTT.

    The values carry on into the next chunk (the model keeps its memory of the text so far), but
    gradients stop here: without this, every backward would run through all chunks since the start
    of the stream, costing ever more time and memory.
    """
    return map_state(lambda s: s.detach(), state)


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """(B,) lengths -> (B, T) boolean mask of valid steps."""
    steps = torch.arange(max_len, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of x (B, T, ...) within its own length; padding stays in place.

    The backward direction of a bidirectional layer must read "Teddy bears are" as "are bears
    Teddy", not as "<pad> <pad> are bears Teddy".
    """
    if lengths is None:
        return x.flip(1)
    B, T = x.shape[:2]
    steps = torch.arange(T, device=x.device).unsqueeze(0).expand(B, T)  # (B, T)
    last = (lengths.to(x.device) - 1).unsqueeze(1)  # (B, 1)
    index = torch.where(steps <= last, last - steps, steps)  # (B, T)
    index = index.view(B, T, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


class Recurrent(nn.Module):
    """A (stacked, optionally bidirectional) recurrent layer over batch-first sequences.

    Args:
        cell: cell name: "rnn-tanh", "rnn-relu", "lstm", "lstm-peephole", "gru" (reset after the
            matmul, cuDNN/PyTorch), "gru-cho" (reset before, Cho et al.); short forms "rnn",
            "relu", "peephole" are accepted.
        input_size: D. hidden_size: H. num_layers: depth of the stack.
        bidirectional: run a second cell per layer over the reversed sequence and concatenate.
        dropout: dropout on the outputs of every layer but the last (as torch.nn.LSTM).
        path: "auto", "explicit", "fused" or "loop" (see the module docstring).

    Shapes: x (B, T, D) -> output (B, T, H·num_directions); state (K, B, H) or a tuple of two.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        path: str = "auto",
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}")
        self.cell_name = canonical_cell_name(cell)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_directions = 2 if bidirectional else 1
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.path = path
        cells = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for _ in range(self.num_directions):
                cells.append(make_cell(self.cell_name, layer_input, hidden_size))
        self.cells = nn.ModuleList(cells)

    # ---- properties -------------------------------------------------------------------------

    @property
    def is_lstm(self) -> bool:
        return self.cell_name.startswith("lstm")

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    @property
    def fused_mode(self) -> str | None:
        """Name of the fused kernel that can run these parameters, or None."""
        first: RecurrentCell = self.cells[0]
        return first.fused_mode

    def resolved_path(self, device: torch.device | None = None) -> str:
        """The path `forward` will take on `device`: "explicit", "fused" or "loop"."""
        if self.path == "fused" and self.fused_mode is None:
            raise ValueError(f"cell {self.cell_name!r} has no fused kernel; use 'explicit' or 'auto'")
        path = self.path
        if path == "auto":
            if self.fused_mode is None:
                path = "explicit"
            else:
                device = device if device is not None else self.cells[0].weight_hh.device
                path = "fused" if device.type != "cpu" else AUTO_PATHS.get(self.cell_name, "fused")
        if path == "explicit" and not all(has_kernel(cell) for cell in self.cells):
            path = "loop"  # a cell class without a hand-written BPTT
        return path

    def zero_state(self, batch_size: int, *, like: Tensor | None = None):
        """The all-zero initial state for `batch_size` sequences."""
        ref = like if like is not None else self.cells[0].weight_hh
        K = self.num_layers * self.num_directions
        h = torch.zeros(K, batch_size, self.hidden_size, dtype=ref.dtype, device=ref.device)
        return (h, torch.zeros_like(h)) if self.is_lstm else h

    # ---- forward ----------------------------------------------------------------------------

    def forward(
        self,
        x: Tensor,
        state=None,
        lengths: Tensor | None = None,
        mask: Tensor | None = None,
    ):
        """Run the layer over x (B, T, D); return (output (B, T, H·dirs), final state)."""
        if x.dim() != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"expected input of shape (B, T, {self.input_size}), got {tuple(x.shape)}")
        if lengths is None and mask is not None:
            lengths = mask.sum(dim=1)
        if lengths is not None:
            lengths = lengths.to(torch.long)
            if lengths.shape != (x.shape[0],):
                raise ValueError(f"lengths must have shape ({x.shape[0]},), got {tuple(lengths.shape)}")
            if bool((lengths < 1).any()) or bool((lengths > x.shape[1]).any()):
                raise ValueError(f"lengths must lie in [1, {x.shape[1]}]")
        if state is None:
            state = self.zero_state(x.shape[0], like=x)
        path = self.resolved_path(x.device)
        if path == "fused":
            return self._forward_fused(x, state, lengths)
        if path == "explicit":
            if torch.is_autocast_enabled(x.device.type):
                # The BPTT kernels are written for one dtype: under autocast they compute in the
                # parameters' dtype (bf16 speed comes from the fused kernels, not from this path).
                dtype = self.cells[0].weight_hh.dtype
                state = map_state(lambda s: s.to(dtype), state)
                with torch.autocast(x.device.type, enabled=False):
                    return self._forward_explicit(x.to(dtype), state, lengths)
            return self._forward_explicit(x, state, lengths)
        return self._forward_loop(x, state, lengths)

    def _forward_explicit(self, x: Tensor, state, lengths: Tensor | None):
        """One BPTT Function per layer and direction (`rnnlab.nn.bptt`), time-major inside."""
        T = x.shape[1]
        mask = None
        if lengths is not None:
            mask = lengths_to_mask(lengths.to(x.device), T).t().unsqueeze(2)  # (T, B, 1)
        # Time-major between the layers: each kernel step then reads one contiguous (B, ·) slab.
        # The transposes are views; the fused kernels do exactly the same.
        layer_input = x.transpose(0, 1)  # (T, B, D)
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                s = map_state(lambda t, k=k: t[k], state)  # (B, H) or a tuple of two
                seq = layer_input if direction == 0 else _reverse_time_major(layer_input, lengths)
                out, s = run_sequence(self.cells[k], seq, s, mask)  # (T, B, H)
                if direction == 1:
                    out = _reverse_time_major(out, lengths)
                outputs.append(out)
                finals.append(s)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)  # (T, B, H·dirs)
            if self.dropout > 0 and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, self.training)
        return layer_input.transpose(0, 1), self._stack_finals(finals)  # (B, T, H·dirs)

    def _stack_finals(self, finals: list):
        if self.is_lstm:
            return torch.stack([f[0] for f in finals]), torch.stack([f[1] for f in finals])
        return torch.stack(finals)  # (K, B, H)

    def _forward_loop(self, x: Tensor, state, lengths: Tensor | None):
        """The cells in a Python time loop under autograd: the reference for the other paths."""
        B, T, _ = x.shape
        valid = None
        if lengths is not None:
            valid = lengths_to_mask(lengths.to(x.device), T).unsqueeze(2)  # (B, T, 1)
            valid_steps = valid.unbind(1)  # T × (B, 1)
        layer_input = x
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                cell: RecurrentCell = self.cells[k]
                s = map_state(lambda t, k=k: t[k], state)  # (B, H) or a tuple of two
                seq = layer_input if direction == 0 else reverse_padded(layer_input, lengths)
                gx = cell.input_projection(seq)  # (B, T, G·H): one matmul for all steps
                hs = []
                # unbind, not gx[:, t]: indexing inside a recorded loop makes each backward allocate
                # a full (B, T, G·H) zero tensor, which costs O(T²).
                for t, gx_t in enumerate(gx.unbind(1)):
                    s_new = cell.recurrence(gx_t, s)
                    if valid is None:
                        s = s_new
                    else:  # padded steps keep the old state
                        s = _keep_where(valid_steps[t], s_new, s)
                    hs.append(s[0] if isinstance(s, tuple) else s)
                out = torch.stack(hs, dim=1)  # (B, T, H)
                if valid is not None:
                    out = out * valid
                if direction == 1:
                    out = reverse_padded(out, lengths)
                outputs.append(out)
                finals.append(s)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)  # (B, T, H·dirs)
            if self.dropout > 0 and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, self.training)
        return layer_input, self._stack_finals(finals)

    def flat_weights(self) -> list[Tensor]:
        """Parameters in the order the fused kernels expect: per layer, per direction."""
        weights = []
        for cell in self.cells:
            weights += [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
        return weights

    def _forward_fused(self, x: Tensor, state, lengths: Tensor | None):
        kernel = getattr(torch._VF, self.fused_mode)
        weights = self.flat_weights()
        hx = list(state) if self.is_lstm else state
        common = (weights, True, self.num_layers, self.dropout, self.training, self.bidirectional)
        if lengths is None:
            result = kernel(x, hx, *common, True)  # batch_first=True
            output = result[0]
            final = (result[1], result[2]) if self.is_lstm else result[1]
            return output, final
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        order, unorder = packed.sorted_indices, packed.unsorted_indices
        hx = [h.index_select(1, order) for h in hx] if self.is_lstm else hx.index_select(1, order)
        result = kernel(packed.data, packed.batch_sizes, hx, *common)
        out_packed = PackedSequence(result[0], packed.batch_sizes, order, unorder)
        output, _ = pad_packed_sequence(out_packed, batch_first=True, total_length=x.shape[1])
        if self.is_lstm:
            final = (result[1].index_select(1, unorder), result[2].index_select(1, unorder))
        else:
            final = result[1].index_select(1, unorder)
        return output, final

    def extra_repr(self) -> str:
        return (
            f"cell={self.cell_name!r}, {self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"bidirectional={self.bidirectional}, dropout={self.dropout}, path={self.path!r}"
        )


def _reverse_time_major(x: Tensor, lengths: Tensor | None) -> Tensor:
    """`reverse_padded` for a time-major x (T, B, ...)."""
    if lengths is None:
        return x.flip(0)
    return reverse_padded(x.transpose(0, 1), lengths).transpose(0, 1)


def _keep_where(m: Tensor, new, old):
    """Take `new` where the mask m (B, 1) is true and `old` elsewhere, for tensors or tuples."""
    if isinstance(new, tuple):
        return tuple(torch.where(m, n, o) for n, o in zip(new, old))
    return torch.where(m, new, old)
