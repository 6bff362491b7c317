"""Backpropagation through time by hand: one autograd Function per layer, direction and chunk.

Letters: T time, B batch, D input size, H hidden size, G·H gate rows (G = 1 RNN, 3 GRU, 4 LSTM).

Why this package exists. Run as a Python loop of cells (`Recurrent(path="loop")`), every time step
records about ten autograd nodes and replays them in backward: some 160–190 µs of bookkeeping per
step and layer on a 2-core CPU, as much as the arithmetic itself at H = 256. Here, as in torch-rnn's
modules, a whole sequence is a single `torch.autograd.Function`:

- forward runs the time loop with autograd off, writing every step into preallocated buffers and
  keeping exactly the activations backward needs (gates, cells, states);
- backward walks time in reverse with the hand-derived BPTT of the course (equations in each
  Function's docstring), computing dgates, dh and dc per step and returning d(gx) for all steps at
  once. The recurrent weights get their gradient from one matmul after the loop,
  ∂L/∂W_hh = Σ_t dgates_tᵀ h_{t-1} = dGᵀ (G·H, T·B) @ H_prev (T·B, H), instead of T small ones;
  the input projection gx = W_ih x + b, hoisted out of the loop (one matmul for all steps), receives
  d(gx) through ordinary autograd.

Per step, forward is one matmul plus ~9 elementwise kernels and backward one matmul plus ~10, all
writing into preallocated buffers (`out=`, in place).

The matmuls. In float32 on a CPU the matmuls go through oneDNN (`torch.ops.mkldnn`), with the
recurrent weights reordered ("prepacked") once per sequence for the small (B, H) @ (H, G·H) products
that every step repeats — what PyTorch's own fused RNN kernels do. On this project's CPUs this is
about twice as fast as the default BLAS behind `torch.mm`; `use_onednn(False)` switches it off (and
other dtypes and devices never use it).

Layout: the kernels are **time-major**, x (T, B, ·). Every step then reads and writes one contiguous
(B, ·) slab; `Recurrent` transposes once at its boundary (a view; the fused kernels do the same).

Masks: `mask` (T, B, 1) bool marks valid steps. At a padded step the state is kept
(h_t = h_{t-1}, c_t = c_{t-1}) and the output is zero; in backward the state's gradient passes
through such a step unchanged and its dgates are zero, so padding contributes nothing to any
gradient. The mask need not be a prefix, although `Recurrent` only makes prefixes.

Kernel layout: `run_sequence` rearranges the parameters before the call (a cheap, differentiable
copy of the weights by `GateLayout.reorder` of `rnnlab.nn.gates`, so callers never see it):

- the LSTM's rows become `LSTM_SIGMOID_FIRST` (i, f, o, g) instead of PyTorch's `LSTM_GATES`
  (i, f, g, o): the three sigmoid gates are one contiguous block;
- every tanh pre-activation arrives doubled (the rows of the LSTM's g, the GRUs' n and the tanh RNN
  are multiplied by 2), because tanh(a) = 2σ(2a) - 1 and PyTorch's CPU tanh kernel is about 8×
  slower than its sigmoid (measured here). So one sigmoid launch covers all four LSTM gates, and a
  cheap affine op turns σ(2a) into tanh(a). Backward gets the factor back, da' = ½ ∂L/∂g ⊙ (1 - g²).
  tanh(c_t), which no weight feeds, is computed the same way from c_t + c_t.

Double backward is not supported: backward runs with autograd off and is marked
`once_differentiable`, so `create_graph=True` through these Functions raises an error. Use
`Recurrent(path="loop")` for gradients of gradients.

The inner loops are plain functions of tensors, written so that `torch.jit.script` can compile them.
They run scripted by default, which measured a little faster (see `use_scripted_loops`); the plain
Python versions are the fallback, with identical results.

Modules, one per cell as in torch-rnn (each: its time loops, its autograd Function, its `run`):

    lstm      LSTMSequence            the LSTM (`LSTMCell`)
    peephole  PeepholeLSTMSequence    the peephole LSTM (`PeepholeLSTMCell`)
    gru       GRUSequence             the GRU, reset after the matmul (`GRUCell`)
    gru_cho   GRUChoSequence          the GRU, reset before the matmul (`GRUChoCell`)
    rnn       RNNSequence             the vanilla RNN, tanh or ReLU (`RNNCell`)
    common    what they share: backward primitives, oneDNN matmuls, the hoisted input projection,
              the settings `use_onednn` and `use_scripted_loops`
"""

import torch
from torch import Tensor

from ..cells import GRUCell, GRUChoCell, LSTMCell, PeepholeLSTMCell, RecurrentCell, RNNCell
from . import gru, gru_cho, lstm, peephole, rnn
from .common import PACK_MIN_STEPS, use_onednn, use_scripted_loops
from .gru import GRUSequence
from .gru_cho import GRUChoSequence
from .lstm import LSTMSequence
from .peephole import PeepholeLSTMSequence
from .rnn import RNNSequence

#: the exact cell classes with a hand-written BPTT, and the function running each over a sequence
KERNELS = {
    LSTMCell: lstm.run,
    PeepholeLSTMCell: peephole.run,
    GRUCell: gru.run,
    GRUChoCell: gru_cho.run,
    RNNCell: rnn.run,
}


def has_kernel(cell: RecurrentCell) -> bool:
    """Whether `run_sequence` has a hand-written BPTT for this exact cell class.

    Exact classes, not isinstance: a subclass that changes `recurrence` must not silently get the
    parent's kernel.
    """
    return type(cell) in KERNELS


def run_sequence(cell: RecurrentCell, x: Tensor, state, mask: Tensor | None = None):
    """Run `cell` over a time-major sequence with one autograd Function.

    Args:
        cell: an LSTM, peephole LSTM, GRU, Cho GRU or RNN cell (see `has_kernel`).
        x: (T, B, D) inputs. state: h0 (B, H), or (h0, c0) for the LSTMs.
        mask: (T, B, 1) bool of valid steps, or None when every step is valid.

    Returns: out (T, B, H) (zero at padded steps) and the final state, shaped like `state`.
    """
    T, B, _ = x.shape
    if mask is not None and (mask.shape != (T, B, 1) or mask.dtype != torch.bool):
        raise ValueError(f"mask must be a (T, B, 1) = ({T}, {B}, 1) bool tensor, got {mask.dtype} "
                         f"{tuple(mask.shape)}")
    kind = type(cell)
    if kind not in KERNELS:
        raise TypeError(f"no hand-written BPTT for {kind.__name__}; run it on path='loop'")
    return KERNELS[kind](cell, x, state, mask)


__all__ = [
    "LSTMSequence", "PeepholeLSTMSequence", "GRUSequence", "GRUChoSequence", "RNNSequence",
    "has_kernel", "run_sequence", "use_onednn", "use_scripted_loops", "PACK_MIN_STEPS",
]
