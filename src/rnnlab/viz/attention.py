"""Attention figures: which source tokens each output token looked at (models never plot)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def plot_attention(
    weights, source: Sequence[str], target: Sequence[str], out: str | Path, title: str | None = None
) -> Path:
    """Draw an attention matrix (T target rows × L source columns) as a heat map PNG; return its path.

    Args:
        weights: (T, L) array-like; row t is the distribution of output token t over the source.
        source: L source token labels (columns). target: T output token labels (rows).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    matrix = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=float)
    if matrix.shape != (len(target), len(source)):
        raise ValueError(
            f"weights of shape {matrix.shape} do not match {len(target)} targets × {len(source)} sources"
        )
    shown = lambda tokens: ["␣" if token == " " else token for token in tokens]
    width = max(4.0, 0.35 * len(source) + 1.5)
    height = max(3.0, 0.35 * len(target) + 1.2)
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    image = ax.imshow(matrix, cmap="viridis", vmin=0.0, vmax=max(1e-9, float(matrix.max())), aspect="auto")
    ax.set_xticks(range(len(source)), shown(source), rotation=90, fontsize=8)
    ax.set_yticks(range(len(target)), shown(target), fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
