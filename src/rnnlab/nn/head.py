"""An optional feed-forward head on each time step's output ("deep on top of y_t" in the notes)."""

from __future__ import annotations

from torch import Tensor, nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class FeedForwardHead(nn.Module):
    """Position-wise MLP: (..., H) -> (..., hidden[-1]); identity when `hidden` is empty."""

    def __init__(self, input_size: int, hidden: tuple[int, ...] = (), activation: str = "relu",
                 dropout: float = 0.0) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
        layers: list[nn.Module] = []
        size = input_size
        for width in hidden:
            layers += [nn.Linear(size, width), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            size = width
        self.net = nn.Sequential(*layers)
        self.output_size = size

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
