"""Image data: IDX files, the Fashion-MNIST fetch, image sets and their cache, augmentation.

    idx.py            IDX files (the MNIST format) and folders of the four files
    sets.py           ImageSet / ImageData, the cached arrays, validation split, class selection, to_float
    fashion_mnist.py  the ``fashion-mnist`` dataset (Debian's dataset-fashion-mnist)
    load.py           ``--data NAME|DIR`` -> ImageData
    augment.py        random translation and flips of training batches

The names below are re-exported so that ``from rnnlab.data.images import load_image_data`` keeps
working. The fitted modules that used to live here (HOG, IntensityHistogram, Features, InputPipeline,
FEATURES, CENTERING) are in `rnnlab.models.features`; their old names here still resolve, with a
DeprecationWarning, without this package importing rnnlab.models (data never depends on the models).
"""

from __future__ import annotations

import importlib
import warnings

from rnnlab.data.images.augment import augment
from rnnlab.data.images.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DEBIAN_DIR,
    FASHION_MNIST_ENV,
    FASHION_MNIST_HINT,
    FASHION_MNIST_PACKAGE,
    fashion_mnist_source,
    fetch_fashion_mnist,
)
from rnnlab.data.images.idx import IDX_STEMS, IDX_TYPES, find_idx_files, parse_idx, read_idx, read_idx_folder
from rnnlab.data.images.load import load_image_data
from rnnlab.data.images.sets import (
    IMAGES_FORMAT,
    IMAGES_VERSION,
    META_FILE,
    ImageData,
    ImageSet,
    is_cached,
    open_cache,
    select_classes,
    split_validation,
    to_float,
    write_cache,
)

#: deprecated names of this package -> the module that holds them now
_MOVED = {
    name: "rnnlab.models.features"
    for name in ("CENTERING", "FEATURES", "HOG", "Features", "InputPipeline", "IntensityHistogram")
}


def __getattr__(name: str):
    if name in _MOVED:
        warnings.warn(
            f"rnnlab.data.images.{name} moved to {_MOVED[name]}.{name}; import it from there.",
            DeprecationWarning,
            stacklevel=2,
        )
        # imported by name at first use, so that rnnlab.data has no import of rnnlab.models
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DEBIAN_DIR",
    "FASHION_MNIST_ENV",
    "FASHION_MNIST_HINT",
    "FASHION_MNIST_PACKAGE",
    "IDX_STEMS",
    "IDX_TYPES",
    "IMAGES_FORMAT",
    "IMAGES_VERSION",
    "META_FILE",
    "ImageData",
    "ImageSet",
    "augment",
    "fashion_mnist_source",
    "fetch_fashion_mnist",
    "find_idx_files",
    "is_cached",
    "load_image_data",
    "open_cache",
    "parse_idx",
    "read_idx",
    "read_idx_folder",
    "select_classes",
    "split_validation",
    "to_float",
    "write_cache",
]
