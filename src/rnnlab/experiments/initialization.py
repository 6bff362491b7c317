"""Initialisation: activation statistics per layer of a deep tanh / ReLU network (the course's histograms).

The lecture's demonstration: 10 layers of 500 units, 1000 inputs drawn from N(0, 1), weights
W ~ N(0, s²) with

    small random   s = 0.01              tanh: activations shrink layer by layer to zero, and with
                                         them the gradients on the weights (∂L/∂W = x ⊗ δ)
    large random   s = 1                 tanh: almost every unit saturates at ±1, tanh' ≈ 0
    Xavier         s = 1 / sqrt(fan_in)  tanh: the spread is kept roughly constant
    Xavier         s = 1 / sqrt(fan_in)  ReLU: halves the variance each layer, so it dies away
    He             s = sqrt(2 / fan_in)  ReLU: the factor 2 makes up for the zeroed half

No training: a forward pass of random data is enough to see it, which is the point of the slide.
Biases are zero.
"""

from __future__ import annotations

import math

import torch

from .common import ExperimentResult

NAME = "init"
DESCRIPTION = "activation statistics per layer of a deep tanh/ReLU net: small random, large, Xavier, He"
CLAIM = ("tanh with small random weights collapses to zero (last-layer std < 1e-3 × the first's) and with "
         "large weights saturates; Xavier keeps tanh alive; ReLU decays under Xavier (std ratio < 0.2) but "
         "holds under He (ratio within [0.5, 2])")

#: name -> (nonlinearity, weight standard deviation as a function of fan-in)
SETTINGS = {
    "tanh / small random (0.01)": ("tanh", lambda fan_in: 0.01),
    "tanh / large random (1.0)": ("tanh", lambda fan_in: 1.0),
    "tanh / Xavier": ("tanh", lambda fan_in: 1.0 / math.sqrt(fan_in)),
    "relu / Xavier": ("relu", lambda fan_in: 1.0 / math.sqrt(fan_in)),
    "relu / He": ("relu", lambda fan_in: math.sqrt(2.0 / fan_in)),
}


def activations(nonlinearity: str, std, layers: int, width: int, samples: int,
                seed: int) -> list[torch.Tensor]:
    """The outputs of each layer of a random deep network on N(0, 1) inputs: [(samples, width)]."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, width, generator=gen)  # (N, width)
    outputs = []
    for _ in range(layers):
        W = torch.randn(width, width, generator=gen) * std(width)
        a = x @ W  # (N, width)
        x = torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a)
        outputs.append(x)
    return outputs


def run(quick: bool = False, seed: int = 0) -> ExperimentResult:
    layers, width, samples = (5, 100, 200) if quick else (10, 500, 1000)
    rows, data = [], {"layers": layers, "width": width, "settings": {}}
    stats = {}
    for name, (nonlinearity, std) in SETTINGS.items():
        outs = activations(nonlinearity, std, layers, width, samples, seed)
        means = [float(o.mean()) for o in outs]
        stds = [float(o.std()) for o in outs]
        saturated = [float((o.abs() > 0.99).float().mean()) for o in outs] if nonlinearity == "tanh" else None
        histograms = []
        for o in outs:
            low, high = (-1.0, 1.0) if nonlinearity == "tanh" else (0.0, max(float(o.max()), 1e-12))
            counts = torch.histc(o, bins=40, min=low, max=high)
            histograms.append({"range": [low, high], "counts": counts.tolist()})
        ratio = stds[-1] / stds[0] if stds[0] > 0 else math.nan
        stats[name] = {"ratio": ratio, "saturated": saturated[-1] if saturated else None}
        data["settings"][name] = {"mean": means, "std": stds, "saturated": saturated,
                                  "histograms": histograms}
        rows.append([name, stds[0], stds[layers // 2 - 1], stds[-1], ratio,
                     saturated[-1] if saturated else "-"])
    checks = {
        "tanh small collapses": stats["tanh / small random (0.01)"]["ratio"] < 1e-3,
        "tanh large saturates": stats["tanh / large random (1.0)"]["saturated"] > 0.5,
        "tanh Xavier keeps": stats["tanh / Xavier"]["ratio"] > 0.1,
        "relu Xavier decays": stats["relu / Xavier"]["ratio"] < 0.2,
        "relu He holds": 0.5 <= stats["relu / He"]["ratio"] <= 2.0,
    }
    measured = "; ".join(f"{name}: std ratio last/first {s['ratio']:.3g}"
                         + (f", {100 * s['saturated']:.0f}% saturated" if s["saturated"] is not None else "")
                         for name, s in stats.items())
    failed = [k for k, ok in checks.items() if not ok]
    if failed:
        measured += f" (failed: {', '.join(failed)})"
    data["checks"] = checks
    return ExperimentResult(NAME, DESCRIPTION, CLAIM,
                            ["setting", "std layer 1", f"std layer {layers // 2}", f"std layer {layers}",
                             "last/first", "saturated (last)"], rows, not failed, measured, data)


def figure(result: ExperimentResult, path):
    from ..viz.diagnostics import plot_init

    return plot_init(result.data, path)
