"""``--data NAME|DIR`` of the image tasks -> an `ImageData`."""

from __future__ import annotations

import hashlib
from pathlib import Path

from rnnlab.data.images.fashion_mnist import fetch_fashion_mnist
from rnnlab.data.images.idx import IDX_STEMS, find_idx_files, idx_file, missing_idx_message, read_idx_folder
from rnnlab.data.images.sets import ImageData, is_cached, open_cache, write_cache
from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.paths import prepared_dir
from rnnlab.errors import UserError


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
        if any(idx_file(given, stem) for stem in IDX_STEMS.values()):
            raise UserError(missing_idx_message(given))
        raise UserError(
            f"the folder {given} holds neither a cached image dataset (meta.json) nor the four "
            "MNIST-format IDX files (train-images-idx3-ubyte[.gz], ...)."
        )
    if str(data) == "fashion-mnist":
        return open_cache(fetch_fashion_mnist(root))
    if given.exists():
        raise UserError(
            f"{given} is a file; image data is a folder of IDX files or a dataset name (fashion-mnist)."
        )
    raise UserError(
        f"no folder or image dataset named {str(data)!r}; give a folder of IDX files or fashion-mnist."
    )

