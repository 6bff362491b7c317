"""The LSTM's hand-written BPTT: its time loops, `LSTMSequence`, and `run` for an `LSTMCell`.

Letters: T time, B batch, D input size, H hidden size.

Kernel layout: the rows of every parameter in the order `LSTM_SIGMOID_FIRST` (i, f, o, g) instead of
the cell's `LSTM_GATES` (i, f, g, o), so that the three sigmoid gates are one contiguous 3H block,
and the g rows doubled (tanh(a) = 2σ(2a) - 1; see `rnnlab.nn.bptt`). The loops slice the gate blocks
by hand in that order: TorchScript compiles them and cannot call `rnnlab.nn.gates`.
"""

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..cells import LSTMCell
from ..gates import LSTM_SIGMOID_FIRST
from .common import (
    _back_to_h,
    _loops,
    _mm_tn,
    _onednn_for,
    _onednn_linear,
    _pack,
    _padded_step,
    _project,
    _sigmoid_backward,
    _tanh_backward,
    register_loops,
)

# =================================================================================================
# The time loops
# =================================================================================================


def _lstm_forward(
    gx: Tensor, h0: Tensor, c0: Tensor, W_hh: Tensor, W_packed: Tensor | None, mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The LSTM time loop without autograd.

    gx (T, B, 4H) = W_ih x_t + b_ih + b_hh and W_hh (4H, H) in the kernel layout (rows i, f, o, 2g;
    see the module docstring), W_packed the same prepacked for oneDNN (or None: use torch.addmm).
    Returns hs (T+1, B, H) = h_0..h_T, cs (T+1, B, H) = c_0..c_T, tanh_cs (T, B, H) = tanh(c_t),
    acts (T, B, 4H) = the activated gates [i, f, o, g] of every step.
    """
    T, B = gx.shape[0], gx.shape[1]
    H = h0.shape[1]
    acts = torch.empty_like(gx)  # (T, B, 4H)
    hs = gx.new_empty((T + 1, B, H))
    cs = gx.new_empty((T + 1, B, H))
    tanh_cs = gx.new_empty((T, B, H))
    hs[0].copy_(h0)
    cs[0].copy_(c0)
    W_hh_t = W_hh.t()  # (H, 4H)
    gx_l, a_l, h_l, c_l, tc_l = gx.unbind(0), acts.unbind(0), hs.unbind(0), cs.unbind(0), tanh_cs.unbind(0)
    i_l, f_l = acts[:, :, :H].unbind(0), acts[:, :, H : 2 * H].unbind(0)
    o_l, g_l = acts[:, :, 2 * H : 3 * H].unbind(0), acts[:, :, 3 * H :].unbind(0)
    neg_one = torch.full([], -1.0, dtype=gx.dtype, device=gx.device)
    h_cand, c_cand = h0, c0  # a padded step's candidate state, when there is a mask
    if mask is not None:
        h_cand, c_cand = torch.empty_like(h0), torch.empty_like(c0)
    for t in range(T):
        if W_packed is None:
            torch.addmm(gx_l[t], h_l[t], W_hh_t, out=a_l[t])  # pre-activations (B, 4H)
        else:
            torch.add(gx_l[t], _onednn_linear(h_l[t], W_packed), out=a_l[t])
        a_l[t].sigmoid_()  # i, f, o and σ(2 a_g)
        torch.add(neg_one, g_l[t], alpha=2.0, out=g_l[t])  # g = 2σ(2 a_g) - 1 = tanh(a_g)
        h_new, c_new = h_l[t + 1], c_l[t + 1]
        if mask is not None:
            h_new, c_new = h_cand, c_cand
        torch.mul(f_l[t], c_l[t], out=c_new)  # c_t = f ⊙ c_{t-1} + i ⊙ g
        c_new.addcmul_(i_l[t], g_l[t])
        torch.add(c_new, c_new, out=tc_l[t]).sigmoid_()  # tanh(c_t) = 2σ(2 c_t) - 1
        torch.add(neg_one, tc_l[t], alpha=2.0, out=tc_l[t])
        torch.mul(o_l[t], tc_l[t], out=h_new)  # h_t = o ⊙ tanh(c_t)
        if mask is not None:  # padded rows keep their state
            torch.where(mask[t], c_cand, c_l[t], out=c_l[t + 1])
            torch.where(mask[t], h_cand, h_l[t], out=h_l[t + 1])
    return hs, cs, tanh_cs, acts


def _lstm_backward(
    dout: Tensor, dh_T: Tensor, dc_T: Tensor, W_hh: Tensor, WT_packed: Tensor | None,
    cs: Tensor, tanh_cs: Tensor, acts: Tensor, mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """BPTT of the LSTM; dout (T, B, H) already masked; WT_packed = W_hhᵀ prepacked, or None.

    Returns d(gx) (T, B, 4H), dh_0, dc_0.
    """
    T = acts.shape[0]
    H = cs.shape[2]
    dgx = torch.empty_like(acts)  # (T, B, 4H): dgates, the gradient of the pre-activations
    dh = dh_T + dout[T - 1]  # ∂L/∂h_t, (B, H)
    dc = dc_T.clone()  # ∂L/∂c_t
    tmp = torch.empty_like(dh)
    zero = torch.zeros_like(dh)
    zero0 = torch.zeros([], dtype=dh.dtype, device=dh.device)
    dout_l, dg_l, c_l, tc_l = dout.unbind(0), dgx.unbind(0), cs.unbind(0), tanh_cs.unbind(0)
    sig_l, act_sig_l = dgx[:, :, : 3 * H].unbind(0), acts[:, :, : 3 * H].unbind(0)
    i_l, f_l = acts[:, :, :H].unbind(0), acts[:, :, H : 2 * H].unbind(0)
    o_l, g_l = acts[:, :, 2 * H : 3 * H].unbind(0), acts[:, :, 3 * H :].unbind(0)
    di_l, df_l = dgx[:, :, :H].unbind(0), dgx[:, :, H : 2 * H].unbind(0)
    do_l, dgg_l = dgx[:, :, 2 * H : 3 * H].unbind(0), dgx[:, :, 3 * H :].unbind(0)
    dc_old = dc
    for t in range(T - 1, -1, -1):
        if mask is not None:
            dc_old = dc.clone()
        torch.mul(dh, tc_l[t], out=do_l[t])  # ∂L/∂o = dh ⊙ tanh(c_t)
        torch.mul(dh, o_l[t], out=tmp)  # ∂L/∂tanh(c_t)
        dc.add_(_tanh_backward(tmp, tc_l[t]))  # dc_t += dh ⊙ o ⊙ (1 - tanh²(c_t))
        torch.mul(dc, g_l[t], out=di_l[t])  # ∂L/∂i = dc ⊙ g
        torch.mul(dc, c_l[t], out=df_l[t])  # ∂L/∂f = dc ⊙ c_{t-1}
        torch.addcmul(zero0, dc, i_l[t], value=0.5, out=dgg_l[t])  # ½ ∂L/∂g = ½ dc ⊙ i
        dc.mul_(f_l[t])  # dc_{t-1} = dc_t ⊙ f: the gradient highway
        _sigmoid_backward(sig_l[t], act_sig_l[t], grad_input=sig_l[t])  # through σ
        _tanh_backward(dgg_l[t], g_l[t], grad_input=dgg_l[t])  # through g = tanh(a'_g / 2)
        # dh_{t-1} = dgates W_hh + the output's gradient at t-1; at a padded step dh passes through
        rest = dout_l[t - 1] if t > 0 else zero
        if mask is not None:
            torch.where(mask[t], dc, dc_old, out=dc)
            rest = _padded_step(dg_l[t], rest, dh, mask[t])
        _back_to_h(rest, dg_l[t], W_hh, WT_packed, dh)
    return dgx, dh, dc


register_loops(_lstm_forward, _lstm_backward)


# =================================================================================================
# The autograd Function
# =================================================================================================


class LSTMSequence(torch.autograd.Function):
    r"""A whole LSTM sequence as one autograd Function, in the kernel layout (rows i, f, o, 2g).

    Forward, for t = 1..T (gx_t already holds W_ih x_t + b_ih + b_hh; a'_g = 2 a_g):

        a_t = gx_t + W_hh h_{t-1}                 i, f, o = σ(a_i, a_f, a_o)
        g = 2σ(a'_g) - 1 = tanh(a_g)              c_t = f ⊙ c_{t-1} + i ⊙ g        h_t = o ⊙ tanh(c_t)

    Backward, for t = T..1, with dh_t = ∂L/∂h_t (from the output and from step t+1) and dc_t:

        do = dh_t ⊙ tanh(c_t)
        dc_t += dh_t ⊙ o ⊙ (1 - tanh²(c_t))
        di = dc_t ⊙ g        df = dc_t ⊙ c_{t-1}        dg = dc_t ⊙ i
        da_{i,f,o} = d{i,f,o} ⊙ σ(1 - σ)          da'_g = ½ dg ⊙ (1 - g²)
        dc_{t-1} = dc_t ⊙ f                       dh_{t-1} = da_t W_hh  (+ the output's gradient)
        dW_hh = Σ_t da_tᵀ h_{t-1}                 d(gx_t) = da_t

    Inputs: gx (T, B, 4H), h0 (B, H), c0 (B, H), W_hh (4H, H), mask (T, B, 1) bool or None.
    Outputs: out (T, B, H), h_T (B, H), c_T (B, H).
    """

    @staticmethod
    def forward(ctx, gx, h0, c0, W_hh, mask):
        onednn = _onednn_for(gx)
        packed = _pack(W_hh, gx.shape[1], gx.shape[0]) if onednn else None
        hs, cs, tanh_cs, acts = _loops().lstm_forward(gx, h0, c0, W_hh, packed, mask)
        ctx.onednn = onednn
        ctx.save_for_backward(W_hh, hs, cs, tanh_cs, acts, mask)
        out = hs[1:] if mask is None else hs[1:] * mask  # (T, B, H): padded outputs are zero
        return out, hs[-1].clone(), cs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_T, dc_T):
        W_hh, hs, cs, tanh_cs, acts, mask = ctx.saved_tensors
        dout = dout.contiguous() if mask is None else dout * mask  # (T, B, H)
        packed = _pack(W_hh.t(), dout.shape[1], dout.shape[0]) if ctx.onednn else None
        dgx, dh0, dc0 = _loops().lstm_backward(dout, dh_T, dc_T, W_hh, packed, cs, tanh_cs, acts, mask)
        T, B, H = dout.shape
        dW_hh = _mm_tn(dgx.view(T * B, 4 * H), hs[:-1].reshape(T * B, H))  # (4H, H)
        return dgx, dh0, dc0, dW_hh, None


# =================================================================================================
# Entry point for `run_sequence`: one cell over one sequence
# =================================================================================================

#: the g rows doubled, for the sigmoid that computes tanh (see `rnnlab.nn.bptt`)
TANH_SCALE = {"g": 2.0}


def kernel_rows(cell: LSTMCell, stacked: Tensor) -> Tensor:
    """A weight (4H, ·) or bias (4H,) of an LSTM cell in the kernel layout: (i, f, g, o) -> (i, f, o, 2g)."""
    return cell.layout.reorder(stacked, LSTM_SIGMOID_FIRST, scale=TANH_SCALE)


def project_inputs(cell: LSTMCell, x: Tensor) -> tuple[Tensor, Tensor]:
    """gx (T, B, 4H) = W_ih x_t + b_ih + b_hh for all steps at once and W_hh (4H, H), in the kernel layout."""
    bias = kernel_rows(cell, cell.bias_ih + cell.bias_hh)  # both biases outside the loop
    gx = _project(x, kernel_rows(cell, cell.weight_ih), bias)  # (T, B, 4H): all steps at once
    return gx, kernel_rows(cell, cell.weight_hh)  # (4H, H)


def run(cell: LSTMCell, x: Tensor, state: tuple[Tensor, Tensor], mask: Tensor | None):
    """`cell` over x (T, B, D) from (h0, c0) (B, H) each; returns out (T, B, H) and (h_T, c_T)."""
    h0, c0 = state
    gx, W_hh = project_inputs(cell, x)
    out, h, c = LSTMSequence.apply(gx, h0, c0, W_hh, mask)
    return out, (h, c)
