"""Soft attention: a query asks "where should I look?" over L locations (tokens, image cells).

Letters: B batch, L locations, Hq query size, Dk key size, Dv value size, A attention size.

Every module here has the one generic signature

    attention(query (B, Hq), keys (B, L, Dk), values (B, L, Dv), mask (B, L) bool | None)
        -> context (B, Dv), weights (B, L)

with the same three steps; only the score e_l differs:

    e_l = score(query, key_l)                      (B, L)
    α   = softmax_l(e), with e_l = -inf where mask_l is False    (B, L), each row sums to 1
    c   = Σ_l α_l value_l                           (B, Dv)

Scores:

    additive (Bahdanau)  e_l = v · tanh(W_k k_l + W_q q + b)     W_k (A, Dk), W_q (A, Hq), v (A,)
    dot      (Luong)     e_l = k_l · q                            needs Dk = Hq; no parameters
    general  (Luong)     e_l = k_l · (W q)                        W (Dk, Hq)
    scaled-dot           e_l = k_l · q / sqrt(Dk)                 (Vaswani et al.)

Masking: `mask` marks the valid (not padded) locations. Padded locations get a score of -inf, so
their weight is exactly 0 and their values never reach the context: a sentence read alone and the
same sentence in a padded batch get the same context. Every row needs at least one valid location.

Keys often stay fixed while queries change (a decoder attends to the same encoder outputs at every
step). `project_keys(keys)` hoists the key-side work out of the step loop; pass its result as
`projected_keys=` on each call. It is optional: without it the module projects on every call.

These modules are shared by the classifier (attention pooling, with a learned query), the
translator and the captioner.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

ATTENTION_KINDS = ("additive", "dot", "general", "scaled-dot")


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last dimension of scores (B, L), giving exactly 0 where mask is False."""
    if mask is None:
        return scores.softmax(dim=-1)
    if mask.shape != scores.shape:
        raise ValueError(f"mask must have the scores' shape {tuple(scores.shape)}, got {tuple(mask.shape)}")
    scores = scores.masked_fill(~mask, -math.inf)
    weights = scores.softmax(dim=-1)  # (B, L)
    # A row with no valid location would be all NaN (0/0); zero it so the failure is visible as a
    # zero context rather than NaNs spreading through the model.
    return weights.masked_fill(~mask, 0.0)


class Attention(nn.Module):
    """Base class: subclasses define `score(query, projected_keys)` and may define `project_keys`."""

    def project_keys(self, keys: Tensor) -> Tensor:
        """The key-side part of the score, computed once per set of keys: (B, L, Dk) -> (B, L, ·)."""
        return keys

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor,
        mask: Tensor | None = None,
        *,
        projected_keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """query (B, Hq), keys (B, L, Dk), values (B, L, Dv), mask (B, L) -> context (B, Dv), α (B, L)."""
        if query.dim() != 2 or keys.dim() != 3 or values.dim() != 3:
            raise ValueError(
                f"expected query (B, Hq), keys (B, L, Dk), values (B, L, Dv); got "
                f"{tuple(query.shape)}, {tuple(keys.shape)}, {tuple(values.shape)}"
            )
        if keys.shape[:2] != values.shape[:2] or keys.shape[0] != query.shape[0]:
            raise ValueError(
                f"query, keys and values disagree on B or L: {tuple(query.shape)}, "
                f"{tuple(keys.shape)}, {tuple(values.shape)}"
            )
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        scores = self.score(query, projected_keys)  # (B, L)
        weights = masked_softmax(scores, mask)  # (B, L)
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # (B, 1, L) @ (B, L, Dv) -> (B, Dv)
        return context, weights


class AdditiveAttention(Attention):
    """Bahdanau's score: e_l = v · tanh(W_k k_l + W_q q + b)."""

    def __init__(self, query_size: int, key_size: int, attention_size: int) -> None:
        super().__init__()
        self.W_k = nn.Linear(key_size, attention_size, bias=False)
        self.W_q = nn.Linear(query_size, attention_size, bias=True)  # carries b
        self.v = nn.Linear(attention_size, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.W_k(keys)  # (B, L, A)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        hidden = torch.tanh(projected_keys + self.W_q(query).unsqueeze(1))  # (B, L, A)
        return self.v(hidden).squeeze(2)  # (B, L)


class DotAttention(Attention):
    """Luong's dot score: e_l = k_l · q (or / sqrt(Dk) when `scaled`); keys and queries of one size."""

    def __init__(self, query_size: int, key_size: int, scaled: bool = False) -> None:
        super().__init__()
        if query_size != key_size:
            raise ValueError(
                f"dot attention needs keys of the query's size, got Dk={key_size}, "
                f"Hq={query_size}; use 'general' or 'additive' attention instead"
            )
        self.scale = 1.0 / math.sqrt(key_size) if scaled else 1.0

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        return torch.bmm(projected_keys, query.unsqueeze(2)).squeeze(2) * self.scale  # (B, L)


class GeneralAttention(Attention):
    """Luong's general score: e_l = k_l · (W q), i.e. a bilinear form k_lᵀ W q."""

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        self.W = nn.Linear(query_size, key_size, bias=False)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        return torch.bmm(projected_keys, self.W(query).unsqueeze(2)).squeeze(2)  # (B, L)


def make_attention(kind: str, query_size: int, key_size: int, attention_size: int | None = None) -> Attention:
    """An attention module by name: additive | dot | general | scaled-dot."""
    if kind == "additive":
        return AdditiveAttention(query_size, key_size, attention_size or query_size)
    if kind == "dot":
        return DotAttention(query_size, key_size)
    if kind == "scaled-dot":
        return DotAttention(query_size, key_size, scaled=True)
    if kind == "general":
        return GeneralAttention(query_size, key_size)
    raise ValueError(f"unknown attention {kind!r}; choose one of {', '.join(ATTENTION_KINDS)}")


class AttentionPooling(nn.Module):
    """Attention with a learned query: a weighted average of a sequence, weights one per token.

    Used by the classifier: "which tokens decide the label?" is asked by a trained vector u,
    e_t = v · tanh(W h_t + u-part), α = softmax(e) over the valid steps, pooled = Σ_t α_t h_t.
    """

    def __init__(self, input_size: int, attention_size: int, kind: str = "additive") -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(attention_size) * 0.1)
        self.attention = make_attention(kind, attention_size, input_size, attention_size)

    def forward(self, sequence: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """sequence (B, T, D), mask (B, T) -> (pooled (B, D), weights (B, T))."""
        query = self.query.unsqueeze(0).expand(sequence.shape[0], -1)  # (B, A)
        return self.attention(query, sequence, sequence, mask)
