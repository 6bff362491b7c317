"""Recurrent cells, temporal layers and attention of rnnlab.reference against finite differences.

Each case builds small float64 inputs, runs the forward and the hand-written backward, and compares
every gradient with centred differences of L = Σ out ⊙ dout (h = 1e-6, extended precision through
`gradient_errors`): largest elementwise relative error below 1e-7.
"""

import numpy as np
import pytest

from rnnlab.reference import (
    additive_attention_backward,
    additive_attention_forward,
    dot_attention_backward,
    dot_attention_forward,
    gradient_errors,
    gru_backward,
    gru_cho_backward,
    gru_cho_forward,
    gru_cho_step_backward,
    gru_cho_step_forward,
    gru_forward,
    gru_step_backward,
    gru_step_forward,
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
    rel_error,
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)

TOLERANCE = 1e-7
N, T, D, H, L, K, V = 3, 4, 5, 6, 7, 4, 8  # batch, time, input, hidden, locations, attention, vocab


def normal(rng, *shape, scale=1.0):
    return scale * rng.standard_normal(shape)


# Each case returns (loss(**inputs) -> scalar, inputs, analytic gradients by the same names).


def case_rnn_step(rng):
    inputs = dict(
        x=normal(rng, N, D),
        prev_h=normal(rng, N, H),
        Wx=normal(rng, D, H, scale=0.4),
        Wh=normal(rng, H, H, scale=0.4),
        b=normal(rng, H),
    )
    dnext_h = normal(rng, N, H)
    _, cache = rnn_step_forward(**inputs)
    grads = dict(zip(inputs, rnn_step_backward(dnext_h, cache)))
    return lambda **a: np.sum(rnn_step_forward(**a)[0] * dnext_h), inputs, grads


def case_rnn_sequence(rng):
    inputs = dict(
        x=normal(rng, N, T, D),
        h0=normal(rng, N, H),
        Wx=normal(rng, D, H, scale=0.4),
        Wh=normal(rng, H, H, scale=0.4),
        b=normal(rng, H),
    )
    dh = normal(rng, N, T, H)
    _, cache = rnn_forward(**inputs)
    grads = dict(zip(inputs, rnn_backward(dh, cache)))
    return lambda **a: np.sum(rnn_forward(**a)[0] * dh), inputs, grads


def case_lstm_step(rng):
    inputs = dict(
        x=normal(rng, N, D),
        prev_h=normal(rng, N, H),
        prev_c=normal(rng, N, H),
        Wx=normal(rng, D, 4 * H, scale=0.4),
        Wh=normal(rng, H, 4 * H, scale=0.4),
        b=normal(rng, 4 * H),
    )
    dnext_h, dnext_c = normal(rng, N, H), normal(rng, N, H)
    _, _, cache = lstm_step_forward(**inputs)
    grads = dict(zip(inputs, lstm_step_backward(dnext_h, dnext_c, cache)))

    def loss(**a):
        next_h, next_c, _ = lstm_step_forward(**a)
        return np.sum(next_h * dnext_h) + np.sum(next_c * dnext_c)

    return loss, inputs, grads


def case_lstm_sequence(rng):
    inputs = dict(
        x=normal(rng, N, T, D),
        h0=normal(rng, N, H),
        Wx=normal(rng, D, 4 * H, scale=0.4),
        Wh=normal(rng, H, 4 * H, scale=0.4),
        b=normal(rng, 4 * H),
    )
    dh = normal(rng, N, T, H)
    _, cache = lstm_forward(**inputs)
    grads = dict(zip(inputs, lstm_backward(dh, cache)))
    return lambda **a: np.sum(lstm_forward(**a)[0] * dh), inputs, grads


def gru_inputs(rng, sequence, reset_after):
    inputs = dict(
        x=normal(rng, N, T, D) if sequence else normal(rng, N, D),
        **{"h0" if sequence else "prev_h": normal(rng, N, H)},
        Wx=normal(rng, D, 3 * H, scale=0.4),
        Wh=normal(rng, H, 3 * H, scale=0.4),
        b=normal(rng, 3 * H),
    )
    if reset_after:
        inputs["b_hn"] = normal(rng, H)
    return inputs


def case_gru_step(rng):
    inputs = gru_inputs(rng, sequence=False, reset_after=True)
    dnext_h = normal(rng, N, H)
    _, cache = gru_step_forward(**inputs)
    grads = dict(zip(inputs, gru_step_backward(dnext_h, cache)))
    return lambda **a: np.sum(gru_step_forward(**a)[0] * dnext_h), inputs, grads


def case_gru_sequence(rng):
    inputs = gru_inputs(rng, sequence=True, reset_after=True)
    dh = normal(rng, N, T, H)
    _, cache = gru_forward(**inputs)
    grads = dict(zip(inputs, gru_backward(dh, cache)))
    return lambda **a: np.sum(gru_forward(**a)[0] * dh), inputs, grads


def case_gru_cho_step(rng):
    inputs = gru_inputs(rng, sequence=False, reset_after=False)
    dnext_h = normal(rng, N, H)
    _, cache = gru_cho_step_forward(**inputs)
    grads = dict(zip(inputs, gru_cho_step_backward(dnext_h, cache)))
    return lambda **a: np.sum(gru_cho_step_forward(**a)[0] * dnext_h), inputs, grads


def case_gru_cho_sequence(rng):
    inputs = gru_inputs(rng, sequence=True, reset_after=False)
    dh = normal(rng, N, T, H)
    _, cache = gru_cho_forward(**inputs)
    grads = dict(zip(inputs, gru_cho_backward(dh, cache)))
    return lambda **a: np.sum(gru_cho_forward(**a)[0] * dh), inputs, grads


def case_word_embedding(rng):
    words = np.array([[0, 3, 3, 1], [4, 0, 2, 3], [7, 7, 7, 0]])  # repeats must accumulate
    inputs = dict(W=normal(rng, V, D))
    dout = normal(rng, N, T, D)
    _, cache = word_embedding_forward(words, **inputs)
    grads = dict(W=word_embedding_backward(dout, cache))
    assert np.all(grads["W"][[5, 6]] == 0)  # words never used get no gradient
    return lambda W: np.sum(word_embedding_forward(words, W)[0] * dout), inputs, grads


def case_temporal_affine(rng):
    inputs = dict(x=normal(rng, N, T, D), w=normal(rng, D, V), b=normal(rng, V))
    dout = normal(rng, N, T, V)
    _, cache = temporal_affine_forward(**inputs)
    grads = dict(zip(inputs, temporal_affine_backward(dout, cache)))
    return lambda **a: np.sum(temporal_affine_forward(**a)[0] * dout), inputs, grads


def case_temporal_softmax_loss(rng):
    y = rng.integers(0, V, size=(N, T))
    mask = rng.random((N, T)) > 0.3
    inputs = dict(x=normal(rng, N, T, V))
    _, dx = temporal_softmax_loss(inputs["x"], y, mask)
    return lambda x: temporal_softmax_loss(x, y, mask)[0], inputs, dict(x=dx)


def case_dot_attention(rng):
    inputs = dict(h=normal(rng, N, H), A=normal(rng, N, L, H))
    dz = normal(rng, N, H)
    _, _, cache = dot_attention_forward(**inputs)
    grads = dict(zip(inputs, dot_attention_backward(dz, cache)))
    return lambda **a: np.sum(dot_attention_forward(**a)[0] * dz), inputs, grads


def case_additive_attention(rng):
    inputs = dict(
        h=normal(rng, N, H),
        A=normal(rng, N, L, D),
        W_h=normal(rng, H, K, scale=0.5),
        W_a=normal(rng, D, K, scale=0.5),
        b=normal(rng, K),
        v=normal(rng, K),
    )
    dz = normal(rng, N, D)
    _, _, cache = additive_attention_forward(**inputs)
    grads = dict(zip(inputs, additive_attention_backward(dz, cache)))
    return lambda **a: np.sum(additive_attention_forward(**a)[0] * dz), inputs, grads


CASES = [
    case_rnn_step,
    case_rnn_sequence,
    case_lstm_step,
    case_lstm_sequence,
    case_gru_step,
    case_gru_sequence,
    case_gru_cho_step,
    case_gru_cho_sequence,
    case_word_embedding,
    case_temporal_affine,
    case_temporal_softmax_loss,
    case_dot_attention,
    case_additive_attention,
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.removeprefix("case_"))
def test_backward_matches_finite_differences(case):
    rng = np.random.default_rng(CASES.index(case))
    loss, inputs, grads = case(rng)
    assert set(grads) == set(inputs), "every differentiable input must get a gradient"
    for name in grads:
        assert grads[name].shape == inputs[name].shape, name
    errors = gradient_errors(loss, inputs, grads, h=1e-6)
    print(f"[gradcheck] {case.__name__}: max rel error {max(errors.values()):.2e}")
    assert max(errors.values()) < TOLERANCE, errors


# ------------------------------------------------------------------- forward values by hand


def test_lstm_step_forward_by_hand():
    """One LSTM step against the equations written out gate by gate (course order i, f, o, g)."""
    rng = np.random.default_rng(10)
    x, h, c = normal(rng, 2, 3), normal(rng, 2, 2), normal(rng, 2, 2)
    Wx, Wh, b = normal(rng, 3, 8), normal(rng, 2, 8), normal(rng, 8)
    a = x @ Wx + h @ Wh + b
    i, f, o = (1 / (1 + np.exp(-a[:, k * 2 : (k + 1) * 2])) for k in range(3))
    g = np.tanh(a[:, 6:])
    c_next = f * c + i * g
    next_h, next_c, _ = lstm_step_forward(x, h, c, Wx, Wh, b)
    assert rel_error(next_c, c_next) < 1e-14
    assert rel_error(next_h, o * np.tanh(c_next)) < 1e-14


def test_gru_variants_differ_only_through_the_reset_gate():
    """With r = 1 (huge reset bias) and b_hn = 0, both GRU variants compute the same step."""
    rng = np.random.default_rng(11)
    x, h = normal(rng, 2, 3), normal(rng, 2, 4)
    Wx, Wh, b = normal(rng, 3, 12), normal(rng, 4, 12), normal(rng, 12)
    b[:4] = 50.0  # σ(50) = 1 to double precision
    after, _ = gru_step_forward(x, h, Wx, Wh, b, np.zeros(4))
    before, _ = gru_cho_step_forward(x, h, Wx, Wh, b)
    assert rel_error(after, before) < 1e-14
    b[:4] = 0.0  # with a real reset gate they differ
    after, _ = gru_step_forward(x, h, Wx, Wh, b, np.zeros(4))
    before, _ = gru_cho_step_forward(x, h, Wx, Wh, b)
    assert rel_error(after, before) > 1e-3


def test_temporal_softmax_loss_sums_over_time_and_masks():
    """The assignment's sanity values: loss ≈ T·log V (unmasked), scaled by the kept fraction."""
    rng = np.random.default_rng(12)
    N_, T_, V_ = 100, 1, 10
    x = 0.001 * rng.standard_normal((N_, T_, V_))
    y = rng.integers(0, V_, size=(N_, T_))
    assert abs(temporal_softmax_loss(x, y, np.ones((N_, T_), bool))[0] - np.log(V_)) < 1e-2
    x = 0.001 * rng.standard_normal((N_, 10, V_))
    y = rng.integers(0, V_, size=(N_, 10))
    assert abs(temporal_softmax_loss(x, y, np.ones((N_, 10), bool))[0] - 10 * np.log(V_)) < 0.1
    mask = rng.random((N_, 10)) < 0.5
    loss, dx = temporal_softmax_loss(x, y, mask)
    assert abs(loss - mask.sum() / N_ * np.log(V_)) < 0.05
    assert np.all(dx[~mask] == 0)


def test_attention_weights_are_a_distribution():
    rng = np.random.default_rng(13)
    A, h = normal(rng, 2, 5, 3), normal(rng, 2, 3)
    z, alpha, _ = dot_attention_forward(h, A)
    np.testing.assert_allclose(alpha.sum(axis=1), 1)
    assert np.all(alpha > 0)
    np.testing.assert_allclose(z, np.einsum("nl,nld->nd", alpha, A))
    with pytest.raises(ValueError, match="additive"):
        dot_attention_forward(normal(rng, 2, 4), A)
