"""Image sets in memory and their cache on disk.

Letters: N images, C channels, H height, W width.

**A cached image dataset** is a folder

    meta.json                    format, name, class names, image shape (C, H, W), counts, source
    train_images.npy (N, C, H, W) uint8      train_labels.npy (N,) int64
    test_images.npy  (M, C, H, W) uint8      test_labels.npy  (M,) int64

read back with ``np.load(allow_pickle=False)`` (loading never runs code), written by `write_cache`
through a staging folder with meta.json last (`rnnlab.data.publish`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnnlab.data.publish import publish_folder, staging_folder
from rnnlab.errors import UserError

IMAGES_FORMAT = "rnnlab.images"
IMAGES_VERSION = 1
META_FILE = "meta.json"


@dataclass
class ImageSet:
    """Images with labels: images (N, C, H, W) uint8, labels (N,) int64 in 0..K-1."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> ImageSet:
        return ImageSet(self.images[index], self.labels[index])


@dataclass
class ImageData:
    """A dataset: train and test sets, class names, where it came from."""

    train: ImageSet
    test: ImageSet
    classes: list[str]
    name: str
    folder: Path

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.train.images.shape[1:])

# ----- the cache ---------------------------------------------------------------------------------


def is_cached(folder: Path) -> bool:
    """Whether `folder` holds a complete cached image dataset (meta.json is written last)."""
    return (Path(folder) / META_FILE).is_file()


def write_cache(
    folder: Path, train: ImageSet, test: ImageSet, classes: list[str], name: str, source: str
) -> Path:
    """Write a cached image dataset into `folder`, atomically: staged beside it, meta.json published last."""
    folder = Path(folder)
    num_classes = int(max(train.labels.max(), test.labels.max())) + 1
    if len(classes) < num_classes:
        classes = list(classes) + [str(i) for i in range(len(classes), num_classes)]
    staging = staging_folder(folder)
    try:
        for split, part in (("train", train), ("test", test)):
            np.save(staging / f"{split}_images.npy", np.ascontiguousarray(part.images, dtype=np.uint8))
            np.save(staging / f"{split}_labels.npy", part.labels.astype(np.int64))
        meta = {
            "format": IMAGES_FORMAT,
            "version": IMAGES_VERSION,
            "name": name,
            "classes": classes,
            "image_shape": list(train.images.shape[1:]),
            "counts": {"train": len(train), "test": len(test)},
            "source": source,
        }
        (staging / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        publish_folder(staging, folder, META_FILE)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def open_cache(folder: str | Path) -> ImageData:
    """Load a cached image dataset (see the module docstring), checking it against its meta.json."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != IMAGES_FORMAT:
            raise ValueError("not an rnnlab image dataset")
        sets = []
        for split in ("train", "test"):
            images = np.load(folder / f"{split}_images.npy", allow_pickle=False)
            labels = np.load(folder / f"{split}_labels.npy", allow_pickle=False)
            if (
                images.dtype != np.uint8
                or images.ndim != 4
                or len(images) != len(labels)
                or len(labels) != meta["counts"][split]
                or list(images.shape[1:]) != meta["image_shape"]
            ):
                raise ValueError(f"{split} arrays do not match meta.json")
            sets.append(ImageSet(images, labels.astype(np.int64)))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(
            f"the image dataset in {folder} is damaged ({error}); delete the folder and fetch or "
            "convert it again."
        ) from None
    return ImageData(sets[0], sets[1], list(meta["classes"]), str(meta.get("name", folder.name)), folder)



def split_validation(train: ImageSet, val_size: int, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """Hold `val_size` random training images out for validation (the same ones for every run seed).

    The notes' rule: choose hyperparameters (k, the learning rate, when to stop) on validation data,
    and touch the test set once, at the end.
    """
    if val_size <= 0:
        return train, ImageSet(train.images[:0], train.labels[:0])
    if val_size >= len(train):
        raise UserError(
            f"data.val_size {val_size:,} leaves no training images out of {len(train):,}; lower it."
        )
    order = np.random.default_rng(seed).permutation(len(train))
    return train.subset(np.sort(order[val_size:])), train.subset(np.sort(order[:val_size]))


def select_classes(data: ImageSet, classes: list[int]) -> ImageSet:
    """Keep the images of `classes` only, relabelled 0..len(classes)-1 in the order given."""
    lookup = np.full(int(max(classes + [int(data.labels.max())])) + 1, -1, dtype=np.int64)
    lookup[classes] = np.arange(len(classes))
    keep = lookup[data.labels] >= 0
    return ImageSet(data.images[keep], lookup[data.labels[keep]])


def to_float(images: np.ndarray | Tensor) -> Tensor:
    """uint8 images -> float32 in [0, 1] (the input every rnnlab image model takes)."""
    images = torch.as_tensor(images)
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()

