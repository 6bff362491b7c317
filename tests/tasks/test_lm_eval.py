"""`evaluate_lm` (val loss, the best checkpoint, `rnnlab eval`) against a single pass over each stream.

Carrying the hidden state across chunks makes the chunked evaluation equal to reading every stream in
one forward pass; an evaluator that dropped the state between chunks, skipped the last chunk or left
the model in training mode (dropout on) would differ. Float64 throughout, so the two sums agree to
rounding (observed |difference| below 1e-15).
"""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnlab.models.language_model import LanguageModel, LanguageModelConfig
from rnnlab.tasks.lm import evaluate_lm, load_lm
from rnnlab.train.checkpoint import load_checkpoint

V = 7


def _model(dropout=0.3, cell="lstm"):
    torch.manual_seed(0)
    model = LanguageModel(V, LanguageModelConfig(cell=cell, embedding=5, hidden=6, layers=2, dropout=dropout,
                                                 path="explicit"))
    return model.double()


def _single_pass(model, tokens, streams):
    """Mean cross-entropy of `streams` contiguous rows, each read in one forward pass from a zero state."""
    length = (len(tokens) - 1) // streams
    data = torch.as_tensor(np.array(tokens[: streams * length + 1]), dtype=torch.long)
    x, y = data[:-1].view(streams, length), data[1:].view(streams, length)
    with torch.no_grad():
        logits, _ = model.eval()(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_chunked_evaluation_equals_one_pass_per_stream(cell):
    tokens = np.random.default_rng(1).integers(0, V, size=103)
    model = _model(cell=cell).train()
    # 4 streams of 25 tokens read 5 at a time (the last chunk full) and 7 at a time (the last one short)
    for seq_len in (5, 7):
        loss = evaluate_lm(model.train(), tokens, batch_size=4, seq_len=seq_len)
        assert model.training  # put back in the mode it was in
        assert loss == pytest.approx(_single_pass(model, tokens, 4), rel=1e-12, abs=0)


def test_streams_shrink_for_a_short_text_and_max_tokens_caps_the_text():
    tokens = np.random.default_rng(2).integers(0, V, size=60)
    model = _model()
    # (60 - 1) // 20 = 2 streams fit for seq_len 20, not the 8 asked for
    assert evaluate_lm(model, tokens, 8, 20) == pytest.approx(_single_pass(model, tokens, 2), rel=1e-12)
    # max_tokens N: the first N + 1 tokens (N targets), as one stream here
    assert evaluate_lm(model, tokens, 1, 4, max_tokens=30) == pytest.approx(
        _single_pass(model, tokens[:31], 1), rel=1e-12)


def test_the_value_is_the_mean_of_the_per_token_losses_not_of_the_chunks():
    # 1 stream of 10 targets in chunks of 4, 4, 2: a mean of chunk means would weight the 2 too much
    tokens = np.random.default_rng(3).integers(0, V, size=11)
    model = _model(dropout=0.0)
    data = torch.as_tensor(tokens, dtype=torch.long)
    with torch.no_grad():
        logits, _ = model.eval()(data[None, :-1])
    per_token = F.cross_entropy(logits[0], data[1:], reduction="none")
    assert evaluate_lm(model, tokens, 1, 4) == pytest.approx(per_token.mean().item(), rel=1e-12)
    chunk_means = torch.stack([per_token[:4].mean(), per_token[4:8].mean(), per_token[8:].mean()]).mean()
    assert abs(per_token.mean() - chunk_means) > 1e-3  # the planted mistake would be visible


def test_rnnlab_eval_reports_the_single_pass_loss_of_the_best_checkpoint(tmp_path, tiny_text, cli):
    out = tmp_path / "run"
    code, _, err = cli("train", "lm", "--data", tiny_text, "--out", out, "--steps", "6", "--hidden", "8",
                       "--layers", "1", "--embedding", "4", "--batch-size", "2", "--seq-len", "8",
                       "--eval-every", "3", "--no-progress", "--threads", "1")
    assert code == 0, err
    code, stdout, err = cli("eval", out, "--json")
    assert code == 0, err
    report = json.loads(stdout)
    model, vocab, document = load_lm(out, "best")
    assert report["step"] == document["step"] == load_checkpoint(out, "best").step
    from rnnlab.data.text.corpus import TokenCorpus
    from rnnlab.tasks.lm import _run_corpus

    corpus = TokenCorpus.open(_run_corpus(document, vocab))
    val = corpus.split("val")
    # rnnlab eval reads 16 streams of 256 tokens; the validation text of the tiny corpus fits fewer
    streams = max(1, min(16, (len(val) - 1) // 256))
    expected = _single_pass(model.double(), val, streams)
    assert report["val"]["loss"] == pytest.approx(expected, rel=1e-5)  # the run is float32: ~1e-7 seen
    assert report["val"]["tokens"] == len(val)


def test_the_shortest_texts():
    model = _model()
    two = np.array([3, 5])  # one target: the smallest text there is
    assert evaluate_lm(model, two, 4, 8) == pytest.approx(_single_pass(model, two, 1), rel=1e-12)
    from rnnlab.errors import UserError

    with pytest.raises(UserError) as error:
        evaluate_lm(model, np.array([3]), 4, 8)
    assert str(error.value) == "the evaluation text has fewer than 2 tokens; there is nothing to predict."
    # 9 tokens, 8 targets: exactly 2 streams of 4 fit for seq_len 4
    nine = np.random.default_rng(4).integers(0, V, size=9)
    assert evaluate_lm(model, nine, 4, 4) == pytest.approx(_single_pass(model, nine, 2), rel=1e-12)


def test_bf16_reaches_the_autocast():
    tokens = np.random.default_rng(5).integers(0, V, size=41)
    model = _model().float()
    fp32 = evaluate_lm(model, tokens, 2, 5)
    bf16 = evaluate_lm(model, tokens, 2, 5, bf16=True)
    assert bf16 != fp32 and bf16 == pytest.approx(fp32, rel=0.05)  # autocast on: close, not equal
