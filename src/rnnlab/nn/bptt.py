"""Backpropagation through time by hand: one autograd Function per layer, direction and chunk.

Letters: T time, B batch, D input size, H hidden size, G·H gate rows (G = 1 RNN, 3 GRU, 4 LSTM).

Why this module exists. Run as a Python loop of cells (`Recurrent(path="loop")`), every time step
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
copy of the weights, so callers never see it):

- the LSTM's rows become (i, f, o, g) instead of PyTorch's (i, f, g, o): the three sigmoid gates are
  one contiguous block;
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
"""

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from .cells import GRUCell, GRUChoCell, LSTMCell, PeepholeLSTMCell, RecurrentCell, RNNCell

_sigmoid_backward = torch.ops.aten.sigmoid_backward  # grad · s (1 - s), from the output s
_tanh_backward = torch.ops.aten.tanh_backward  # grad · (1 - y²), from the output y
_threshold_backward = torch.ops.aten.threshold_backward  # grad where y > 0 else 0 (ReLU, from its output)

Number = int | float | complex  # TorchScript's name for a Scalar argument


def _onednn_linear(x: Tensor, weight: Tensor) -> Tensor:
    """x @ weightᵀ through oneDNN; x (M, K), weight (N, K) dense or prepacked -> (M, N)."""
    scalars: list[Number | None] = []
    return torch.ops.mkldnn._linear_pointwise(x, weight, None, "none", scalars, "")


def _back_to_h(rest: Tensor, dg: Tensor, W_hh: Tensor, WT_packed: Tensor | None, dh: Tensor) -> None:
    """dh ← rest + dg W_hh, the gradient reaching h_{t-1}; through the prepacked W_hhᵀ when given."""
    if WT_packed is None:
        torch.addmm(rest, dg, W_hh, out=dh)
    else:
        torch.add(rest, _onednn_linear(dg, WT_packed), out=dh)


def _padded_step(dg: Tensor, rest: Tensor, dh: Tensor, mask_t: Tensor) -> Tensor:
    """At the padded rows of a step (mask_t False): no gate gradients, and dh passes through to h_{t-1}
    unchanged (on top of `rest`, the output's gradient there). Returns the new `rest`."""
    dg.masked_fill_(~mask_t, 0.0)
    return torch.where(mask_t, rest, rest + dh)


# =================================================================================================
# LSTM: kernel gate order (i, f, o, g)
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


# =================================================================================================
# Peephole LSTM: kernel gate order (i, f, o, g)
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


# =================================================================================================
# GRU, reset after the matmul (PyTorch / cuDNN): gate order (r, z, n)
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


# =================================================================================================
# GRU, reset before the matmul (Cho et al., deeplearning.ai)
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


# =================================================================================================
# Vanilla RNN, tanh or ReLU
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


# =================================================================================================
# Settings: scripted or plain loops, oneDNN or the default BLAS
# =================================================================================================

_LOOP_NAMES = [
    "lstm_forward", "lstm_backward", "peephole_forward", "peephole_backward", "gru_forward",
    "gru_backward", "gru_cho_forward", "gru_cho_backward", "rnn_forward", "rnn_backward",
]


class _Loops:
    """The inner loops, as plain Python functions or compiled by TorchScript."""

    def __init__(self, scripted: bool) -> None:
        self.scripted = scripted
        for name in _LOOP_NAMES:
            fn = globals()["_" + name]
            setattr(self, name, torch.jit.script(fn) if scripted else fn)


_EAGER = _Loops(scripted=False)
_scripted: list[_Loops] = []  # compiled on first use, then kept
_settings: dict = {"loops": None, "onednn": True}  # loops None: not chosen yet (scripted if it compiles)
_onednn_works: dict[str, bool] = {}


def _loops() -> _Loops:
    if _settings["loops"] is None:
        use_scripted_loops(True)
    return _settings["loops"]


def use_scripted_loops(enabled: bool = True) -> bool:
    """Run the inner loops through TorchScript (True, the default) or as plain Python (False).

    TorchScript measured 0–20% faster per training step here (benchmarks/explicit_speed.py): its
    interpreter dispatches each operation with less overhead than Python. Returns whether scripted
    loops are now in use: scripting can fail (TorchScript is deprecated and may be missing from a
    build), and then the plain loops run, with identical results. Compiling takes a second or two,
    once per process.
    """
    if not enabled:
        _settings["loops"] = _EAGER
        return False
    if not _scripted:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "torch.jit.script is deprecated"
                _scripted.append(_Loops(scripted=True))
        except Exception:  # noqa: BLE001 - any failure to compile means: keep the plain loops
            _scripted.append(_EAGER)
    _settings["loops"] = _scripted[0]
    return _settings["loops"].scripted


def use_onednn(enabled: bool = True) -> bool:
    """Let float32 matmuls on the CPU go through oneDNN (True, the default) or `torch.mm` (False).

    Returns whether oneDNN is now in use (False where this build of PyTorch lacks it).
    """
    _settings["onednn"] = bool(enabled) and _onednn_available()
    return _settings["onednn"]


def _onednn_available() -> bool:
    """Whether the oneDNN ops exist and run here (probed once, on a tiny product)."""
    if "cpu" not in _onednn_works:
        try:
            x, w = torch.ones(2, 3), torch.ones(4, 3)
            packed = torch.ops.mkldnn._reorder_linear_weight(w, 2)
            ok = torch.backends.mkldnn.is_available() and bool(
                torch.equal(_onednn_linear(x, packed), torch.full((2, 4), 3.0))
            )
        except (RuntimeError, AttributeError):
            ok = False
        _onednn_works["cpu"] = ok
    return _onednn_works["cpu"]


def _onednn_for(t: Tensor) -> bool:
    """Whether the matmuls of a computation on tensors like `t` go through oneDNN."""
    return _settings["onednn"] and t.dtype == torch.float32 and t.device.type == "cpu" and _onednn_available()


#: sequences shorter than this skip prepacking: reordering a weight costs about as much as a few
#: steps gain from it (oneDNN then reads the plain weight)
PACK_MIN_STEPS = 8


def _pack(weight: Tensor, batch_size: int, steps: int) -> Tensor:
    """A (N, K) weight reordered for oneDNN's x @ weightᵀ with x of `batch_size` rows, used `steps` times."""
    weight = weight.detach().contiguous()
    if steps < PACK_MIN_STEPS:
        return weight
    return torch.ops.mkldnn._reorder_linear_weight(weight, batch_size)


def _mm_tn(a: Tensor, b: Tensor) -> Tensor:
    """aᵀ b for a (M, N), b (M, K) -> (N, K): the weight gradients, summed over all T·B rows.

    (oneDNN's own weight-gradient primitive, `mkldnn_linear_backward_weights`, measured slower
    here: it needs both operands converted to oneDNN tensors first.)
    """
    if _onednn_for(a):
        return _onednn_linear(a.t(), b.t())
    return a.t() @ b


class _Projection(torch.autograd.Function):
    """The hoisted input projection x W_ihᵀ + b through oneDNN (float32 on a CPU).

    The same arithmetic as `F.linear`, whose default BLAS is about half as fast here for the
    (T·B, D) @ (D, G·H) product. x (T, B, D), weight (G·H, D), bias (G·H,) -> (T, B, G·H).
    """

    @staticmethod
    def forward(ctx, x, weight, bias):
        x2 = x.reshape(-1, x.shape[-1])  # (T·B, D)
        ctx.save_for_backward(x2, weight)
        ctx.input_shape = x.shape
        scalars: list = []
        y = torch.ops.mkldnn._linear_pointwise(x2, weight, bias, "none", scalars, "")
        return y.view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        x2, weight = ctx.saved_tensors
        dy2 = dy.reshape(-1, dy.shape[-1])  # (T·B, G·H)
        dx = _onednn_linear(dy2, weight.t()).view(ctx.input_shape) if ctx.needs_input_grad[0] else None
        dweight = _mm_tn(dy2, x2) if ctx.needs_input_grad[1] else None
        dbias = dy2.sum(0) if ctx.needs_input_grad[2] else None
        return dx, dweight, dbias


def _project(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """gx = x W_ihᵀ + b for all T steps at once: x (T, B, D) -> (T, B, G·H)."""
    if _onednn_for(x):
        return _Projection.apply(x, weight, bias)
    return F.linear(x, weight, bias)


# =================================================================================================
# The autograd Functions
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
        dw_ci = (dgx[:, :, :H] * cs[:-1]).sum((0, 1))
        dw_cf = (dgx[:, :, H : 2 * H] * cs[:-1]).sum((0, 1))
        dw_co = (dgx[:, :, 2 * H : 3 * H] * cs[1:]).sum((0, 1))
        return dgx, dh0, dc0, dW_hh, dw_ci, dw_cf, dw_co, None


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
        dgx = torch.cat([dgh[:, :, : 2 * H], dan], dim=2)  # (T, B, 3H)
        dW_hh = _mm_tn(dgh.view(T * B, 3 * H), hs[:-1].reshape(T * B, H))
        db_hh = dgh.sum((0, 1))
        return dgx, dh0, dW_hh, db_hh, None


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
        H = h0.shape[1]
        onednn = _onednn_for(gx)
        W_rz_packed = _pack(W_hh[: 2 * H], gx.shape[1], gx.shape[0]) if onednn else None
        W_n_packed = _pack(W_hh[2 * H :], gx.shape[1], gx.shape[0]) if onednn else None
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
        W_rzT_packed = _pack(W_hh[: 2 * H].t(), B, T) if ctx.onednn else None
        W_nT_packed = _pack(W_hh[2 * H :].t(), B, T) if ctx.onednn else None
        dgx, dh0 = _loops().gru_cho_backward(
            dout, dh_T, W_hh, W_rzT_packed, W_nT_packed, hs, rzs, ns, hmns, mask
        )
        flat = dgx.view(T * B, 3 * H)
        dW_rz = _mm_tn(flat[:, : 2 * H], hs[:-1].reshape(T * B, H))  # (2H, H)
        dW_n = _mm_tn(flat[:, 2 * H :], rhs.view(T * B, H))  # (H, H)
        return dgx, dh0, torch.cat([dW_rz, dW_n]), None


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
# Entry point for `Recurrent`: one cell over one sequence
# =================================================================================================


def _kernel_rows(w: Tensor, H: int, blocks: tuple[tuple[int, float], ...]) -> Tensor:
    """Reorder and scale the H-row blocks of a (G·H, ...) weight or (G·H,) bias; differentiable.

    `blocks` lists (source block, factor) in kernel order, e.g. LSTM ((0, 1), (1, 1), (3, 1), (2, 2)):
    rows (i, f, g, o) become (i, f, o, 2g).
    """
    parts = [w[k * H : (k + 1) * H] for k, _ in blocks]
    return torch.cat([p * factor if factor != 1 else p for p, (_, factor) in zip(parts, blocks)])


_LSTM_ROWS = ((0, 1.0), (1, 1.0), (3, 1.0), (2, 2.0))  # (i, f, g, o) -> (i, f, o, 2g)
_GRU_ROWS = ((0, 1.0), (1, 1.0), (2, 2.0))  # (r, z, n) -> (r, z, 2n)
_TANH_ROWS = ((0, 2.0),)  # the RNN's one block, doubled


def has_kernel(cell: RecurrentCell) -> bool:
    """Whether `run_sequence` has a hand-written BPTT for this exact cell class.

    Exact classes, not isinstance: a subclass that changes `recurrence` must not silently get the
    parent's kernel.
    """
    return type(cell) in (LSTMCell, PeepholeLSTMCell, GRUCell, GRUChoCell, RNNCell)


def run_sequence(cell: RecurrentCell, x: Tensor, state, mask: Tensor | None = None):
    """Run `cell` over a time-major sequence with one autograd Function.

    Args:
        cell: an LSTM, peephole LSTM, GRU, Cho GRU or RNN cell (see `has_kernel`).
        x: (T, B, D) inputs. state: h0 (B, H), or (h0, c0) for the LSTMs.
        mask: (T, B, 1) bool of valid steps, or None when every step is valid.

    Returns: out (T, B, H) (zero at padded steps) and the final state, shaped like `state`.
    """
    T, B, _ = x.shape
    H = cell.hidden_size
    if mask is not None and (mask.shape != (T, B, 1) or mask.dtype != torch.bool):
        raise ValueError(f"mask must be a (T, B, 1) = ({T}, {B}, 1) bool tensor, got {mask.dtype} "
                         f"{tuple(mask.shape)}")
    kind = type(cell)
    if kind is LSTMCell or kind is PeepholeLSTMCell:
        h0, c0 = state
        bias = _kernel_rows(cell.bias_ih + cell.bias_hh, H, _LSTM_ROWS)  # both biases outside the loop
        gx = _project(x, _kernel_rows(cell.weight_ih, H, _LSTM_ROWS), bias)  # (T, B, 4H): all steps at once
        W_hh = _kernel_rows(cell.weight_hh, H, _LSTM_ROWS)  # (4H, H)
        if kind is LSTMCell:
            out, h, c = LSTMSequence.apply(gx, h0, c0, W_hh, mask)
        else:
            out, h, c = PeepholeLSTMSequence.apply(
                gx, h0, c0, W_hh, cell.weight_ci, cell.weight_cf, cell.weight_co, mask
            )
        return out, (h, c)
    if kind is GRUCell:
        rows = lambda w: _kernel_rows(w, H, _GRU_ROWS)
        gx = _project(x, rows(cell.weight_ih), rows(cell.bias_ih))  # (T, B, 3H); b_hn stays inside r ⊙ (.)
        return GRUSequence.apply(gx, state, rows(cell.weight_hh), rows(cell.bias_hh), mask)
    if kind is GRUChoCell:
        rows = lambda w: _kernel_rows(w, H, _GRU_ROWS)
        gx = _project(x, rows(cell.weight_ih), rows(cell.bias_ih + cell.bias_hh))  # (T, B, 3H)
        return GRUChoSequence.apply(gx, state, rows(cell.weight_hh), mask)
    if kind is RNNCell:
        relu = cell.nonlinearity == "relu"
        rows = (lambda w: w) if relu else (lambda w: _kernel_rows(w, H, _TANH_ROWS))
        gx = _project(x, rows(cell.weight_ih), rows(cell.bias_ih + cell.bias_hh))  # (T, B, H)
        return RNNSequence.apply(gx, state, rows(cell.weight_hh), relu, mask)
    raise TypeError(f"no hand-written BPTT for {kind.__name__}; run it on path='loop'")


__all__ = [
    "LSTMSequence", "PeepholeLSTMSequence", "GRUSequence", "GRUChoSequence", "RNNSequence",
    "has_kernel", "run_sequence", "use_onednn", "use_scripted_loops",
]
