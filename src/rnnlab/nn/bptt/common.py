"""What every hand-written BPTT kernel of `rnnlab.nn.bptt` shares.

Letters: T time, B batch, D input size, H hidden size, G·H gate rows (G = 1 RNN, 3 GRU, 4 LSTM).

- the backward primitives of the activations (from their outputs) and the two step helpers every
  backward loop uses (`_back_to_h`, `_padded_step`);
- the matmuls: oneDNN with prepacked weights for float32 on a CPU, `torch.mm` otherwise (`use_onednn`),
  the weight gradients summed over all T·B rows (`_mm_tn`) and the hoisted input projection
  (`_project`);
- the inner time loops of every cell, registered here by the cell's module (`register_loops`) and run
  as plain Python or compiled by TorchScript (`use_scripted_loops`).
"""

import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

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
# Settings: scripted or plain loops, oneDNN or the default BLAS
# =================================================================================================

#: the plain Python time loops by name ("lstm_forward", ...); each cell's module registers its own
_LOOP_FUNCTIONS: dict[str, Callable] = {}


def register_loops(*functions: Callable) -> None:
    """Make a cell's inner loops (`_lstm_forward`, ...) available as `_loops().lstm_forward`, ...

    Written as plain functions of tensors, so that `torch.jit.script` can compile them.
    """
    for fn in functions:
        _LOOP_FUNCTIONS[fn.__name__.removeprefix("_")] = fn


class _Loops:
    """The inner loops, as plain Python functions or compiled by TorchScript."""

    def __init__(self, scripted: bool) -> None:
        self.scripted = scripted
        for name, fn in _LOOP_FUNCTIONS.items():
            setattr(self, name, torch.jit.script(fn) if scripted else fn)


_eager: list[_Loops] = []  # built on first use, once every cell's module has registered its loops
_scripted: list[_Loops] = []  # compiled on first use, then kept
_settings: dict = {"loops": None, "onednn": True}  # loops None: not chosen yet (scripted if it compiles)
_onednn_works: dict[str, bool] = {}


def _plain_loops() -> _Loops:
    if not _eager:
        _eager.append(_Loops(scripted=False))
    return _eager[0]


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
        _settings["loops"] = _plain_loops()
        return False
    if not _scripted:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "torch.jit.script is deprecated"
                _scripted.append(_Loops(scripted=True))
        except Exception:  # noqa: BLE001 - any failure to compile means: keep the plain loops
            _scripted.append(_plain_loops())
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

