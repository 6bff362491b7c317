"""The Cho GRU's hand-written BPTT (reset before the matmul): loops, `GRUChoSequence`, `run`.

Letters: T time, B batch, D input size, H hidden size.

Kernel layout as the GRU's (`rnnlab.nn.bptt.gru`): rows (r, z, 2n), `GRU_GATES` with the n rows
doubled; here both biases are summed outside the loop, since none sits inside r ⊙ (·).
"""

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..cells import GRUChoCell
from ..gates import GRU_GATES
from .common import (
    _back_to_h,
    _loops,
    _mm_tn,
    _onednn_for,
    _onednn_linear,
    _pack,
    _project,
    _sigmoid_backward,
    _tanh_backward,
    register_loops,
)
from .gru import kernel_rows

# =================================================================================================
# The time loops
# =================================================================================================


def _gru_cho_forward(
    gx: Tensor, h0: Tensor, W_hh: Tensor,
    W_rz_packed: Tensor | None, W_n_packed: Tensor | None, mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The Cho-GRU time loop. gx (T, B, 3H) = W_ih x_t + b_ih + b_hh (all biases sit outside r).

    Returns hs (T+1, B, H), rzs (T, B, 2H), rhs (T, B, H) = r ⊙ h_{t-1}, ns (T, B, H), hmns (T, B, H).
    """
    T, B = gx.shape[0], gx.shape[1]
    H = h0.shape[1]
    hs = gx.new_empty((T + 1, B, H))
    rzs = gx.new_empty((T, B, 2 * H))
    rhs = gx.new_empty((T, B, H))
    ns = gx.new_empty((T, B, H))
    hmns = gx.new_empty((T, B, H))
    hs[0].copy_(h0)
    W_rz_t, W_n_t = W_hh[: 2 * H].t(), W_hh[2 * H :].t()  # (H, 2H), (H, H)
    h_l, rz_l, rh_l, n_l, hmn_l = hs.unbind(0), rzs.unbind(0), rhs.unbind(0), ns.unbind(0), hmns.unbind(0)
    gx_rz_l, gx_n_l = gx[:, :, : 2 * H].unbind(0), gx[:, :, 2 * H :].unbind(0)
    r_l, z_l = rzs[:, :, :H].unbind(0), rzs[:, :, H:].unbind(0)
    neg_one = torch.full([], -1.0, dtype=gx.dtype, device=gx.device)
    h_cand = h0
    if mask is not None:
        h_cand = torch.empty_like(h0)
    for t in range(T):
        if W_rz_packed is None:
            torch.addmm(gx_rz_l[t], h_l[t], W_rz_t, out=rz_l[t])
        else:
            torch.add(gx_rz_l[t], _onednn_linear(h_l[t], W_rz_packed), out=rz_l[t])
        rz_l[t].sigmoid_()  # r, z
        torch.mul(r_l[t], h_l[t], out=rh_l[t])  # r ⊙ h_{t-1}
        if W_n_packed is None:
            torch.addmm(gx_n_l[t], rh_l[t], W_n_t, out=n_l[t])
        else:
            torch.add(gx_n_l[t], _onednn_linear(rh_l[t], W_n_packed), out=n_l[t])
        n_l[t].sigmoid_()  # n = tanh(x_n + W_hn (r ⊙ h_{t-1})) = 2σ(2 ·) - 1
        torch.add(neg_one, n_l[t], alpha=2.0, out=n_l[t])
        torch.sub(h_l[t], n_l[t], out=hmn_l[t])
        h_new = h_l[t + 1] if mask is None else h_cand
        torch.addcmul(n_l[t], z_l[t], hmn_l[t], out=h_new)
        if mask is not None:
            torch.where(mask[t], h_cand, h_l[t], out=h_l[t + 1])
    return hs, rzs, rhs, ns, hmns


def _gru_cho_backward(
    dout: Tensor, dh_T: Tensor, W_hh: Tensor,
    W_rzT_packed: Tensor | None, W_nT_packed: Tensor | None,
    hs: Tensor, rzs: Tensor, ns: Tensor, hmns: Tensor, mask: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """BPTT of the Cho GRU. Returns d(gx) (T, B, 3H) and dh_0."""
    T = ns.shape[0]
    H = ns.shape[2]
    dgx = ns.new_empty((T, ns.shape[1], 3 * H))
    W_rz, W_n = W_hh[: 2 * H], W_hh[2 * H :]  # (2H, H), (H, H)
    draw = torch.empty_like(rzs[0])  # (B, 2H)
    dn = torch.empty_like(ns[0])
    drh = torch.empty_like(ns[0])
    tmp = torch.empty_like(ns[0])
    dh = dh_T + dout[T - 1]
    dout_l, h_l, rz_l, n_l, hmn_l = dout.unbind(0), hs.unbind(0), rzs.unbind(0), ns.unbind(0), hmns.unbind(0)
    drz_l, dan_l = dgx[:, :, : 2 * H].unbind(0), dgx[:, :, 2 * H :].unbind(0)
    r_l, z_l = rzs[:, :, :H].unbind(0), rzs[:, :, H:].unbind(0)
    dr, dz = draw[:, :H], draw[:, H:]
    for t in range(T - 1, -1, -1):
        torch.mul(dh, hmn_l[t], out=dz)
        torch.addcmul(dh, dh, z_l[t], value=-1.0, out=dn)
        _tanh_backward(dn, n_l[t], grad_input=dan_l[t])
        dan_l[t].mul_(0.5)  # da'_n, for the doubled pre-activation
        if mask is not None:
            dan_l[t].masked_fill_(~mask[t], 0.0)
        if W_nT_packed is None:
            torch.mm(dan_l[t], W_n, out=drh)  # ∂L/∂(r ⊙ h_{t-1})
        else:
            drh = _onednn_linear(dan_l[t], W_nT_packed)
        torch.mul(drh, h_l[t], out=dr)
        _sigmoid_backward(draw, rz_l[t], grad_input=drz_l[t])  # da_r, da_z
        if t > 0:  # h_{t-1} reaches h_t directly and through r ⊙ h_{t-1}
            torch.addcmul(dout_l[t - 1], dh, z_l[t], out=tmp)
        else:
            torch.mul(dh, z_l[t], out=tmp)
        tmp.addcmul_(drh, r_l[t])
        if mask is not None:
            drz_l[t].masked_fill_(~mask[t], 0.0)
            pass_through = dh + dout_l[t - 1] if t > 0 else dh
            torch.where(mask[t], tmp, pass_through, out=tmp)
        _back_to_h(tmp, drz_l[t], W_rz, W_rzT_packed, dh)
    return dgx, dh


register_loops(_gru_cho_forward, _gru_cho_backward)


def _rz_n_rows(H: int) -> tuple[slice, slice]:
    """The rows of the gates r, z (2H, as one matmul) and of the candidate n (H) in W_hh and dgx."""
    return GRU_GATES.rows("r", "z", hidden_size=H), GRU_GATES.rows("n", hidden_size=H)


# =================================================================================================
# The autograd Function
# =================================================================================================


class GRUChoSequence(torch.autograd.Function):
    r"""A whole Cho GRU sequence (reset before the matmul) as one autograd Function.

    Kernel layout: the n rows of W_ih, the biases and W_hh doubled (n = 2σ(·) - 1 = tanh(½ ·)).

    Forward (gx_t = W_ih x_t + b_ih + b_hh, split into r, z, n blocks; W_hh = [W_hr; W_hz; W_hn]):

        r = σ(x_r + W_hr h_{t-1})      z = σ(x_z + W_hz h_{t-1})
        n = tanh(x_n + W_hn (r ⊙ h_{t-1}))
        h_t = n + z ⊙ (h_{t-1} - n)

    Backward:
        dz = dh_t ⊙ (h_{t-1} - n)      da_n = ½ dh_t ⊙ (1 - z) ⊙ (1 - n²)
        d(r⊙h) = da_n W_hn             dr = d(r⊙h) ⊙ h_{t-1}          da_{r,z} = d{r,z} ⊙ σ(1 - σ)
        dh_{t-1} = dh_t ⊙ z + d(r⊙h) ⊙ r + da_{r,z} [W_hr; W_hz]
        dW_h{r,z} = Σ da_{r,z}ᵀ h_{t-1}    dW_hn = Σ da_nᵀ (r ⊙ h_{t-1})    d(gx_t) = [da_r, da_z, da_n]

    Inputs: gx (T, B, 3H), h0 (B, H), W_hh (3H, H), mask or None. Outputs: out (T, B, H), h_T (B, H).
    """

    @staticmethod
    def forward(ctx, gx, h0, W_hh, mask):
        rz, n = _rz_n_rows(h0.shape[1])
        onednn = _onednn_for(gx)
        W_rz_packed = _pack(W_hh[rz], gx.shape[1], gx.shape[0]) if onednn else None
        W_n_packed = _pack(W_hh[n], gx.shape[1], gx.shape[0]) if onednn else None
        hs, rzs, rhs, ns, hmns = _loops().gru_cho_forward(gx, h0, W_hh, W_rz_packed, W_n_packed, mask)
        ctx.onednn = onednn
        ctx.save_for_backward(W_hh, hs, rzs, rhs, ns, hmns, mask)
        out = hs[1:] if mask is None else hs[1:] * mask
        return out, hs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_T):
        W_hh, hs, rzs, rhs, ns, hmns, mask = ctx.saved_tensors
        dout = dout.contiguous() if mask is None else dout * mask
        T, B, H = ns.shape
        rz, n = _rz_n_rows(H)
        W_rzT_packed = _pack(W_hh[rz].t(), B, T) if ctx.onednn else None
        W_nT_packed = _pack(W_hh[n].t(), B, T) if ctx.onednn else None
        dgx, dh0 = _loops().gru_cho_backward(
            dout, dh_T, W_hh, W_rzT_packed, W_nT_packed, hs, rzs, ns, hmns, mask
        )
        flat = dgx.view(T * B, 3 * H)
        dW_rz = _mm_tn(flat[:, rz], hs[:-1].reshape(T * B, H))  # (2H, H)
        dW_n = _mm_tn(flat[:, n], rhs.view(T * B, H))  # (H, H)
        return dgx, dh0, torch.cat([dW_rz, dW_n]), None


# =================================================================================================
# Entry point for `run_sequence`: one cell over one sequence
# =================================================================================================


def run(cell: GRUChoCell, x: Tensor, h0: Tensor, mask: Tensor | None):
    """`cell` over x (T, B, D) from h0 (B, H); returns out (T, B, H) and h_T."""
    rows = lambda w: kernel_rows(cell, w)
    gx = _project(x, rows(cell.weight_ih), rows(cell.bias_ih + cell.bias_hh))  # (T, B, 3H)
    return GRUChoSequence.apply(gx, h0, rows(cell.weight_hh), mask)
