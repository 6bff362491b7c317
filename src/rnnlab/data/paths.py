"""Where data lives: the data root and the folders under it.

    <data_root>/
      downloads/            files fetched from package registries (kept so a re-fetch is offline)
      <name>/               a dataset fetched by name, e.g. shakespeare/: input.txt + prepared corpus
      prepared/<stem>-<level>-<hash>/   text files given by path, prepared once and cached

The data root is the `data_root` argument when given, else the environment variable ``RNNLAB_DATA``,
else ``./data`` (relative to the working directory, which git ignores).
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "RNNLAB_DATA"


def data_root(data_root: str | Path | None = None) -> Path:
    """The data folder: `data_root` if given, else ``$RNNLAB_DATA``, else ``./data``."""
    if data_root is not None:
        return Path(data_root).expanduser()
    return Path(os.environ.get(DATA_ENV) or "data").expanduser()


def downloads_dir(root: str | Path | None = None) -> Path:
    """``<data_root>/downloads``: registry packages kept for offline re-fetching."""
    return data_root(root) / "downloads"


def dataset_dir(name: str, root: str | Path | None = None) -> Path:
    """``<data_root>/<name>``: where a dataset fetched by name is kept."""
    return data_root(root) / name


def prepared_dir(root: str | Path | None = None) -> Path:
    """``<data_root>/prepared``: cache of text files prepared by path."""
    return data_root(root) / "prepared"
