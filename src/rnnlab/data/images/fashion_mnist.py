"""The ``fashion-mnist`` dataset: Zalando's 70,000 28×28 grey article images in 10 classes.

``rnnlab data fetch fashion-mnist`` converts the IDX files of the Debian package ``dataset-fashion-mnist``
(or of any folder of the four files) into the cached arrays of ``<data_root>/fashion-mnist``
(`rnnlab.data.images.sets`). Without root: when the package is not installed, its .deb is fetched with
``apt-get download`` into ``<data_root>/downloads/`` and unpacked with ``dpkg-deb -x``; the four IDX
files are kept in ``<data_root>/downloads/fashion-mnist/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rnnlab.data.download import DownloadError, apt_get_download
from rnnlab.data.images.idx import find_idx_files, read_idx_folder
from rnnlab.data.images.sets import is_cached, open_cache, write_cache
from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.paths import downloads_dir
from rnnlab.data.publish import publish_folder, staging_folder
from rnnlab.errors import UserError

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
FASHION_MNIST_DEB = f"{FASHION_MNIST_PACKAGE}.deb"  # the .deb's name in <data_root>/downloads
_SOURCE_FILE = "source.txt"  # written last into downloads/fashion-mnist: the .deb the files came from


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
    the Debian package (``dpkg -L``), and its usual place ``/usr/share/datasets/fashion-mnist``. When none
    holds them, the package's .deb is downloaded and unpacked into ``<data_root>/downloads/fashion-mnist``.
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
    return _unpack_debian_package(downloads_dir(root))


def _unpack_debian_package(downloads: Path) -> Path:
    """``apt-get download`` the package (no root needed) and unpack its IDX files into
    ``downloads/fashion-mnist``; a one-line `UserError` that says what to run when that fails too."""
    try:
        deb = apt_get_download(FASHION_MNIST_PACKAGE, FASHION_MNIST_DEB, downloads)
    except DownloadError as error:
        raise UserError(
            f"Fashion-MNIST is not on this machine, and `apt-get download {FASHION_MNIST_PACKAGE}` "
            f"failed ({error.reason}); {FASHION_MNIST_HINT}."
        ) from None
    target = downloads.resolve() / "fashion-mnist"
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".dpkg-") as tmp:
        command = ["dpkg-deb", "-x", str(deb), tmp]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as error:
            result = subprocess.CompletedProcess(command, 1, "", str(error))
        folders = {path.parent for path in Path(tmp).rglob("train-images-idx3-ubyte*")}
        files = next((find_idx_files(f) for f in sorted(folders) if find_idx_files(f)), None)
        if result.returncode != 0 or files is None:
            lines = (result.stderr or result.stdout or "").strip().splitlines()
            reason = lines[-1].strip() if lines else "it holds no Fashion-MNIST IDX files"
            raise UserError(
                f"Could not unpack {deb} with `dpkg-deb -x` ({reason}); delete it and fetch again, or "
                f"{FASHION_MNIST_HINT}."
            )
        staging = staging_folder(target)
        try:
            for path in files.values():
                os.replace(path, staging / path.name)
            (staging / _SOURCE_FILE).write_text(f"{deb.name} (apt-get download, dpkg-deb -x)\n")
            publish_folder(staging, target, _SOURCE_FILE)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    print(
        f"fashion-mnist: {FASHION_MNIST_PACKAGE} is not installed, so its .deb was fetched with "
        f"`apt-get download` (no root needed) and its IDX files unpacked into {target}",
        file=sys.stderr,
    )
    return target


def fetch_fashion_mnist(data_root: str | Path | None = None, progress: bool = True) -> Path:
    """``rnnlab data fetch fashion-mnist``: the IDX files converted into ``<data_root>/fashion-mnist``.

    A folder already holding a valid cache is returned at once.
    """
    root = resolve_data_root(data_root)
    folder = root / "fashion-mnist"
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

