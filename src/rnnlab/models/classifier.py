"""Many-to-one: a text in, one label out (sentiment, topic, ...).

Letters: B batch, T time (tokens), E embedding size, H hidden size, K = H × directions, C classes.

    e_t = Embed(x_t)                              (B, T, E)
    h_t = RNN(e_t, h_{t-1})                       (B, T, K)   (bi)directional, any cell, L layers
    z   = pool(h_1 .. h_T)                        (B, K)      over the valid steps only
    y   = W_out · dropout(z) + b                  (B, C)      logits; softmax -> class probabilities

Pooling (`pooling=`):
    last       the final states: forward at the sequence's own last token, backward at its first
    mean       average of h_t over the valid steps
    max        elementwise maximum over the valid steps
    attention  Σ_t α_t h_t with α = softmax_t(v · tanh(W h_t + u)): a learned query u asks which
               tokens matter; α can be shown per token (`rnnlab predict`)

Padding never leaks into z: the recurrent layer keeps the state through padded steps, and every
pooling masks them, so a sentence gets the same prediction alone and in a padded batch.

Also here: `BagOfWordsClassifier`, the baseline the notes ask for beside every neural model —
logistic regression on unigram+bigram presence features, fitted on the same split.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from ..nn import Recurrent, canonical_cell_name, init_recurrent, lengths_to_mask
from ..nn.attention import AttentionPooling

POOLINGS = ("last", "mean", "max", "attention")


@dataclass
class ClassifierConfig:
    cell: str = "lstm"  # rnn | rnn-relu | lstm | lstm-peephole | gru | gru-cho
    embedding: int = 128  # E
    hidden: int = 128  # H per direction
    layers: int = 1
    bidirectional: bool = True  # read the text both ways
    dropout: float = 0.5  # on the embeddings, between layers and on the pooled vector
    word_dropout: float = 0.1  # training tokens replaced by <unk> with this probability
    pooling: str = "mean"  # last | mean | max | attention (mean did best on the polarity snippets)
    attention_size: int = 64  # A, for attention pooling
    path: str = "auto"  # auto | explicit | fused (see rnnlab.nn.recurrent)

    def __post_init__(self) -> None:
        try:
            self.cell = canonical_cell_name(self.cell)
        except ValueError as error:
            raise UserError(f"model.cell: {error}; pick one of rnn, lstm, gru (or a variant).") from None
        for name in ("embedding", "hidden", "layers", "attention_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"model.{name} must be a positive integer (got {value!r}).")
        for name in ("dropout", "word_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise UserError(f"model.{name} must be in [0, 1) (got {getattr(self, name)!r}).")
        if self.pooling not in POOLINGS:
            raise UserError(f"model.pooling must be one of {', '.join(POOLINGS)} (got {self.pooling!r}).")
        if self.path not in ("auto", "explicit", "fused"):
            raise UserError(f"model.path must be auto, explicit or fused (got {self.path!r}).")


def final_hidden(state, num_directions: int) -> Tensor:
    """The top layer's final hidden state(s), directions concatenated: (K, B, H) -> (B, H·dirs)."""
    h = state[0] if isinstance(state, tuple) else state  # (layers·dirs, B, H)
    return torch.cat(list(h[-num_directions:]), dim=1)  # (B, H·dirs)


def pool_sequence(outputs: Tensor, mask: Tensor, how: str) -> Tensor:
    """Mean or max of outputs (B, T, K) over the steps where mask (B, T) is True -> (B, K)."""
    valid = mask.unsqueeze(2)  # (B, T, 1)
    if how == "mean":
        return (outputs * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1)
    if how == "max":
        return outputs.masked_fill(~valid, -math.inf).amax(dim=1)
    raise ValueError(how)


class SequenceClassifier(nn.Module):
    """Token ids (B, T) with lengths (B,) -> class logits (B, C); id 0 is padding."""

    def __init__(self, vocab_size: int, num_classes: int, config: ClassifierConfig, unk_id: int = 3) -> None:
        super().__init__()
        self.config = config
        self.unk_id = unk_id
        self.embedding = nn.Embedding(vocab_size, config.embedding, padding_idx=0)
        self.rnn = Recurrent(
            config.cell,
            config.embedding,
            config.hidden,
            config.layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout,
            path=config.path,
        )
        size = self.rnn.output_size
        self.pool = AttentionPooling(size, config.attention_size) if config.pooling == "attention" else None
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(size, num_classes)
        init_recurrent(self.rnn)

    def forward(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor | None]:
        """Return logits (B, C) and, for attention pooling, the weights (B, T) (else None)."""
        mask = lengths_to_mask(lengths, tokens.shape[1])  # (B, T)
        if self.training and self.config.word_dropout > 0:
            # Whole words dropped to <unk>: the model cannot lean on any single (rare) word, the
            # cheapest regulariser against memorising a small training set.
            drop = torch.rand(tokens.shape, device=tokens.device) < self.config.word_dropout
            tokens = torch.where(drop & (tokens > 0), torch.full_like(tokens, self.unk_id), tokens)
        embedded = self.dropout(self.embedding(tokens))  # (B, T, E)
        outputs, state = self.rnn(embedded, lengths=lengths)  # (B, T, K)
        weights = None
        match self.config.pooling:
            case "last":
                pooled = final_hidden(state, self.rnn.num_directions)  # (B, K)
            case "attention":
                pooled, weights = self.pool(outputs, mask)  # (B, K), (B, T)
            case how:
                pooled = pool_sequence(outputs, mask, how)  # (B, K)
        return self.out(self.dropout(pooled)), weights

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(logits, labels)


# ----- the bag-of-words baseline -----------------------------------------------------------------


@dataclass(frozen=True)
class PriorCounts:
    """Prior texts counted once for many fits (`BagOfWordsClassifier.count_prior`): per class, how
    many texts hold each n-gram, with the n-gram range and negation marking they were counted with."""

    ngrams: int
    negation: bool
    per_class: tuple[Counter, ...]


NEGATIONS = frozenset({"not", "no", "never", "nothing", "nor", "neither", "none", "cannot", "without"})
CLAUSE_ENDS = frozenset(".,;:!?")


def mark_negation(tokens: list[str]) -> list[str]:
    """Add `_NEG` to every word after a negation up to the end of its clause (Das & Chen 2001; Pang,
    Lee & Vaithyanathan 2002). A negation is a word of `NEGATIONS` or one ending in "n't"; a clause
    ends at a punctuation mark of `CLAUSE_ENDS`.

    >>> mark_negation("it isn't funny , but not dull".split())
    ['it', "isn't", 'funny_NEG', ',', 'but', 'not', 'dull_NEG']
    """
    marked, negated = [], False
    for token in tokens:
        if token in CLAUSE_ENDS:
            negated = False
            marked.append(token)
            continue
        marked.append(token + "_NEG" if negated else token)
        if token in NEGATIONS or token.endswith("n't"):
            negated = True
    return marked


class BagOfWordsClassifier:
    """Multinomial logistic regression on the presence of words and word pairs (unigrams + bigrams).

    Features are binary (a word counts once per text), as in Pang & Lee's and Wang & Manning's
    baselines. The L2 strength is picked on the validation split from a small grid; the fit is
    full-batch L-BFGS on the convex loss, so it is deterministic.

    `nb=True` scales every feature by its naive-Bayes log-count ratio before the regression (Wang &
    Manning 2012, "NBSVM" with a logistic loss): r = log((p / |p|₁) / (q / |q|₁)), p and q the
    feature's counts in the texts of one class and of the others, plus `alpha`. A word that only one
    class uses starts out weighted up, which helps most when the training set is small. Two classes
    share one r; with more, each class gets its own one-vs-rest model and the softmax of their scores.

    Two more options, both off by default:

    * `negation=True` marks negated words (`mark_negation`): "not good" gives the features `not`,
      `good_NEG` and `not good_NEG`, so a word's weight is not spent on its own negation.
    * `fit(..., prior=(texts, labels))` (with `nb=True`): more labelled texts — a larger, noisier or
      out-of-domain set — that only inform the log-count ratios, each counting `prior_weight` of a
      training text. They add no rows to the regression and no features (an n-gram the training
      texts lack has no weight to scale), and weight 0 is the same as no prior. A small weight
      lets a big weakly labelled set sharpen the ratios of rare n-grams while the training texts
      still decide. `count_prior` counts a large prior once for many fits with the same n-grams
      and negation marking (cross-validation), and `fit` takes its result as `prior` too.
    """

    def __init__(
        self,
        ngrams: int = 2,
        min_count: int = 1,
        nb: bool = False,
        alpha: float = 1.0,
        negation: bool = False,
        prior_weight: float = 0.1,
    ) -> None:
        self.ngrams = ngrams
        self.min_count = min_count
        self.nb = nb
        self.alpha = alpha
        self.negation = negation
        self.prior_weight = prior_weight
        self.features: dict[tuple[str, ...], int] = {}
        self.weight: Tensor | None = None  # (F + 1, C); with nb and C > 2, (C, F + 1, 2) one-vs-rest
        self.ratios: Tensor | None = None  # nb: (1, F + 1) for two classes, else (C, F + 1)
        self.l2 = 0.0
        self.val_accuracies: dict[float, float] = {}  # fit with val: its accuracy for each L2 tried

    def _grams(self, tokens: list[str]) -> set[tuple[str, ...]]:
        if self.negation:
            tokens = mark_negation(tokens)
        return {
            tuple(tokens[i : i + n]) for n in range(1, self.ngrams + 1) for i in range(len(tokens) - n + 1)
        }

    def _matrix(self, texts: list[list[str]]) -> Tensor:
        rows, cols = [], []
        for row, tokens in enumerate(texts):
            for gram in self._grams(tokens):
                col = self.features.get(gram)
                if col is not None:
                    rows.append(row)
                    cols.append(col)
        bias = len(self.features)  # the last column is the bias feature, 1 in every row
        rows += list(range(len(texts)))
        cols += [bias] * len(texts)
        index = torch.tensor([rows, cols], dtype=torch.long)
        # Sparse: a few dozen of the tens of thousands of n-grams occur in each text.
        X = torch.sparse_coo_tensor(
            index, torch.ones(len(rows)), (len(texts), bias + 1), check_invariants=False
        )  # (N, F+1)
        return X.coalesce()

    def fit(
        self,
        texts: list[list[str]],
        labels: list[int],
        num_classes: int,
        val: tuple[list[list[str]], list[int]] | None = None,
        grid: tuple[float, ...] = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3),
        prior: tuple[list[list[str]], list[int]] | PriorCounts | None = None,
    ) -> BagOfWordsClassifier:
        if prior is not None and not self.nb:
            raise ValueError("prior texts only inform the naive-Bayes ratios: fit with nb=True")
        counts = Counter(gram for tokens in texts for gram in self._grams(tokens))
        kept = sorted(gram for gram, n in counts.items() if n >= self.min_count)
        self.features = {gram: i for i, gram in enumerate(kept)}
        X, y = self._matrix(texts), torch.tensor(labels)
        X_val = self._matrix(val[0]) if val is not None else None
        if self.nb:
            extra = self._prior_counts(prior, num_classes) if prior is not None else None
            self.ratios = self._nb_ratios(X, y, num_classes, extra)  # (K, F + 1)
        best, self.val_accuracies = None, {}
        for l2 in grid if val is not None else (grid[len(grid) // 2],):
            weight = self._fit(X, y, num_classes, l2)
            if val is None:
                best = (0.0, l2, weight)
                break
            scores = self._scores(X_val, weight)  # (N_val, C)
            accuracy = float(scores.argmax(1).eq(torch.tensor(val[1])).float().mean())
            self.val_accuracies[l2] = accuracy
            if best is None or accuracy > best[0]:
                best = (accuracy, l2, weight)
        _, self.l2, self.weight = best
        return self

    def count_prior(self, texts: list[list[str]], labels: list[int], num_classes: int) -> PriorCounts:
        """Per class, how many of these texts hold each n-gram (this model's n-grams and negation)."""
        per_class = tuple(Counter() for _ in range(num_classes))
        for tokens, label in zip(texts, labels, strict=True):
            per_class[label].update(self._grams(tokens))
        return PriorCounts(self.ngrams, self.negation, per_class)

    def _prior_counts(self, prior: tuple | PriorCounts, num_classes: int) -> Tensor:
        """(C, F) prior texts of each class that hold each feature, times `prior_weight`."""
        if not isinstance(prior, PriorCounts):
            prior = self.count_prior(*prior, num_classes)
        if (prior.ngrams, prior.negation) != (self.ngrams, self.negation):
            raise ValueError(
                f"the prior was counted with ngrams={prior.ngrams}, negation={prior.negation}; this "
                f"model uses ngrams={self.ngrams}, negation={self.negation}"
            )
        counts = [[grams.get(gram, 0) for gram in self.features] for grams in prior.per_class]
        return torch.tensor(counts, dtype=torch.float32).reshape(num_classes, -1) * self.prior_weight

    def _nb_ratios(self, X: Tensor, y: Tensor, num_classes: int, prior: Tensor | None = None) -> Tensor:
        """Log-count ratios, (1, F + 1) for two classes (class 1 against class 0), else (C, F + 1)."""
        counts = torch.stack(
            [
                torch.sparse.sum(X.index_select(0, (y == c).nonzero()[:, 0]), 0).to_dense()
                for c in range(num_classes)
            ]
        )  # (C, F + 1) texts of each class that hold each feature
        counts = counts[:, :-1]  # the bias column is not a feature
        if prior is not None:
            counts = counts + prior
        ratios = []
        for c in (1,) if num_classes == 2 else range(num_classes):
            p = counts[c] + self.alpha
            q = counts.sum(0) - counts[c] + self.alpha
            ratios.append(torch.log((p / p.sum()) / (q / q.sum())))
        r = torch.stack(ratios)  # (K, F)
        return torch.cat([r, torch.ones(len(r), 1)], dim=1)  # the bias keeps its 1

    @staticmethod
    def _scale(X: Tensor, r: Tensor) -> Tensor:
        """A sparse (N, F + 1) matrix with each column j multiplied by r[j]."""
        return torch.sparse_coo_tensor(
            X.indices(), X.values() * r[X.indices()[1]], X.shape, check_invariants=False
        ).coalesce()

    def _fit(self, X: Tensor, y: Tensor, num_classes: int, l2: float) -> Tensor:
        if not self.nb:
            return self._fit_l2(X, y, num_classes, l2)
        if num_classes == 2:
            return self._fit_l2(self._scale(X, self.ratios[0]), y, 2, l2)
        return torch.stack(
            [self._fit_l2(self._scale(X, r), (y == c).long(), 2, l2) for c, r in enumerate(self.ratios)]
        )  # (C, F + 1, 2): one-vs-rest

    def _scores(self, X: Tensor, weight: Tensor) -> Tensor:
        """(N, C) class scores of the features X under `weight` (the layout `_fit` returns)."""
        if not self.nb:
            return torch.sparse.mm(X, weight)
        if weight.dim() == 2:
            return torch.sparse.mm(self._scale(X, self.ratios[0]), weight)
        scores = [
            torch.sparse.mm(self._scale(X, r), w[:, 1:] - w[:, :1])  # (N, 1) the class's log-odds
            for r, w in zip(self.ratios, weight)
        ]
        return torch.cat(scores, dim=1)

    @staticmethod
    def _fit_l2(X: Tensor, y: Tensor, num_classes: int, l2: float) -> Tensor:
        weight = torch.zeros(X.shape[1], num_classes, requires_grad=True)
        optimizer = torch.optim.LBFGS([weight], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            loss = F.cross_entropy(torch.sparse.mm(X, weight), y) + l2 * (weight[:-1] ** 2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        return weight.detach()

    def predict_proba(self, texts: list[list[str]]) -> Tensor:
        if self.weight is None:
            raise RuntimeError("fit the baseline first")
        return self._scores(self._matrix(texts), self.weight).softmax(dim=1)  # (N, C)
