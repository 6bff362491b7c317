"""A cached caption dataset: images with several sentences each, on disk and in memory.

Letters: N images, C channels, S×S image size.

**A cached caption dataset** is a folder:

    meta.json       format, name, image shape (C, S, S), count, splits, source; written last
    images.npy      (N, C, S, S) uint8, read back with allow_pickle=False
    captions.json   {"images": [{"filename", "split", "sentences": [str, ...], "items": [...]?}]}

``items`` (scenes only) lists the objects of an image: ``{"word", "box": [x0, y0, x1, y1], "label",
"source", "index"}``, the box in pixels with x1, y1 exclusive.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnlab.data.publish import publish_folder, staging_folder
from rnnlab.errors import UserError

CAPTIONS_FORMAT = "rnnlab.captions"
CAPTIONS_VERSION = 1
META_FILE = "meta.json"
SPLITS = ("train", "val", "test")


@dataclass
class CaptionData:
    """A cached caption dataset in memory: images (N, C, S, S) uint8 and one entry per image."""

    images: np.ndarray
    entries: list[dict]  # {"filename", "split", "sentences": [str], "items"?: [...]}
    name: str
    folder: Path

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.images.shape[1:])

    def split_indices(self, split: str) -> list[int]:
        return [i for i, e in enumerate(self.entries) if e["split"] == split]


def is_caption_data(folder: str | Path) -> bool:
    """Whether `folder` holds a complete cached caption dataset (meta.json is written last)."""
    folder = Path(folder)
    if not (folder / META_FILE).is_file():
        return False
    try:
        return json.loads((folder / META_FILE).read_text(encoding="utf-8")).get("format") == CAPTIONS_FORMAT
    except (OSError, ValueError):
        return False


def write_caption_data(folder: Path, images: np.ndarray, entries: list[dict], name: str, source: str) -> Path:
    """Write a cached caption dataset into `folder` atomically (staged beside it, meta.json last)."""
    folder = Path(folder)
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(entries):
        raise ValueError(f"images must be (N, C, S, S) uint8 with one entry each, got {images.shape}")
    staging = staging_folder(folder)
    try:
        np.save(staging / "images.npy", np.ascontiguousarray(images))
        (staging / "captions.json").write_text(
            json.dumps({"images": entries}, ensure_ascii=False), encoding="utf-8"
        )
        meta = {
            "format": CAPTIONS_FORMAT,
            "version": CAPTIONS_VERSION,
            "name": name,
            "image_shape": list(images.shape[1:]),
            "count": len(entries),
            "splits": {s: sum(e["split"] == s for e in entries) for s in SPLITS},
            "source": source,
        }
        (staging / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        publish_folder(staging, folder, META_FILE)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def open_caption_data(folder: str | Path) -> CaptionData:
    """Load a cached caption dataset, checking it against its meta.json."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != CAPTIONS_FORMAT:
            raise ValueError("not an rnnlab caption dataset")
        images = np.load(folder / "images.npy", allow_pickle=False)
        entries = json.loads((folder / "captions.json").read_text(encoding="utf-8"))["images"]
        if images.dtype != np.uint8 or images.ndim != 4 or list(images.shape[1:]) != meta["image_shape"]:
            raise ValueError("images.npy does not match meta.json")
        if len(images) != len(entries) or len(entries) != meta["count"]:
            raise ValueError("images.npy and captions.json hold different numbers of images")
        for entry in entries:
            if entry["split"] not in SPLITS or not entry["sentences"]:
                raise ValueError(f"entry {entry.get('filename')!r} has no split or no sentences")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(
            f"the caption dataset in {folder} is damaged ({error}); delete the folder and "
            "make, fetch or convert it again."
        ) from None
    return CaptionData(images, entries, str(meta.get("name", folder.name)), folder)



def hash_split(key: str) -> str:
    """A fixed split from a hash of `key`: 80% train, 10% val, 10% test."""
    bucket = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % 10
    return "train" if bucket < 8 else ("val" if bucket == 8 else "test")

