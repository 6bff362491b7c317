"""The vanilla RNN's hand-written BPTT, tanh or ReLU: its time loops, `RNNSequence`, and `run`.

Letters: T time, B batch, D input size, H hidden size.

Kernel layout: for tanh, the one block (`RNN_GATES`) of W_ih, the biases and W_hh doubled
(tanh(a) = 2σ(2a) - 1; see `rnnlab.nn.bptt`); for ReLU the parameters as they are.
"""

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..cells import RNNCell
from .common import (
    _back_to_h,
    _loops,
    _mm_tn,
    _onednn_for,
    _onednn_linear,
    _pack,
    _padded_step,
    _project,
    _tanh_backward,
    _threshold_backward,
    register_loops,
)

# =================================================================================================
# The time loops
# =================================================================================================


def _rnn_forward(
    gx: Tensor, h0: Tensor, W_hh: Tensor, W_packed: Tensor | None, relu: bool, mask: Tensor | None
) -> Tensor:
    """The RNN time loop. gx (T, B, H) = W_ih x_t + b_ih + b_hh. Returns hs (T+1, B, H)."""
    T, B = gx.shape[0], gx.shape[1]
    H = h0.shape[1]
    hs = gx.new_empty((T + 1, B, H))
    hs[0].copy_(h0)
    W_hh_t = W_hh.t()
    gx_l, h_l = gx.unbind(0), hs.unbind(0)
    neg_one = torch.full([], -1.0, dtype=gx.dtype, device=gx.device)
    h_cand = h0
    if mask is not None:
        h_cand = torch.empty_like(h0)
    for t in range(T):
        h_new = h_l[t + 1] if mask is None else h_cand
        if W_packed is None:
            torch.addmm(gx_l[t], h_l[t], W_hh_t, out=h_new)
        else:
            torch.add(gx_l[t], _onednn_linear(h_l[t], W_packed), out=h_new)
        if relu:
            h_new.relu_()
        else:  # tanh(a) = 2σ(2a) - 1, the pre-activation arriving doubled
            torch.add(neg_one, h_new.sigmoid_(), alpha=2.0, out=h_new)
        if mask is not None:
            torch.where(mask[t], h_cand, h_l[t], out=h_l[t + 1])
    return hs


def _rnn_backward(
    dout: Tensor, dh_T: Tensor, W_hh: Tensor, WT_packed: Tensor | None,
    hs: Tensor, relu: bool, mask: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """BPTT of the RNN. Returns d(gx) (T, B, H) and dh_0.

    At a padded step hs holds the kept state rather than that step's candidate; the derivative
    computed from it is discarded, since the step's dgates are masked to zero.
    """
    T = hs.shape[0] - 1
    dgx = torch.empty_like(hs[1:])
    dh = dh_T + dout[T - 1]
    zero = torch.zeros_like(dh)
    dout_l, dg_l, h_l = dout.unbind(0), dgx.unbind(0), hs.unbind(0)
    for t in range(T - 1, -1, -1):
        if relu:
            _threshold_backward(dh, h_l[t + 1], 0.0, grad_input=dg_l[t])
        else:
            _tanh_backward(dh, h_l[t + 1], grad_input=dg_l[t]).mul_(0.5)
        rest = dout_l[t - 1] if t > 0 else zero
        if mask is not None:
            rest = _padded_step(dg_l[t], rest, dh, mask[t])
        _back_to_h(rest, dg_l[t], W_hh, WT_packed, dh)
    return dgx, dh


register_loops(_rnn_forward, _rnn_backward)


# =================================================================================================
# The autograd Function
# =================================================================================================


class RNNSequence(torch.autograd.Function):
    r"""A whole vanilla RNN sequence as one autograd Function.

    Kernel layout for tanh: W_ih, the biases and W_hh doubled, φ(a) = 2σ(a) - 1 = tanh(½ a).

    Forward:  h_t = φ(gx_t + W_hh h_{t-1}),  φ = tanh(½ ·) or relu
    Backward: da_t = dh_t ⊙ φ'  (½ (1 - h_t²) for tanh, [h_t > 0] for relu)
              dh_{t-1} = da_t W_hh     dW_hh = Σ_t da_tᵀ h_{t-1}     d(gx_t) = da_t

    Inputs: gx (T, B, H), h0 (B, H), W_hh (H, H), relu (bool), mask or None.
    Outputs: out (T, B, H), h_T (B, H).
    """

    @staticmethod
    def forward(ctx, gx, h0, W_hh, relu, mask):
        onednn = _onednn_for(gx)
        packed = _pack(W_hh, gx.shape[1], gx.shape[0]) if onednn else None
        hs = _loops().rnn_forward(gx, h0, W_hh, packed, relu, mask)
        ctx.onednn, ctx.relu = onednn, relu
        ctx.save_for_backward(W_hh, hs, mask)
        out = hs[1:] if mask is None else hs[1:] * mask
        return out, hs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_T):
        W_hh, hs, mask = ctx.saved_tensors
        dout = dout.contiguous() if mask is None else dout * mask
        packed = _pack(W_hh.t(), dout.shape[1], dout.shape[0]) if ctx.onednn else None
        dgx, dh0 = _loops().rnn_backward(dout, dh_T, W_hh, packed, hs, ctx.relu, mask)
        T, B, H = dgx.shape
        dW_hh = _mm_tn(dgx.view(T * B, H), hs[:-1].reshape(T * B, H))
        return dgx, dh0, dW_hh, None, None


# =================================================================================================
# Entry point for `run_sequence`: one cell over one sequence
# =================================================================================================

#: the tanh RNN's one block doubled, for the sigmoid that computes tanh (see `rnnlab.nn.bptt`)
TANH_SCALE = {"h": 2.0}


def run(cell: RNNCell, x: Tensor, h0: Tensor, mask: Tensor | None):
    """`cell` over x (T, B, D) from h0 (B, H); returns out (T, B, H) and h_T."""
    relu = cell.nonlinearity == "relu"
    rows = (lambda w: w) if relu else (lambda w: cell.layout.reorder(w, cell.layout, scale=TANH_SCALE))
    gx = _project(x, rows(cell.weight_ih), rows(cell.bias_ih + cell.bias_hh))  # (T, B, H)
    return RNNSequence.apply(gx, h0, rows(cell.weight_hh), relu, mask)
