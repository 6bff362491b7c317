"""Image data: IDX files (the MNIST format), the Fashion-MNIST fetch, preprocessing, augmentation, features.

Letters: N images, B batch, C channels, H height, W width, K classes, P features per image.

**IDX files** (LeCun's MNIST format, also Fashion-MNIST's): a 4-byte magic number — two zero bytes, a
type code (0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)
and the number of dimensions — then one big-endian int32 size per dimension, then the values,
big-endian, row-major. Images are ``idx3`` (N, H, W) of uint8, labels ``idx1`` (N,). Files may be
gzip-compressed (recognised by their first bytes, not their names). `read_idx` checks all of it: a wrong
magic number, a truncated or overlong payload, a damaged gzip stream are one-line `UserError`s.

**A cached image dataset** is a folder

    meta.json                    format, name, class names, image shape (C, H, W), counts, source
    train_images.npy (N, C, H, W) uint8      train_labels.npy (N,) int64
    test_images.npy  (M, C, H, W) uint8      test_labels.npy  (M,) int64

read back with ``np.load(allow_pickle=False)`` (loading never runs code). ``rnnlab data fetch
fashion-mnist`` converts the Debian package ``dataset-fashion-mnist`` (or any folder of the four IDX
files) into ``<data_root>/fashion-mnist``; ``--data DIR`` accepts a folder of IDX files too (converted
once into ``<data_root>/prepared/``).

**Preprocessing** (the notes' "in practice: center only"; normalise; PCA and whitening as options) is
an `nn.Module` with buffers fitted on the *training* images only, so a model carries its own input
statistics into every checkpoint and takes raw images in [0, 1]:

    InputPipeline: images (B, C, H, W) -> [features: pixels | HOG | histogram] -> centre -> scale
                   -> [PCA -> whitening] -> (B, P) for the vector models, or (B, C, H, W) for CNNs/RNNs

**Augmentation** (random translation by padding and cropping, horizontal flips) acts on training batches
only, drawing from an explicit `torch.Generator` so a resumed run draws the same numbers.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import secrets
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.paths import downloads_dir, prepared_dir
from rnnlab.errors import UserError

IMAGES_FORMAT = "rnnlab.images"
IMAGES_VERSION = 1
META_FILE = "meta.json"

#: IDX type code -> numpy dtype (big-endian, as the format stores it)
IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_ENV = "RNNLAB_FASHION_MNIST"  # a folder with the four IDX files, searched first
FASHION_MNIST_HINT = (
    f"install it with `sudo apt-get install {FASHION_MNIST_PACKAGE}` (Debian/Ubuntu), or "
    f"put the four IDX files (train-images-idx3-ubyte.gz, ...) into a folder and set "
    f"{FASHION_MNIST_ENV} to it"
)

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


def _idx_file(folder: Path, stem: str) -> Path | None:
    dotted = stem.replace("-idx", ".idx")  # train-images.idx3-ubyte (another common spelling)
    candidates = [folder / f"{s}{ext}" for s in (stem, dotted) for ext in ("", ".gz")]
    return next((c for c in candidates if c.is_file()), None)


def find_idx_files(folder: str | Path) -> dict[tuple[str, str], Path] | None:
    """The four IDX files of an MNIST-format folder by (split, kind), or None when any is missing."""
    found = {key: _idx_file(Path(folder), stem) for key, stem in IDX_STEMS.items()}
    return None if None in found.values() else found


def _missing_idx_message(folder: Path) -> str:
    missing = [f"{stem}[.gz]" for stem in IDX_STEMS.values() if _idx_file(folder, stem) is None]
    if len(missing) < len(IDX_STEMS):
        return (
            f"{folder} lacks {', '.join(missing)} of the four IDX files of an MNIST-format dataset; "
            "add the missing file(s) or fetch the dataset again."
        )
    names = ", ".join(f"{stem}[.gz]" for stem in IDX_STEMS.values())
    return f"{folder} does not hold the four IDX files of an MNIST-format dataset ({names})."


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
        raise UserError(_missing_idx_message(Path(folder)))
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


# ----- the cache ---------------------------------------------------------------------------------


def is_cached(folder: Path) -> bool:
    """Whether `folder` holds a complete cached image dataset (meta.json is written last)."""
    return (Path(folder) / META_FILE).is_file()


def write_cache(
    folder: Path, train: ImageSet, test: ImageSet, classes: list[str], name: str, source: str
) -> Path:
    """Write a cached image dataset into `folder`, atomically: a temporary folder renamed at the end."""
    folder = Path(folder)
    num_classes = int(max(train.labels.max(), test.labels.max())) + 1
    if len(classes) < num_classes:
        classes = list(classes) + [str(i) for i in range(len(classes), num_classes)]
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
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
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
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


# ----- fetch and --data resolution -------------------------------------------------------------


def _debian_fashion_mnist_dirs() -> list[Path]:
    """Folders that `dpkg -L dataset-fashion-mnist` lists with the IDX files (none without dpkg)."""
    try:
        result = subprocess.run(
            ["dpkg", "-L", FASHION_MNIST_PACKAGE], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if result.returncode != 0:
        return []
    return sorted(
        {
            Path(line).parent
            for line in result.stdout.splitlines()
            if line.strip().endswith("-idx3-ubyte.gz") or line.strip().endswith("-idx3-ubyte")
        }
    )


def fashion_mnist_source(root: Path) -> Path:
    """The folder to read Fashion-MNIST's IDX files from, or a `UserError` with the install hint.

    Searched in order: ``$RNNLAB_FASHION_MNIST``, ``<data_root>/downloads/fashion-mnist``, the files of
    the Debian package (``dpkg -L``), and its usual place ``/usr/share/datasets/fashion-mnist``.
    """
    env = os.environ.get(FASHION_MNIST_ENV)
    if env:
        if find_idx_files(env) is None:
            raise UserError(
                f"{FASHION_MNIST_ENV}={env} does not hold the four Fashion-MNIST IDX files "
                "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-...); fix it or "
                "unset it."
            )
        return Path(env)
    candidates = [
        downloads_dir(root) / "fashion-mnist",
        *_debian_fashion_mnist_dirs(),
        FASHION_MNIST_DEBIAN_DIR,
    ]
    for folder in candidates:
        if find_idx_files(folder) is not None:
            return folder
    raise UserError(f"Fashion-MNIST is not on this machine: {FASHION_MNIST_HINT}.")


def fetch_fashion_mnist(folder: Path, root: Path, progress: bool = True) -> Path:
    """``rnnlab data fetch fashion-mnist``: convert the IDX files into the cached arrays in `folder`.

    A folder already holding a valid cache is returned at once.
    """
    folder = Path(folder)
    if is_cached(folder):
        try:
            open_cache(folder)
            return folder
        except UserError:
            pass  # damaged: convert again
    source = fashion_mnist_source(root)
    train, test = read_idx_folder(source)
    if train.images.shape[1:] != (1, 28, 28) or max(train.labels.max(), test.labels.max()) > 9:
        raise UserError(f"the IDX files in {source} are not Fashion-MNIST (28×28 grey images, labels 0-9).")
    return write_cache(folder, train, test, FASHION_MNIST_CLASSES, "fashion-mnist", str(source))


def _idx_cache_dir(folder: Path, root: Path) -> Path:
    stamp = "|".join(
        f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in sorted(find_idx_files(folder).values())
    )
    digest = hashlib.sha1(stamp.encode()).hexdigest()[:10]
    return prepared_dir(root) / f"{folder.resolve().name}-idx-{digest}"


def load_image_data(data: str | Path, data_root: str | Path | None = None) -> ImageData:
    """Turn ``--data NAME|DIR`` into an `ImageData`.

    * a cached image folder (with meta.json): opened;
    * a folder of MNIST-format IDX files: converted once into ``<data_root>/prepared/`` and opened;
    * ``fashion-mnist``: ``<data_root>/fashion-mnist``, fetched first if it is not there yet.
    """
    if not str(data):
        raise UserError("no image data: pass --data fashion-mnist (or a folder of IDX files).")
    root = resolve_data_root(data_root)
    given = Path(data).expanduser()
    if given.is_dir():
        if is_cached(given):
            return open_cache(given)
        if find_idx_files(given) is not None:
            cache = _idx_cache_dir(given, root)
            if not is_cached(cache):
                train, test = read_idx_folder(given)
                write_cache(cache, train, test, [], given.resolve().name, str(given.resolve()))
            return open_cache(cache)
        if any(_idx_file(given, stem) for stem in IDX_STEMS.values()):
            raise UserError(_missing_idx_message(given))
        raise UserError(
            f"the folder {given} holds neither a cached image dataset (meta.json) nor the four "
            "MNIST-format IDX files (train-images-idx3-ubyte[.gz], ...)."
        )
    if str(data) == "fashion-mnist":
        return open_cache(fetch_fashion_mnist(root / "fashion-mnist", root))
    if given.exists():
        raise UserError(
            f"{given} is a file; image data is a folder of IDX files or a dataset name (fashion-mnist)."
        )
    raise UserError(
        f"no folder or image dataset named {str(data)!r}; give a folder of IDX files or fashion-mnist."
    )


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


# ----- augmentation ------------------------------------------------------------------------------


def augment(images: Tensor, generator: torch.Generator, translate: int = 0, flip: bool = False) -> Tensor:
    """Random translation by up to `translate` pixels and random horizontal flips of a batch.

    images (B, C, H, W) -> (B, C, H, W). Translation pads with zeros (the background of Fashion-MNIST)
    and crops a window at a random offset, so an article can shift but not wrap around.
    """
    B, C, H, W = images.shape
    if translate > 0:
        p = translate
        padded = F.pad(images, (p, p, p, p))  # (B, C, H + 2p, W + 2p)
        dy = torch.randint(0, 2 * p + 1, (B, 1), generator=generator)
        dx = torch.randint(0, 2 * p + 1, (B, 1), generator=generator)
        rows = (dy + torch.arange(H)).view(B, 1, H, 1).expand(B, C, H, W)  # (B, C, H, W)
        cols = (dx + torch.arange(W)).view(B, 1, 1, W).expand(B, C, H, W)
        flat = padded.flatten(2)  # (B, C, (H + 2p)(W + 2p))
        images = flat.gather(2, (rows * (W + 2 * p) + cols).flatten(2)).view(B, C, H, W)
    if flip:
        mirror = torch.rand(B, generator=generator) < 0.5
        images = torch.where(mirror.view(B, 1, 1, 1), images.flip(-1), images)
    return images


# ----- hand-crafted features ---------------------------------------------------------------------


class IntensityHistogram(nn.Module):
    """The histogram of pixel intensities, per channel (the colour histogram of the notes, in grey).

    images (B, C, H, W) in [0, 1] -> (B, C·bins), each channel's histogram summing to 1. Soft
    (linear) binning, so that a pixel between two bin centres counts half in each.
    """

    def __init__(self, bins: int = 16) -> None:
        super().__init__()
        self.bins = bins

    def forward(self, images: Tensor) -> Tensor:
        B, C = images.shape[:2]
        position = images.flatten(2).clamp(0, 1) * (self.bins - 1)  # (B, C, HW) in bin units
        lower = position.floor().clamp(max=self.bins - 2) if self.bins > 1 else position.floor()
        upper_weight = position - lower
        hist = torch.zeros(B, C, self.bins, dtype=images.dtype, device=images.device)
        hist.scatter_add_(2, lower.long(), 1 - upper_weight)
        if self.bins > 1:
            hist.scatter_add_(2, (lower + 1).long(), upper_weight)
        return (hist / position.shape[2]).flatten(1)  # (B, C·bins)


class HOG(nn.Module):
    """Histogram of oriented gradients (Dalal & Triggs), vectorised over a batch.

    1. gradients gx, gy by central differences; magnitude m = sqrt(gx² + gy²), unsigned orientation
       θ = atan2(gy, gx) mod π (a dark-on-light edge counts as the light-on-dark one);
    2. each pixel votes m into the two nearest of `bins` orientation bins (linear interpolation), summed
       over cells of `cell`×`cell` pixels -> (B, bins, H/cell, W/cell);
    3. blocks of `block`×`block` cells (stride one cell) are L2-normalised, clipped at 0.2 and normalised
       again ("L2-Hys") and concatenated -> (B, P).

    28×28 grey images with cell 7, block 2, 9 bins give 3·3 blocks × 2·2 cells × 9 = 324 features.
    Colour images use the channel with the strongest gradient at each pixel.
    """

    def __init__(self, cell: int = 7, bins: int = 9, block: int = 2) -> None:
        super().__init__()
        self.cell, self.bins, self.block = cell, bins, block

    def output_size(self, height: int, width: int) -> int:
        cells_y, cells_x = height // self.cell, width // self.cell
        return (cells_y - self.block + 1) * (cells_x - self.block + 1) * self.block**2 * self.bins

    def forward(self, images: Tensor) -> Tensor:
        B, C, H, W = images.shape
        padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
        gx = padded[:, :, 1:-1, 2:] - padded[:, :, 1:-1, :-2]  # (B, C, H, W)
        gy = padded[:, :, 2:, 1:-1] - padded[:, :, :-2, 1:-1]
        magnitude = torch.sqrt(gx * gx + gy * gy)
        if C > 1:  # the strongest channel at each pixel
            best = magnitude.argmax(1, keepdim=True)
            gx, gy, magnitude = gx.gather(1, best), gy.gather(1, best), magnitude.gather(1, best)
        theta = torch.atan2(gy, gx).remainder(math.pi)  # (B, 1, H, W) in [0, π)
        position = theta / math.pi * self.bins - 0.5  # bin centres at (i + 0.5)·π/bins
        lower = position.floor()
        upper_weight = position - lower
        votes = torch.zeros(B, self.bins, H, W, dtype=images.dtype, device=images.device)
        votes.scatter_add_(1, lower.long().remainder(self.bins), magnitude * (1 - upper_weight))
        votes.scatter_add_(1, (lower.long() + 1).remainder(self.bins), magnitude * upper_weight)
        cy, cx = H // self.cell, W // self.cell
        cells = votes[:, :, : cy * self.cell, : cx * self.cell]
        cells = cells.reshape(B, self.bins, cy, self.cell, cx, self.cell).sum((3, 5))  # (B, bins, cy, cx)
        blocks = cells.unfold(2, self.block, 1).unfold(3, self.block, 1)  # (B, bins, by, bx, blk, blk)
        blocks = blocks.permute(0, 2, 3, 1, 4, 5).flatten(3)  # (B, by, bx, bins·blk²)
        blocks = F.normalize(blocks, dim=-1, eps=1e-6).clamp(max=0.2)
        blocks = F.normalize(blocks, dim=-1, eps=1e-6)
        return blocks.flatten(1)  # (B, P)


FEATURES = ("pixels", "hog", "histogram", "hog+histogram")
CENTERING = ("none", "image", "channel")


class Features(nn.Module):
    """images (B, C, H, W) -> hand-crafted feature vectors (B, P); "pixels" keeps the image as it is."""

    def __init__(self, kind: str, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        if kind not in FEATURES:
            raise UserError(f"data.features {kind!r} is unknown; choose one of {', '.join(FEATURES)}.")
        self.kind = kind
        C, H, W = image_shape
        self.hog = HOG() if "hog" in kind else None
        self.histogram = IntensityHistogram() if "histogram" in kind else None
        if kind == "pixels":
            self.output_shape = (C, H, W)
        else:
            size = (self.hog.output_size(H, W) if self.hog else 0) + (C * 16 if self.histogram else 0)
            self.output_shape = (size,)

    def forward(self, images: Tensor) -> Tensor:
        if self.kind == "pixels":
            return images
        parts = [module(images) for module in (self.hog, self.histogram) if module is not None]
        return torch.cat(parts, dim=1)


class InputPipeline(nn.Module):
    """Raw images (B, C, H, W) in [0, 1] -> the model's input; statistics fitted on training images.

    features -> [flatten] -> centre (subtract the mean image, or each channel's mean) -> scale (divide
    by the standard deviation, per pixel or per channel) -> [PCA to `pca` components -> whitening].

    The notes: compute the mean on the training set only and subtract that same mean at test time;
    centring is what practice needs, PCA and whitening are rarely worth it for images (kept as
    options). PCA and features need `flatten` (vector models: kNN, linear, MLP).

    Buffers (saved with the model): mean, std of the feature shape; components (P, k) and scale (k,)
    when PCA is on. Call `fit(train_images)` once before training.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        *,
        features: str = "pixels",
        center: str = "channel",
        scale: bool = True,
        pca: int = 0,
        whiten: bool = False,
        flatten: bool = True,
    ) -> None:
        super().__init__()
        if center not in CENTERING:
            raise UserError(f"data.center {center!r} is unknown; choose one of {', '.join(CENTERING)}.")
        if not flatten and (features != "pixels" or pca):
            raise UserError(
                "data.features and data.pca turn images into vectors; they work for the knn, "
                "linear and mlp models only (the cnn and rnn need the image itself)."
            )
        self.image_shape = tuple(image_shape)
        self.features = Features(features, self.image_shape)
        self.center, self.scale, self.flatten, self.whiten = center, scale, flatten, whiten
        shape = self.features.output_shape
        if flatten:
            shape = (math.prod(shape),)
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))
        self.pca = pca
        if pca:
            if pca > shape[0]:
                raise UserError(
                    f"data.pca {pca} asks for more components than the {shape[0]} input features; lower it."
                )
            self.register_buffer("components", torch.zeros(shape[0], pca))
            self.register_buffer("pca_scale", torch.ones(pca))
            shape = (pca,)
        self.output_shape = shape

    def _features(self, images: Tensor) -> Tensor:
        x = self.features(images)
        return x.flatten(1) if self.flatten else x

    @torch.no_grad()
    def fit(self, images: np.ndarray | Tensor, chunk: int = 4096) -> InputPipeline:
        """Fit the statistics on training images (N, C, H, W) (uint8 or float in [0, 1])."""
        feats = torch.cat(
            [self._features(to_float(images[i : i + chunk])) for i in range(0, len(images), chunk)]
        )  # (N, *shape)
        if self.center == "channel" and feats.dim() == 4:  # one mean per channel, spread over the pixels
            mean = feats.mean((0, 2, 3), keepdim=True)[0].expand_as(feats[0])
            std = feats.std((0, 2, 3), keepdim=True)[0].expand_as(feats[0])
        elif self.center == "channel" and self.features.kind == "pixels":  # flattened pixels
            C = self.image_shape[0]
            per_channel = feats.view(len(feats), C, -1)
            mean = per_channel.mean((0, 2)).repeat_interleave(per_channel.shape[2])
            std = per_channel.std((0, 2)).repeat_interleave(per_channel.shape[2])
        elif self.center == "channel":  # feature vectors have no channels: one overall mean
            mean = feats.mean().expand_as(feats[0])
            std = feats.std().expand_as(feats[0])
        else:  # "image" (the mean image, per pixel), and "none" (scale only)
            mean = feats.mean(0)
            std = feats.std(0)
        if self.center != "none":
            self.mean.copy_(mean)
        # Constant pixels (the border of many images) have std 0: leave them unscaled.
        self.std.copy_(
            torch.where(std > 1e-3, std, torch.ones_like(std)) if self.scale else torch.ones_like(std)
        )
        if self.pca:
            x = (feats - self.mean) / self.std  # (N, P)
            covariance = x.T.double() @ x.double() / max(len(x) - 1, 1)  # (P, P)
            eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
            top = torch.argsort(eigenvalues, descending=True)[: self.pca]
            self.components.copy_(eigenvectors[:, top].float())
            variance = eigenvalues[top].clamp(min=0).float()
            # Whitening divides each component by its standard deviation (+ε, so that noise directions
            # with tiny variance are not blown up).
            self.pca_scale.copy_(
                1.0 / torch.sqrt(variance + 1e-2) if self.whiten else torch.ones_like(variance)
            )
        return self

    def forward(self, images: Tensor) -> Tensor:
        x = (self._features(images) - self.mean) / self.std
        if self.pca:
            x = (x @ self.components) * self.pca_scale  # (B, k)
        return x
