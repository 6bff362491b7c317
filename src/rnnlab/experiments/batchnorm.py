"""Batch normalisation: the highest learning rate that still trains, with and without BN.

The course's claim (lecture 6): normalising each layer's pre-activations to zero mean and unit
variance over the batch, then scaling and shifting them (γ, β), makes deep networks far less sensitive
to the learning rate and the initialisation. We train the same deep ReLU network (8 hidden layers
of 128, He initialisation) with plain SGD over a grid of learning rates, with and without a
BatchNorm1d before every ReLU, on a synthetic 10-class problem whose input features have very
different scales (×0.1 to ×10, as raw features often do). A run *trains* when every loss is finite
and the mean of its last 20 losses is below 0.9 × ln 10 (it learned something without diverging; the
smallest rates may fail this by being too slow, which is not instability). BN's advantage is the
range: it still trains at learning rates where the plain network blows up.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .common import ExperimentResult

NAME = "batchnorm"
DESCRIPTION = "deep ReLU net, SGD over a learning-rate grid: the highest rate that trains, with/without BN"
CLAIM = "the highest learning rate that trains with batch normalisation is at least 10× the one without"
CLASSES, FEATURES = 10, 20


def make_data(samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (N, 20) with feature scales from 0.1 to 10, labels (N,) from a random teacher network."""
    gen = torch.Generator().manual_seed(seed)
    scales = torch.logspace(-1, 1, FEATURES)
    x = torch.randn(samples, FEATURES, generator=gen)
    teacher = torch.randn(FEATURES, CLASSES, generator=gen)
    labels = (torch.tanh(x @ torch.randn(FEATURES, FEATURES, generator=gen)) @ teacher).argmax(1)
    return x * scales, labels


def make_net(batchnorm: bool, depth: int, width: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    size = FEATURES
    for _ in range(depth):
        linear = nn.Linear(size, width)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        nn.init.zeros_(linear.bias)
        layers += [linear] + ([nn.BatchNorm1d(width)] if batchnorm else []) + [nn.ReLU()]
        size = width
    layers.append(nn.Linear(size, CLASSES))
    return nn.Sequential(*layers)


def train(batchnorm: bool, lr: float, x: torch.Tensor, y: torch.Tensor, steps: int, depth: int, width: int,
          seed: int) -> list[float]:
    torch.manual_seed(seed)
    net = make_net(batchnorm, depth, width)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        index = torch.randint(len(x), (128,), generator=gen)
        loss = F.cross_entropy(net(x[index]), y[index])
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            break  # diverged; nothing more to learn from this run
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return losses


def stable(losses: list[float], steps: int) -> bool:
    tail = losses[-20:]
    return (len(losses) == steps and all(math.isfinite(v) for v in losses)
            and sum(tail) / len(tail) < 0.9 * math.log(CLASSES))


def run(quick: bool = False, seed: int = 0) -> ExperimentResult:
    rates = [0.01, 0.1, 1.0] if quick else [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
    steps, depth, width = (30, 3, 32) if quick else (300, 8, 128)
    x, y = make_data(4096, seed)
    rows, data = [], {"rates": rates, "steps": steps, "curves": {"plain": {}, "batchnorm": {}},
                      "final": {"plain": [], "batchnorm": []}, "stable": {"plain": [], "batchnorm": []}}
    for lr in rates:
        row = [lr]
        for name, bn in (("plain", False), ("batchnorm", True)):
            losses = train(bn, lr, x, y, steps, depth, width, seed)
            tail = losses[-20:]
            final = sum(tail) / len(tail)
            ok = stable(losses, steps)
            data["curves"][name][str(lr)] = losses
            data["final"][name].append(final)
            data["stable"][name].append(ok)
            row += [final, ok]
        rows.append(row)

    def highest(name: str) -> float:
        stable_rates = [lr for lr, ok in zip(rates, data["stable"][name]) if ok]
        return max(stable_rates) if stable_rates else 0.0

    plain, bn = highest("plain"), highest("batchnorm")
    data["highest_stable"] = {"plain": plain, "batchnorm": bn}
    measured = f"highest learning rate that trains: plain {plain:g}, with batch norm {bn:g}"
    holds = plain > 0 and bn >= 10 * plain
    return ExperimentResult(NAME, DESCRIPTION, CLAIM,
                            ["lr", "plain: final loss", "plain: trains", "BN: final loss", "BN: trains"],
                            rows, holds, measured, data)


def figure(result: ExperimentResult, path):
    from ..viz.diagnostics import plot_batchnorm

    return plot_batchnorm(result.data, path)
