"""The three models: padding never changes a prediction, beam 1 equals greedy, each overfits a tiny set."""

import pytest
import torch

from rnnlab.data.text_tasks import TaskVocab
from rnnlab.generate import beam_search, greedy_decode
from rnnlab.models.classifier import ClassifierConfig, SequenceClassifier
from rnnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig, reorder_decoder_state
from rnnlab.models.tagger import SequenceTagger, TaggerConfig
from rnnlab.train.config import from_dict, merge, to_dict
from rnnlab.train.sequence_tasks import (
    ClassifyRunConfig,
    ClassifyTask,
    Seq2SeqRunConfig,
    Seq2SeqTask,
    TagRunConfig,
    TagTask,
)

TAGGED_TRAIN = 19  # the training share (0.8) of the 24 sentences of make_tagged()


def ragged_batch(lengths, vocab=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = [torch.randint(4, vocab, (n,), generator=g) for n in lengths]
    padded = torch.zeros(len(rows), max(lengths), dtype=torch.long)
    for i, r in enumerate(rows):
        padded[i, : len(r)] = r
    return rows, padded, torch.tensor(lengths)


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("path", ["fused", "explicit"])
def test_classifier_padding_never_changes_a_prediction(pooling, path):
    torch.manual_seed(0)
    model = SequenceClassifier(
        20, 3, ClassifierConfig(embedding=8, hidden=6, layers=2, pooling=pooling, path=path)
    ).eval()
    rows, padded, lengths = ragged_batch([7, 3, 1, 5])
    batch_logits, batch_weights = model(padded, lengths)
    for i, row in enumerate(rows):
        alone, weights = model(row[None], torch.tensor([len(row)]))
        torch.testing.assert_close(alone[0], batch_logits[i], rtol=1e-5, atol=1e-6)
        if pooling == "attention":
            assert torch.all(batch_weights[i, len(row) :] == 0)
            torch.testing.assert_close(weights[0], batch_weights[i, : len(row)], rtol=1e-5, atol=1e-6)


def test_tagger_padding_never_changes_a_prediction():
    torch.manual_seed(0)
    model = SequenceTagger(
        20, 12, 5, TaggerConfig(embedding=8, hidden=6, char_embedding=4, char_hidden=3)
    ).eval()
    rows, padded, lengths = ragged_batch([6, 2, 4])
    g = torch.Generator().manual_seed(1)
    char_lengths = torch.zeros(3, 6, dtype=torch.long)
    chars = torch.zeros(3, 6, 5, dtype=torch.long)
    for b, n in enumerate(lengths.tolist()):
        for t in range(n):
            k = int(torch.randint(1, 6, (1,), generator=g))
            chars[b, t, :k] = torch.randint(4, 12, (k,), generator=g)
            char_lengths[b, t] = k
    batch = model(padded, lengths, chars, char_lengths)
    for b, row in enumerate(rows):
        n = len(row)
        alone = model(
            row[None],
            torch.tensor([n]),
            chars[b : b + 1, :n, : int(char_lengths[b].max())],
            char_lengths[b : b + 1, :n],
        )
        torch.testing.assert_close(alone[0], batch[b, :n], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("attention", ["additive", "dot", "general", "none"])
def test_seq2seq_padding_never_changes_a_prediction_and_beam_1_is_greedy(attention):
    torch.manual_seed(0)
    cell = "lstm" if attention == "general" else "gru"
    model = Seq2Seq(
        20,
        15,
        Seq2SeqConfig(
            cell=cell, embedding=8, hidden=6, attention=attention, attention_size=5, decoder_layers=2
        ),
    ).eval()
    rows, padded, lengths = ragged_batch([6, 2, 4, 1])
    start = torch.full((4,), TaskVocab.start_id)
    state = model.encode(padded, lengths)
    greedy = greedy_decode(model.step, state, start, 8, eos_id=TaskVocab.eos_id)
    beam1 = beam_search(
        model.step, state, start, 1, 8, eos_id=TaskVocab.eos_id, reorder_state=reorder_decoder_state
    )
    assert [h[0][0] for h in beam1] == [h[0][0] for h in greedy]
    for i, row in enumerate(rows):
        alone_state = model.encode(row[None], torch.tensor([len(row)]))
        alone = greedy_decode(model.step, alone_state, start[:1], 8, eos_id=TaskVocab.eos_id)
        assert alone[0][0][0] == greedy[i][0][0]
        assert abs(alone[0][0][1] - greedy[i][0][1]) < 1e-4
        beams = beam_search(
            model.step,
            alone_state,
            start[:1],
            3,
            8,
            eos_id=TaskVocab.eos_id,
            reorder_state=reorder_decoder_state,
        )
        batched = beam_search(
            model.step, state, start, 3, 8, eos_id=TaskVocab.eos_id, reorder_state=reorder_decoder_state
        )
        assert [t for t, _ in beams[0]] == [t for t, _ in batched[i]]
    # attention weights over padded source positions are exactly zero
    target_in = torch.randint(4, 15, (4, 5))
    _, weights = model(padded, lengths, target_in)
    mask = torch.arange(padded.shape[1])[None, :] < lengths[:, None]
    assert torch.all(weights.masked_select(~mask[:, None, :]) == 0)


def test_beam_is_at_least_as_likely_as_greedy():
    torch.manual_seed(3)
    model = Seq2Seq(20, 15, Seq2SeqConfig(embedding=8, hidden=6)).eval()
    _, padded, lengths = ragged_batch([5, 3, 4], seed=4)
    start = torch.full((3,), TaskVocab.start_id)
    state = model.encode(padded, lengths)
    greedy = greedy_decode(model.step, state, start, 10, eos_id=TaskVocab.eos_id)
    beam = beam_search(
        model.step, state, start, 4, 10, eos_id=TaskVocab.eos_id, reorder_state=reorder_decoder_state
    )
    for g, b in zip(greedy, beam):
        assert b[0][1] >= g[0][1] - 1e-5


def _fit(task, steps, lr=1e-2):
    """Train a task's model on its (tiny) training split with Adam; return the model in eval mode."""
    torch.manual_seed(0)
    model = task.build_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    batch = task.collate(task.splits["train"])
    for _ in range(steps):
        model.train()
        loss = task.loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def _config(cls, values):
    return from_dict(cls, merge(to_dict(cls()), values))


def test_classifier_overfits_a_tiny_set(reviews_csv):
    task = ClassifyTask(
        _config(
            ClassifyRunConfig,
            {
                "data": {"path": str(reviews_csv), "split": [0.8, 0.2, 0.0]},
                "model": {"embedding": 16, "hidden": 16, "dropout": 0.0, "pooling": "attention"},
            },
        )
    )
    task.load_data()
    model = _fit(task, 60)
    scores = task.evaluate(model, task.splits["train"])
    assert scores["accuracy"] == 1.0 and scores["loss"] < 0.05
    assert len(task.splits["train"]) == 32  # 0.8 of the 40 reviews: every one of them fitted


def test_tagger_overfits_a_tiny_set(tagged_txt):
    task = TagTask(
        _config(
            TagRunConfig,
            {
                "data": {"path": str(tagged_txt)},
                "model": {
                    "embedding": 16,
                    "hidden": 16,
                    "dropout": 0.0,
                    "word_dropout": 0.0,
                    "char_hidden": 8,
                },
            },
        )
    )
    task.load_data()
    model = _fit(task, 60)
    scores = task.evaluate(model, task.splits["train"])
    assert scores["accuracy"] == 1.0 and scores["loss"] < 0.05
    assert len(task.splits["train"]) == TAGGED_TRAIN  # every training sentence fitted


def test_seq2seq_overfits_a_tiny_set(dates_tsv):
    task = Seq2SeqTask(
        _config(
            Seq2SeqRunConfig,
            {
                "data": {"path": str(dates_tsv), "split": [0.5, 0.5, 0.0]},
                "model": {"embedding": 16, "hidden": 32, "dropout": 0.0},
            },
        )
    )
    task.load_data()
    model = _fit(task, 100, lr=2e-2)
    scores = task.evaluate(model, task.splits["train"])
    assert scores["exact_match"] == 1.0, scores
    beam = task.evaluate(model, task.splits["train"], beam=3)
    assert beam["exact_match"] == 1.0
