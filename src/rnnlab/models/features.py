"""Fitted input modules of the image models: hand-crafted features and the input pipeline.

Letters: B batch, C channels, H height, W width, P features per image.

**Preprocessing** (the notes' "in practice: center only"; normalise; PCA and whitening as options) is
an `nn.Module` with buffers fitted on the *training* images only, so a model carries its own input
statistics into every checkpoint and takes raw images in [0, 1]:

    InputPipeline: images (B, C, H, W) -> [features: pixels | HOG | histogram] -> centre -> scale
                   -> [PCA -> whitening] -> (B, P) for the vector models, or (B, C, H, W) for CNNs/RNNs

(They lived in ``rnnlab.data.images`` before; data code does not hold fitted modules.)
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.images.sets import to_float
from ..errors import UserError


class IntensityHistogram(nn.Module):
    """The histogram of pixel intensities, per channel (the colour histogram of the notes, in grey).

    images (B, C, H, W) in [0, 1] -> (B, C·bins), each channel's histogram summing to 1. Soft
    (linear) binning, so that a pixel between two bin centres counts half in each.
    """

    def __init__(self, bins: int = 16) -> None:
        super().__init__()
        self.bins = bins

    def forward(self, images: Tensor) -> Tensor:
        B, C = images.shape[:2]
        position = images.flatten(2).clamp(0, 1) * (self.bins - 1)  # (B, C, HW) in bin units
        lower = position.floor().clamp(max=self.bins - 2) if self.bins > 1 else position.floor()
        upper_weight = position - lower
        hist = torch.zeros(B, C, self.bins, dtype=images.dtype, device=images.device)
        hist.scatter_add_(2, lower.long(), 1 - upper_weight)
        if self.bins > 1:
            hist.scatter_add_(2, (lower + 1).long(), upper_weight)
        return (hist / position.shape[2]).flatten(1)  # (B, C·bins)


class HOG(nn.Module):
    """Histogram of oriented gradients (Dalal & Triggs), vectorised over a batch.

    1. gradients gx, gy by central differences; magnitude m = sqrt(gx² + gy²), unsigned orientation
       θ = atan2(gy, gx) mod π (a dark-on-light edge counts as the light-on-dark one);
    2. each pixel votes m into the two nearest of `bins` orientation bins (linear interpolation), summed
       over cells of `cell`×`cell` pixels -> (B, bins, H/cell, W/cell);
    3. blocks of `block`×`block` cells (stride one cell) are L2-normalised, clipped at 0.2 and normalised
       again ("L2-Hys") and concatenated -> (B, P).

    28×28 grey images with cell 7, block 2, 9 bins give 3·3 blocks × 2·2 cells × 9 = 324 features.
    Colour images use the channel with the strongest gradient at each pixel.
    """

    def __init__(self, cell: int = 7, bins: int = 9, block: int = 2) -> None:
        super().__init__()
        self.cell, self.bins, self.block = cell, bins, block

    def output_size(self, height: int, width: int) -> int:
        cells_y, cells_x = height // self.cell, width // self.cell
        return (cells_y - self.block + 1) * (cells_x - self.block + 1) * self.block**2 * self.bins

    def forward(self, images: Tensor) -> Tensor:
        B, C, H, W = images.shape
        padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
        gx = padded[:, :, 1:-1, 2:] - padded[:, :, 1:-1, :-2]  # (B, C, H, W)
        gy = padded[:, :, 2:, 1:-1] - padded[:, :, :-2, 1:-1]
        magnitude = torch.sqrt(gx * gx + gy * gy)
        if C > 1:  # the strongest channel at each pixel
            best = magnitude.argmax(1, keepdim=True)
            gx, gy, magnitude = gx.gather(1, best), gy.gather(1, best), magnitude.gather(1, best)
        theta = torch.atan2(gy, gx).remainder(math.pi)  # (B, 1, H, W) in [0, π)
        position = theta / math.pi * self.bins - 0.5  # bin centres at (i + 0.5)·π/bins
        lower = position.floor()
        upper_weight = position - lower
        votes = torch.zeros(B, self.bins, H, W, dtype=images.dtype, device=images.device)
        votes.scatter_add_(1, lower.long().remainder(self.bins), magnitude * (1 - upper_weight))
        votes.scatter_add_(1, (lower.long() + 1).remainder(self.bins), magnitude * upper_weight)
        cy, cx = H // self.cell, W // self.cell
        cells = votes[:, :, : cy * self.cell, : cx * self.cell]
        cells = cells.reshape(B, self.bins, cy, self.cell, cx, self.cell).sum((3, 5))  # (B, bins, cy, cx)
        blocks = cells.unfold(2, self.block, 1).unfold(3, self.block, 1)  # (B, bins, by, bx, blk, blk)
        blocks = blocks.permute(0, 2, 3, 1, 4, 5).flatten(3)  # (B, by, bx, bins·blk²)
        blocks = F.normalize(blocks, dim=-1, eps=1e-6).clamp(max=0.2)
        blocks = F.normalize(blocks, dim=-1, eps=1e-6)
        return blocks.flatten(1)  # (B, P)


FEATURES = ("pixels", "hog", "histogram", "hog+histogram")
CENTERING = ("none", "image", "channel")


class Features(nn.Module):
    """images (B, C, H, W) -> hand-crafted feature vectors (B, P); "pixels" keeps the image as it is."""

    def __init__(self, kind: str, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        if kind not in FEATURES:
            raise UserError(f"data.features {kind!r} is unknown; choose one of {', '.join(FEATURES)}.")
        self.kind = kind
        C, H, W = image_shape
        self.hog = HOG() if "hog" in kind else None
        self.histogram = IntensityHistogram() if "histogram" in kind else None
        if kind == "pixels":
            self.output_shape = (C, H, W)
        else:
            size = (self.hog.output_size(H, W) if self.hog else 0) + (C * 16 if self.histogram else 0)
            self.output_shape = (size,)

    def forward(self, images: Tensor) -> Tensor:
        if self.kind == "pixels":
            return images
        parts = [module(images) for module in (self.hog, self.histogram) if module is not None]
        return torch.cat(parts, dim=1)


class InputPipeline(nn.Module):
    """Raw images (B, C, H, W) in [0, 1] -> the model's input; statistics fitted on training images.

    features -> [flatten] -> centre (subtract the mean image, or each channel's mean) -> scale (divide
    by the standard deviation, per pixel or per channel) -> [PCA to `pca` components -> whitening].

    The notes: compute the mean on the training set only and subtract that same mean at test time;
    centring is what practice needs, PCA and whitening are rarely worth it for images (kept as
    options). PCA and features need `flatten` (vector models: kNN, linear, MLP).

    Buffers (saved with the model): mean, std of the feature shape; components (P, k) and scale (k,)
    when PCA is on. Call `fit(train_images)` once before training.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        *,
        features: str = "pixels",
        center: str = "channel",
        scale: bool = True,
        pca: int = 0,
        whiten: bool = False,
        flatten: bool = True,
    ) -> None:
        super().__init__()
        if center not in CENTERING:
            raise UserError(f"data.center {center!r} is unknown; choose one of {', '.join(CENTERING)}.")
        if not flatten and (features != "pixels" or pca):
            raise UserError(
                "data.features and data.pca turn images into vectors; they work for the knn, "
                "linear and mlp models only (the cnn and rnn need the image itself)."
            )
        self.image_shape = tuple(image_shape)
        self.features = Features(features, self.image_shape)
        self.center, self.scale, self.flatten, self.whiten = center, scale, flatten, whiten
        shape = self.features.output_shape
        if flatten:
            shape = (math.prod(shape),)
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))
        self.pca = pca
        if pca:
            if pca > shape[0]:
                raise UserError(
                    f"data.pca {pca} asks for more components than the {shape[0]} input features; lower it."
                )
            self.register_buffer("components", torch.zeros(shape[0], pca))
            self.register_buffer("pca_scale", torch.ones(pca))
            shape = (pca,)
        self.output_shape = shape

    def _features(self, images: Tensor) -> Tensor:
        x = self.features(images)
        return x.flatten(1) if self.flatten else x

    @torch.no_grad()
    def fit(self, images: np.ndarray | Tensor, chunk: int = 4096) -> InputPipeline:
        """Fit the statistics on training images (N, C, H, W) (uint8 or float in [0, 1])."""
        feats = torch.cat(
            [self._features(to_float(images[i : i + chunk])) for i in range(0, len(images), chunk)]
        )  # (N, *shape)
        if self.center == "channel" and feats.dim() == 4:  # one mean per channel, spread over the pixels
            mean = feats.mean((0, 2, 3), keepdim=True)[0].expand_as(feats[0])
            std = feats.std((0, 2, 3), keepdim=True)[0].expand_as(feats[0])
        elif self.center == "channel" and self.features.kind == "pixels":  # flattened pixels
            C = self.image_shape[0]
            per_channel = feats.view(len(feats), C, -1)
            mean = per_channel.mean((0, 2)).repeat_interleave(per_channel.shape[2])
            std = per_channel.std((0, 2)).repeat_interleave(per_channel.shape[2])
        elif self.center == "channel":  # feature vectors have no channels: one overall mean
            mean = feats.mean().expand_as(feats[0])
            std = feats.std().expand_as(feats[0])
        else:  # "image" (the mean image, per pixel), and "none" (scale only)
            mean = feats.mean(0)
            std = feats.std(0)
        if self.center != "none":
            self.mean.copy_(mean)
        # Constant pixels (the border of many images) have std 0: leave them unscaled.
        self.std.copy_(
            torch.where(std > 1e-3, std, torch.ones_like(std)) if self.scale else torch.ones_like(std)
        )
        if self.pca:
            x = (feats - self.mean) / self.std  # (N, P)
            covariance = x.T.double() @ x.double() / max(len(x) - 1, 1)  # (P, P)
            eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
            top = torch.argsort(eigenvalues, descending=True)[: self.pca]
            self.components.copy_(eigenvectors[:, top].float())
            variance = eigenvalues[top].clamp(min=0).float()
            # Whitening divides each component by its standard deviation (+ε, so that noise directions
            # with tiny variance are not blown up).
            self.pca_scale.copy_(
                1.0 / torch.sqrt(variance + 1e-2) if self.whiten else torch.ones_like(variance)
            )
        return self

    def forward(self, images: Tensor) -> Tensor:
        x = (self._features(images) - self.mean) / self.std
        if self.pca:
            x = (x @ self.components) * self.pca_scale  # (B, k)
        return x
