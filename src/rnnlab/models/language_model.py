"""Character- and word-level recurrent language models.

Letters: B batch, T time, V vocabulary, E embedding size, H hidden size, L layers.

    e_t = Embed(x_t)                          (B, T, E)
    h_t = RNN(e_t, h_{t-1})                   (B, T, H)   any cell, L layers
    y_t = W_hy · head(dropout(h_t)) + b_y     (B, T, V)   logits of the next token

Trained to predict x_{t+1} from x_{≤t} with cross-entropy (nats per token); bits per character
are that divided by ln 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from ..nn import FeedForwardHead, Recurrent, canonical_cell_name, init_recurrent


@dataclass
class LanguageModelConfig:
    cell: str = "lstm"  # rnn | rnn-relu | lstm | lstm-peephole | gru | gru-cho
    embedding: int = 64  # E; characters need few dimensions, words more (e.g. 256)
    hidden: int = 512  # H, per layer
    layers: int = 2  # depth of the stack
    dropout: float = 0.0  # between layers and before the output layer
    head: list[int] = field(default_factory=list)  # widths of an optional MLP on each h_t
    tie_weights: bool = False  # share the embedding and output matrices (needs E == H, no head)
    forget_bias: float = 1.0  # LSTM forget-gate bias at initialisation
    output: str = "softmax"  # softmax | adaptive (for word vocabularies of 10k+ tokens)
    cutoffs: list[int] = field(default_factory=lambda: [2000, 10000])  # adaptive: frequency-band edges
    path: str = "auto"  # auto | explicit | fused (see rnnlab.nn.recurrent)

    def __post_init__(self) -> None:
        try:
            self.cell = canonical_cell_name(self.cell)
        except ValueError as error:
            raise UserError(f"model.cell: {error}; pick one of rnn, lstm, gru (or a variant).") from None
        for name in ("embedding", "hidden", "layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"model.{name} must be a positive integer (got {value!r}).")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"model.dropout must be in [0, 1) (got {self.dropout!r}).")
        self.head = [int(w) for w in self.head]
        if any(w < 1 for w in self.head):
            raise UserError(f"model.head widths must be positive (got {self.head!r}).")
        if self.path not in ("auto", "explicit", "fused"):
            raise UserError(f"model.path must be auto, explicit or fused (got {self.path!r}).")
        if self.path == "fused" and self.cell in ("lstm-peephole", "gru-cho"):
            raise UserError(f"model.path fused is not available for {self.cell}; use auto or explicit.")
        if self.tie_weights and (self.head or self.embedding != self.hidden):
            raise UserError("model.tie_weights needs model.embedding == model.hidden and no model.head.")
        if self.output not in ("softmax", "adaptive"):
            raise UserError(f"model.output must be softmax or adaptive (got {self.output!r}).")
        self.cutoffs = [int(c) for c in self.cutoffs]
        increasing = bool(self.cutoffs) and self.cutoffs == sorted(set(self.cutoffs)) and self.cutoffs[0] >= 1
        if self.output == "adaptive" and (self.tie_weights or not increasing):
            raise UserError("model.output adaptive needs increasing positive model.cutoffs, no tie_weights.")


class LanguageModel(nn.Module):
    """Next-token model over a vocabulary of `vocab_size` tokens.

    With `output="adaptive"` the output layer is an adaptive softmax (Grave et al. 2017): the
    vocabulary, sorted by frequency (word vocabularies are), is cut into a head of frequent tokens
    plus tail clusters with smaller projections, so most tokens never pay for a V-wide matmul.
    `forward` then returns the head's input features instead of logits, and `loss` / `log_probs`
    know what to do with them.
    """

    def __init__(self, vocab_size: int, config: LanguageModelConfig) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, config.embedding)
        self.rnn = Recurrent(config.cell, config.embedding, config.hidden, config.layers,
                             dropout=config.dropout, path=config.path)
        self.dropout = nn.Dropout(config.dropout)
        self.head = FeedForwardHead(config.hidden, tuple(config.head), dropout=config.dropout)
        self.adaptive = None
        if config.output == "adaptive":
            cutoffs = [c for c in config.cutoffs if c < vocab_size - 1]
            if not cutoffs:
                raise UserError(f"model.cutoffs {config.cutoffs} leave no tail for a vocabulary of "
                                f"{vocab_size}; use smaller cutoffs or model.output=softmax.")
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(self.head.output_size, vocab_size, cutoffs,
                                                          div_value=4.0)
        else:
            self.decoder = nn.Linear(self.head.output_size, vocab_size)
            nn.init.zeros_(self.decoder.bias)
            if config.tie_weights:
                self.decoder.weight = self.embedding.weight
        init_recurrent(self.rnn, forget_bias=config.forget_bias)

    def init_state(self, batch_size: int):
        """The zero state for `batch_size` streams: (L, B, H), or a tuple of two for LSTMs."""
        return self.rnn.zero_state(batch_size)

    def forward(self, tokens: Tensor, state=None) -> tuple[Tensor, object]:
        """tokens (B, T) -> logits (B, T, V) and the final state.

        (With an adaptive softmax: the output layer's input features (B, T, H') instead of logits.)
        """
        x = self.embedding(tokens)  # (B, T, E)
        h, state = self.rnn(x, state)  # (B, T, H)
        features = self.head(self.dropout(h))  # (B, T, H')
        if self.adaptive is not None:
            return features, state
        return self.decoder(features), state  # (B, T, V)

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """Mean cross-entropy in nats per token; outputs from `forward` (B, T, ·), targets (B, T)."""
        if outputs.dtype in (torch.bfloat16, torch.float16):
            outputs = outputs.float()  # the softmax of a low-precision autocast output, in fp32
        flat = outputs.reshape(-1, outputs.shape[-1])
        if self.adaptive is not None:
            return self.adaptive(flat, targets.reshape(-1)).loss
        return F.cross_entropy(flat, targets.reshape(-1))

    def output_logits(self, features: Tensor) -> Tensor:
        """Next-token scores (..., V) from the output layer's input (..., H').

        (Log-probabilities with an adaptive softmax; either way, softmax of them is the distribution.)
        """
        if self.adaptive is not None:
            shape = features.shape[:-1]
            return self.adaptive.log_prob(features.reshape(-1, features.shape[-1]).float()).view(*shape, -1)
        return self.decoder(features)

    @torch.inference_mode()
    def step(self, tokens: Tensor, state=None) -> tuple[Tensor, object]:
        """One step for generation: tokens (B,) -> logits (B, V), state.

        Delegates to this model's cached `rnnlab.nn.stepper.Stepper`: the cells' arithmetic with the
        weights rearranged once for one matrix-vector product per layer (faster at batch 1 than a
        fused kernel, whose set-up cost dominates a single step). The state is never modified.
        """
        from ..nn.stepper import stepper_for  # imported here to keep this edit local to `step`

        return stepper_for(self).step(tokens, state)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self) -> float:
        """Multiply-adds ×2 of one training token (forward + backward ≈ 3× forward)."""
        H, E, V = self.config.hidden, self.config.embedding, self.vocab_size
        if self.adaptive is not None:  # roughly the head's width: most tokens fall in it
            V = self.adaptive.head_size
        gates = {"lstm": 4, "lstm-peephole": 4, "gru": 3, "gru-cho": 3}.get(self.config.cell, 1)
        rec = sum(gates * H * ((E if layer == 0 else H) + H) for layer in range(self.config.layers))
        return 3 * 2 * (rec + H * V)


def initial_loss(vocab_size: int) -> float:
    """The loss of a uniform prediction, ln V: what a fresh model should start near."""
    return math.log(vocab_size)
