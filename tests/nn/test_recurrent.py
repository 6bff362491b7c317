"""The sequence layer: explicit vs fused parity, torch.nn parity, ragged lengths, state carry."""

import itertools

import pytest
import torch

from rnnlab.nn import Recurrent, init_recurrent, reverse_padded

FUSED_CELLS = ["lstm", "gru", "rnn-tanh", "rnn-relu"]
TOL = dict(atol=1e-10, rtol=1e-10)


def _states(s):
    return s if isinstance(s, tuple) else (s,)


def _run(layer, x, state, lengths, path):
    layer.path = path
    layer.zero_grad()
    out, final = layer(x, state, lengths=lengths)
    # a loss that touches outputs and every final state, with distinct weights per position
    w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    loss = (out * w).sum() + sum((s**2).sum() for s in _states(final))
    loss.backward()
    grads = {n: p.grad.clone() for n, p in layer.named_parameters()}
    return out.detach(), [s.detach() for s in _states(final)], grads


@pytest.mark.parametrize(
    "cell, num_layers, bidirectional, ragged",
    list(itertools.product(FUSED_CELLS, [1, 2], [False, True], [False, True])),
)
def test_explicit_and_fused_paths_agree(cell, num_layers, bidirectional, ragged):
    torch.manual_seed(0)
    layer = Recurrent(cell, 3, 4, num_layers=num_layers, bidirectional=bidirectional).double()
    B, T = 3, 5
    x = torch.randn(B, T, 3, dtype=torch.double)
    K = num_layers * layer.num_directions
    h0 = torch.randn(K, B, 4, dtype=torch.double)
    state = (h0, torch.randn_like(h0)) if layer.is_lstm else h0
    lengths = torch.tensor([5, 2, 4]) if ragged else None
    out_e, fin_e, grad_e = _run(layer, x, state, lengths, "explicit")
    out_f, fin_f, grad_f = _run(layer, x, state, lengths, "fused")
    torch.testing.assert_close(out_e, out_f, **TOL)
    for a, b in zip(fin_e, fin_f):
        torch.testing.assert_close(a, b, **TOL)
    assert grad_e.keys() == grad_f.keys()
    for name in grad_e:
        torch.testing.assert_close(grad_e[name], grad_f[name], **TOL, msg=name)


@pytest.mark.parametrize("cell, reference", [("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU),
                                             ("rnn-tanh", torch.nn.RNN)])
def test_matches_torch_nn_with_copied_weights(cell, reference):
    torch.manual_seed(1)
    layer = Recurrent(cell, 3, 4, num_layers=2, bidirectional=True, path="explicit").double()
    ref = reference(3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    with torch.no_grad():
        for k, c in enumerate(layer.cells):
            suffix = f"_l{k // 2}" + ("_reverse" if k % 2 else "")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ref, name + suffix).copy_(getattr(c, name))
    x = torch.randn(2, 6, 3, dtype=torch.double)
    out, final = layer(x)
    out_ref, final_ref = ref(x)
    torch.testing.assert_close(out, out_ref, **TOL)
    for a, b in zip(_states(final), _states(final_ref)):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("cell", ["lstm", "gru", "gru-cho", "lstm-peephole", "rnn-relu"])
@pytest.mark.parametrize("path", ["explicit", "auto"])
def test_padding_never_changes_results(cell, path):
    """A sequence alone and the same sequence in a padded batch give the same outputs and state."""
    torch.manual_seed(2)
    layer = Recurrent(cell, 3, 4, num_layers=2, bidirectional=True, path=path).double().eval()
    short = torch.randn(1, 3, 3, dtype=torch.double)
    long_ = torch.randn(1, 6, 3, dtype=torch.double)
    padded = torch.cat([torch.cat([short, torch.full((1, 3, 3), 99.0, dtype=torch.double)], 1), long_])
    out, final = layer(padded, lengths=torch.tensor([3, 6]))
    out_alone, final_alone = layer(short)
    torch.testing.assert_close(out[:1, :3], out_alone, **TOL)
    assert torch.all(out[0, 3:] == 0), "outputs at padded steps must be zero"
    for a, b in zip(_states(final), _states(final_alone)):
        torch.testing.assert_close(a[:, :1], b, **TOL)


def test_mask_equals_lengths():
    torch.manual_seed(3)
    layer = Recurrent("gru", 3, 4).double()
    x = torch.randn(2, 5, 3, dtype=torch.double)
    lengths = torch.tensor([5, 3])
    mask = torch.arange(5).unsqueeze(0) < lengths.unsqueeze(1)
    torch.testing.assert_close(layer(x, lengths=lengths)[0], layer(x, mask=mask)[0])


@pytest.mark.parametrize("cell", ["lstm", "gru-cho", "rnn-tanh"])
@pytest.mark.parametrize("path", ["explicit", "auto"])
def test_state_carry_across_chunks(cell, path):
    """Running T steps at once equals running two chunks with the state carried between them."""
    torch.manual_seed(4)
    layer = Recurrent(cell, 3, 4, num_layers=2, path=path).double()
    x = torch.randn(2, 8, 3, dtype=torch.double)
    whole, final_whole = layer(x)
    first, mid = layer(x[:, :4])
    second, final_chunks = layer(x[:, 4:], mid)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, **TOL)
    for a, b in zip(_states(final_chunks), _states(final_whole)):
        torch.testing.assert_close(a, b, **TOL)
    # and a reset (no state passed) really starts over
    fresh, _ = layer(x[:, 4:])
    assert not torch.allclose(fresh, second)


def test_backward_direction_reads_each_sequence_reversed():
    torch.manual_seed(5)
    layer = Recurrent("lstm", 3, 4, bidirectional=True, path="explicit").double()
    forward_only = Recurrent("lstm", 3, 4, path="explicit").double()
    forward_only.cells[0].load_state_dict(layer.cells[1].state_dict())
    x = torch.randn(2, 5, 3, dtype=torch.double)
    lengths = torch.tensor([5, 3])
    out, _ = layer(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        seq = x[b : b + 1, :n].flip(1)
        expected, _ = forward_only(seq)
        torch.testing.assert_close(out[b : b + 1, :n, 4:], expected.flip(1), **TOL)


def test_reverse_padded():
    x = torch.arange(10.0).view(2, 5)
    got = reverse_padded(x.unsqueeze(2), torch.tensor([5, 3])).squeeze(2)
    assert got.tolist() == [[4, 3, 2, 1, 0], [7, 6, 5, 8, 9]]


@pytest.mark.parametrize("cell", ["lstm", "gru-cho", "lstm-peephole"])
def test_layer_gradcheck(cell):
    torch.manual_seed(6)
    layer = Recurrent(cell, 2, 2, num_layers=2, bidirectional=True, path="explicit").double()
    x = torch.randn(2, 3, 2, dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([3, 2])
    assert torch.autograd.gradcheck(lambda x: layer(x, lengths=lengths)[0], (x,), eps=1e-6, atol=1e-7)


def test_fused_path_refused_for_cells_without_kernel():
    layer = Recurrent("gru-cho", 3, 4, path="fused")
    with pytest.raises(ValueError, match="no fused kernel"):
        layer(torch.randn(1, 2, 3))
    assert Recurrent("gru-cho", 3, 4).resolved_path() == "explicit"
    assert Recurrent("lstm", 3, 4).resolved_path() == "fused"


def test_init_follows_the_course():
    torch.manual_seed(7)
    layer = Recurrent("lstm", 6, 8, num_layers=2)
    init_recurrent(layer, forget_bias=1.0)
    cell = layer.cells[0]
    for block in cell.weight_hh.chunk(4):
        torch.testing.assert_close(block @ block.T, torch.eye(8), atol=1e-5, rtol=0)
    b = (cell.bias_ih + cell.bias_hh).detach()
    assert torch.all(b[8:16] == 1) and torch.all(b[:8] == 0) and torch.all(b[16:] == 0)
    bound = (6 / (6 + 8)) ** 0.5  # Xavier uniform limit per gate block
    assert cell.weight_ih.abs().max() <= bound


def test_bad_arguments():
    with pytest.raises(ValueError):
        Recurrent("lstm", 3, 4, num_layers=0)
    with pytest.raises(ValueError):
        Recurrent("lstm", 3, 4, dropout=1.0)
    layer = Recurrent("lstm", 3, 4)
    with pytest.raises(ValueError, match="expected input"):
        layer(torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match="lengths"):
        layer(torch.randn(2, 5, 3), lengths=torch.tensor([6, 1]))
