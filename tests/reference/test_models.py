"""The numpy models: CaptioningRNN and CharRNN (with the Solver).

- golden losses from the CS231n assignment-3 notebooks (RNN_Captioning.ipynb, LSTM_Captioning.ipynb);
- every gradient against centred finite differences (rel error < 1e-7, as in the other reference tests);
- loss and gradients equal a torch computation with the same weights (rel error < 1e-9, float64):
  `rnnlab.models.language_model.LanguageModel` for the character model, `rnnlab.nn.Recurrent` plus
  plain torch ops for the captioner (rnnlab has no torch captioner yet);
- each model overfits a tiny batch, and the character model learns the lecture's "hello".
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnlab.models.language_model import LanguageModel, LanguageModelConfig
from rnnlab.nn import Recurrent
from rnnlab.reference import (
    CaptioningRNN,
    CharRNN,
    CharVocabulary,
    Solver,
    course_gradients_from_torch,
    gradient_errors,
    random_windows,
    rel_error,
    torch_from_course,
)

FD_TOLERANCE = 1e-7
TORCH_TOLERANCE = 1e-9
CELL_NAMES = {"rnn": "rnn-tanh", "lstm": "lstm", "gru": "gru"}  # numpy model -> rnnlab.nn cell name
VOCAB = {"<NULL>": 0, "<START>": 1, "<END>": 2, "cat": 3, "dog": 4, "sat": 5, "ran": 6}


def loss_of_params(model, *batch):
    """loss(**params) for `gradient_errors`: the model's loss evaluated at the given parameters."""

    def loss(**params):
        saved, model.params = model.params, params
        try:
            return model.loss(*batch)[0]
        finally:
            model.params = saved

    return loss


def assert_fd_gradients(model, *batch):
    _, grads = model.loss(*batch)
    assert grads.keys() == model.params.keys()
    errors = gradient_errors(loss_of_params(model, *batch), model.params, grads, h=1e-6)
    print(f"[gradcheck] max rel error {max(errors.values()):.2e}")
    assert max(errors.values()) < FD_TOLERANCE, errors


def gate_param_grads(cell_module):
    return [getattr(cell_module, n).grad.numpy() for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def copy_cell(cell_module, cell_name, params):
    extra = {"b_hn": params["b_hn"]} if "b_hn" in params else {}
    with torch.no_grad():
        mapped = torch_from_course(cell_name, params["Wx"], params["Wh"], params["b"], **extra)
        for name, value in mapped.items():
            getattr(cell_module, name).copy_(torch.from_numpy(value))


# ------------------------------------------------------------------------------- captioning


@pytest.mark.parametrize(
    ("cell_type", "feature_range", "expected"),
    [("rnn", (-1.5, 0.3), 9.83235591003), ("lstm", (-0.5, 1.7), 9.82445935443)],
)
def test_captioning_loss_matches_the_assignment(cell_type, feature_range, expected):
    N, D, W, H, T = 10, 20, 30, 40, 13
    word_to_idx = {"<NULL>": 0, "cat": 2, "dog": 3}
    model = CaptioningRNN(word_to_idx, D, W, H, cell_type, np.float64)
    for name, value in model.params.items():
        model.params[name] = np.linspace(-1.4, 1.3, num=value.size).reshape(value.shape)
    features = np.linspace(*feature_range, num=N * D).reshape(N, D)
    captions = (np.arange(N * T) % len(word_to_idx)).reshape(N, T)
    loss, _ = model.loss(features, captions)
    assert abs(loss - expected) < 1e-10


def small_captioning_batch(rng):
    features = rng.standard_normal((2, 4))
    captions = np.array([[1, 3, 5, 2, 0], [1, 4, 6, 5, 2]])  # <START> cat sat <END> <NULL> / dog ran sat
    return features, captions


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
def test_captioning_gradients(cell_type):
    rng = np.random.default_rng(0)
    model = CaptioningRNN(
        VOCAB, input_dim=4, wordvec_dim=5, hidden_dim=6, cell_type=cell_type, dtype=np.float64
    )
    for name in model.params:  # non-zero biases and embeddings of a useful size
        model.params[name] = 0.5 * rng.standard_normal(model.params[name].shape)
    assert_fd_gradients(model, *small_captioning_batch(rng))


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
def test_captioning_matches_torch(cell_type):
    """The same model written with rnnlab.nn.Recurrent and torch ops: equal loss and gradients."""
    rng = np.random.default_rng(1)
    model = CaptioningRNN(
        VOCAB, input_dim=4, wordvec_dim=5, hidden_dim=6, cell_type=cell_type, dtype=np.float64
    )
    for name in model.params:
        model.params[name] = 0.5 * rng.standard_normal(model.params[name].shape)
    features, captions = small_captioning_batch(rng)
    loss, grads = model.loss(features, captions)

    cell_name = CELL_NAMES[cell_type]
    layer = Recurrent(cell_name, 5, 6).double()
    copy_cell(layer.cells[0], cell_name, model.params)
    p = {
        name: torch.tensor(model.params[name], requires_grad=True)
        for name in ("W_embed", "W_proj", "b_proj", "W_vocab", "b_vocab")
    }
    captions_in, captions_out = torch.from_numpy(captions[:, :-1]), torch.from_numpy(captions[:, 1:])
    h0 = torch.from_numpy(features) @ p["W_proj"] + p["b_proj"]  # (N, H)
    state = (h0[None], torch.zeros_like(h0)[None]) if cell_type == "lstm" else h0[None]
    h, _ = layer(p["W_embed"][captions_in], state)  # (N, T, H)
    scores = h @ p["W_vocab"] + p["b_vocab"]  # (N, T, V)
    mask = captions_out != VOCAB["<NULL>"]
    token_losses = F.cross_entropy(scores.transpose(1, 2), captions_out, reduction="none")  # (N, T)
    loss_t = (token_losses * mask).sum() / captions.shape[0]  # summed over time, mean over batch
    loss_t.backward()

    errors = {"loss": rel_error(loss, loss_t.item())}
    for name, tensor in p.items():
        errors[name] = rel_error(grads[name], tensor.grad.numpy())
    for name, value in course_gradients_from_torch(cell_name, *gate_param_grads(layer.cells[0])).items():
        errors[name] = rel_error(grads[name], value)
    print(f"[torch parity] captioning {cell_type}: max rel error {max(errors.values()):.2e}")
    assert max(errors.values()) < TORCH_TOLERANCE, errors


@pytest.mark.parametrize("cell_type", ["rnn", "lstm"])
def test_captioning_overfits_and_samples_greedily(cell_type):
    rng = np.random.default_rng(2)
    features, captions = small_captioning_batch(rng)
    model = CaptioningRNN(VOCAB, input_dim=4, wordvec_dim=8, hidden_dim=16, cell_type=cell_type, seed=0)
    assert model.params["Wx"].dtype == np.float32  # the assignment's default dtype
    solver = Solver(model, "adam", {"learning_rate": 5e-2})
    for _ in range(150):
        solver.step(features, captions)
    assert solver.loss_history[-1] < 0.05 < solver.loss_history[0]
    sampled = model.sample(features, max_length=5)
    # Greedy decoding reproduces the captions; after <END> the rest is <NULL>.
    np.testing.assert_array_equal(sampled, [[3, 5, 2, 0, 0], [4, 6, 5, 2, 0]])


def test_captioning_needs_special_tokens():
    with pytest.raises(ValueError, match="<NULL>"):
        CaptioningRNN({"cat": 0}, 4, 5, 6)
    model = CaptioningRNN({"<NULL>": 0, "cat": 1}, 4, 5, 6)
    with pytest.raises(ValueError, match="<START>"):
        model.sample(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="cell_type"):
        CaptioningRNN(VOCAB, 4, 5, 6, cell_type="gru")


# ---------------------------------------------------------------------------- char model


def char_batch(rng, V=5, N=2, T=4):
    return rng.integers(0, V, size=(N, T)), rng.integers(0, V, size=(N, T))


@pytest.mark.parametrize("cell_type", ["rnn", "lstm", "gru"])
def test_char_model_gradients(cell_type):
    rng = np.random.default_rng(3)
    model = CharRNN(5, wordvec_dim=4, hidden_dim=6, cell_type=cell_type, seed=0)
    for name in model.params:
        model.params[name] = 0.5 * rng.standard_normal(model.params[name].shape)
    assert_fd_gradients(model, *char_batch(rng))


@pytest.mark.parametrize("cell_type", ["rnn", "lstm", "gru"])
def test_char_model_matches_rnnlab_language_model(cell_type):
    """Same weights in rnnlab's torch LanguageModel: equal loss and gradients (float64).

    The loss is taken as F.cross_entropy of the model's float64 logits: `LanguageModel.loss` casts
    the logits to float32 first, which would limit the agreement to about 1e-7 (checked separately).
    """
    rng = np.random.default_rng(4)
    V, W, H = 5, 4, 6
    model = CharRNN(V, wordvec_dim=W, hidden_dim=H, cell_type=cell_type, seed=0)
    for name in model.params:
        model.params[name] = 0.5 * rng.standard_normal(model.params[name].shape)
    inputs, targets = char_batch(rng, V)
    loss, grads = model.loss(inputs, targets)

    cell_name = CELL_NAMES[cell_type]
    lm = LanguageModel(V, LanguageModelConfig(cell=cell_name, embedding=W, hidden=H, layers=1)).double()
    copy_cell(lm.rnn.cells[0], cell_name, model.params)
    with torch.no_grad():
        lm.embedding.weight.copy_(torch.from_numpy(model.params["W_embed"]))
        lm.decoder.weight.copy_(torch.from_numpy(model.params["W_vocab"].T))  # Linear stores (V, H)
        lm.decoder.bias.copy_(torch.from_numpy(model.params["b_vocab"]))
    logits, _ = lm(torch.from_numpy(inputs))  # (N, T, V)
    targets_t = torch.from_numpy(targets)
    loss_t = F.cross_entropy(logits.reshape(-1, V), targets_t.reshape(-1))  # mean over N·T, float64
    loss_t.backward()

    errors = {
        "loss": rel_error(loss, loss_t.item()),
        "W_embed": rel_error(grads["W_embed"], lm.embedding.weight.grad.numpy()),
        "W_vocab": rel_error(grads["W_vocab"], lm.decoder.weight.grad.numpy().T),
        "b_vocab": rel_error(grads["b_vocab"], lm.decoder.bias.grad.numpy()),
    }
    for name, value in course_gradients_from_torch(cell_name, *gate_param_grads(lm.rnn.cells[0])).items():
        errors[name] = rel_error(grads[name], value)
    print(f"[torch parity] char model {cell_type}: max rel error {max(errors.values()):.2e}")
    assert errors.keys() - {"loss"} == grads.keys()  # every parameter compared
    assert max(errors.values()) < TORCH_TOLERANCE, errors
    assert abs(lm.loss(logits, targets_t).item() - loss) < 1e-6  # its float32 loss, to float32 precision


def test_char_model_learns_hello():
    """The lecture's example: vocabulary [e, h, l, o], training sequence "hello", no torch."""
    vocab = CharVocabulary.from_text("hello")
    assert vocab.chars == ("e", "h", "l", "o")
    ids = vocab.encode("hello")[None]  # (1, 5)
    inputs, targets = ids[:, :-1], ids[:, 1:]  # read "hell", predict "ello"
    model = CharRNN(len(vocab), wordvec_dim=4, hidden_dim=8, seed=0)
    before = model.scores(inputs)[0].argmax(axis=1)
    solver = Solver(model, "adam", {"learning_rate": 3e-2})
    losses = solver.train(iter(lambda: (inputs, targets), None), num_steps=150)
    assert losses[0] > 1.0  # about ln 4 ≈ 1.39 at initialisation
    assert losses[-1] < 0.02
    after = model.scores(inputs)[0].argmax(axis=1)
    assert vocab.decode(after) == "ello" != vocab.decode(before)
    # "l" is followed by "l" once and by "o" once: only the hidden state tells them apart.
    assert vocab.decode(model.sample(vocab.encode("h"), length=5, temperature=0)) == "hello"


def test_char_model_trains_on_a_text_with_random_windows():
    text = "abcabdabcabd" * 8
    vocab = CharVocabulary.from_text(text)
    batches = random_windows(vocab.encode(text), seq_length=8, batch_size=4, rng=np.random.default_rng(0))
    inputs, targets = next(batches)
    assert inputs.shape == targets.shape == (4, 8)
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])  # targets are one step ahead
    model = CharRNN(len(vocab), wordvec_dim=4, hidden_dim=16, cell_type="lstm", seed=0)
    solver = Solver(model, "rmsprop", {"learning_rate": 1e-2}, clip_norm=5.0)
    losses = solver.train(batches, num_steps=150)
    # After "ab" the next character is c or d at random (ln 2 / 3 per character is the floor).
    assert np.mean(losses[-10:]) < 0.45 < np.mean(losses[:5])


def test_sampling_and_vocabulary_details():
    vocab = CharVocabulary.from_text("hello")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode("help")
    assert vocab.decode(vocab.encode("hole")) == "hole"
    model = CharRNN(len(vocab), seed=0)
    rng = np.random.default_rng(0)
    sampled = model.sample([1, 0], length=20, temperature=1.0, rng=rng)
    assert len(sampled) == 20 and sampled[:2] == [1, 0] and set(sampled) <= set(range(4))
    assert model.sample([1, 0, 2], length=2) == [1, 0, 2]  # a prefix longer than `length` is kept
    greedy = model.sample([1], length=10, temperature=0)
    assert greedy == model.sample([1], length=10, temperature=0)  # argmax is deterministic
    with pytest.raises(ValueError, match="prefix"):
        model.sample([], length=3)
    with pytest.raises(ValueError, match="update rule"):
        Solver(model, "lbfgs")
