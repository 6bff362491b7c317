"""The peephole LSTM's hand-written BPTT: its time loops, `PeepholeLSTMSequence`, and `run`.

Letters: T time, B batch, D input size, H hidden size.

Kernel layout as the LSTM's (`rnnlab.nn.bptt.lstm`): rows (i, f, o, 2g), `LSTM_SIGMOID_FIRST`; the
peephole weights w_ci, w_cf, w_co (H,) enter as they are.
"""

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..cells import PeepholeLSTMCell
from ..gates import LSTM_SIGMOID_FIRST
from .common import (
    _back_to_h,
    _loops,
    _mm_tn,
    _onednn_for,
    _onednn_linear,
    _pack,
    _padded_step,
    _sigmoid_backward,
    _tanh_backward,
    register_loops,
)
from .lstm import project_inputs

# =================================================================================================
# The time loops
# =================================================================================================


def _peephole_forward(
    gx: Tensor, h0: Tensor, c0: Tensor, W_hh: Tensor, W_packed: Tensor | None,
    w_cif: Tensor, w_co: Tensor, mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The peephole-LSTM time loop; like `_lstm_forward`, with w_cif = [w_ci; w_cf] (2H,), w_co (H,)."""
    T, B = gx.shape[0], gx.shape[1]
    H = h0.shape[1]
    acts = torch.empty_like(gx)  # (T, B, 4H)
    hs = gx.new_empty((T + 1, B, H))
    cs = gx.new_empty((T + 1, B, H))
    tanh_cs = gx.new_empty((T, B, H))
    hs[0].copy_(h0)
    cs[0].copy_(c0)
    W_hh_t = W_hh.t()
    w_cif2 = w_cif.view(2, H)
    gx_l, a_l, h_l, c_l, tc_l = gx.unbind(0), acts.unbind(0), hs.unbind(0), cs.unbind(0), tanh_cs.unbind(0)
    if_l = acts[:, :, : 2 * H].unbind(0)
    if3_l = acts[:, :, : 2 * H].unflatten(2, (2, H)).unbind(0)  # (B, 2, H): i and f side by side
    i_l, f_l = acts[:, :, :H].unbind(0), acts[:, :, H : 2 * H].unbind(0)
    o_l, g_l = acts[:, :, 2 * H : 3 * H].unbind(0), acts[:, :, 3 * H :].unbind(0)
    neg_one = torch.full([], -1.0, dtype=gx.dtype, device=gx.device)
    h_cand, c_cand = h0, c0
    if mask is not None:
        h_cand, c_cand = torch.empty_like(h0), torch.empty_like(c0)
    for t in range(T):
        if W_packed is None:
            torch.addmm(gx_l[t], h_l[t], W_hh_t, out=a_l[t])  # (B, 4H)
        else:
            torch.add(gx_l[t], _onednn_linear(h_l[t], W_packed), out=a_l[t])
        if3_l[t].addcmul_(w_cif2, c_l[t].unsqueeze(1))  # a_{i,f} += w_c{i,f} ⊙ c_{t-1}
        if_l[t].sigmoid_()
        g_l[t].sigmoid_()
        torch.add(neg_one, g_l[t], alpha=2.0, out=g_l[t])  # g = 2σ(2 a_g) - 1 = tanh(a_g)
        h_new, c_new = h_l[t + 1], c_l[t + 1]
        if mask is not None:
            h_new, c_new = h_cand, c_cand
        torch.mul(f_l[t], c_l[t], out=c_new)
        c_new.addcmul_(i_l[t], g_l[t])
        o_l[t].addcmul_(w_co, c_new).sigmoid_()  # o = σ(a_o + w_co ⊙ c_t)
        torch.add(c_new, c_new, out=tc_l[t]).sigmoid_()  # tanh(c_t) = 2σ(2 c_t) - 1
        torch.add(neg_one, tc_l[t], alpha=2.0, out=tc_l[t])
        torch.mul(o_l[t], tc_l[t], out=h_new)
        if mask is not None:
            torch.where(mask[t], c_cand, c_l[t], out=c_l[t + 1])
            torch.where(mask[t], h_cand, h_l[t], out=h_l[t + 1])
    return hs, cs, tanh_cs, acts


def _peephole_backward(
    dout: Tensor, dh_T: Tensor, dc_T: Tensor, W_hh: Tensor, WT_packed: Tensor | None,
    w_ci: Tensor, w_cf: Tensor, w_co: Tensor,
    cs: Tensor, tanh_cs: Tensor, acts: Tensor, mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """BPTT of the peephole LSTM. Returns d(gx) (T, B, 4H), dh_0, dc_0."""
    T = acts.shape[0]
    H = cs.shape[2]
    dgx = torch.empty_like(acts)
    dh = dh_T + dout[T - 1]
    dc = dc_T.clone()
    tmp = torch.empty_like(dh)
    zero = torch.zeros_like(dh)
    zero0 = torch.zeros([], dtype=dh.dtype, device=dh.device)
    dout_l, dg_l, c_l, tc_l = dout.unbind(0), dgx.unbind(0), cs.unbind(0), tanh_cs.unbind(0)
    dif_l, act_if_l = dgx[:, :, : 2 * H].unbind(0), acts[:, :, : 2 * H].unbind(0)
    i_l, f_l = acts[:, :, :H].unbind(0), acts[:, :, H : 2 * H].unbind(0)
    o_l, g_l = acts[:, :, 2 * H : 3 * H].unbind(0), acts[:, :, 3 * H :].unbind(0)
    di_l, df_l = dgx[:, :, :H].unbind(0), dgx[:, :, H : 2 * H].unbind(0)
    do_l, dgg_l = dgx[:, :, 2 * H : 3 * H].unbind(0), dgx[:, :, 3 * H :].unbind(0)
    dc_old = dc
    for t in range(T - 1, -1, -1):
        if mask is not None:
            dc_old = dc.clone()
        torch.mul(dh, tc_l[t], out=do_l[t])
        _sigmoid_backward(do_l[t], o_l[t], grad_input=do_l[t])  # da_o
        torch.mul(dh, o_l[t], out=tmp)
        dc.add_(_tanh_backward(tmp, tc_l[t])).addcmul_(do_l[t], w_co)  # c_t also feeds o through w_co
        torch.mul(dc, g_l[t], out=di_l[t])
        torch.mul(dc, c_l[t], out=df_l[t])
        torch.addcmul(zero0, dc, i_l[t], value=0.5, out=dgg_l[t])  # ½ ∂L/∂g
        dc.mul_(f_l[t])
        _sigmoid_backward(dif_l[t], act_if_l[t], grad_input=dif_l[t])
        _tanh_backward(dgg_l[t], g_l[t], grad_input=dgg_l[t])
        dc.addcmul_(di_l[t], w_ci).addcmul_(df_l[t], w_cf)  # c_{t-1} fed i and f through w_ci, w_cf
        rest = dout_l[t - 1] if t > 0 else zero
        if mask is not None:
            torch.where(mask[t], dc, dc_old, out=dc)
            rest = _padded_step(dg_l[t], rest, dh, mask[t])
        _back_to_h(rest, dg_l[t], W_hh, WT_packed, dh)
    return dgx, dh, dc


register_loops(_peephole_forward, _peephole_backward)


# =================================================================================================
# The autograd Function
# =================================================================================================


class PeepholeLSTMSequence(torch.autograd.Function):
    r"""A whole peephole-LSTM sequence as one autograd Function, in the kernel layout (i, f, o, 2g).

    Forward:
        a_t = gx_t + W_hh h_{t-1}
        i = σ(a_i + w_ci ⊙ c_{t-1})    f = σ(a_f + w_cf ⊙ c_{t-1})    g = tanh(a_g)
        c_t = f ⊙ c_{t-1} + i ⊙ g      o = σ(a_o + w_co ⊙ c_t)        h_t = o ⊙ tanh(c_t)

    Backward (as the LSTM's, plus the paths through the peepholes):
        da_o = dh_t ⊙ tanh(c_t) ⊙ o(1 - o)
        dc_t += dh_t ⊙ o ⊙ (1 - tanh²(c_t)) + da_o ⊙ w_co
        da_i = dc_t ⊙ g ⊙ i(1 - i)     da_f = dc_t ⊙ c_{t-1} ⊙ f(1 - f)     da'_g = ½ dc_t ⊙ i ⊙ (1 - g²)
        dc_{t-1} = dc_t ⊙ f + da_i ⊙ w_ci + da_f ⊙ w_cf
        dw_ci = Σ da_i ⊙ c_{t-1}       dw_cf = Σ da_f ⊙ c_{t-1}       dw_co = Σ da_o ⊙ c_t

    Inputs: gx (T, B, 4H), h0, c0 (B, H), W_hh (4H, H), w_ci, w_cf, w_co (H,), mask or None.
    Outputs: out (T, B, H), h_T, c_T (B, H).
    """

    @staticmethod
    def forward(ctx, gx, h0, c0, W_hh, w_ci, w_cf, w_co, mask):
        onednn = _onednn_for(gx)
        packed = _pack(W_hh, gx.shape[1], gx.shape[0]) if onednn else None
        w_cif = torch.cat([w_ci, w_cf])  # (2H,)
        hs, cs, tanh_cs, acts = _loops().peephole_forward(gx, h0, c0, W_hh, packed, w_cif, w_co, mask)
        ctx.onednn = onednn
        ctx.save_for_backward(W_hh, w_ci, w_cf, w_co, hs, cs, tanh_cs, acts, mask)
        out = hs[1:] if mask is None else hs[1:] * mask
        return out, hs[-1].clone(), cs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_T, dc_T):
        W_hh, w_ci, w_cf, w_co, hs, cs, tanh_cs, acts, mask = ctx.saved_tensors
        dout = dout.contiguous() if mask is None else dout * mask
        packed = _pack(W_hh.t(), dout.shape[1], dout.shape[0]) if ctx.onednn else None
        dgx, dh0, dc0 = _loops().peephole_backward(
            dout, dh_T, dc_T, W_hh, packed, w_ci, w_cf, w_co, cs, tanh_cs, acts, mask
        )
        T, B, H = dout.shape
        dW_hh = _mm_tn(dgx.view(T * B, 4 * H), hs[:-1].reshape(T * B, H))
        rows = lambda gate: LSTM_SIGMOID_FIRST.rows(gate, hidden_size=H)  # dgx in the kernel layout
        dw_ci = (dgx[:, :, rows("i")] * cs[:-1]).sum((0, 1))
        dw_cf = (dgx[:, :, rows("f")] * cs[:-1]).sum((0, 1))
        dw_co = (dgx[:, :, rows("o")] * cs[1:]).sum((0, 1))
        return dgx, dh0, dc0, dW_hh, dw_ci, dw_cf, dw_co, None


# =================================================================================================
# Entry point for `run_sequence`: one cell over one sequence
# =================================================================================================


def run(cell: PeepholeLSTMCell, x: Tensor, state: tuple[Tensor, Tensor], mask: Tensor | None):
    """`cell` over x (T, B, D) from (h0, c0) (B, H) each; returns out (T, B, H) and (h_T, c_T)."""
    h0, c0 = state
    gx, W_hh = project_inputs(cell, x)
    peepholes = cell.weight_ci, cell.weight_cf, cell.weight_co  # (H,) each
    out, h, c = PeepholeLSTMSequence.apply(gx, h0, c0, W_hh, *peepholes, mask)
    return out, (h, c)
