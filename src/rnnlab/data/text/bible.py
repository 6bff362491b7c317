"""The ``bible-es-en`` dataset: verse-aligned Spanish -> English Bible (seq2seq), public domain.

``rnnlab data fetch bible-es-en``: Spanish from the Reina-Valera 1909 (the SWORD module of Debian's
sword-text-sparv, read with pysword), English from the King James Version (the `bible` program of Debian's
bible-kjv); needs ``apt-get install bible-kjv sword-text-sparv``. Verses are paired by (book, chapter,
verse) and shuffled (seeded) into 1,000 test, 1,000 val and the rest train pairs.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from rnnlab.data.download import pip_download
from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.paths import downloads_dir
from rnnlab.data.text.readers import INFO_FILE, write_info, write_pairs
from rnnlab.errors import UserError

PYSWORD_REQUIREMENT = "pysword==0.2.8"
PYSWORD_SDIST = "pysword-0.2.8.tar.gz"
SWORD_MODULE = "spaRV1909eb"  # Reina-Valera 1909 in Debian's sword-text-sparv, KJV versification
_KJV_LINE = re.compile(r"^(?P<book>[1-3]?[A-Za-z]+)(?P<chapter>\d+):(?P<verse>\d+) (?P<text>.*)$")


def _pysword(root: Path):
    """The pysword package: installed, or from its sdist kept in downloads (pure Python, no build)."""
    try:
        import pysword.modules  # noqa: F401
    except ImportError:
        downloads = downloads_dir(root)
        sdist = pip_download(PYSWORD_REQUIREMENT, PYSWORD_SDIST, downloads, source=True)
        unpacked = downloads / PYSWORD_SDIST.removesuffix(".tar.gz")
        if not (unpacked / "pysword" / "modules.py").is_file():
            with tarfile.open(sdist, "r:gz") as archive:
                archive.extractall(downloads, filter="data")
        sys.path.insert(0, str(unpacked))
    from pysword.modules import SwordModules

    return SwordModules


def _kjv_verses() -> list[tuple[tuple[int, int, int], str]]:
    """All KJV verses from Debian's `bible` program, keyed (book number, chapter, verse)."""
    if shutil.which("bible") is None:
        raise UserError(
            "the English text needs the `bible` program: apt-get install bible-kjv sword-text-sparv"
        )
    result = subprocess.run(
        ["bible", "-f", "Gen1:1-Rev22:21"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    verses, book, previous = [], 0, None
    for line in result.stdout.splitlines():
        match = _KJV_LINE.match(line.strip())
        if not match:
            continue
        if match["book"] != previous:
            book, previous = book + 1, match["book"]
        verses.append(((book, int(match["chapter"]), int(match["verse"])), " ".join(match["text"].split())))
    if len(verses) < 30_000:
        raise UserError(f"`bible` printed only {len(verses)} verses; reinstall bible-kjv.")
    return verses


def _spanish_verses(root: Path) -> dict[tuple[int, int, int], str]:
    """All Reina-Valera 1909 verses via pysword, keyed like `_kjv_verses` (markup stripped)."""
    sword_path = os.environ.get("SWORD_PATH", "/usr/share/sword")
    SwordModules = _pysword(root)
    try:
        modules = SwordModules(sword_path)
        if SWORD_MODULE not in modules.parse_modules():
            raise KeyError(SWORD_MODULE)
        bible = modules.get_bible_from_module(SWORD_MODULE)
    except Exception as error:  # noqa: BLE001 - any failure means the module is not installed properly
        raise UserError(
            f"cannot read the SWORD module {SWORD_MODULE} in {sword_path} ({error}); "
            "apt-get install sword-text-sparv (or set SWORD_PATH)."
        ) from None
    verses = {}
    books = bible.get_structure().get_books()
    for number, book in enumerate(books["ot"] + books["nt"], 1):
        for chapter in range(1, book.num_chapters + 1):
            for verse in range(1, book.chapter_lengths[chapter - 1] + 1):
                text = bible.get(books=[book.osis_name], chapters=[chapter], verses=[verse])
                verses[(number, chapter, verse)] = " ".join(text.split())
    return verses


def _fetch_bible(folder: Path, root: Path, progress: bool) -> dict:
    english = _kjv_verses()
    spanish = _spanish_verses(root)
    pairs = [(spanish[key], text) for key, text in english if spanish.get(key) and text]
    # Whole verses are shuffled into the splits (seeded), so every book is in train, val and test.
    order = list(range(len(pairs)))
    random.Random(0).shuffle(order)
    cut = {"test": order[:1000], "val": order[1000:2000], "train": order[2000:]}
    for split, index in cut.items():
        write_pairs(folder / f"{split}.tsv", [pairs[i] for i in index])
    return {
        "task": "seq2seq",
        "counts": {k: len(v) for k, v in cut.items()},
        "source": "Reina-Valera 1909 (SWORD spaRV1909eb)",
        "target": "King James Version (bible-kjv)",
        "licence": "public domain",
    }



def fetch_bible_es_en(data_root: str | Path | None = None, progress: bool = True) -> Path:
    """``rnnlab data fetch bible-es-en`` into ``<data_root>/bible-es-en``; cached by its info.json."""
    root = resolve_data_root(data_root)
    folder = root / "bible-es-en"
    if (folder / INFO_FILE).is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    write_info(folder, "bible-es-en", _fetch_bible(folder, root, progress))
    return folder
