"""Many-to-many with Tx = Ty: one tag per word (part of speech, named entities, ...).

Letters: B batch, T words, C characters per word, E word embedding, F character features,
H hidden size, K = H × directions, Y tags.

    w_t = [Embed(x_t) ; CharRNN(chars of x_t)]    (B, T, E + F)  char features optional
    h_t = BiRNN(w_1 .. w_T)                        (B, T, K)      each h_t sees the whole sentence
    y_t = W_out · dropout(h_t) + b                 (B, T, Y)      logits of the tag of word t

Unknown words: a word outside the training vocabulary is `<unk>`, whose embedding says nothing
about it. The character features ("-ing", "-ly", a capital, a digit) are what let the tagger guess
such words; word dropout — replacing a few training words by `<unk>` — teaches the model to lean on
them, since otherwise `<unk>` never occurs in training.

Also here: `MostFrequentTagBaseline`, the baseline every tagger must beat: each known word gets its
most frequent training tag, unknown words the most frequent tag overall.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from ..nn import Recurrent, canonical_cell_name, init_recurrent
from .classifier import final_hidden


@dataclass
class TaggerConfig:
    cell: str = "lstm"  # rnn | rnn-relu | lstm | lstm-peephole | gru | gru-cho
    embedding: int = 100  # E
    hidden: int = 128  # H per direction
    layers: int = 1
    bidirectional: bool = True  # a tag depends on the words after it too
    dropout: float = 0.5  # on the word representations, between layers, before the output
    char_features: bool = True  # a character BiRNN per word (for unknown and rare words)
    char_embedding: int = 32
    char_hidden: int = 32  # per direction; F = 2 × char_hidden
    word_dropout: float = 0.05  # training words replaced by <unk> with this probability
    path: str = "auto"

    def __post_init__(self) -> None:
        try:
            self.cell = canonical_cell_name(self.cell)
        except ValueError as error:
            raise UserError(f"model.cell: {error}; pick one of rnn, lstm, gru (or a variant).") from None
        for name in ("embedding", "hidden", "layers", "char_embedding", "char_hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"model.{name} must be a positive integer (got {value!r}).")
        for name in ("dropout", "word_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UserError(f"model.{name} must be in [0, 1) (got {getattr(self, name)!r}).")
        if self.path not in ("auto", "explicit", "fused"):
            raise UserError(f"model.path must be auto, explicit or fused (got {self.path!r}).")


class SequenceTagger(nn.Module):
    """Word ids (B, T), lengths (B,), chars (B, T, C), char_lengths (B, T) -> logits (B, T, Y)."""

    def __init__(
        self, vocab_size: int, num_chars: int, num_tags: int, config: TaggerConfig, unk_id: int = 3
    ) -> None:
        super().__init__()
        self.config = config
        self.unk_id = unk_id
        self.embedding = nn.Embedding(vocab_size, config.embedding, padding_idx=0)
        size = config.embedding
        if config.char_features:
            self.char_embedding = nn.Embedding(num_chars, config.char_embedding, padding_idx=0)
            self.char_rnn = Recurrent(
                config.cell, config.char_embedding, config.char_hidden, bidirectional=True, path=config.path
            )
            init_recurrent(self.char_rnn)
            size += 2 * config.char_hidden
        self.rnn = Recurrent(
            config.cell,
            size,
            config.hidden,
            config.layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout,
            path=config.path,
        )
        init_recurrent(self.rnn)
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(self.rnn.output_size, num_tags)

    def char_features(self, chars: Tensor, char_lengths: Tensor) -> Tensor:
        """Final states of a character BiRNN per word: chars (B, T, C) -> (B, T, 2·char_hidden).

        Only real words go through the RNN (padding words have no characters); the others stay 0.
        """
        B, T, C = chars.shape
        valid = char_lengths > 0  # (B, T)
        words = chars[valid]  # (N, C) the N real words of the batch
        _, state = self.char_rnn(self.char_embedding(words), lengths=char_lengths[valid])
        features = final_hidden(state, 2)  # (N, 2·char_hidden)
        out = features.new_zeros(B, T, features.shape[1])
        out[valid] = features
        return out

    def forward(
        self, words: Tensor, lengths: Tensor, chars: Tensor | None = None, char_lengths: Tensor | None = None
    ) -> Tensor:
        if self.training and self.config.word_dropout > 0:
            drop = torch.rand(words.shape, device=words.device) < self.config.word_dropout
            words = torch.where(drop & (words > 0), torch.full_like(words, self.unk_id), words)
        parts = [self.embedding(words)]  # (B, T, E)
        if self.config.char_features:
            if chars is None or char_lengths is None:
                raise ValueError("this tagger uses character features: pass chars and char_lengths")
            parts.append(self.char_features(chars, char_lengths))  # (B, T, F)
        x = self.dropout(torch.cat(parts, dim=2))  # (B, T, E + F)
        outputs, _ = self.rnn(x, lengths=lengths)  # (B, T, K)
        return self.out(self.dropout(outputs))  # (B, T, Y)

    def loss(self, logits: Tensor, tags: Tensor) -> Tensor:
        """Mean cross-entropy over the real words; tags are -100 at padded positions."""
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tags.reshape(-1), ignore_index=-100)


class MostFrequentTagBaseline:
    """Each training word's most frequent tag; the overall most frequent tag for unknown words."""

    def __init__(self) -> None:
        self.table: dict[str, str] = {}
        self.default = ""

    def fit(self, sentences: list[tuple[list[str], list[str]]]) -> MostFrequentTagBaseline:
        per_word: dict[str, Counter] = defaultdict(Counter)
        overall: Counter = Counter()
        for words, tags in sentences:
            for word, tag in zip(words, tags):
                per_word[word][tag] += 1
                overall[tag] += 1
        # Ties go to the alphabetically first tag, so the baseline is deterministic.
        self.table = {w: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for w, c in per_word.items()}
        self.default = min(overall.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        return self

    def predict(self, words: list[str]) -> list[str]:
        return [self.table.get(word, self.default) for word in words]
