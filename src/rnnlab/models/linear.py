"""Linear image classifier with a multiclass SVM (hinge) or softmax loss and weight regularisation.

Letters: B batch, P input features, K classes.

    s = W x + b                                              scores (B, K); W (K, P), one template per class
    SVM:      L_i = Σ_{j ≠ y_i} max(0, s_j − s_{y_i} + Δ)    (Δ = 1: the safety margin)
    softmax:  L_i = −log( exp(s_{y_i}) / Σ_j exp(s_j) )     (cross-entropy, multinomial logistic regression)
    L = (1/B) Σ_i L_i + λ R(W)
        L2:          R(W) = Σ_k Σ_l W_kl²
        L1:          R(W) = Σ_k Σ_l |W_kl|                   (prefers sparse W)
        elastic net: R(W) = Σ_k Σ_l β W_kl² + |W_kl|

The bias is not regularised (it only encodes how common each class is). The input is whatever the
`InputPipeline` makes of the image: centred pixels, HOG or histogram features, PCA components.
Trained by minibatch SGD/Adam, or full-batch L-BFGS (`--optimizer lbfgs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from .features import InputPipeline

LOSSES = ("softmax", "svm")
REGULARIZERS = ("l2", "l1", "elastic")


@dataclass
class LinearConfig:
    loss: str = "softmax"  # softmax | svm (multiclass hinge)
    margin: float = 1.0  # Δ of the hinge loss
    regularizer: str = "l2"  # l2 | l1 | elastic (β·W² + |W|)
    reg: float = 1e-4  # λ, the regularisation strength
    beta: float = 1.0  # β of the elastic net

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise UserError(f"model.linear.loss must be softmax or svm (got {self.loss!r}).")
        if self.regularizer not in REGULARIZERS:
            raise UserError(f"model.linear.regularizer must be l2, l1 or elastic (got {self.regularizer!r}).")
        if self.reg < 0 or self.beta < 0 or not self.margin > 0:
            raise UserError("model.linear.reg and model.linear.beta must be ≥ 0, model.linear.margin > 0.")


def svm_loss(scores: Tensor, labels: Tensor, margin: float = 1.0) -> Tensor:
    """Multiclass hinge loss, mean over the batch: scores (B, K), labels (B,) -> scalar."""
    correct = scores.gather(1, labels.view(-1, 1))  # (B, 1)
    margins = (scores - correct + margin).clamp(min=0)  # (B, K)
    margins = margins.scatter(1, labels.view(-1, 1), 0.0)  # j = y_i does not count
    return margins.sum(1).mean()


class LinearClassifier(nn.Module):
    """images (B, C, H, W) in [0, 1] -> class scores (B, K) = W · pipeline(images) + b."""

    def __init__(self, config: LinearConfig, input_pipeline: InputPipeline, num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.input = input_pipeline
        (num_features,) = input_pipeline.output_shape
        self.fc = nn.Linear(num_features, num_classes)
        # Small random weights: the scores start near 0, so the first softmax loss is ≈ ln K and the
        # first hinge loss ≈ (K − 1)Δ — the sanity checks of the notes.
        nn.init.normal_(self.fc.weight, std=1e-3)
        nn.init.zeros_(self.fc.bias)

    def forward(self, images: Tensor) -> Tensor:
        return self.fc(self.input(images).flatten(1))  # (B, K)

    def scores(self, features: Tensor) -> Tensor:
        """Scores of already-transformed inputs (B, P): full-batch L-BFGS transforms the set once."""
        return self.fc(features)

    def regularization(self) -> Tensor:
        """R(W) as configured (the bias excluded)."""
        W = self.fc.weight
        match self.config.regularizer:
            case "l2":
                return (W * W).sum()
            case "l1":
                return W.abs().sum()
            case "elastic":
                return self.config.beta * (W * W).sum() + W.abs().sum()
        raise AssertionError(self.config.regularizer)

    def loss(self, scores: Tensor, labels: Tensor) -> Tensor:
        """Data loss + λ R(W)."""
        if self.config.loss == "svm":
            data = svm_loss(scores, labels, self.config.margin)
        else:
            data = F.cross_entropy(scores, labels)
        return data + self.config.reg * self.regularization() if self.config.reg else data
