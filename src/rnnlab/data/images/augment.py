"""Augmentation of training batches: random translation (pad and crop) and horizontal flips.

It draws from an explicit `torch.Generator`, so a resumed run draws the same numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def augment(images: Tensor, generator: torch.Generator, translate: int = 0, flip: bool = False,
            part: tuple[int, int] | None = None) -> Tensor:
    """Random translation by up to `translate` pixels and random horizontal flips of a batch.

    images (B, C, H, W) -> (B, C, H, W). Translation pads with zeros (the background of Fashion-MNIST)
    and crops a window at a random offset, so an article can shift but not wrap around.

    `part` (start, total): these images are rows start … start + B of a batch of `total` (one rank's
    share under DDP). The random draws are made for the whole batch and this share's rows are used,
    so every image gets the shift and flip it would get in a single process.
    """
    B, C, H, W = images.shape
    start, total = part if part is not None else (0, B)
    rows_of_batch = slice(start, start + B)
    if translate > 0:
        p = translate
        padded = F.pad(images, (p, p, p, p))  # (B, C, H + 2p, W + 2p)
        dy = torch.randint(0, 2 * p + 1, (total, 1), generator=generator)[rows_of_batch]
        dx = torch.randint(0, 2 * p + 1, (total, 1), generator=generator)[rows_of_batch]
        rows = (dy + torch.arange(H)).view(B, 1, H, 1).expand(B, C, H, W)  # (B, C, H, W)
        cols = (dx + torch.arange(W)).view(B, 1, 1, W).expand(B, C, H, W)
        flat = padded.flatten(2)  # (B, C, (H + 2p)(W + 2p))
        images = flat.gather(2, (rows * (W + 2 * p) + cols).flatten(2)).view(B, C, H, W)
    if flip:
        mirror = torch.rand(total, generator=generator)[rows_of_batch] < 0.5
        images = torch.where(mirror.view(B, 1, 1, 1), images.flip(-1), images)
    return images

