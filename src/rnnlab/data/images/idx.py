"""IDX files (LeCun's MNIST format, also Fashion-MNIST's) and folders of them.

A 4-byte magic number — two zero bytes, a type code (0x08 unsigned byte, 0x09 signed byte, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64) and the number of dimensions — then one big-endian int32 size per
dimension, then the values, big-endian, row-major. Images are ``idx3`` (N, H, W) of uint8, labels
``idx1`` (N,). Files may be gzip-compressed (recognised by their first bytes, not their names).
`read_idx` checks all of it: a wrong magic number, a truncated or overlong payload, a damaged gzip stream
are one-line `UserError`s.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from rnnlab.data.images.sets import ImageSet
from rnnlab.errors import UserError

#: IDX type code -> numpy dtype (big-endian, as the format stores it)
IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: the four files of an MNIST-format dataset, by (split, kind); ".gz" and "." spellings are accepted
IDX_STEMS = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


# ----- IDX files ---------------------------------------------------------------------------------


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode the bytes of one (uncompressed) IDX file into an array of its stored shape."""
    if len(data) < 4:
        raise UserError(f"{name} is too short to be an IDX file ({len(data)} bytes); the file is damaged.")
    zero1, zero2, type_code, ndim = data[0], data[1], data[2], data[3]
    if zero1 != 0 or zero2 != 0 or type_code not in IDX_TYPES or ndim < 1:
        raise UserError(
            f"{name} has the wrong magic number 0x{data[:4].hex()} for an IDX file (expected "
            "00 00, a type code such as 08 and the number of dimensions); it is not an "
            "MNIST-format file or it is damaged."
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{name} is truncated inside its header; the file is damaged, fetch it again.")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_TYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "longer than its header says"
        raise UserError(
            f"{name} is {what}: its header promises {'×'.join(map(str, shape))} values "
            f"({expected:,} bytes) but {found:,} bytes follow; the file is damaged, fetch it "
            "again."
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw (recognised by its first two bytes)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"the IDX file {path} does not exist.")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise UserError(f"{path} is a damaged gzip file ({error}); fetch it again.") from None
    return parse_idx(raw, str(path))


def idx_file(folder: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")  # train-images.idx3-ubyte (another common spelling)
    candidates = [folder / f"{s}{ext}" for s in (stem, dotted) for ext in ("", ".gz")]
    return next((c for c in candidates if c.is_file()), None)


def find_idx_files(folder: str | Path) -> dict[tuple[str, str], Path] | None:
    """The four IDX files of an MNIST-format folder by (split, kind), or None when any is missing."""
    found = {key: idx_file(Path(folder), stem) for key, stem in IDX_STEMS.items()}
    return None if None in found.values() else found


def missing_idx_message(folder: Path) -> str:
    missing = [f"{stem}[.gz]" for stem in IDX_STEMS.values() if idx_file(folder, stem) is None]
    if len(missing) < len(IDX_STEMS):
        return (
            f"{folder} lacks {', '.join(missing)} of the four IDX files of an MNIST-format dataset; "
            "add the missing file(s) or fetch the dataset again."
        )
    names = ", ".join(f"{stem}[.gz]" for stem in IDX_STEMS.values())
    return f"{folder} does not hold the four IDX files of an MNIST-format dataset ({names})."


def _as_images(array: np.ndarray, name: str) -> np.ndarray:
    """(N, H, W) grey or (N, H, W, C) colour IDX images -> (N, C, H, W) uint8."""
    if array.dtype != np.uint8:
        raise UserError(f"{name} holds {array.dtype} values; images must be unsigned bytes (type 0x08).")
    if array.ndim == 3:
        return array[:, None]
    if array.ndim == 4:
        return np.ascontiguousarray(array.transpose(0, 3, 1, 2))
    raise UserError(f"{name} has {array.ndim} dimensions; image files have 3 (N, H, W) or 4 (N, H, W, C).")


def read_idx_folder(folder: str | Path) -> tuple[ImageSet, ImageSet]:
    """Read and validate the four IDX files of an MNIST-format folder: (train, test)."""
    files = find_idx_files(folder)
    if files is None:
        raise UserError(missing_idx_message(Path(folder)))
    sets = []
    for split in ("train", "test"):
        images = _as_images(read_idx(files[split, "images"]), str(files[split, "images"]))
        labels = read_idx(files[split, "labels"])
        if labels.ndim != 1:
            raise UserError(f"{files[split, 'labels']} has shape {labels.shape}; label files are 1-D (N,).")
        if len(images) != len(labels):
            raise UserError(
                f"the {split} split has {len(images):,} images but {len(labels):,} labels "
                f"({files[split, 'images'].name} vs {files[split, 'labels'].name}); the files do "
                "not belong together."
            )
        if len(labels) == 0:
            raise UserError(f"the {split} split of {folder} holds no images.")
        if labels.min() < 0:
            raise UserError(f"{files[split, 'labels']} holds negative labels; labels must be 0..K-1.")
        sets.append(ImageSet(images, labels.astype(np.int64)))
    train, test = sets
    if train.images.shape[1:] != test.images.shape[1:]:
        raise UserError(
            f"the train images are {train.images.shape[1:]} but the test images "
            f"{test.images.shape[1:]} (C, H, W); they must have the same size."
        )
    return train, test

