"""The captioner: show-tell == the numpy CS231n reference, attention, masking, decoding, overfitting."""

import itertools
import math

import numpy as np
import pytest
import torch

from rnnlab.errors import UserError
from rnnlab.generate import beam_search, greedy_decode
from rnnlab.models.captioner import (
    DECODERS,
    CaptionEncoderConfig,
    Captioner,
    CaptionerConfig,
    load_pretrained_encoder,
    reorder_caption_state,
)
from rnnlab.models.cnn import CNNConfig, CNNEncoder
from rnnlab.reference import CaptioningRNN
from rnnlab.reference.torch_layout import course_gradients_from_torch, torch_from_course

WORDS = ["<NULL>", "<START>", "<END>", "<UNK>", "a", "cat", "dog", "sat"]
NULL, START, END = 0, 1, 2


def features_model(decoder, cell="lstm", L=4, D=6, V=8, **settings) -> Captioner:
    """A captioner on (L, D) features; `settings` go into the decoder's section."""
    config = CaptionerConfig(
        decoder=decoder,
        cell=cell,
        embedding=8,
        hidden=16,
        attention_size=8,
        dropout=0.0,
        encoder=CaptionEncoderConfig(kind="features"),
        **{DECODERS[decoder].Config.section: settings},
    )
    return Captioner(V, config, (D,) if decoder == "show-tell" and L == 1 else (L, D))


def captions_batch():
    """(3, 6): <START> words <END>, padded with <NULL>, of different lengths."""
    return torch.tensor(
        [[START, 4, 5, 7, END, NULL], [START, 6, END, NULL, NULL, NULL], [START, 4, 6, 7, 5, END]]
    )


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_show_tell_matches_the_numpy_captioning_rnn(cell):
    torch.manual_seed(0)
    N, D, W, H = 3, 5, 4, 6
    reference = CaptioningRNN(
        {w: i for i, w in enumerate(WORDS)},
        input_dim=D,
        wordvec_dim=W,
        hidden_dim=H,
        cell_type=cell,
        dtype=np.float64,
        seed=3,
    )
    config = CaptionerConfig(
        decoder="show-tell",
        cell=cell,
        embedding=W,
        hidden=H,
        dropout=0.0,
        encoder=CaptionEncoderConfig(kind="features"),
    )
    model = Captioner(len(WORDS), config, (D,)).double()
    decoder = model.decoder
    p = reference.params
    name = "rnn-tanh" if cell == "rnn" else "lstm"
    with torch.no_grad():
        decoder.embedding.weight.copy_(torch.from_numpy(p["W_embed"]))
        decoder.project.weight.copy_(torch.from_numpy(p["W_proj"].T))
        decoder.project.bias.copy_(torch.from_numpy(p["b_proj"]))
        for key, value in torch_from_course(name, p["Wx"], p["Wh"], p["b"]).items():
            getattr(decoder.cell, key).copy_(torch.from_numpy(value))
        decoder.out.weight.copy_(torch.from_numpy(p["W_vocab"].T))
        decoder.out.bias.copy_(torch.from_numpy(p["b_vocab"]))
    features = np.random.default_rng(1).standard_normal((N, D))
    captions = captions_batch()

    expected_loss, expected_grads = reference.loss(features, captions.numpy())
    nll, mask, _ = model.token_nll(model.encode(torch.from_numpy(features)), captions)
    loss = nll.sum() / N  # the reference sums over time and averages over the batch
    loss.backward()
    assert loss.item() == pytest.approx(expected_loss, rel=1e-10)
    grads = {
        "W_embed": decoder.embedding.weight.grad,
        "W_proj": decoder.project.weight.grad.T,
        "b_proj": decoder.project.bias.grad,
        "W_vocab": decoder.out.weight.grad.T,
        "b_vocab": decoder.out.bias.grad,
    }
    cell_grads = course_gradients_from_torch(
        name,
        *(getattr(decoder.cell, k).grad.numpy() for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")),
    )
    for key, value in {**{k: v.numpy() for k, v in grads.items()}, **cell_grads}.items():
        np.testing.assert_allclose(value, expected_grads[key], rtol=1e-8, atol=1e-12, err_msg=key)

    expected = reference.sample(features, max_length=5)
    state = model.init_state(model.encode(torch.from_numpy(features)))
    found = greedy_decode(model.step, state, torch.full((N,), START), 5, eos_id=END)
    ours = [tokens + [NULL] * (5 - len(tokens)) for ((tokens, _),) in found]
    np.testing.assert_array_equal(np.array(ours), expected)


@pytest.mark.parametrize("decoder", ["soft", "hard", "where", "look"])
def test_attention_weights_sum_to_one(decoder):
    torch.manual_seed(1)
    model = features_model(decoder, cell="gru", L=5)
    grid = torch.randn(3, 5, 6)
    for training in (True, False):
        model.train(training)
        out = model(grid, captions_batch()[:, :-1])
        assert out.weights.shape == (3, 5, 5)
        torch.testing.assert_close(out.weights.sum(-1), torch.ones(3, 5))
        assert (out.weights >= 0).all()


@pytest.mark.parametrize("decoder", ["soft", "show-tell"])
def test_padding_is_masked(decoder):
    torch.manual_seed(2)
    settings = {"doubly_stochastic": 0.5} if decoder == "soft" else {}
    model = features_model(decoder, L=4, **settings).eval()
    grid = torch.randn(3, 4, 6)
    captions = captions_batch()
    nll, mask, _ = model.token_nll(grid, captions)
    assert mask.tolist()[1] == [True, True, False, False, False]
    assert (nll[~mask] == 0).all()
    for row in range(3):  # each caption alone, without padding, gives the same word losses
        length = int((captions[row] != NULL).sum())
        alone, _, _ = model.token_nll(grid[row : row + 1], captions[row : row + 1, :length])
        torch.testing.assert_close(alone[0], nll[row, : length - 1])
    # the loss (with the doubly stochastic term) is a per-word mean over the real words only
    total, words = 0.0, 0
    for row in range(3):
        length = int((captions[row] != NULL).sum())
        loss, _ = model.loss(grid[row : row + 1], captions[row : row + 1, :length])
        total, words = total + loss.item() * (length - 1), words + length - 1
    assert model.loss(grid, captions)[0].item() == pytest.approx(total / words, rel=1e-5)


def sequence_log_prob(model, grid, tokens):
    """log p(tokens | image) by stepping the model (tokens end with <END> or stop at the length limit)."""
    state = model.init_state(grid)
    previous, total = torch.tensor([START]), 0.0
    for token in tokens:
        logits, state = model.step(previous, state)
        total += torch.log_softmax(logits.double(), -1)[0, token].item()
        previous = torch.tensor([token])
    return total


def test_beam_search_finds_the_brute_force_optimum():
    torch.manual_seed(3)
    V, length = 5, 3
    model = features_model("soft", L=3, V=V).eval()
    with torch.no_grad():
        # peaked distributions, so greedy and the optimum differ more often
        model.decoder.out.weight.mul_(4.0)
    grids = torch.randn(4, 3, 6)
    found = beam_search(
        model.step,
        model.init_state(grids),
        torch.full((4,), START),
        V**2,
        length,
        eos_id=END,
        reorder_state=reorder_caption_state,
    )
    greedy = greedy_decode(model.step, model.init_state(grids), torch.full((4,), START), length, eos_id=END)
    beam1 = beam_search(
        model.step,
        model.init_state(grids),
        torch.full((4,), START),
        1,
        length,
        eos_id=END,
        reorder_state=reorder_caption_state,
    )
    for b in range(4):
        grid = grids[b : b + 1]
        candidates = [
            list(seq)
            for n in range(1, length + 1)
            for seq in itertools.product(range(V), repeat=n)
            if (END in seq and seq.index(END) == n - 1) or (END not in seq and n == length)
        ]
        scores = {tuple(c): sequence_log_prob(model, grid, c) for c in candidates}
        best = max(scores, key=scores.get)
        tokens, score = found[b][0]
        assert tuple(tokens) == best
        assert score == pytest.approx(scores[best], abs=1e-4)
        assert beam1[b][0][0] == greedy[b][0][0]
        assert greedy[b][0][1] <= scores[best] + 1e-6


def test_reorder_state_picks_rows():
    model = features_model("soft", L=3)
    state = model.init_state(torch.randn(2, 3, 6))
    picked = reorder_caption_state(state, torch.tensor([1, 1, 0]))
    assert picked.annotations.shape == (3, 3, 6) and picked.hidden[0].shape == (3, 16)
    torch.testing.assert_close(picked.keys[0], state.keys[1])
    assert (
        reorder_caption_state(
            features_model("show-tell", L=1).init_state(torch.randn(2, 1, 6)), torch.tensor([0])
        ).annotations
        is None
    )


@pytest.mark.parametrize(
    "variant",
    [
        "soft",
        "hard",
        "show-tell",
        "where",
        "look",
        "soft:context-outside-cell",
        "soft:coordinates",
        "soft:learned-h0",
        "show-tell:flatten",
        "soft:where-only",
    ],
)
def test_overfits_a_tiny_caption_set(variant):
    torch.manual_seed(4)
    variants = {
        "context-outside-cell": {"context_in_cell": False},
        "coordinates": {"coordinates": True},
        "learned-h0": {"image_h0": False},
        "flatten": {"image_vector": "flatten"},
        "where-only": {"context_in_cell": False, "where_in_cell": True, "image_h0": False},
    }
    decoder, _, name = variant.partition(":")
    settings = variants.get(name, {})
    if decoder not in ("show-tell", "hard"):
        settings["doubly_stochastic"] = 0.0
    model = features_model(decoder, L=4, **settings)
    grid = torch.randn(3, 4, 6)
    captions = captions_batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss, _ = model.loss(grid, captions)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    nll, mask, _ = model.token_nll(grid, captions)
    assert nll.sum().item() / mask.sum().item() < 0.05
    state = model.init_state(grid)
    found = greedy_decode(model.step, state, torch.full((3,), START), 6, eos_id=END)
    for row, ((tokens, _),) in enumerate(found):
        assert tokens == [t for t in captions[row, 1:].tolist() if t != NULL]


def test_context_outside_the_cell_reaches_each_word_only_through_its_own_step():
    # model.context_in_cell=false: the cell reads the word only, so the annotations reach word t
    # through h_0 (their mean) and z_t alone, never through what earlier steps saw.
    torch.manual_seed(6)
    model = features_model("soft", L=4, context_in_cell=False).eval()
    assert model.decoder.cell.input_size == 8  # E, not E + D
    grid = torch.randn(2, 4, 6)
    captions = captions_batch()[:2, :-1]
    out = model(grid, captions)
    state = model.init_state(grid)
    for t in range(captions.shape[1]):  # z_t's only path: the deep output layer of its own step
        logits, next_state, alpha, *_ = model.step_with_attention(captions[:, t], state)
        hidden = model.decoder.cell(model.decoder.embedding(captions[:, t]), state.hidden)
        assert torch.allclose(next_state.hidden[0], hidden[0]) and torch.allclose(alpha, out.weights[:, t])
        state = next_state


def test_coordinates_tell_the_context_where_the_model_looked():
    # model.coordinates=true: each annotation ends with its cell's fixed centre (x, y) in [-1, 1]
    torch.manual_seed(7)
    model = features_model("soft", L=4, coordinates=True, gate=False).eval()
    assert model.grid_shape == (2, 2) and model.decoder.cell.input_size == 8 + 6 + 2
    state = model.init_state(torch.randn(2, 4, 6))
    corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])  # row-major (x, y)
    assert torch.equal(state.annotations[:, :, -2:], corners.expand(2, -1, -1))
    context, alpha = model.decoder.attention(state.hidden[0], state.annotations, state.annotations, None)
    assert torch.allclose(context[:, -2:], alpha @ corners)  # the centre of the attention
    assert "coordinates" not in model.state_dict()  # fixed, so not saved


def test_hard_attention_learns_where_to_look_only_through_reinforce():
    torch.manual_seed(5)
    grid = torch.randn(3, 4, 6)

    def attention_grad(**settings):
        model = features_model("hard", L=4, expected_prob=0.0, **settings).train()
        loss, parts = model.loss(grid, captions_batch())
        loss.backward()
        return model.decoder.attention.W_k.weight.grad, parts, model

    without, _, _ = attention_grad(reinforce=0.0, entropy=0.0)
    assert without is None or float(without.abs().sum()) == 0.0  # a sample is not differentiable
    with_reinforce, parts, model = attention_grad()
    assert float(with_reinforce.abs().sum()) > 0
    assert {"nll", "reinforce", "entropy", "baseline"} <= set(parts)
    assert bool(model.decoder.baseline_ready) and model.decoder.reward_baseline.item() == pytest.approx(
        -parts["nll"], abs=1.5
    )


def test_gradcheck_cases_pass():
    from rnnlab.diagnostics.gradcheck import REGISTRY, check_case

    names = [n for n in REGISTRY if n.startswith("captioner/")]
    assert len(names) == 3
    for name in names:
        result = check_case(name, REGISTRY[name])
        assert result.passed, (name, result.error, result.max_rel_error)
        assert result.max_rel_error < 1e-6


def test_pretrained_encoder_reads_other_image_sizes(tmp_path):
    torch.manual_seed(6)
    encoder = CNNEncoder(CNNConfig(channels=[4, 8]), (1, 12, 12))
    encoder.fit_normalization(torch.rand(10, 1, 12, 12))
    encoder.save(tmp_path / "enc")
    resized = load_pretrained_encoder(str(tmp_path / "enc"), (1, 20, 20))
    assert resized.grid_shape == (5, 5)
    torch.testing.assert_close(resized.blocks[0].layers[0].weight, encoder.blocks[0].layers[0].weight)
    assert resized.input.mean.shape == (1, 20, 20)
    assert resized.input.mean[0, 0, 0].item() == pytest.approx(encoder.input.mean[0, 0, 0].item())
    with pytest.raises(Exception, match="reads 1-channel images"):
        load_pretrained_encoder(str(tmp_path / "enc"), (3, 20, 20))
    from rnnlab.models.features import InputPipeline

    per_pixel = CNNEncoder(
        CNNConfig(channels=[4]), (1, 6, 6), InputPipeline((1, 6, 6), center="image", flatten=False)
    )
    per_pixel.fit_normalization(torch.rand(10, 1, 6, 6))
    per_pixel.save(tmp_path / "pixel")
    with pytest.raises(Exception, match="normalises each pixel"):
        load_pretrained_encoder(str(tmp_path / "pixel"), (1, 8, 8))


def test_config_errors():
    from rnnlab.errors import UserError

    with pytest.raises(UserError, match="model.decoder must be one of show-tell, soft, hard, where, look"):
        CaptionerConfig(decoder="glance")
    with pytest.raises(UserError, match="model.cell"):
        CaptionerConfig(cell="transformer")
    with pytest.raises(UserError, match="attention needs a grid"):
        features_model("soft", L=1)
    with pytest.raises(UserError, match="model.show_tell.image_vector must be mean or flatten"):
        CaptionerConfig(show_tell={"image_vector": "max"})
    show_tell = features_model("show-tell", L=1)
    assert math.isfinite(show_tell.loss(torch.randn(3, 1, 6), captions_batch())[0].item())


def test_a_learned_h0_is_the_same_for_every_image():
    # model.image_h0=false: the image reaches the decoder only through attention
    torch.manual_seed(8)
    model = features_model("soft", L=4, image_h0=False).eval()
    h, c = model.init_state(torch.randn(3, 4, 6)).hidden
    assert torch.equal(h, h[:1].expand(3, -1)) and torch.equal(c, c[:1].expand(3, -1))
    assert torch.allclose(h[0], torch.tanh(model.decoder.init_h.bias))
    h_image, _ = features_model("soft", L=4).eval().init_state(torch.randn(3, 4, 6)).hidden
    assert not torch.equal(h_image, h_image[:1].expand(3, -1))


def test_a_flattened_image_vector_keeps_where_things_are():
    # show-tell, image_vector=flatten: h_0 reads every location, so a grid and its locations
    # permuted start differently (the mean of the annotations cannot tell them apart)
    torch.manual_seed(9)
    grid = torch.randn(1, 4, 6)
    permuted = grid[:, [3, 2, 1, 0]]
    for vector, differ in (("mean", False), ("flatten", True)):
        model = features_model("show-tell", L=4, image_vector=vector).eval()
        assert model.decoder.project.in_features == (24 if differ else 6)
        h0 = model.init_state(grid).hidden[0]
        assert torch.allclose(h0, model.init_state(permuted).hidden[0], atol=1e-6) != differ


def test_where_in_cell_feeds_the_centre_of_the_attention_and_nothing_else():
    # context_in_cell=false, where_in_cell=true: the cell reads the word and Σ_l α_tl (x_l, y_l)
    torch.manual_seed(10)
    model = features_model("soft", L=4, context_in_cell=False, where_in_cell=True).eval()
    assert model.decoder.cell.input_size == 8 + 2  # E + 2, no D
    corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]])
    assert torch.equal(model.decoder.centres, corners) and "decoder.centres" not in model.state_dict()
    grid, tokens = torch.randn(2, 4, 6), torch.tensor([START, 3])
    state = model.init_state(grid)
    _, next_state, alpha, *_ = model.step_with_attention(tokens, state)
    where = alpha @ corners
    expected = model.decoder.cell(torch.cat([model.decoder.embedding(tokens), where], dim=1), state.hidden)
    torch.testing.assert_close(next_state.hidden[0], expected[0])


def test_attention_entropy_adds_the_mean_entropy_of_alpha_per_word():
    # model.attention_entropy=λ_H: loss = the same loss + λ_H · mean over real words of H[α_t]
    from rnnlab.errors import UserError

    torch.manual_seed(11)
    grid, captions = torch.randn(3, 4, 6), captions_batch()
    plain = features_model("soft", L=4, doubly_stochastic=0.0).eval()
    sharp = features_model("soft", L=4, doubly_stochastic=0.0, attention_entropy=0.5).eval()
    sharp.load_state_dict(plain.state_dict())
    base, _ = plain.loss(grid, captions)
    loss, parts = sharp.loss(grid, captions)
    _, mask, out = plain.token_nll(grid, captions)
    entropy = -(out.weights * out.weights.log()).sum(2)  # (B, T)
    expected = entropy[mask].mean().detach()
    assert 0 < float(expected) <= math.log(4) + 1e-5  # at most the uniform α's
    assert parts["attention_entropy"] == pytest.approx(float(expected), rel=1e-5)
    torch.testing.assert_close(loss, base + 0.5 * expected)
    # its gradient makes the attention sharper: one step on the penalty alone lowers the entropy
    nll, mask, _ = sharp.token_nll(grid, captions)
    (loss - nll.sum() / mask.sum()).backward()
    with torch.no_grad():
        for parameter in sharp.parameters():
            if parameter.grad is not None:
                parameter -= 1.0 * parameter.grad
    assert sharp.loss(grid, captions)[1]["attention_entropy"] < parts["attention_entropy"]
    with pytest.raises(UserError, match="model.soft.attention_entropy"):
        CaptionerConfig(soft={"attention_entropy": -1.0})


def test_smooth_averages_each_annotation_over_its_neighbourhood():
    # model.smooth=3: a_l becomes the mean of the 3×3 block of grid locations around l (those inside)
    torch.manual_seed(10)
    model = features_model("soft", L=9, smooth=3, positions=False).eval()
    grid = torch.randn(2, 9, 6)
    a = model.init_state(grid).annotations  # (2, 9, 6) on a 3×3 grid
    cells = grid.reshape(2, 3, 3, 6)
    assert torch.allclose(a[:, 4], cells.mean((1, 2)), atol=1e-6)  # the middle sees all nine
    assert torch.allclose(a[:, 0], cells[:, :2, :2].mean((1, 2)), atol=1e-6)  # a corner, four
    assert torch.allclose(a[:, 1], cells[:, :2, :].mean((1, 2)), atol=1e-6)  # an edge, six
    plain = features_model("soft", L=9, positions=False).eval()
    assert torch.equal(plain.init_state(grid).annotations, grid)
    for bad in (0, 2, 1.5):
        with pytest.raises(UserError, match="model.soft.smooth must be an odd integer"):
            CaptionerConfig(soft={"smooth": bad})
