"""Figures of the diagnostics and experiments (models and experiments never plot; they hand data here).

Each function takes plain numbers (lists and dicts, as saved in the JSON next to the figure), draws one
PNG and returns its path. matplotlib is imported lazily with the Agg backend, so nothing here needs a
display.
"""

from __future__ import annotations

import math
from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    _pyplot().close(fig)
    return path


def _positive(values, floor: float = 1e-300) -> list[float]:
    """Values for a log axis: zeros (underflow) and non-finite values drawn at the floor."""
    return [v if (math.isfinite(v) and v > floor) else floor for v in values]


def plot_gradflow(results, path: str | Path, title: str = "gradient flow") -> Path:
    """‖∂L_T/∂h_t‖ against the number of steps back from T, one line per setting, log scale."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for r in results:
        back = list(range(len(r.norms)))  # 0 = step T, T-1 = step 1
        ax.semilogy(back, _positive(list(reversed(r.norms))), label=f"{r.label} (ratio {r.ratio:.2g})")
    ax.set_xlabel("steps back from T  (T - t)")
    ax.set_ylabel("‖∂L_T / ∂h_t‖")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_hello(data: dict, path: str | Path) -> Path:
    """The 'hello' example: next-character distributions at each step, before and after training."""
    plt = _pyplot()
    vocab, word = data["vocab"], data["word"]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), dpi=110, gridspec_kw={"width_ratios": [1, 1, 1.2]})
    for ax, key, title in ((axes[0], "before", "before training"), (axes[1], "after", "after training")):
        probs = data[key]  # (steps, V)
        ax.imshow(probs, vmin=0, vmax=1, cmap="Blues")
        for t, row in enumerate(probs):
            for v, p in enumerate(row):
                ax.text(v, t, f"{p:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if p > 0.6 else "black")
        ax.set_xticks(range(len(vocab)), vocab)
        ax.set_yticks(range(len(probs)), [f"{word[t]} -> {word[t + 1]}" for t in range(len(probs))])
        ax.set_xlabel("next character")
        ax.set_title(title)
    axes[2].plot(data["loss_curve"])
    axes[2].set_yscale("log")
    axes[2].set_xlabel("step")
    axes[2].set_ylabel("loss (nats)")
    axes[2].set_title(f"greedy from 'h': {data['greedy']}", fontsize=9)
    axes[2].grid(alpha=0.3)
    return _save(fig, path)


def plot_long_memory(data: dict, path: str | Path) -> Path:
    """Accuracy against the distance D, one line per cell; chance at 0.5."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    styles = ["o-", "s--", "^:"]  # distinct markers: lines that coincide at 1.0 stay visible
    for i, (cell, accuracies) in enumerate(data["accuracy"].items()):
        axes[0].plot(data["distances"], accuracies, styles[i % 3], label=cell, markersize=9 - 2 * i)
    axes[0].axhline(0.5, color="gray", linestyle=":", label="chance")
    axes[0].set_xlabel("distance D (distractors between subject and verb)")
    axes[0].set_ylabel("held-out accuracy")
    axes[0].set_ylim(0.4, 1.02)
    axes[0].legend()
    axes[0].grid(alpha=0.3)
    largest = str(data["distances"][-1])
    for cell, curves in data["loss_curves"].items():
        axes[1].plot(_smooth(curves[largest]), label=cell)
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("training loss (smoothed)")
    axes[1].set_title(f"training at D = {largest}")
    axes[1].legend()
    axes[1].grid(alpha=0.3)
    return _save(fig, path)


def _smooth(values: list[float], window: int = 20) -> list[float]:
    """Running mean over up to `window` previous values (for noisy per-step losses)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_tbptt(data: dict, path: str | Path) -> Path:
    """Saved activation memory and speed against the truncation length k (log-log)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    axes[0].loglog(data["k"], data["saved_mb"], "o-")
    axes[0].set_xlabel("truncation length k (last point: full BPTT)")
    axes[0].set_ylabel("activations saved for backward (MB)")
    axes[0].grid(alpha=0.3, which="both")
    axes[1].semilogx(data["k"], data["tokens_per_s"], "o-")
    axes[1].set_xlabel("truncation length k")
    axes[1].set_ylabel("tokens / s (forward + backward + step)")
    axes[1].set_ylim(bottom=0)
    axes[1].grid(alpha=0.3, which="both")
    fig.suptitle(f"LSTM H={data['hidden']}, B={data['batch']}, "
                 f"N={data['tokens_per_stream']} tokens per stream")
    return _save(fig, path)


def plot_init(data: dict, path: str | Path) -> Path:
    """The course's histograms: a row per initialisation, a column per layer; std per layer on the right."""
    plt = _pyplot()
    settings = data["settings"]
    layers = data["layers"]
    fig = plt.figure(figsize=(2.0 + 1.3 * layers, 1.4 * len(settings) + 0.8), dpi=100)
    grid = fig.add_gridspec(len(settings), layers + 3)
    for row, (name, s) in enumerate(settings.items()):
        for layer, hist in enumerate(s["histograms"]):
            ax = fig.add_subplot(grid[row, layer])
            low, high = hist["range"]
            counts = hist["counts"]
            width = (high - low) / len(counts)
            ax.bar([low + (i + 0.5) * width for i in range(len(counts))], counts, width=width, color="C0")
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            if row == 0:
                ax.set_title(f"layer {layer + 1}", fontsize=8)
            if layer == 0:
                ax.set_ylabel(name.replace(" / ", "\n"), fontsize=7)
            ax.text(0.5, 0.85, f"σ={s['std'][layer]:.2g}", transform=ax.transAxes, ha="center", fontsize=6)
    ax = fig.add_subplot(grid[:, layers + 1 :])
    for name, s in settings.items():
        ax.semilogy(range(1, layers + 1), _positive(s["std"]), "o-", label=name, markersize=3)
    ax.set_xlabel("layer")
    ax.set_ylabel("std of activations")
    ax.legend(fontsize=6)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def plot_bidirectional(data: dict, path: str | Path) -> Path:
    """Accuracy on the ambiguous word and elsewhere, and the training curves, uni vs bidirectional."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    names = ["unidirectional", "bidirectional"]
    xs = range(len(names))
    axes[0].bar([x - 0.2 for x in xs], [data[n]["teddy_accuracy"] for n in names], 0.4, label="on 'teddy'")
    axes[0].bar([x + 0.2 for x in xs], [data[n]["other_accuracy"] for n in names], 0.4, label="other words")
    axes[0].axhline(0.5, color="gray", linestyle=":")
    axes[0].set_xticks(list(xs), names)
    axes[0].set_ylabel("held-out tagging accuracy")
    axes[0].set_ylim(0, 1.05)
    axes[0].legend()
    for n in names:
        axes[1].plot(_smooth(data[n]["losses"]), label=n)
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("training loss (smoothed)")
    axes[1].legend()
    axes[1].grid(alpha=0.3)
    return _save(fig, path)


def plot_sampling(data: dict, path: str | Path) -> Path:
    """Diversity, repetition and likelihood per decoding setting, with an example of each."""
    plt = _pyplot()
    names = list(data["settings"])
    stats = data["settings"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), dpi=110)
    for ax, key, label in ((axes[0], "distinct_4grams", "distinct 4-grams"),
                           (axes[1], "repeated_lines", "repeated lines"),
                           (axes[2], "log_likelihood", "log p per character (T = 1)")):
        ax.bar(names, [stats[n][key] for n in names], color=[f"C{i}" for i in range(len(names))])
        ax.set_title(label)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(alpha=0.3, axis="y")
    examples = "\n".join(f"{n:>7}: {stats[n]['example'][:70]!r}" for n in names)
    fig.text(0.01, 0.01, examples, family="monospace", fontsize=6.5, va="bottom")
    fig.tight_layout(rect=(0, 0.22, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_batchnorm(data: dict, path: str | Path) -> Path:
    """Final training loss against the learning rate, with and without batch normalisation."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name in ("plain", "batchnorm"):
        finals = [v if math.isfinite(v) else float("nan") for v in data["final"][name]]
        line = ax.semilogx(data["rates"], finals, "o-", label=f"{name} (highest lr that trains: "
                           f"{data['highest_stable'][name]:g})")[0]
        for lr, final, ok in zip(data["rates"], data["final"][name], data["stable"][name]):
            if not ok:
                y = final if math.isfinite(final) else math.log(10)
                ax.plot(lr, min(y, 3 * math.log(10)), "x", color=line.get_color(), markersize=10)
    ax.axhline(math.log(10), color="gray", linestyle=":", label="ln 10 (chance)")
    ax.set_ylim(0, 3 * math.log(10))
    ax.set_xlabel("learning rate (SGD)")
    ax.set_ylabel(f"mean loss of the last 20 of {data['steps']} steps")
    ax.set_title("× = diverged (or, at the smallest rates, too slow to learn)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def plot_dropout(data: dict, path: str | Path) -> Path:
    """Training and validation loss (evaluation mode) against the step, with and without dropout."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for i, name in enumerate(n for n in data if isinstance(data[n], dict) and "evals" in data[n]):
        evals = data[name]["evals"]
        steps = [e["step"] for e in evals]
        ax.plot(steps, [e["train"] for e in evals], "--", color=f"C{i}", label=f"{name}: train")
        ax.plot(steps, [e["val"] for e in evals], "o-", color=f"C{i}", label=f"{name}: val", markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per character, evaluation mode)")
    ax.set_title(f"{data['train_chars']:,} training characters")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_clipping(data: dict, path: str | Path) -> Path:
    """Loss and gradient norm (before clipping) per step, with and without clipping; log scales."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    for name, run in data["runs"].items():
        axes[0].semilogy(_positive(run["losses"]), label=name, linewidth=0.9)
        axes[1].semilogy(_positive(run["grad_norms"]), label=name, linewidth=0.7)
    axes[1].axhline(data["max_norm"], color="gray", linestyle=":", label="clipping threshold")
    axes[0].set_ylabel("training loss (nats)")
    axes[1].set_ylabel("global gradient norm before clipping")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(f"vanilla RNN, SGD lr {data['lr']:g}, unrolled {data['seq_len']} steps")
    return _save(fig, path)
