"""The hand-written BPTT Functions: parity with the reference loop and the fused kernels, gradcheck."""

import itertools

import pytest
import torch

from rnnlab.nn import Recurrent, bptt
from rnnlab.nn.cells import LSTMCell
from rnnlab.nn.recurrent import AUTO_PATHS

CELLS = ["lstm", "lstm-peephole", "gru", "gru-cho", "rnn-tanh", "rnn-relu"]
FUSED = {"lstm", "gru", "rnn-tanh", "rnn-relu"}
TOL = dict(atol=1e-10, rtol=1e-10)  # float64 throughout


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.fixture(params=[False, True], ids=["eager", "scripted"])
def loops(request):
    """Run a test once with the plain Python loops and once with the TorchScript ones."""
    scripted = bptt.use_scripted_loops(request.param)
    if request.param and not scripted:
        pytest.skip("TorchScript is not available in this build")
    yield request.param
    bptt.use_scripted_loops(True)  # the default


def _states(s):
    return s if isinstance(s, tuple) else (s,)


def _randomize(layer):
    """Non-zero peepholes and biases, so that every term of the equations is exercised."""
    with torch.no_grad():
        for p in layer.parameters():
            p.uniform_(-0.6, 0.6)


def _run(layer, x, state, lengths, path):
    """Outputs, final states and the gradients of every parameter, the input and the initial state."""
    layer.path = path
    layer.zero_grad()
    x = x.detach().requires_grad_()
    state = tuple(s.detach().requires_grad_() for s in _states(state))
    out, final = layer(x, state if layer.is_lstm else state[0], lengths=lengths)
    # a loss that touches outputs and every final state, with distinct weights per position
    w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    loss = (out * w).sum() + sum((s**2 * (i + 1)).sum() for i, s in enumerate(_states(final)))
    loss.backward()
    grads = {n: p.grad.clone() for n, p in layer.named_parameters()}
    grads["input"] = x.grad
    for i, s in enumerate(state):
        grads[f"state{i}"] = s.grad
    return out.detach(), [s.detach() for s in _states(final)], grads


def _assert_same(a, b):
    out_a, fin_a, grad_a = a
    out_b, fin_b, grad_b = b
    torch.testing.assert_close(out_a, out_b, **TOL)
    for s_a, s_b in zip(fin_a, fin_b, strict=True):
        torch.testing.assert_close(s_a, s_b, **TOL)
    assert grad_a.keys() == grad_b.keys()
    for name in grad_a:
        torch.testing.assert_close(grad_a[name], grad_b[name], **TOL, msg=name)


@pytest.mark.parametrize(
    "cell, num_layers, bidirectional, ragged",
    list(itertools.product(CELLS, [1, 2], [False, True], [False, True])),
)
def test_explicit_matches_loop_and_fused(cell, num_layers, bidirectional, ragged):
    torch.manual_seed(0)
    layer = Recurrent(cell, 3, 4, num_layers=num_layers, bidirectional=bidirectional).double()
    _randomize(layer)
    B, T = 3, 6
    x = torch.randn(B, T, 3, dtype=torch.double)
    K = num_layers * layer.num_directions
    h0 = torch.randn(K, B, 4, dtype=torch.double)
    state = (h0, torch.randn_like(h0)) if layer.is_lstm else h0
    lengths = torch.tensor([6, 2, 4]) if ragged else None
    explicit = _run(layer, x, state, lengths, "explicit")
    _assert_same(explicit, _run(layer, x, state, lengths, "loop"))
    if cell in FUSED:
        _assert_same(explicit, _run(layer, x, state, lengths, "fused"))


@pytest.mark.parametrize("cell", CELLS)
def test_scripted_loops_give_the_same_numbers(cell, loops):
    torch.manual_seed(1)
    layer = Recurrent(cell, 3, 5, num_layers=2, bidirectional=True).double()
    _randomize(layer)
    x = torch.randn(4, 7, 3, dtype=torch.double)
    K = 4
    h0 = torch.randn(K, 4, 5, dtype=torch.double)
    state = (h0, torch.randn_like(h0)) if layer.is_lstm else h0
    lengths = torch.tensor([7, 1, 3, 7])
    _assert_same(_run(layer, x, state, lengths, "explicit"), _run(layer, x, state, lengths, "loop"))


def _function_inputs(cell, masked):
    """Tiny float64 inputs of each Function, all requiring grad, plus the Function itself."""
    torch.manual_seed(2)
    T, B, H = 3, 2, 2
    G = {"lstm": 4, "lstm-peephole": 4, "gru": 3, "gru-cho": 3}.get(cell, 1)
    r = lambda *shape: torch.randn(*shape, dtype=torch.double, requires_grad=True)
    mask = torch.tensor([[1, 1], [1, 0], [0, 0]], dtype=torch.bool).unsqueeze(2) if masked else None
    gx, h0, c0, W = r(T, B, G * H), r(B, H), r(B, H), r(G * H, H)
    if cell == "lstm":
        return bptt.LSTMSequence, (gx, h0, c0, W, mask)
    if cell == "lstm-peephole":
        return bptt.PeepholeLSTMSequence, (gx, h0, c0, W, r(H), r(H), r(H), mask)
    if cell == "gru":
        return bptt.GRUSequence, (gx, h0, W, r(G * H), mask)
    if cell == "gru-cho":
        return bptt.GRUChoSequence, (gx, h0, W, mask)
    # ReLU's kink at 0 is never hit by random inputs, so gradcheck's finite differences apply
    return bptt.RNNSequence, (gx, h0, W, cell == "rnn-relu", mask)


@pytest.mark.parametrize("cell, masked", list(itertools.product(CELLS, [False, True])))
def test_functions_pass_gradcheck(cell, masked):
    function, inputs = _function_inputs(cell, masked)
    assert torch.autograd.gradcheck(function.apply, inputs, eps=1e-6, atol=1e-7)


def test_double_backward_is_refused():
    function, inputs = _function_inputs("lstm", masked=False)
    out = function.apply(*inputs)[0]
    (grad,) = torch.autograd.grad(out.sum(), inputs[0], create_graph=True)
    with pytest.raises(RuntimeError):
        grad.sum().backward()


def test_padded_steps_keep_the_state_and_output_zero():
    torch.manual_seed(3)
    function, (gx, h0, c0, W, mask) = _function_inputs("lstm", masked=True)
    out, h, c = function.apply(gx, h0, c0, W, mask)
    assert torch.all(out[2] == 0) and torch.all(out[1, 1] == 0)
    torch.testing.assert_close(h[1], out[0, 1], **TOL)  # row 1 stopped after one step
    torch.testing.assert_close(h[0], out[1, 0], **TOL)  # row 0 after two


def test_subclassed_cell_falls_back_to_the_loop():
    class Doubled(LSTMCell):
        def recurrence(self, gx, state):
            h, c = super().recurrence(gx, state)
            return 2 * h, c

    layer = Recurrent("lstm", 3, 4, path="explicit")
    layer.cells[0] = Doubled(3, 4)
    assert not bptt.has_kernel(layer.cells[0])
    assert layer.resolved_path() == "loop"


def test_auto_follows_the_measured_rule():
    for cell in CELLS:
        layer = Recurrent(cell, 3, 4)
        expected = AUTO_PATHS.get(cell, "fused") if cell in FUSED else "explicit"
        assert layer.resolved_path() == expected, cell
        if cell in FUSED:  # off the CPU the fused kernels (cuDNN) always win
            assert layer.resolved_path(torch.device("meta")) == "fused"


@pytest.mark.parametrize("onednn, steps", [(True, 9), (True, 4), (False, 9)],
                         ids=["onednn-prepacked", "onednn-plain", "blas"])
@pytest.mark.parametrize("cell", CELLS)
def test_float32_matmul_backends(cell, onednn, steps):
    """In float32 the kernels' matmuls go through oneDNN (weights prepacked unless the sequence is
    short) or torch.mm. The reference is the same layer in float64, which the tests above tie to
    the loop."""
    torch.manual_seed(4)
    layer = Recurrent(cell, 5, 8, num_layers=2, bidirectional=True)
    _randomize(layer)
    assert bptt.PACK_MIN_STEPS > 4
    x = torch.randn(4, steps, 5, dtype=torch.double)
    h0 = torch.randn(4, 4, 8, dtype=torch.double)
    state = (h0, torch.randn_like(h0)) if layer.is_lstm else h0
    lengths = torch.tensor([steps, 3, 1, steps - 1])
    out_r, fin_r, grad_r = _run(layer.double(), x, state, lengths, "explicit")
    bptt.use_onednn(onednn)
    try:
        f32 = tuple(s.float() for s in _states(state))
        out, fin, grad = _run(layer.float(), x.float(), f32 if layer.is_lstm else f32[0], lengths, "explicit")
    finally:
        bptt.use_onednn(True)
    tol = dict(atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(out, out_r.float(), **tol)
    for a, b in zip(fin, fin_r, strict=True):
        torch.testing.assert_close(a, b.float(), **tol)
    for name in grad:
        torch.testing.assert_close(grad[name], grad_r[name].float(), **tol, msg=name)


def test_autocast_leaves_the_explicit_path_in_float32():
    """Under bf16 autocast the kernels compute in the parameters' dtype, as without autocast."""
    torch.manual_seed(5)
    layer = Recurrent("gru", 4, 6, num_layers=2, path="explicit")
    x = torch.randn(2, 5, 4)
    expected, _ = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = layer(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)
