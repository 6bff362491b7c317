"""Convolutional network: a reusable `CNNEncoder` (conv–BN–ReLU–pool blocks) and a classifier head.

Letters: B batch, C input channels, H×W image size, D feature channels of the last block,
h×w its spatial size, L = h·w locations, K classes.

    block b:  [conv F×F (stride 1, pad F//2) -> BN -> ReLU] × convs_per_block -> max-pool 2×2 -> dropout
    grid:     the last block's map (B, D, h, w) read as L locations × D features (B, L, D)
    features: global average of the grid over the locations (B, D)
    classify: s = W · dropout(features or the flattened grid) (+ one hidden layer) (B, K)

The notes' formulas, which `rnnlab summary` prints for every layer: a conv layer of K filters of size
F×F on an N×N×D input with padding P and stride S gives an output of (N − F + 2P)/S + 1 per side and
has (F·F·D + 1)·K parameters (no +1 here: the conv bias is redundant before BN, which has its own).
Weights use He initialisation (std sqrt(2 / fan_in)), right for ReLU.

`CNNEncoder` is what the captioning and VQA models reuse:

    encoder = CNNEncoder(CNNConfig(channels=[32, 64]), image_shape=(3, 64, 64))
    encoder.fit_normalization(train_images)      # per-channel mean/std buffers, from training images
    features = encoder(images)                   # images (B, C, H, W) floats in [0, 1] -> (B, D)
    grid = encoder.grid(images)                  # (B, L, D): L = h·w locations, for attention
    encoder.save("runs/cnn/encoder")             # model.safetensors + encoder.json (no pickle)
    encoder = CNNEncoder.load("runs/cnn")        # a run folder (its encoder/) or an encoder folder
    encoder.freeze("all") / encoder.freeze([0])  # transfer learning: frozen blocks keep BN statistics
    encoder.feature_size, encoder.grid_shape     # D, (h, w)

Every `rnnlab train image --model cnn` run writes RUN/encoder/ from its best checkpoint.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ..errors import UserError
from .features import InputPipeline

ENCODER_FORMAT = "rnnlab-cnn-encoder"
ENCODER_VERSION = 1
READOUTS = ("pool", "flatten")


@dataclass
class CNNConfig:
    channels: list[int] = field(default_factory=lambda: [32, 64])  # D of each block; one block each
    convs_per_block: int = 2  # conv–BN–ReLU layers per block
    kernel: int = 3  # F: filter size (odd; padding F//2 keeps the size)
    block_dropout: float = 0.0  # spatial dropout (whole feature maps) after each block
    readout: str = "flatten"  # flatten (all L·D grid values) | pool (the D global-average features)
    hidden: int = 256  # width of a hidden fully connected layer before the scores (0: none)
    dropout: float = 0.3  # before the hidden layer and before the scores
    label_smoothing: float = 0.0  # cross-entropy against (1 − ε)·one-hot + ε/K: less over-confidence
    # Transfer learning: start from a trained encoder (a cnn run folder or an encoder folder) ...
    encoder: str = ""
    # ... keep these blocks fixed ("all", "none", or block numbers such as "0,1") ...
    freeze: str = "none"
    # ... and train the encoder's other blocks at this fraction of the learning rate (fine-tuning).
    finetune_lr: float = 0.1

    def __post_init__(self) -> None:
        self.channels = [int(c) for c in self.channels]
        if not self.channels or min(self.channels) < 1:
            raise UserError(f"model.cnn.channels must list positive widths (got {self.channels!r}).")
        if self.convs_per_block < 1 or self.kernel < 1 or self.kernel % 2 == 0:
            raise UserError("model.cnn.convs_per_block must be ≥ 1 and model.cnn.kernel an odd number ≥ 1.")
        if self.readout not in READOUTS:
            raise UserError(f"model.cnn.readout must be flatten or pool (got {self.readout!r}).")
        if self.hidden < 0 or not (0 <= self.dropout < 1 and 0 <= self.block_dropout < 1):
            raise UserError("model.cnn.hidden must be ≥ 0 and the dropouts in [0, 1).")
        if not 0 <= self.finetune_lr <= 1:
            raise UserError(f"model.cnn.finetune_lr must be in [0, 1] (got {self.finetune_lr!r}).")
        frozen_blocks(self.freeze, len(self.channels))  # validates the spelling
        if not 0 <= self.label_smoothing < 1:
            raise UserError(f"model.cnn.label_smoothing must be in [0, 1) (got {self.label_smoothing!r}).")


def frozen_blocks(freeze: str | list[int], num_blocks: int) -> list[int]:
    """'all' | 'none' | '0,1' | [0, 1] -> the block numbers to freeze."""
    if isinstance(freeze, list | tuple):
        blocks = [int(b) for b in freeze]
    elif str(freeze).strip().lower() in ("", "none"):
        return []
    elif str(freeze).strip().lower() == "all":
        return list(range(num_blocks))
    else:
        try:
            blocks = [int(b) for b in str(freeze).replace(",", " ").split()]
        except ValueError:
            raise UserError(
                f"model.cnn.freeze must be all, none or block numbers like 0,1 (got {freeze!r})."
            ) from None
    if any(not 0 <= b < num_blocks for b in blocks):
        raise UserError(
            f"model.cnn.freeze names block(s) {blocks}, but the encoder has blocks 0..{num_blocks - 1}."
        )
    return sorted(set(blocks))


class ConvBlock(nn.Module):
    """[conv F×F -> BN -> ReLU] × n -> max-pool 2×2 -> spatial dropout.

    (B, C_in, H, W) -> (B, C_out, H/2, W/2).
    """

    def __init__(self, in_channels: int, out_channels: int, convs: int, kernel: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(convs):
            layers += [
                nn.Conv2d(
                    in_channels if i == 0 else out_channels,
                    out_channels,
                    kernel,
                    padding=kernel // 2,
                    bias=False,
                ),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.MaxPool2d(2))
        if dropout:
            layers.append(nn.Dropout2d(dropout))
        self.layers = nn.Sequential(*layers)
        for module in self.layers:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")  # He: std sqrt(2 / fan_in)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class CNNEncoder(nn.Module):
    """Images (B, C, H, W) in [0, 1] -> features (B, D), or a grid of L locations (B, L, D).

    The input normalisation (per-channel mean and std of the training images, or whatever
    `InputPipeline` the classifier fitted) is a buffer of the encoder, so a saved encoder takes raw
    images wherever it is reused. See the module docstring for the whole API.
    """

    def __init__(
        self,
        config: CNNConfig,
        image_shape: tuple[int, int, int],
        input_pipeline: InputPipeline | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.image_shape = tuple(int(s) for s in image_shape)
        C, H, W = self.image_shape
        self.input = input_pipeline or InputPipeline(
            self.image_shape, center="channel", scale=True, flatten=False
        )
        if tuple(self.input.output_shape) != self.image_shape:
            raise UserError("the CNN encoder needs an input pipeline that keeps the image shape.")
        blocks, c = [], C
        for width in config.channels:
            blocks.append(ConvBlock(c, width, config.convs_per_block, config.kernel, config.block_dropout))
            c = width
        # channels-last (NHWC) weights and activations: oneDNN's fast convolution layout on CPUs (about
        # 1.5× faster here); the tensors' shapes and the saved weights are the same either way.
        self.blocks = nn.ModuleList(blocks).to(memory_format=torch.channels_last)
        h, w = H, W
        for _ in config.channels:
            h, w = h // 2, w // 2
        if h < 1 or w < 1:
            raise UserError(
                f"{len(config.channels)} blocks halve a {H}×{W} image to nothing; use fewer "
                "model.cnn.channels."
            )
        self.feature_size = c  # D
        self.grid_shape = (h, w)  # L = h·w
        self.frozen: list[int] = []

    @property
    def num_locations(self) -> int:
        return self.grid_shape[0] * self.grid_shape[1]

    def fit_normalization(self, images) -> CNNEncoder:
        """Fit the input statistics on training images (N, C, H, W) uint8 or floats in [0, 1]."""
        self.input.fit(images)
        return self

    def feature_map(self, images: Tensor) -> Tensor:
        """images (B, C, H, W) -> the last block's map (B, D, h, w)."""
        x = self.input(images).contiguous(memory_format=torch.channels_last)
        for block in self.blocks:
            x = block(x)
        return x

    def grid(self, images: Tensor) -> Tensor:
        """images (B, C, H, W) -> (B, L, D): one D-vector per location, row-major over (h, w)."""
        fmap = self.feature_map(images)  # (B, D, h, w)
        return fmap.flatten(2).transpose(1, 2)  # (B, L, D)

    def forward(self, images: Tensor) -> Tensor:
        """images (B, C, H, W) -> global-average-pooled features (B, D)."""
        return self.feature_map(images).mean((2, 3))

    # ---- transfer learning ----------------------------------------------------------------------

    def freeze(self, blocks: str | list[int] = "all") -> list[int]:
        """Stop training these blocks: no gradients, and their BN keeps its running statistics."""
        self.frozen = frozen_blocks(blocks, len(self.blocks))
        for index, block in enumerate(self.blocks):
            for parameter in block.parameters():
                parameter.requires_grad_(index not in self.frozen)
        self.train(self.training)
        return self.frozen

    def train(self, mode: bool = True) -> CNNEncoder:
        super().train(mode)
        for index in self.frozen:  # a frozen block must not update its BN statistics either
            self.blocks[index].eval()
        return self

    # ---- encoder checkpoints --------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write model.safetensors and encoder.json into `folder` (atomically: a renamed temporary)."""
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.parent / f".{folder.name}.tmp-{secrets.token_hex(4)}"
        tmp.mkdir()
        state = {k: v.detach().contiguous().clone() for k, v in self.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"))
        document = {
            "format": ENCODER_FORMAT,
            "version": ENCODER_VERSION,
            "config": asdict(self.config),
            "image_shape": list(self.image_shape),
            "feature_size": self.feature_size,
            "grid_shape": list(self.grid_shape),
            "input": {"center": self.input.center, "scale": self.input.scale},
        }
        (tmp / "encoder.json").write_text(json.dumps(document, indent=1), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
        return folder

    @classmethod
    def load(cls, path: str | Path) -> CNNEncoder:
        """Load an encoder folder, or a cnn run folder's encoder/ (in eval mode, on the CPU)."""
        path = Path(path)
        if (path / "encoder" / "encoder.json").is_file():
            path = path / "encoder"
        if not (path / "encoder.json").is_file():
            raise UserError(
                f"{path} holds no CNN encoder (encoder.json); give a cnn run folder or the "
                "encoder folder it wrote."
            )
        try:
            document = json.loads((path / "encoder.json").read_text(encoding="utf-8"))
            if document.get("format") != ENCODER_FORMAT:
                raise ValueError("not an rnnlab CNN encoder")
            config = CNNConfig(**{**document["config"], "encoder": "", "freeze": "none"})
            shape = tuple(document["image_shape"])
            pipeline = InputPipeline(shape, flatten=False, **document.get("input", {}))
            encoder = cls(config, shape, pipeline)
            encoder.load_state_dict(load_file(str(path / "model.safetensors")))
        except UserError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure here means a damaged encoder
            detail = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
            raise UserError(f"the encoder in {path} is damaged ({detail}); retrain it.") from None
        return encoder.eval()


class CNNClassifier(nn.Module):
    """images (B, C, H, W) in [0, 1] -> class scores (B, K): a `CNNEncoder` and a small head."""

    def __init__(
        self,
        config: CNNConfig,
        input_pipeline: InputPipeline,
        num_classes: int,
        image_shape: tuple[int, int, int],
    ) -> None:
        super().__init__()
        self.config = config
        self.encoder = CNNEncoder(config, image_shape, input_pipeline)
        size = self.encoder.feature_size
        if config.readout == "flatten":
            size *= self.encoder.num_locations
        layers: list[nn.Module] = [nn.Dropout(config.dropout)] if config.dropout else []
        if config.hidden:
            layers += [nn.Linear(size, config.hidden), nn.ReLU(inplace=True)]
            if config.dropout:
                layers.append(nn.Dropout(config.dropout))
            size = config.hidden
            nn.init.kaiming_normal_(layers[-3 if config.dropout else -2].weight, nonlinearity="relu")
        layers.append(nn.Linear(size, num_classes))
        self.head = nn.Sequential(*layers)

    @property
    def input(self) -> InputPipeline:
        return self.encoder.input

    def forward(self, images: Tensor) -> Tensor:
        if self.config.readout == "flatten":
            features = self.encoder.feature_map(images).flatten(1)  # (B, D·h·w)
        else:
            features = self.encoder(images)  # (B, D)
        return self.head(features)  # (B, K)

    def loss(self, scores: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(scores, labels, label_smoothing=self.config.label_smoothing)
