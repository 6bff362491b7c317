"""The image classifiers by name: `--model knn | linear | mlp | cnn | rnn`.

Each family lives in its own file (knn.py, linear.py, mlp.py, cnn.py, row_rnn.py). They share one
interface: a module that takes raw images (B, C, H, W) as floats in [0, 1] and returns class scores
(B, K), with its `InputPipeline` (fitted preprocessing) as the submodule `input` and a `loss(scores,
labels)` method. kNN is the exception that is not trained by gradients: it is `fit` and returns vote
fractions.

The `model` section of an image run's configuration names the family and holds one sub-section per
family; only the named one is used (all are saved, so a config file can switch with one line).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import UserError
from .cnn import CNNClassifier, CNNConfig
from .features import InputPipeline
from .knn import KNNClassifier, KNNConfig
from .linear import LinearClassifier, LinearConfig
from .mlp import MLPClassifier, MLPConfig
from .row_rnn import RowRNNClassifier, RowRNNConfig

MODELS = ("knn", "linear", "mlp", "cnn", "rnn")
#: models that read vectors (flattened pixels or features) rather than images
VECTOR_MODELS = ("knn", "linear", "mlp")


@dataclass
class ImageModelConfig:
    name: str = "cnn"  # knn | linear | mlp | cnn | rnn
    knn: KNNConfig = field(default_factory=KNNConfig)
    linear: LinearConfig = field(default_factory=LinearConfig)
    mlp: MLPConfig = field(default_factory=MLPConfig)
    cnn: CNNConfig = field(default_factory=CNNConfig)
    rnn: RowRNNConfig = field(default_factory=RowRNNConfig)

    def __post_init__(self) -> None:
        if self.name not in MODELS:
            raise UserError(f"unknown image model {self.name!r}; choose one of {', '.join(MODELS)}.")


def build_input_pipeline(
    name: str,
    image_shape: tuple[int, int, int],
    *,
    features: str = "pixels",
    center: str = "channel",
    scale: bool = True,
    pca: int = 0,
    whiten: bool = False,
) -> InputPipeline:
    """The preprocessing for model `name` (unfitted): vectors for kNN/linear/MLP, images for CNN/RNN."""
    return InputPipeline(
        image_shape,
        features=features,
        center=center,
        scale=scale,
        pca=pca,
        whiten=whiten,
        flatten=name in VECTOR_MODELS,
    )


def build_classifier(
    config: ImageModelConfig,
    input_pipeline: InputPipeline,
    num_classes: int,
    image_shape: tuple[int, int, int],
    num_stored: int = 0,
) -> nn.Module:
    """The configured classifier around an input pipeline; `num_stored` sizes kNN's stored set."""
    match config.name:
        case "knn":
            return KNNClassifier(config.knn, input_pipeline, num_classes, image_shape, num_stored)
        case "linear":
            return LinearClassifier(config.linear, input_pipeline, num_classes)
        case "mlp":
            return MLPClassifier(config.mlp, input_pipeline, num_classes)
        case "cnn":
            return CNNClassifier(config.cnn, input_pipeline, num_classes, image_shape)
        case "rnn":
            return RowRNNClassifier(config.rnn, input_pipeline, num_classes, image_shape)
    raise AssertionError(config.name)


# ---- `rnnlab summary`: every layer's output shape and parameter count --------------------------


def _shape(value) -> tuple | None:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, tuple | list) and value:
        return _shape(value[0])
    return None


def _size(n: int) -> int:
    return n[0] if isinstance(n, tuple) else n


def _formula(module: nn.Module, input_shape: tuple | None, output_shape: tuple | None) -> str:
    """The notes' formulas for a layer: output size (N − F + 2P)/S + 1 and parameters (F·F·D + 1)·K."""
    if isinstance(module, nn.Conv2d) and input_shape:
        F_, P, S = _size(module.kernel_size), _size(module.padding), _size(module.stride)
        N, D, K = input_shape[-1], module.in_channels, module.out_channels
        bias = module.bias is not None
        params = f"({F_}·{F_}·{D}{' + 1' if bias else ''})·{K} = {(F_ * F_ * D + bias) * K}"
        return f"({N} − {F_} + 2·{P})/{S} + 1 = {(N - F_ + 2 * P) // S + 1}; {params}" + (
            "" if bias else " (no bias: BN follows)"
        )
    if isinstance(module, nn.MaxPool2d | nn.AvgPool2d) and input_shape:
        F_, S, P = (
            _size(module.kernel_size),
            _size(module.stride or module.kernel_size),
            _size(module.padding),
        )
        N = input_shape[-1]
        return f"({N} − {F_} + 2·{P})/{S} + 1 = {(N - F_ + 2 * P) // S + 1}; no parameters"
    if isinstance(module, nn.Linear):
        bias = module.bias is not None
        total = sum(p.numel() for p in module.parameters())
        return f"({module.in_features}{' + 1' if bias else ''})·{module.out_features} = {total}"
    if hasattr(module, "cells") and hasattr(module, "num_directions"):  # a Recurrent layer
        parts = []
        for cell in module.cells:
            G, D, H = cell.gates, cell.input_size, cell.hidden_size
            peepholes = f" + 3·{H}" if hasattr(cell, "weight_ci") else ""  # the peephole LSTM's w_c
            parts.append(f"{G}·{H}·({D} + {H} + 2){peepholes}")
        unique = sorted(set(parts), key=parts.index)
        counts = [f"{parts.count(u)}×{u}" if parts.count(u) > 1 else u for u in unique]
        total = sum(p.numel() for p in module.parameters())
        return f"cells G·H·(D + H + 2): {' + '.join(counts)} = {total}"
    if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
        return f"γ, β: 2·{module.num_features} = {2 * module.num_features}"
    return ""


def layer_table(model: nn.Module, example) -> list[dict]:
    """Run `example` through `model` once and record every layer: name, type, output shape, parameters.

    Leaf modules are layers; so are `Recurrent` layers and `InputPipeline`s (reported whole). The conv
    and pooling rows carry the notes' formulas, worked out, so the printed numbers can be checked by hand.
    """
    from ..nn import Recurrent

    units = (Recurrent, InputPipeline)
    rows: list[dict] = []
    hooks = []

    def inside_unit(name: str) -> bool:
        return any(name.startswith(prefix + ".") for prefix in unit_names)

    unit_names = [n for n, m in model.named_modules() if isinstance(m, units) and n]
    for name, module in model.named_modules():
        if not name or inside_unit(name):
            continue
        if list(module.children()) and not isinstance(module, units):
            continue

        def hook(mod, inputs, output, name=name):
            in_shape = _shape(inputs)
            out_shape = _shape(output)
            rows.append(
                {
                    "layer": name,
                    "type": type(mod).__name__,
                    "output_shape": out_shape,
                    "params": sum(p.numel() for p in mod.parameters()),
                    "formula": _formula(mod, in_shape, out_shape),
                }
            )

        hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(*example) if isinstance(example, tuple) else model(example)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return rows


def format_layer_table(rows: list[dict], model: nn.Module, title: str = "") -> str:
    """The table `rnnlab summary` prints."""
    lines = [title] if title else []
    width = max([len(r["layer"]) for r in rows] + [5])
    lines.append(f"{'layer':<{width}}  {'type':<16} {'output shape':<18} {'params':>9}  formula")
    for r in rows:
        shape = "×".join(str(s) for s in r["output_shape"]) if r["output_shape"] else "-"
        lines.append(f"{r['layer']:<{width}}  {r['type']:<16} {shape:<18} {r['params']:>9,}  {r['formula']}")
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lines.append(
        f"total: {total:,} parameters ({trainable:,} trainable); output shapes are for a batch of "
        f"{rows[0]['output_shape'][0] if rows and rows[0]['output_shape'] else 1}"
    )
    return "\n".join(lines)
