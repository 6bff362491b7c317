"""Attention modules: masks zero the padded positions, padding never changes the context, numerics."""

import numpy as np
import pytest
import torch

from rnnlab.nn.attention import ATTENTION_KINDS, AttentionPooling, make_attention, masked_softmax
from rnnlab.reference.attention import additive_attention_forward, dot_attention_forward


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_mask_zeroes_padded_positions_and_padding_does_not_change_the_context(kind):
    torch.manual_seed(0)
    B, L, H = 3, 6, 8
    attention = make_attention(kind, H, H, 5)
    query, keys = torch.randn(B, H), torch.randn(B, L, H)
    values = torch.randn(B, L, 4)
    lengths = torch.tensor([6, 3, 1])
    mask = torch.arange(L)[None, :] < lengths[:, None]
    context, weights = attention(query, keys, values, mask)
    assert context.shape == (B, 4) and weights.shape == (B, L)
    assert torch.all(weights[~mask] == 0.0)  # exactly zero, not merely small
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(B))
    for b in range(B):  # the same row alone, without its padding
        n = int(lengths[b])
        alone, alone_weights = attention(query[b : b + 1], keys[b : b + 1, :n], values[b : b + 1, :n])
        torch.testing.assert_close(alone[0], context[b], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(alone_weights[0], weights[b, :n], rtol=1e-5, atol=1e-6)
    # Garbage in the padded positions changes nothing.
    noisy_keys = keys.masked_fill(~mask[:, :, None], 1e3)
    noisy_values = values.masked_fill(~mask[:, :, None], -1e3)
    noisy, _ = attention(query, noisy_keys, noisy_values, mask)
    torch.testing.assert_close(noisy, context)


def test_projected_keys_give_the_same_result():
    torch.manual_seed(1)
    attention = make_attention("additive", 6, 7, 5)
    query, keys = torch.randn(2, 6), torch.randn(2, 4, 7)
    direct = attention(query, keys, keys)
    hoisted = attention(query, keys, keys, projected_keys=attention.project_keys(keys))
    torch.testing.assert_close(direct, hoisted)


def test_additive_and_dot_match_the_numpy_reference():
    torch.manual_seed(2)
    N, L, D, H, K = 2, 5, 6, 4, 3
    additive = make_attention("additive", H, D, K).double()
    h, A = torch.randn(N, H, dtype=torch.float64), torch.randn(N, L, D, dtype=torch.float64)
    z, alpha = additive(h, A, A)
    z_ref, alpha_ref, _ = additive_attention_forward(
        h.numpy(),
        A.numpy(),
        additive.W_q.weight.detach().T.numpy(),
        additive.W_k.weight.detach().T.numpy(),
        additive.W_q.bias.detach().numpy(),
        additive.v.weight.detach()[0].numpy(),
    )
    np.testing.assert_allclose(z.detach().numpy(), z_ref, rtol=1e-10)
    np.testing.assert_allclose(alpha.detach().numpy(), alpha_ref, rtol=1e-10)
    dot = make_attention("dot", D, D)
    q = torch.randn(N, D, dtype=torch.float64)
    z, alpha = dot(q, A, A)
    z_ref, alpha_ref, _ = dot_attention_forward(q.numpy(), A.numpy())
    np.testing.assert_allclose(z.numpy(), z_ref, rtol=1e-10)


@pytest.mark.parametrize("kind", ["additive", "general"])
def test_gradcheck(kind):
    torch.manual_seed(3)
    attention = make_attention(kind, 3, 4, 2).double()
    query = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    assert torch.autograd.gradcheck(lambda q, k: attention(q, k, k, mask)[0], (query, keys))


def test_dot_attention_refuses_mismatched_sizes_and_unknown_kinds():
    with pytest.raises(ValueError, match="query's size"):
        make_attention("dot", 4, 5)
    with pytest.raises(ValueError, match="unknown attention"):
        make_attention("cosine", 4, 4)


def test_masked_softmax_of_an_all_padded_row_is_zero_not_nan():
    weights = masked_softmax(torch.randn(2, 3), torch.tensor([[True, False, False], [False, False, False]]))
    assert torch.equal(weights[1], torch.zeros(3)) and weights[0, 0] == 1.0


def test_attention_pooling_weights_sum_to_one_over_valid_steps():
    pooling = AttentionPooling(6, 4)
    sequence = torch.randn(2, 5, 6)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    pooled, weights = pooling(sequence, mask)
    assert pooled.shape == (2, 6) and torch.all(weights[0, 2:] == 0)
    torch.testing.assert_close(weights.sum(1), torch.ones(2))
