"""Figures for image runs, drawn from saved results (models never plot).

- `plot_confusion`: the confusion matrix of a test evaluation (rows: true class, columns: predicted),
  each row normalised to fractions, with the counts written in the cells.
- `plot_search`: validation accuracy against every sampled hyperparameter of a random search (log axes
  for log-uniform ones), coarse and fine stages in two colours, the best trial ringed.
- `plot_images`: a grid of images with their labels (for looking at the data, or at mistakes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(confusion, classes: list[str], path: str | Path, title: str = "") -> Path:
    """Draw a K×K confusion matrix into `path` (PNG); return the path."""
    plt = _pyplot()
    counts = np.asarray(confusion, dtype=np.int64)
    fractions = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    K = len(counts)
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * K, 0.8 + 0.55 * K), dpi=110)
    ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    for i in range(K):
        for j in range(K):
            if counts[i, j]:
                ax.text(
                    j,
                    i,
                    str(counts[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if fractions[i, j] > 0.5 else "black",
                )
    ax.set_xticks(range(K), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(
        range(K), [f"{c} ({100 * fractions[i, i]:.0f}%)" for i, c in enumerate(classes)], fontsize=8
    )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (per-class accuracy)")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_search(rows: list[dict], space: dict, path: str | Path, metric: str = "val_accuracy") -> Path:
    """Scatter `metric` against each sampled parameter of a random search's result rows."""
    plt = _pyplot()
    names = [n for n, spec in space.items() if spec.get("kind") != "choice"] or list(space)
    done = [r for r in rows if isinstance(r.get(metric), int | float) and np.isfinite(r[metric])]
    cols = min(3, max(1, len(names)))
    rows_n = -(-len(names) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.3 * rows_n), dpi=110, squeeze=False)
    best = max(done, key=lambda r: r[metric]) if done else None
    for ax, name in zip(axes.flat, names):
        spec = space[name]
        for stage, colour in (("coarse", "tab:blue"), ("fine", "tab:orange")):
            points = [(r[name], r[metric]) for r in done if r.get("stage") == stage]
            if points and spec.get("kind") != "choice":
                x, y = zip(*points)
                ax.scatter(x, y, s=18, color=colour, label=stage, alpha=0.8)
            elif points:
                labels = [str(v) for v in spec["values"]]
                x = [labels.index(str(p[0])) if str(p[0]) in labels else 0 for p in points]
                ax.scatter(x, [p[1] for p in points], s=18, color=colour, label=stage, alpha=0.8)
                ax.set_xticks(range(len(labels)), labels, fontsize=7)
        if best is not None:
            bx = best[name]
            if spec.get("kind") == "choice":
                labels = [str(v) for v in spec["values"]]
                bx = labels.index(str(bx)) if str(bx) in labels else 0
            ax.scatter([bx], [best[metric]], s=90, facecolors="none", edgecolors="red", label="best")
        if spec.get("kind") == "log":
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_images(images: np.ndarray, labels: list[str], path: str | Path, columns: int = 10) -> Path:
    """A grid of images (N, C, H, W) uint8 with a caption each."""
    plt = _pyplot()
    n = len(images)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.2 * columns, 1.35 * rows), dpi=110, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, label in zip(axes.flat, images, labels):
        picture = image.transpose(1, 2, 0)
        ax.imshow(picture[..., 0] if picture.shape[2] == 1 else picture, cmap="gray")
        ax.set_title(label, fontsize=6)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
