"""Fully connected network (multi-layer perceptron) on image vectors.

Letters: B batch, P input features, H_l width of hidden layer l, K classes.

    h_0 = pipeline(image)                          (B, P)
    h_l = dropout(act(BN(W_l h_{l−1} + b_l)))      (B, H_l)   l = 1 .. L (BN before the nonlinearity)
    s   = W_out h_L + b_out                        (B, K)

Activations from the notes: ReLU max(0, x) (use this), leaky ReLU max(0.01x, x), ELU, tanh, sigmoid
(don't), and maxout max(W_1ᵀx + b_1, W_2ᵀx + b_2) — two affine maps per unit, twice the parameters.
Initialisation matches the activation: He (std sqrt(2 / fan_in)) for the ReLU family, Xavier for tanh
and sigmoid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from .features import InputPipeline

ACTIVATIONS = ("relu", "leaky-relu", "elu", "tanh", "sigmoid", "maxout")


@dataclass
class MLPConfig:
    hidden: list[int] = field(default_factory=lambda: [1024, 512])  # widths of the hidden layers
    activation: str = "relu"  # relu | leaky-relu | elu | tanh | sigmoid | maxout
    dropout: float = 0.3  # after every hidden layer
    input_dropout: float = 0.1  # on the input vector
    batch_norm: bool = True  # BN between the affine map and the nonlinearity
    label_smoothing: float = 0.0  # cross-entropy against (1 − ε)·one-hot + ε/K: less over-confidence

    def __post_init__(self) -> None:
        self.hidden = [int(w) for w in self.hidden]
        if not self.hidden or min(self.hidden) < 1:
            raise UserError(f"model.mlp.hidden must list at least one positive width (got {self.hidden!r}).")
        if self.activation not in ACTIVATIONS:
            raise UserError(
                f"model.mlp.activation {self.activation!r} is unknown; choose one of "
                f"{', '.join(ACTIVATIONS)}."
            )
        if not (0 <= self.dropout < 1 and 0 <= self.input_dropout < 1):
            raise UserError("model.mlp.dropout and model.mlp.input_dropout must be in [0, 1).")
        if not 0 <= self.label_smoothing < 1:
            raise UserError(f"model.mlp.label_smoothing must be in [0, 1) (got {self.label_smoothing!r}).")


class Maxout(nn.Module):
    """max over `pieces` affine maps: (B, D) -> (B, H)."""

    def __init__(self, input_size: int, output_size: int, pieces: int = 2) -> None:
        super().__init__()
        self.pieces = pieces
        self.linear = nn.Linear(input_size, output_size * pieces)

    def forward(self, x: Tensor) -> Tensor:
        z = self.linear(x)  # (B, H·pieces)
        return z.view(*z.shape[:-1], -1, self.pieces).amax(-1)  # (B, H)


def activation(name: str) -> nn.Module:
    return {
        "relu": nn.ReLU(),
        "leaky-relu": nn.LeakyReLU(0.01),
        "elu": nn.ELU(),
        "tanh": nn.Tanh(),
        "sigmoid": nn.Sigmoid(),
    }[name]


class MLPClassifier(nn.Module):
    """images (B, C, H, W) in [0, 1] -> class scores (B, K)."""

    def __init__(self, config: MLPConfig, input_pipeline: InputPipeline, num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.input = input_pipeline
        (size,) = input_pipeline.output_shape
        layers: list[nn.Module] = [nn.Dropout(config.input_dropout)] if config.input_dropout else []
        for width in config.hidden:
            if config.activation == "maxout":
                # Maxout is its own nonlinearity; BN after it keeps the next layer's input normalised.
                layers.append(Maxout(size, width))
                if config.batch_norm:
                    layers.append(nn.BatchNorm1d(width))
            else:
                layers.append(nn.Linear(size, width, bias=not config.batch_norm))
                if config.batch_norm:
                    layers.append(nn.BatchNorm1d(width))
                layers.append(activation(config.activation))
            if config.dropout:
                layers.append(nn.Dropout(config.dropout))
            size = width
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(size, num_classes)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        he = self.config.activation in ("relu", "leaky-relu", "elu", "maxout")
        for module in self.body.modules():
            if isinstance(module, nn.Linear):
                if he:
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                else:
                    nn.init.xavier_normal_(module.weight)
                if module.bias is not None:
                    module.bias.zero_()
        nn.init.xavier_normal_(self.out.weight)
        self.out.bias.zero_()

    def forward(self, images: Tensor) -> Tensor:
        return self.out(self.body(self.input(images).flatten(1)))  # (B, K)

    def loss(self, scores: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(scores, labels, label_smoothing=self.config.label_smoothing)
