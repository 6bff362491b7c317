"""What every caption decoder shares: the word embedding, the cell, the step interface, the state.

Letters: B batch, T caption length, L image locations, D annotation (feature) size, E word-vector
size, H hidden size, A attention size, V vocabulary.

A decoder reads the annotation grid a_1 .. a_L (B, L, D) that the captioner's encoder gives and
writes word scores, one step at a time:

    state_0          = decoder.init_state(grid, positions)       the image, before the first word
    logits_t, state_t = decoder.step(y_{t-1}, state_{t-1})       (N, V): `rnnlab.generate`'s interface

Teacher forcing (`forward`) runs the same step over a caption. Every decoder embeds the previous word,
x_t = W_embed[y_{t-1}] (E), with dropout on x_t and before the output layer, and runs one cell (rnn /
lstm / gru) of H units. `CaptionState` keeps the hidden state and, for attention, the annotations and
their projected keys; `reorder_caption_state` picks rows of all of them (beam search). Id 0 (<NULL>)
pads captions; its positions are masked out of every loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from ...nn import canonical_cell_name, init_cell

NULL_ID, START_ID, END_ID = 0, 1, 2  # as in rnnlab.data.captions


@dataclass(frozen=True)
class DecoderShape:
    """The sizes a decoder is built with (the model section's shared keys and the encoder's grid)."""

    vocab_size: int  # V
    num_locations: int  # L
    feature_size: int  # D
    grid_shape: tuple[int, int]  # (rows, columns) of the L locations
    cell: str  # rnn | lstm | gru (or a variant)
    embedding: int  # E
    hidden: int  # H
    attention_size: int  # A
    dropout: float  # on word vectors and before the output layer


class CaptionState(NamedTuple):
    """One decoder step's state, batch-first. hidden: (N, H) or (h, c); None fields without attention."""

    hidden: Tensor | tuple[Tensor, Tensor]
    annotations: Tensor | None  # (N, L, D) a_l (+ p_l)
    keys: Tensor | None  # (N, L, A) W_a a_l, computed once per image


def reorder_caption_state(state: CaptionState, index: Tensor) -> CaptionState:
    """Pick rows `index` (M,) of every tensor of a caption state (beam search's reorder_state)."""
    hidden = state.hidden
    hidden = (
        tuple(h.index_select(0, index) for h in hidden)
        if isinstance(hidden, tuple)
        else (hidden.index_select(0, index))
    )
    pick = lambda t: None if t is None else t.index_select(0, index)
    return CaptionState(hidden, pick(state.annotations), pick(state.keys))


class CaptionOutput(NamedTuple):
    """Teacher-forced decoding of a batch."""

    logits: Tensor  # (B, T, V)
    weights: Tensor | None  # (B, T, L) α_t; None without attention
    log_pick: Tensor | None  # (B, T) log α_t[s_t] of the sampled locations (hard, training)
    entropy: Tensor | None  # (B, T) H[α_t] (hard)
    sampled: Tensor | None  # (B,) True for the images that sampled (not the expected context)


StepResult = tuple[Tensor, CaptionState, Tensor | None, Tensor | None, Tensor | None]


class Decoder(nn.Module):
    """The shared part of every decoder: W_embed, dropout, the step interface and the time loop.

    A subclass creates its layers (in its `__init__`, after this one's) and ends with `finish_init()`;
    it defines `init_state` and `step_with_attention`, and may add terms to the loss (`penalties`).
    The order in which layers are created is the order of the random draws and of the parameters: it
    is the order of the single-file captioner these decoders came from, so seeds give the same weights
    and old optimizer states resume.
    """

    name: ClassVar[str] = ""
    attends: ClassVar[bool] = False  # True: the decoder has attention weights α_t over the locations

    def __init__(self, shape: DecoderShape, settings) -> None:
        super().__init__()
        self.shape, self.settings = shape, settings
        self.vocab_size = shape.vocab_size
        self.is_lstm = canonical_cell_name(shape.cell).startswith("lstm")
        self.embedding = nn.Embedding(shape.vocab_size, shape.embedding, padding_idx=NULL_ID)  # W_embed
        self.dropout = nn.Dropout(shape.dropout)

    def finish_init(self) -> None:
        """The cell's initialisation and small word vectors, after every layer exists (RNG order)."""
        init_cell(self.cell)
        nn.init.normal_(self.embedding.weight, std=0.1)

    def hidden_of(self, hidden: Tensor | tuple[Tensor, Tensor]) -> Tensor:
        """h (N, H) of a cell state: h itself, or the h of an LSTM's (h, c)."""
        return hidden[0] if self.is_lstm else hidden

    # ---- the interface --------------------------------------------------------------------------

    def image_vector(self, grid: Tensor) -> Tensor:
        """The image as one vector (B, D): the mean annotation (the CNN's global average pool)."""
        return grid.mean(1)

    def init_state(self, grid: Tensor, positions: Tensor | None = None) -> CaptionState:
        """Annotations (B, L, D) (and learned location embeddings (L, D)) -> the state before word 1."""
        raise NotImplementedError

    def step_with_attention(
        self, tokens: Tensor, state: CaptionState, how: str | None = None, expected: Tensor | None = None
    ) -> StepResult:
        """One step: previous words (N,) -> logits (N, V), state, α (N, L), log α[s] (N,), H[α] (N,)
        (the last three None where the decoder has no attention or does not sample)."""
        raise NotImplementedError

    def step(self, tokens: Tensor, state: CaptionState) -> tuple[Tensor, CaptionState]:
        """`rnnlab.generate`'s step function: tokens (N,) -> (logits (N, V), state)."""
        logits, state, *_ = self.step_with_attention(tokens, state)
        return logits, state

    def forward(
        self,
        state: CaptionState,
        captions_in: Tensor,
        how: str | None = None,
        expected: Tensor | None = None,
    ) -> CaptionOutput:
        """Teacher forcing from `state`: captions_in (B, T) starting with <START> -> outputs."""
        logits, weights, picks, entropies = [], [], [], []
        for t in range(captions_in.shape[1]):
            step_logits, state, alpha, log_pick, entropy = self.step_with_attention(
                captions_in[:, t], state, how, expected
            )
            logits.append(step_logits)
            weights.append(alpha)
            picks.append(log_pick)
            entropies.append(entropy)
        stack = lambda xs: None if xs[0] is None else torch.stack(xs, dim=1)
        sampled = None if expected is None else ~expected
        return CaptionOutput(stack(logits), stack(weights), stack(picks), stack(entropies), sampled)

    def penalties(
        self, loss: Tensor, out: CaptionOutput, nll: Tensor, mask: Tensor, words: Tensor, parts: dict
    ) -> Tensor:
        """The loss with the decoder's own terms added (none here); their values go into `parts`.

        loss: mean −log p per word; nll (B, T) and mask (B, T) per word; words: their number.
        """
        return loss

