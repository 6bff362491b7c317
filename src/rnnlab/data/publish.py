"""Writing caches so that a reader never sees half of one: stage beside the target, fsync, rename.

Every cache rnnlab writes (a prepared corpus, an image or caption dataset, a dataset's text files) goes
through the two functions here:

* `write_text_atomic(path, text)`: one file, written under a temporary name in the same folder, flushed
  to disk and renamed over `path` (a rename within one file system is atomic).
* `staging_folder(target)` + `publish_folder(staging, target, marker)`: a whole folder is built in a
  temporary folder beside `target` and then published. A new `target` is one atomic rename. An existing
  `target` (a fetched corpus keeps its input.txt there) gets the staged files one by one, with the
  `marker` file (meta.json, the file readers check first) removed before and moved in last: a folder
  without its marker counts as unfinished, so a crash in between is detected and the cache made again.

The temporary names start with a dot and end in ``.partial-<pid>-<random>``, so two processes writing
the same cache never collide, and the data folder's listings skip them.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path


def _partial_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as file:
        os.fsync(file.fileno())


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename itself); a no-op where folders cannot be opened (Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` through a temporary file beside it, fsynced and renamed into place."""
    path = Path(path)
    partial = _partial_name(path)
    try:
        with open(partial, "w", encoding=encoding, newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    _fsync_folder(path.parent)
    return path


def staging_folder(target: str | Path) -> Path:
    """A new, empty temporary folder beside `target` (its parent is created) to build a cache in."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _partial_name(target)
    staging.mkdir()
    return staging


def publish_folder(staging: str | Path, target: str | Path, marker: str) -> Path:
    """Move the finished `staging` folder into place as `target`; see the module docstring.

    Every file of `staging` is fsynced first. `marker` names the file whose presence means "complete".
    `staging` is gone afterwards; files of an existing `target` that `staging` lacks are kept.
    """
    staging, target = Path(staging), Path(target)
    if not (staging / marker).is_file():
        raise ValueError(f"the staged folder {staging} has no {marker}; write it before publishing")
    names = sorted(p.name for p in staging.iterdir() if p.name != marker) + [marker]
    for name in names:
        _fsync_file(staging / name)
    if not target.exists():
        try:
            staging.rename(target)
            _fsync_folder(target.parent)
            return target
        except OSError:
            pass  # another process published first; replace its files with ours below
    (target / marker).unlink(missing_ok=True)
    for name in names:
        os.replace(staging / name, target / name)
    _fsync_folder(target)
    shutil.rmtree(staging, ignore_errors=True)
    return target
