"""`show-tell`: Show and Tell; exactly the CS231n ``CaptioningRNN`` (`rnnlab.reference.CaptioningRNN`).

The image only sets the initial state; every word after that comes from the cell's memory:

    f   = mean_l a_l                                  (B, D)   the image vector
                                                               (image_vector=flatten: [a_1; …; a_L])
    h_0 = W_proj f + b_proj,  c_0 = 0                 (B, H)   the image only sets the initial state
    h_t = cell(W_embed[y_{t-1}], h_{t-1})             (B, H)
    p(y_t) = softmax(W_vocab h_t + b_vocab)           (B, V)

Section `model.show_tell`: `image_vector` (`mean`, the global average pool, by default; `flatten`:
every location in order, L·D, a fully connected readout of the grid, which keeps where things are).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from ...errors import UserError
from ...nn import make_cell
from .base import CaptionState, Decoder, DecoderShape, StepResult


@dataclass
class ShowTellConfig:
    """Section `model.show_tell`."""

    section: ClassVar[str] = "show_tell"
    # the image as one vector, `mean` (global average pool, D) or `flatten` (every location in order,
    # L·D: a fully connected readout of the grid, which keeps where things are)
    image_vector: str = "mean"

    def __post_init__(self) -> None:
        if self.image_vector not in ("mean", "flatten"):
            raise UserError(
                f"model.show_tell.image_vector must be mean or flatten (got {self.image_vector!r})."
            )


class ShowTellDecoder(Decoder):
    """Show and Tell: the image sets h_0, the cell reads only the words (see the module docstring)."""

    name = "show-tell"
    Config: ClassVar[type] = ShowTellConfig

    def __init__(self, shape: DecoderShape, settings: ShowTellConfig) -> None:
        super().__init__(shape, settings)
        L, D, E, H, V = (shape.num_locations, shape.feature_size, shape.embedding, shape.hidden,
                         shape.vocab_size)
        self.project = nn.Linear(L * D if settings.image_vector == "flatten" else D, H)  # W_proj, b_proj
        self.cell = make_cell(shape.cell, E, H)
        self.out = nn.Linear(H, V)  # W_vocab, b_vocab
        self.finish_init()

    def image_vector(self, grid: Tensor) -> Tensor:
        """The image as one vector: the mean annotation (B, D), or with `image_vector: flatten` every
        annotation in order (B, L·D)."""
        if self.settings.image_vector == "flatten":
            return grid.flatten(1)
        return grid.mean(1)

    def init_state(self, grid: Tensor, positions: Tensor | None = None) -> CaptionState:
        h0 = self.project(self.image_vector(grid))  # (B, H)
        return CaptionState((h0, torch.zeros_like(h0)) if self.is_lstm else h0, None, None)

    def step_with_attention(
        self, tokens: Tensor, state: CaptionState, how: str | None = None, expected: Tensor | None = None
    ) -> StepResult:
        x = self.dropout(self.embedding(tokens))  # (N, E)
        hidden = self.cell(x, state.hidden)
        h = self.hidden_of(hidden)  # (N, H)
        return self.out(self.dropout(h)), CaptionState(hidden, None, None), None, None, None
