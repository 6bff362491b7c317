"""Augmentation of training batches: random translation (pad and crop) and horizontal flips.

It draws from an explicit `torch.Generator`, so a resumed run draws the same numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def augment(images: Tensor, generator: torch.Generator, translate: int = 0, flip: bool = False) -> Tensor:
    """Random translation by up to `translate` pixels and random horizontal flips of a batch.

    images (B, C, H, W) -> (B, C, H, W). Translation pads with zeros (the background of Fashion-MNIST)
    and crops a window at a random offset, so an article can shift but not wrap around.
    """
    B, C, H, W = images.shape
    if translate > 0:
        p = translate
        padded = F.pad(images, (p, p, p, p))  # (B, C, H + 2p, W + 2p)
        dy = torch.randint(0, 2 * p + 1, (B, 1), generator=generator)
        dx = torch.randint(0, 2 * p + 1, (B, 1), generator=generator)
        rows = (dy + torch.arange(H)).view(B, 1, H, 1).expand(B, C, H, W)  # (B, C, H, W)
        cols = (dx + torch.arange(W)).view(B, 1, 1, W).expand(B, C, H, W)
        flat = padded.flatten(2)  # (B, C, (H + 2p)(W + 2p))
        images = flat.gather(2, (rows * (W + 2 * p) + cols).flatten(2)).view(B, C, H, W)
    if flip:
        mirror = torch.rand(B, generator=generator) < 0.5
        images = torch.where(mirror.view(B, 1, 1, 1), images.flip(-1), images)
    return images

