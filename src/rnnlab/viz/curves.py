"""Loss curves of a run, drawn from its metrics.jsonl (models never plot; this reads saved runs)."""

from __future__ import annotations

from pathlib import Path

from ..runlog import read_metrics


def plot_run(run: str | Path, out: str | Path | None = None) -> Path:
    """Draw train and validation loss against step into RUN/curves.png (or `out`); return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run)
    events = read_metrics(run)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    metric = "bpc" if any("bpc" in e for e in events) else "loss"
    for split, style in (("train", "-"), ("val", "o-")):
        points = [(e["step"], e[metric]) for e in events if e.get("split") == split and metric in e]
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, style, label=split, markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("bits per token" if metric == "bpc" else "loss (nats)")
    ax.set_title(run.name)
    ax.grid(alpha=0.3)
    ax.legend()
    path = Path(out) if out else run / "curves.png"
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
