"""Visual question answering: image (CNN) + question (RNN) -> a softmax over a fixed answer set.

    image (B, C, S, S) --CNNEncoder, mean over the grid--> (B, D) --Linear--> v (B, F)
    question ids (B, T), lengths (B,) --embedding--> Recurrent (lstm | gru, bidirectional optional,
        ragged: the final state of each question is taken at its own last word) --Linear--> q (B, F)
    fuse: concat [v; q] | product v ⊙ q  --MLP (one hidden ReLU layer)--> answer scores (B, A)

``kind``: ``lecture`` (both, the model above), ``question-only`` (no image: a language prior
baseline), ``image-only`` (no question).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..errors import UserError
from ..nn.recurrent import Recurrent
from .cnn import CNNConfig, CNNEncoder

KINDS = ("lecture", "question-only", "image-only")
FUSIONS = ("concat", "product")


@dataclass
class VQAConfig:
    kind: str = "lecture"  # lecture | question-only | image-only
    cell: str = "lstm"  # lstm | gru
    bidirectional: bool = True
    embedding: int = 32  # word-vector size
    hidden: int = 96  # question RNN units per direction
    fused: int = 128  # F: size of the image and question vectors
    fusion: str = "concat"  # concat | product
    mlp: int = 128  # hidden units of the answer MLP
    dropout: float = 0.1
    cnn: CNNConfig = field(default_factory=lambda: CNNConfig(channels=[24, 48, 64], hidden=0, dropout=0.0))

    def __post_init__(self) -> None:
        if isinstance(self.cnn, dict):
            self.cnn = CNNConfig(**self.cnn)
        if self.kind not in KINDS:
            raise UserError(f"model.kind must be one of {', '.join(KINDS)} (got {self.kind!r}).")
        if self.fusion not in FUSIONS:
            raise UserError(f"model.fusion must be concat or product (got {self.fusion!r}).")
        if self.cell not in ("lstm", "gru"):
            raise UserError(f"model.cell must be lstm or gru (got {self.cell!r}).")
        if min(self.embedding, self.hidden, self.fused, self.mlp) < 1 or not 0 <= self.dropout < 1:
            raise UserError("model sizes must be positive and model.dropout in [0, 1).")


class VQAModel(nn.Module):
    """(images (B, C, S, S) in [0, 1], question ids (B, T), lengths (B,)) -> answer scores (B, A)."""

    def __init__(self, config: VQAConfig, vocab_size: int, num_answers: int, image_shape) -> None:
        super().__init__()
        self.config = config
        self.uses_image = config.kind != "question-only"
        self.uses_question = config.kind != "image-only"
        F = config.fused
        if self.uses_image:
            self.encoder = CNNEncoder(config.cnn, tuple(image_shape))
            self.image_proj = nn.Linear(self.encoder.feature_size, F)
        if self.uses_question:
            self.embed = nn.Embedding(vocab_size, config.embedding, padding_idx=0)
            self.rnn = Recurrent(
                config.cell, config.embedding, config.hidden, bidirectional=config.bidirectional
            )
            self.question_proj = nn.Linear(self.rnn.output_size, F)
        both = self.uses_image and self.uses_question
        width = 2 * F if both and config.fusion == "concat" else F
        self.head = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(width, config.mlp),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.mlp, num_answers),
        )

    def image_vector(self, images: Tensor) -> Tensor:
        return torch.relu(self.image_proj(self.encoder(images)))

    def question_vector(self, questions: Tensor, lengths: Tensor) -> Tensor:
        """(B, T) ids and lengths -> (B, F); the padding never reaches the final state."""
        _, state = self.rnn(self.embed(questions), lengths=lengths)
        h = state[0] if isinstance(state, tuple) else state  # (dirs, B, H)
        h = torch.cat(list(h[-self.rnn.num_directions :]), dim=-1)
        return torch.relu(self.question_proj(h))

    def forward(self, images: Tensor, questions: Tensor, lengths: Tensor) -> Tensor:
        parts = []
        if self.uses_image:
            parts.append(self.image_vector(images))
        if self.uses_question:
            parts.append(self.question_vector(questions, lengths))
        if len(parts) == 1:
            fused = parts[0]
        elif self.config.fusion == "concat":
            fused = torch.cat(parts, dim=-1)
        else:
            fused = parts[0] * parts[1]
        return self.head(fused)
