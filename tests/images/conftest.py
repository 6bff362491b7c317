"""Tiny generated image datasets written as hand-made IDX files (never the real Fashion-MNIST)."""

import gzip
import struct

import numpy as np
import pytest
import torch


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """The bytes of an IDX file: 00 00 <type> <ndim>, big-endian int32 sizes, big-endian values."""
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[type_code]
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()


def make_images(per_class: int, classes: int = 10, size: int = 28, seed: int = 0):
    """Images (N, size, size) uint8 whose class is a bright bar at a class-specific place, plus noise."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label in range(classes):
        for _ in range(per_class):
            image = rng.integers(0, 60, (size, size)).astype(np.float64)
            row = 2 + (label * (size - 6)) // max(classes - 1, 1)
            col = rng.integers(0, size // 3)
            image[row : row + 3, col : col + size // 2] += 180
            images.append(np.clip(image, 0, 255).astype(np.uint8))
            labels.append(label)
    order = rng.permutation(len(labels))
    return np.stack(images)[order], np.array(labels, dtype=np.uint8)[order]


def write_idx_folder(folder, train_per_class=12, test_per_class=4, classes=10, size=28, gz=True):
    """An MNIST-format folder: train files gzip-compressed (when `gz`), test files raw."""
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = make_images(train_per_class, classes, size, seed=1)
    test_x, test_y = make_images(test_per_class, classes, size, seed=2)
    for stem, array, compress in (
        ("train-images-idx3-ubyte", train_x, gz),
        ("train-labels-idx1-ubyte", train_y, gz),
        ("t10k-images-idx3-ubyte", test_x, False),
        ("t10k-labels-idx1-ubyte", test_y, False),
    ):
        data = idx_bytes(array)
        if compress:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return folder


@pytest.fixture(autouse=True)
def one_thread():
    """Tests run on one thread: the machine is shared with timing-sensitive benchmarks."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def idx_folder(tmp_path):
    """12 training and 4 test images per class, 10 classes, 28×28: a toy Fashion-MNIST."""
    return write_idx_folder(tmp_path / "toy-idx")


@pytest.fixture
def small_idx_folder(tmp_path):
    """A quicker toy set: 16×16 images, 4 classes, 20 training images per class."""
    return write_idx_folder(tmp_path / "small-idx", train_per_class=20, test_per_class=5, classes=4, size=16)


@pytest.fixture
def idx():
    """The helpers above, for tests (test modules cannot import conftest under --import-mode=importlib)."""

    class Helpers:
        bytes = staticmethod(idx_bytes)
        folder = staticmethod(write_idx_folder)
        images = staticmethod(make_images)

    return Helpers
