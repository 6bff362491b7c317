"""Many-to-many with Tx ≠ Ty: an encoder-decoder with attention (translation, date normalisation).

Letters: B batch, L source length, T target length, E embedding size, H encoder hidden size per
direction, D = H × directions (the decoder's size and the memory's), A attention size, V target
vocabulary.

Encoder:
    m_1 .. m_L = BiRNN(Embed(x_1 .. x_L))                    (B, L, D)  the memory
    s_0        = tanh(W_b [final states of the top layer])   (B, D)     for every decoder layer

Decoder, one step (Luong et al. 2015, "input feeding"):
    s_t      = RNN([Embed(y_{t-1}) ; h̃_{t-1}], s_{t-1})       (B, D)
    c_t, α_t = attention(query = s_t, keys = values = m, mask) (B, D), (B, L)
    h̃_t      = tanh(W_c [s_t ; c_t])                          (B, D)     the attentional state
    p(y_t)   = softmax(W_out h̃_t + b)                          (B, V)

The score inside `attention` is additive (Bahdanau), dot or general (Luong): see
`rnnlab.nn.attention`. Padded source positions are masked out, so their weight is exactly 0.
`attention="none"` is the plain encoder-decoder of Sutskever et al.: the decoder sees the source
only through s_0, h̃_t = tanh(W_c s_t), and there is no input feeding.

Training feeds the gold previous token y_{t-1} (teacher forcing) with probability
`teacher_forcing`, else the model's own previous prediction (scheduled sampling, per row and step).
Generation goes through `step`, the interface of `rnnlab.generate` (greedy and batched beam search):
the decoder state carries the memory, its projected keys and the mask, and `reorder_state` picks
rows of all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from ..nn import Recurrent, canonical_cell_name, init_recurrent, lengths_to_mask
from ..nn.attention import ATTENTION_KINDS, make_attention
from .classifier import final_hidden


@dataclass
class Seq2SeqConfig:
    cell: str = "gru"  # rnn | rnn-relu | lstm | lstm-peephole | gru | gru-cho
    embedding: int = 64  # E, both sides
    hidden: int = 128  # H per encoder direction; the decoder has D = H × directions
    encoder_layers: int = 1
    decoder_layers: int = 1
    bidirectional: bool = True  # encoder only
    attention: str = "additive"  # none | additive | dot | general | scaled-dot
    attention_size: int = 128  # A (additive)
    dropout: float = 0.1  # embeddings, between layers, before the output layer
    teacher_forcing: float = 1.0  # probability of feeding the gold previous token in training
    path: str = "auto"

    def __post_init__(self) -> None:
        try:
            self.cell = canonical_cell_name(self.cell)
        except ValueError as error:
            raise UserError(f"model.cell: {error}; pick one of rnn, lstm, gru (or a variant).") from None
        for name in ("embedding", "hidden", "encoder_layers", "decoder_layers", "attention_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"model.{name} must be a positive integer (got {value!r}).")
        if self.attention not in ("none", *ATTENTION_KINDS):
            raise UserError(
                f"model.attention must be none or one of {', '.join(ATTENTION_KINDS)} "
                f"(got {self.attention!r})."
            )
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.teacher_forcing <= 1.0:
            raise UserError("model.dropout must be in [0, 1) and model.teacher_forcing in [0, 1].")
        if self.path not in ("auto", "explicit", "fused"):
            raise UserError(f"model.path must be auto, explicit or fused (got {self.path!r}).")


class DecoderState(NamedTuple):
    """Everything one decoder step needs. hidden: (layers, N, D) or (h, c); the rest batch-first."""

    hidden: Tensor | tuple[Tensor, Tensor]
    feed: Tensor  # (N, D) h̃ of the previous step (input feeding); zeros before the first
    memory: Tensor  # (N, L, D) encoder outputs
    keys: Tensor  # (N, L, ·) the memory projected once for the attention score
    mask: Tensor  # (N, L) valid source positions


def reorder_decoder_state(state: DecoderState, index: Tensor) -> DecoderState:
    """Pick rows `index` (M,) of a decoder state: dim 1 of the hidden state, dim 0 of the rest."""
    hidden = state.hidden
    if isinstance(hidden, tuple):
        hidden = tuple(h.index_select(1, index) for h in hidden)
    else:
        hidden = hidden.index_select(1, index)
    return DecoderState(hidden, *(t.index_select(0, index) for t in state[1:]))


class Seq2Seq(nn.Module):
    """Encoder-decoder over token ids; id 0 is padding on both sides."""

    def __init__(self, source_vocab_size: int, target_vocab_size: int, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = config
        directions = 2 if config.bidirectional else 1
        D = config.hidden * directions
        self.source_embedding = nn.Embedding(source_vocab_size, config.embedding, padding_idx=0)
        self.encoder = Recurrent(
            config.cell,
            config.embedding,
            config.hidden,
            config.encoder_layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout,
            path=config.path,
        )
        self.bridge = nn.Linear(D, D)
        self.target_embedding = nn.Embedding(target_vocab_size, config.embedding, padding_idx=0)
        self.use_attention = config.attention != "none"
        decoder_input = config.embedding + (D if self.use_attention else 0)
        # A stacked layer whose cells the step function runs one at a time (`self.decoder.cells[k]`).
        self.decoder = Recurrent(config.cell, decoder_input, D, config.decoder_layers, path="explicit")
        if self.use_attention:
            self.attention = make_attention(config.attention, D, D, config.attention_size)
        self.combine = nn.Linear(2 * D if self.use_attention else D, D)
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(D, target_vocab_size)
        init_recurrent(self.encoder)
        init_recurrent(self.decoder)

    # ---- encoder ------------------------------------------------------------------------------

    def encode(self, source: Tensor, lengths: Tensor) -> DecoderState:
        """source (B, L), lengths (B,) -> the decoder's initial state (memory included)."""
        mask = lengths_to_mask(lengths, source.shape[1])  # (B, L)
        memory, final = self.encoder(
            self.dropout(self.source_embedding(source)), lengths=lengths
        )  # (B, L, D)
        s0 = torch.tanh(self.bridge(final_hidden(final, self.encoder.num_directions)))  # (B, D)
        layers = self.config.decoder_layers
        h0 = s0.unsqueeze(0).expand(layers, -1, -1).contiguous()  # (layers, B, D)
        hidden = (h0, torch.zeros_like(h0)) if self.decoder.is_lstm else h0
        keys = self.attention.project_keys(memory) if self.use_attention else memory
        return DecoderState(hidden, memory.new_zeros(memory.shape[0], memory.shape[2]), memory, keys, mask)

    # ---- decoder ------------------------------------------------------------------------------

    def step_with_attention(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState, Tensor]:
        """One decoder step: tokens (N,) -> logits (N, V), new state, attention weights (N, L)."""
        x = self.dropout(self.target_embedding(tokens))  # (N, E)
        if self.use_attention:
            x = torch.cat([x, state.feed], dim=1)  # (N, E + D)
        new_hidden = []
        for k, cell in enumerate(self.decoder.cells):
            s_k = tuple(h[k] for h in state.hidden) if self.decoder.is_lstm else state.hidden[k]
            s_k = cell(x, s_k)
            new_hidden.append(s_k)
            x = s_k[0] if isinstance(s_k, tuple) else s_k  # (N, D)
            if k + 1 < len(self.decoder.cells):
                x = self.dropout(x)
        if self.decoder.is_lstm:
            hidden = (torch.stack([s[0] for s in new_hidden]), torch.stack([s[1] for s in new_hidden]))
        else:
            hidden = torch.stack(new_hidden)  # (layers, N, D)
        if self.use_attention:
            context, weights = self.attention(
                x, state.memory, state.memory, state.mask, projected_keys=state.keys
            )  # (N, D), (N, L)
            attentional = torch.tanh(self.combine(torch.cat([x, context], dim=1)))  # (N, D)
        else:
            weights = state.mask.new_zeros(state.mask.shape, dtype=x.dtype)
            attentional = torch.tanh(self.combine(x))
        logits = self.out(self.dropout(attentional))  # (N, V)
        return logits, DecoderState(hidden, attentional, state.memory, state.keys, state.mask), weights

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """`rnnlab.generate`'s step function: tokens (N,) -> (logits (N, V), state)."""
        logits, state, _ = self.step_with_attention(tokens, state)
        return logits, state

    def forward(
        self, source: Tensor, source_lengths: Tensor, target_in: Tensor, teacher_forcing: float | None = None
    ) -> tuple[Tensor, Tensor]:
        """Decode a whole target: target_in (B, T) starts with <start> -> logits (B, T, V), weights (B, T, L).

        With teacher forcing below 1 (training only), each row's next input is the gold token with that
        probability, else the argmax of the step before.
        """
        ratio = self.config.teacher_forcing if teacher_forcing is None else teacher_forcing
        state = self.encode(source, source_lengths)
        tokens = target_in[:, 0]  # (B,)
        all_logits, all_weights = [], []
        for t in range(target_in.shape[1]):
            logits, state, weights = self.step_with_attention(tokens, state)
            all_logits.append(logits)
            all_weights.append(weights)
            if t + 1 < target_in.shape[1]:
                tokens = target_in[:, t + 1]
                if self.training and ratio < 1.0:
                    own = logits.detach().argmax(dim=1)  # (B,)
                    use_gold = torch.rand(tokens.shape, device=tokens.device) < ratio
                    tokens = torch.where(use_gold, tokens, own)
        return torch.stack(all_logits, dim=1), torch.stack(all_weights, dim=1)  # (B, T, V), (B, T, L)

    def loss(self, logits: Tensor, target_out: Tensor) -> Tensor:
        """Mean cross-entropy per target token; padding (id 0) is ignored."""
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target_out.reshape(-1), ignore_index=0)
