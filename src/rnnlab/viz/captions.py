"""Attention overlays of a caption, as in Show, Attend and Tell's figures (models never plot).

A strip: the image, then one panel per generated word with the attention map α_t of the step that
produced the word, upsampled from the h×w grid to the image (bilinear) and laid over a dimmed copy of
the image: bright where the model looked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def upsample_attention(weights, grid_shape: tuple[int, int], size: tuple[int, int]):
    """α (L,) over an h×w grid -> (H, W) map, bilinear, scaled to a maximum of 1 (numpy)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    h, w = grid_shape
    alpha = torch.as_tensor(np.asarray(weights, dtype=np.float32)).reshape(1, 1, h, w)
    up = F.interpolate(alpha, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()
    return up / max(float(up.max()), 1e-12)


def plot_attention_strip(
    image,
    words: Sequence[str],
    weights,
    grid_shape: tuple[int, int],
    out: str | Path,
    *,
    boxes: Sequence[Sequence[int]] = (),
    title: str | None = None,
    per_row: int = 8,
) -> Path:
    """Draw the strip into a PNG; return its path.

    Args:
        image: (C, H, W) uint8 (C = 1 or 3). words: the T generated words (with "<END>" if wanted).
        weights: (T, L) attention, row t for word t, L = h·w locations row-major.
        grid_shape: (h, w). boxes: optional item boxes (x0, y0, x1, y1) drawn on the first panel.
        per_row: panels per row of the figure (long captions wrap).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle

    picture = np.asarray(image)
    picture = picture[0] if picture.shape[0] == 1 else picture.transpose(1, 2, 0)
    matrix = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=np.float32)
    if matrix.shape[0] < len(words):
        raise ValueError(f"{matrix.shape[0]} attention rows for {len(words)} words")
    panels = len(words) + 1
    cols = min(per_row, panels)
    rows = (panels + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 1.9 * rows), dpi=110, squeeze=False)
    grey = picture if picture.ndim == 2 else picture.mean(axis=2)
    size = grey.shape
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= panels:
            continue
        if k == 0:
            ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=255)
            for x0, y0, x1, y1 in boxes:
                ax.add_patch(
                    Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, color="lime", lw=1)
                )
            ax.set_title("image", fontsize=8)
            continue
        heat = upsample_attention(matrix[k - 1], grid_shape, size)
        ax.imshow(grey * 0.35, cmap="gray", vmin=0, vmax=255)
        ax.imshow(heat, cmap="inferno", alpha=0.65, vmin=0, vmax=1)
        ax.set_title(words[k - 1], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
