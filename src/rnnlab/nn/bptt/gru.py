"""The GRU's hand-written BPTT (reset after the matmul, PyTorch's form): loops, `GRUSequence`, `run`.

Letters: T time, B batch, D input size, H hidden size.

Kernel layout: the cell's `GRU_GATES` (r, z, n), with the n rows of W_ih, b_ih, W_hh and b_hh doubled
(tanh(a) = 2σ(2a) - 1; see `rnnlab.nn.bptt`). b_hh stays a separate input, since b_hn sits inside
r ⊙ (W_hn h + b_hn). The loops slice the blocks by hand: TorchScript compiles them.
"""

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..cells import GRUCell
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

# =================================================================================================
# The time loops
# =================================================================================================


def _gru_forward(
    gx: Tensor, h0: Tensor, W_hh: Tensor, W_packed: Tensor | None, b_hh: Tensor, mask: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The GRU time loop. gx (T, B, 3H) = W_ih x_t + b_ih; W_hh (3H, H); b_hh (3H,).

    Returns hs (T+1, B, H), ghs (T, B, 3H) = W_hh h_{t-1} + b_hh, rzs (T, B, 2H) = [r, z],
    ns (T, B, H) = n, hmns (T, B, H) = h_{t-1} - n.
    """
    T, B = gx.shape[0], gx.shape[1]
    H = h0.shape[1]
    hs = gx.new_empty((T + 1, B, H))
    ghs = torch.empty_like(gx)  # (T, B, 3H)
    rzs = gx.new_empty((T, B, 2 * H))
    ns = gx.new_empty((T, B, H))
    hmns = gx.new_empty((T, B, H))
    hs[0].copy_(h0)
    W_hh_t = W_hh.t()
    h_l, gh_l, rz_l, n_l, hmn_l = hs.unbind(0), ghs.unbind(0), rzs.unbind(0), ns.unbind(0), hmns.unbind(0)
    gx_rz_l, gx_n_l = gx[:, :, : 2 * H].unbind(0), gx[:, :, 2 * H :].unbind(0)
    gh_rz_l, gh_n_l = ghs[:, :, : 2 * H].unbind(0), ghs[:, :, 2 * H :].unbind(0)
    r_l, z_l = rzs[:, :, :H].unbind(0), rzs[:, :, H:].unbind(0)
    neg_one = torch.full([], -1.0, dtype=gx.dtype, device=gx.device)
    h_cand = h0
    if mask is not None:
        h_cand = torch.empty_like(h0)
    for t in range(T):
        if W_packed is None:
            torch.addmm(b_hh, h_l[t], W_hh_t, out=gh_l[t])  # W_hh h_{t-1} + b_hh, (B, 3H)
        else:
            torch.add(_onednn_linear(h_l[t], W_packed), b_hh, out=gh_l[t])
        torch.add(gx_rz_l[t], gh_rz_l[t], out=rz_l[t]).sigmoid_()  # r, z
        torch.addcmul(gx_n_l[t], r_l[t], gh_n_l[t], out=n_l[t]).sigmoid_()
        torch.add(neg_one, n_l[t], alpha=2.0, out=n_l[t])  # n = tanh(x_n + r ⊙ h_n) = 2σ(2 ·) - 1
        torch.sub(h_l[t], n_l[t], out=hmn_l[t])
        h_new = h_l[t + 1] if mask is None else h_cand
        torch.addcmul(n_l[t], z_l[t], hmn_l[t], out=h_new)  # h_t = n + z ⊙ (h_{t-1} - n)
        if mask is not None:
            torch.where(mask[t], h_cand, h_l[t], out=h_l[t + 1])
    return hs, ghs, rzs, ns, hmns


def _gru_backward(
    dout: Tensor, dh_T: Tensor, W_hh: Tensor, WT_packed: Tensor | None,
    ghs: Tensor, rzs: Tensor, ns: Tensor, hmns: Tensor, mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """BPTT of the GRU. Returns dgh (T, B, 3H) = ∂L/∂(W_hh h + b_hh), dan (T, B, H) = ∂L/∂a_n, dh_0."""
    T = ns.shape[0]
    H = ns.shape[2]
    dgh = torch.empty_like(ghs)  # (T, B, 3H)
    dan = torch.empty_like(ns)  # (T, B, H)
    draw = torch.empty_like(rzs[0])  # (B, 2H): ∂L/∂r, ∂L/∂z before the sigmoid
    dn = torch.empty_like(ns[0])
    tmp = torch.empty_like(ns[0])
    dh = dh_T + dout[T - 1]
    dout_l, dgh_l, dan_l, rz_l, n_l, hmn_l = (
        dout.unbind(0), dgh.unbind(0), dan.unbind(0), rzs.unbind(0), ns.unbind(0), hmns.unbind(0)
    )
    dgh_rz_l, dgh_n_l = dgh[:, :, : 2 * H].unbind(0), dgh[:, :, 2 * H :].unbind(0)
    r_l, z_l, gh_n_l = rzs[:, :, :H].unbind(0), rzs[:, :, H:].unbind(0), ghs[:, :, 2 * H :].unbind(0)
    dr, dz = draw[:, :H], draw[:, H:]
    for t in range(T - 1, -1, -1):
        torch.mul(dh, hmn_l[t], out=dz)  # ∂L/∂z = dh ⊙ (h_{t-1} - n)
        torch.addcmul(dh, dh, z_l[t], value=-1.0, out=dn)  # ∂L/∂n = dh ⊙ (1 - z)
        _tanh_backward(dn, n_l[t], grad_input=dan_l[t])
        dan_l[t].mul_(0.5)  # da'_n = ∂L/∂n ⊙ (1 - n²) / 2, for the doubled pre-activation
        torch.mul(dan_l[t], r_l[t], out=dgh_n_l[t])  # ∂L/∂h_n = da_n ⊙ r
        torch.mul(dan_l[t], gh_n_l[t], out=dr)  # ∂L/∂r = da_n ⊙ h_n
        _sigmoid_backward(draw, rz_l[t], grad_input=dgh_rz_l[t])  # da_r, da_z
        if t > 0:  # h_{t-1} reaches h_t directly, through z; plus the output's gradient at t-1
            torch.addcmul(dout_l[t - 1], dh, z_l[t], out=tmp)
        else:
            torch.mul(dh, z_l[t], out=tmp)
        if mask is not None:  # a padded step passes dh through and has no dgates
            dgh_l[t].masked_fill_(~mask[t], 0.0)
            dan_l[t].masked_fill_(~mask[t], 0.0)
            pass_through = dh + dout_l[t - 1] if t > 0 else dh
            torch.where(mask[t], tmp, pass_through, out=tmp)
        _back_to_h(tmp, dgh_l[t], W_hh, WT_packed, dh)  # dh_{t-1}
    return dgh, dan, dh


register_loops(_gru_forward, _gru_backward)


# =================================================================================================
# The autograd Function
# =================================================================================================


class GRUSequence(torch.autograd.Function):
    r"""A whole GRU sequence (reset after the matmul, PyTorch's form) as one autograd Function.

    Kernel layout: the n rows of W_ih, b_ih, W_hh, b_hh doubled, so x_n, h_n below are twice the
    cell's and n = 2σ(x_n + r ⊙ h_n) - 1 = tanh(½ (x_n + r ⊙ h_n)), the cell's candidate.

    Forward (gx_t = W_ih x_t + b_ih, gh_t = W_hh h_{t-1} + b_hh, both split into r, z, n blocks):

        r = σ(x_r + h_r)      z = σ(x_z + h_z)      n = tanh(x_n + r ⊙ h_n)
        h_t = (1 - z) ⊙ n + z ⊙ h_{t-1} = n + z ⊙ (h_{t-1} - n)

    Backward:
        dz = dh_t ⊙ (h_{t-1} - n)         dn = dh_t ⊙ (1 - z)          da_n = ½ dn ⊙ (1 - n²)
        dr = da_n ⊙ h_n                   da_{r,z} = d{r,z} ⊙ σ(1 - σ)
        d(gx_t) = [da_r, da_z, da_n]       d(gh_t) = [da_r, da_z, da_n ⊙ r]
        dh_{t-1} = dh_t ⊙ z + d(gh_t) W_hh
        dW_hh = Σ_t d(gh_t)ᵀ h_{t-1}       db_hh = Σ_t d(gh_t)

    Inputs: gx (T, B, 3H), h0 (B, H), W_hh (3H, H), b_hh (3H,), mask (T, B, 1) bool or None.
    Outputs: out (T, B, H), h_T (B, H).
    """

    @staticmethod
    def forward(ctx, gx, h0, W_hh, b_hh, mask):
        onednn = _onednn_for(gx)
        packed = _pack(W_hh, gx.shape[1], gx.shape[0]) if onednn else None
        hs, ghs, rzs, ns, hmns = _loops().gru_forward(gx, h0, W_hh, packed, b_hh, mask)
        ctx.onednn = onednn
        ctx.save_for_backward(W_hh, hs, ghs, rzs, ns, hmns, mask)
        out = hs[1:] if mask is None else hs[1:] * mask
        return out, hs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_T):
        W_hh, hs, ghs, rzs, ns, hmns, mask = ctx.saved_tensors
        dout = dout.contiguous() if mask is None else dout * mask
        packed = _pack(W_hh.t(), dout.shape[1], dout.shape[0]) if ctx.onednn else None
        dgh, dan, dh0 = _loops().gru_backward(dout, dh_T, W_hh, packed, ghs, rzs, ns, hmns, mask)
        T, B, H = ns.shape
        dgx = torch.cat([dgh[:, :, GRU_GATES.rows("r", "z", hidden_size=H)], dan], dim=2)  # (T, B, 3H)
        dW_hh = _mm_tn(dgh.view(T * B, 3 * H), hs[:-1].reshape(T * B, H))
        db_hh = dgh.sum((0, 1))
        return dgx, dh0, dW_hh, db_hh, None


# =================================================================================================
# Entry point for `run_sequence`: one cell over one sequence
# =================================================================================================

#: the n rows doubled, for the sigmoid that computes tanh (see `rnnlab.nn.bptt`)
TANH_SCALE = {"n": 2.0}


def kernel_rows(cell: GRUCell, stacked: Tensor) -> Tensor:
    """A weight (3H, ·) or bias (3H,) of a GRU cell in the kernel layout: (r, z, n) -> (r, z, 2n)."""
    return cell.layout.reorder(stacked, cell.layout, scale=TANH_SCALE)


def run(cell: GRUCell, x: Tensor, h0: Tensor, mask: Tensor | None):
    """`cell` over x (T, B, D) from h0 (B, H); returns out (T, B, H) and h_T."""
    rows = lambda w: kernel_rows(cell, w)
    gx = _project(x, rows(cell.weight_ih), rows(cell.bias_ih))  # (T, B, 3H); b_hn stays inside r ⊙ (.)
    return GRUSequence.apply(gx, h0, rows(cell.weight_hh), rows(cell.bias_hh), mask)
