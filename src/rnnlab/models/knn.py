"""k-nearest-neighbour image classifier: the notes' first, data-driven classifier.

Letters: B queries, N stored training images, P features, K classes.

    d_1(x, x') = Σ_p |x_p − x'_p|          (L1)
    d_2(x, x') = sqrt(Σ_p (x_p − x'_p)²)   (L2; computed as ‖x‖² − 2 x·x' + ‖x'‖², one matmul)

"Training" stores the images; prediction is a majority vote among the k closest. A tie goes to the
tied class with the nearest neighbour: the neighbour of rank i (0 = nearest) votes 1 + 10⁻³·2⁻ⁱ, and
since 2⁻ⁱ outweighs 2⁻ⁱ⁻¹ + 2⁻ⁱ⁻² + …, the bonuses never outweigh a whole vote but always favour the
class that holds the nearest of the tied neighbours (exactly so for k ≤ 30, in float64). k is a
hyperparameter, chosen on validation data (or by cross-validation; see `rnnlab.train.image_loop`).

Distances are computed in blocks of `query_batch` queries × `train_batch` stored images, so that
10,000 × 60,000 distances never need more than a few hundred MB; L2 uses the matmul expansion (fast),
L1 `torch.cdist` (no matmul shortcut; several times slower).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..data.images import to_float
from ..errors import UserError
from .features import InputPipeline

DISTANCES = ("l1", "l2")


@dataclass
class KNNConfig:
    k: int = 0  # neighbours that vote; 0: choose from k_choices on validation (or by cross-validation)
    k_choices: list[int] = field(default_factory=lambda: [1, 3, 4, 5, 6, 7, 8, 9, 11, 15])
    distance: str = "l2"  # l1 | l2
    select: str = "validation"  # validation | cross-validation: how k is chosen when k is 0
    folds: int = 5  # cross-validation folds
    refit: bool = True  # after choosing k, also store the validation images (more neighbours to vote)

    def __post_init__(self) -> None:
        if self.distance not in DISTANCES:
            raise UserError(f"model.knn.distance must be l1 or l2 (got {self.distance!r}).")
        if self.select not in ("validation", "cross-validation"):
            raise UserError(f"model.knn.select must be validation or cross-validation (got {self.select!r}).")
        self.k_choices = [int(k) for k in self.k_choices]
        if self.k < 0 or not self.k_choices or min(self.k_choices) < 1:
            raise UserError("model.knn.k must be ≥ 0 and model.knn.k_choices positive integers.")
        if self.folds < 2:
            raise UserError(f"model.knn.folds must be at least 2 (got {self.folds!r}).")


class KNNClassifier(nn.Module):
    """Stores training images; `forward` returns each class's share of the k nearest neighbours' votes.

    images (B, C, H, W) in [0, 1] -> (B, K) vote fractions (rows sum to 1), so that evaluation and
    ensembles can treat them like probabilities. The stored images are uint8 buffers (a 60,000-image
    set costs 47 MB in the checkpoint); their features are computed once and cached in memory.
    """

    def __init__(
        self,
        config: KNNConfig,
        input_pipeline: InputPipeline,
        num_classes: int,
        image_shape: tuple[int, int, int],
        num_stored: int = 0,
    ) -> None:
        super().__init__()
        self.config = config
        self.input = input_pipeline
        self.num_classes = num_classes
        self.register_buffer("k", torch.tensor(max(config.k, 1)))
        self.register_buffer("train_images", torch.zeros(num_stored, *image_shape, dtype=torch.uint8))
        self.register_buffer("train_labels", torch.zeros(num_stored, dtype=torch.long))
        self._features: Tensor | None = None
        self.query_batch, self.train_batch = 512, 20_000

    def fit(self, images: Tensor, labels: Tensor) -> KNNClassifier:
        """Remember the training set: images (N, C, H, W) uint8, labels (N,)."""
        self.train_images = torch.as_tensor(images, dtype=torch.uint8).clone()
        self.train_labels = torch.as_tensor(labels, dtype=torch.long).clone()
        self._features = None
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The stored set's size is only known from the checkpoint: take its shape, then load.
        for name in ("train_images", "train_labels"):
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        self._features = None
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        """The input pipeline in chunks: images (N, C, H, W) uint8 or float -> (N, P)."""
        return torch.cat(
            [self.input(to_float(images[i : i + 4096])).flatten(1) for i in range(0, len(images), 4096)]
        )

    def stored_features(self) -> Tensor:
        if self._features is None:
            self._features = self.features(self.train_images)
        return self._features

    @torch.no_grad()
    def neighbours(self, queries: Tensor, stored: Tensor, k: int) -> Tensor:
        """Indices (B, k) of the k stored vectors nearest to each query, nearest first.

        queries (B, P), stored (N, P). Blocks of stored vectors keep memory bounded: each block's own
        top k are merged with the best so far.
        """
        best_d = best_i = None
        stored_sq = (stored * stored).sum(1) if self.config.distance == "l2" else None  # (N,)
        for start in range(0, len(stored), self.train_batch):
            block = stored[start : start + self.train_batch]
            if self.config.distance == "l2":
                # ‖q − s‖² = ‖q‖² − 2 q·s + ‖s‖²; ‖q‖² is the same for every s, so it is left out.
                d = stored_sq[start : start + len(block)].unsqueeze(0) - 2 * queries @ block.T  # (B, n)
            else:
                d = torch.cdist(queries, block, p=1)  # (B, n)
            kk = min(k, d.shape[1])
            d, i = d.topk(kk, dim=1, largest=False)  # (B, kk), ascending
            i = i + start
            if best_d is None:
                best_d, best_i = d, i
            else:
                d, order = torch.cat([best_d, d], 1).topk(min(k, best_d.shape[1] + kk), dim=1, largest=False)
                best_d, best_i = d, torch.cat([best_i, i], 1).gather(1, order)
        return best_i

    def vote(self, neighbour_labels: Tensor, k: int) -> Tensor:
        """Vote fractions (B, K) of the first k neighbours' labels (B, ≥k); argmax: the tie-broken winner.

        The fractions are whole votes / k; the winner of a tie gets 10⁻⁴/k more, too little to matter as
        a probability but enough to make it the argmax.
        """
        B = neighbour_labels.shape[0]
        ranks = torch.arange(k, dtype=torch.float64)
        weights = (1 + 1e-3 * 0.5**ranks).expand(B, k).contiguous()  # (B, k): a vote plus a tie-breaker
        scored = torch.zeros(B, self.num_classes, dtype=torch.float64)
        scored.scatter_add_(1, neighbour_labels[:, :k], weights)
        votes = scored.floor()  # the bonuses add up to less than 2·10⁻³: whole votes
        votes.scatter_add_(1, scored.argmax(1, keepdim=True), torch.full((B, 1), 1e-4, dtype=torch.float64))
        return (votes / k).float()

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        if len(self.train_labels) == 0:
            raise RuntimeError("KNNClassifier.fit must be called before predicting")
        k = int(self.k)
        stored = self.stored_features()
        out = []
        for start in range(0, len(images), self.query_batch):
            queries = self.features(images[start : start + self.query_batch])
            index = self.neighbours(queries, stored, k)
            out.append(self.vote(self.train_labels[index], k))
        return torch.cat(out)  # (B, K)

    @staticmethod
    def loss(probs: Tensor, labels: Tensor) -> Tensor:
        """Cross-entropy of the vote fractions, smoothed so that a unanimous wrong vote stays finite."""
        smoothed = (probs + 1e-3) / (1 + 1e-3 * probs.shape[1])
        return -smoothed.gather(1, labels.view(-1, 1)).log().mean()

    @torch.no_grad()
    def accuracy_by_k(
        self,
        queries: Tensor,
        labels: Tensor,
        ks: list[int],
        stored: Tensor | None = None,
        stored_labels: Tensor | None = None,
    ) -> dict[int, float]:
        """Accuracy of every k in `ks` on query images (B, C, H, W), from one neighbour search."""
        stored = self.stored_features() if stored is None else stored
        stored_labels = self.train_labels if stored_labels is None else stored_labels
        k_max = max(ks)
        correct = dict.fromkeys(ks, 0)
        for start in range(0, len(queries), self.query_batch):
            q = self.features(queries[start : start + self.query_batch])
            neighbour_labels = stored_labels[self.neighbours(q, stored, k_max)]  # (B, k_max)
            y = labels[start : start + self.query_batch]
            for k in ks:
                correct[k] += int((self.vote(neighbour_labels, k).argmax(1) == y).sum())
        return {k: correct[k] / len(queries) for k in ks}
