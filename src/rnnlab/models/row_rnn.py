"""Row-by-row recurrent image classifier: an image read as a sequence, many-to-one.

Letters: B batch, C channels, T = H rows (time steps), D = C·W values per row, H_r hidden size,
K classes.

    x_t = row t of the normalised image                    (B, T, D)   28 steps of 28 pixels
    h_t = RNN(x_t, h_{t−1})                                 any cell, stacked, optionally bidirectional
    r   = h_T (last) | mean_t h_t (mean)                    (B, H_r·dirs); bidirectional "last" joins
                                                            the forward h_T and the backward h_1
    s   = W_out · dropout(r) + b_out                        (B, K)

Many-to-one: one label for the whole sequence, so only the readout r meets the loss; the gradient
reaches the first rows through all T steps (LSTM/GRU gates keep it alive). Uses `rnnlab.nn.Recurrent`
(the fused kernel when the cell has one) with the course's initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from ..nn import Recurrent, canonical_cell_name, init_recurrent
from .features import InputPipeline

READOUTS = ("last", "mean")
FUSED_CELLS = ("lstm", "gru", "rnn-tanh", "rnn-relu")  # cells with a PyTorch kernel


@dataclass
class RowRNNConfig:
    cell: str = "lstm"  # rnn | rnn-relu | lstm | lstm-peephole | gru | gru-cho
    hidden: int = 128  # H_r per direction
    layers: int = 1  # stacked layers
    bidirectional: bool = False
    dropout: float = 0.1  # between stacked layers and before the scores
    readout: str = "last"  # last (h_T) | mean (average of h_t over the rows)
    label_smoothing: float = 0.0  # cross-entropy against (1 − ε)·one-hot + ε/K: less over-confidence
    forget_bias: float = 1.0  # LSTM forget-gate bias at initialisation
    path: str = "auto"  # auto | explicit | fused (see rnnlab.nn.recurrent)

    def __post_init__(self) -> None:
        try:
            self.cell = canonical_cell_name(self.cell)
        except ValueError as error:
            raise UserError(f"model.rnn.cell: {error}.") from None
        if self.hidden < 1 or self.layers < 1:
            raise UserError("model.rnn.hidden and model.rnn.layers must be positive integers.")
        if not 0 <= self.dropout < 1:
            raise UserError(f"model.rnn.dropout must be in [0, 1) (got {self.dropout!r}).")
        if self.readout not in READOUTS:
            raise UserError(f"model.rnn.readout must be last or mean (got {self.readout!r}).")
        if self.path not in ("auto", "explicit", "fused"):
            raise UserError(f"model.rnn.path must be auto, explicit or fused (got {self.path!r}).")
        if self.path == "fused" and self.cell in ("lstm-peephole", "gru-cho"):
            raise UserError(f"model.rnn.path fused is not available for {self.cell}; use auto or explicit.")
        if not 0 <= self.label_smoothing < 1:
            raise UserError(f"model.rnn.label_smoothing must be in [0, 1) (got {self.label_smoothing!r}).")


class RowRNNClassifier(nn.Module):
    """images (B, C, H, W) in [0, 1] -> class scores (B, K), reading the H rows in order."""

    def __init__(
        self,
        config: RowRNNConfig,
        input_pipeline: InputPipeline,
        num_classes: int,
        image_shape: tuple[int, int, int],
    ) -> None:
        super().__init__()
        self.config = config
        self.input = input_pipeline
        C, H, W = image_shape
        # "auto" takes the fused kernel whenever the cell has one: rows are short (T = 28) and fused
        # kernels run bf16 natively, the fastest way to train this model on a CPU.
        path = "fused" if config.path == "auto" and config.cell in FUSED_CELLS else config.path
        self.rnn = Recurrent(
            config.cell,
            C * W,
            config.hidden,
            config.layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout,
            path=path,
        )
        init_recurrent(self.rnn, forget_bias=config.forget_bias)
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(self.rnn.output_size, num_classes)

    @staticmethod
    def rows(images: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, T = H, D = C·W): row t holds every channel's pixels of image row t."""
        B, C, H, W = images.shape
        return images.permute(0, 2, 1, 3).reshape(B, H, C * W)  # (B, T, D)

    def forward(self, images: Tensor) -> Tensor:
        x = self.rows(self.input(images))  # (B, T, D)
        if self.rnn.resolved_path() != "fused" and torch.is_autocast_enabled("cpu"):
            # The explicit and loop paths are written for one dtype: run them in float32 under bf16
            # autocast (the fused kernels handle bf16 themselves).
            with torch.autocast("cpu", enabled=False):
                outputs, state = self.rnn(x.float())
        else:
            outputs, state = self.rnn(x)  # (B, T, H_r·dirs)
        if self.config.readout == "mean":
            r = outputs.mean(1)
        else:
            h_n = state[0] if isinstance(state, tuple) else state  # (layers·dirs, B, H_r)
            dirs = self.rnn.num_directions
            # The top layer's final state of each direction: the forward one has read rows 1..T, the
            # backward one rows T..1.
            r = h_n[-dirs:].transpose(0, 1).reshape(x.shape[0], -1)  # (B, H_r·dirs)
        return self.out(self.dropout(r))  # (B, K)

    def loss(self, scores: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(scores, labels, label_smoothing=self.config.label_smoothing)
