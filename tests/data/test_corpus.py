"""Prepared corpora: streaming preparation, splits, bad input, memory maps, --data resolution."""

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rnnlab.data.text import corpus as corpus_module
from rnnlab.data.text.corpus import (
    TokenCorpus,
    cache_dir_for,
    dtype_for,
    iter_text_chunks,
    prepare_corpus,
    resolve_corpus,
)
from rnnlab.data.text.vocab import build_word_vocab, tokenize_words
from rnnlab.errors import UserError

MIXED = "Ça va? 生きるべきか 👍🏽 naïve\n" * 20  # 1-, 2-, 3- and 4-byte UTF-8 characters


def write(tmp_path: Path, text: str, name: str = "input.txt", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def read_all(folder: Path) -> tuple[TokenCorpus, str]:
    corpus = TokenCorpus.open(folder)
    ids = np.concatenate([corpus.split(name) for name in ("train", "val", "test")])
    return corpus, corpus.vocab.decode(ids)


def test_dtype_for_boundaries():
    assert dtype_for(256) == np.uint8
    assert dtype_for(257) == np.uint16 and dtype_for(65536) == np.uint16
    assert dtype_for(65537) == np.uint32
    assert dtype_for(300).str == "<u2" and dtype_for(70000).str == "<u4"  # little-endian on disk


def test_char_corpus_round_trip_and_splits_by_position(tmp_path):
    text = "".join(chr(ord("a") + i % 26) for i in range(1000)) + "\n"
    out = prepare_corpus(write(tmp_path, text), tmp_path / "prepared", progress=False)
    corpus, decoded = read_all(out)
    assert decoded == text
    assert corpus.meta["tokens"] == {"train": 900, "val": 50, "test": 51}
    vocab = corpus.vocab
    assert vocab.decode(corpus.split("train")) == text[:900]
    assert vocab.decode(corpus.split("val")) == text[900:950]
    assert vocab.decode(corpus.split("test")) == text[950:]
    assert sorted(p.name for p in out.iterdir()) == [
        "meta.json",
        "test.bin",
        "train.bin",
        "val.bin",
        "vocab.json",
    ]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["level"] == "char" and meta["dtype"] == "uint8" and meta["encoding"] == "utf-8"
    assert meta["source_size"] == len(text) and meta["source_path"] == str((tmp_path / "input.txt").resolve())
    assert meta["version"] == 1 and meta["vocab_size"] == 27


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 7, 64])
def test_chunk_boundaries_inside_multibyte_characters(tmp_path, chunk_size):
    path = write(tmp_path, MIXED)
    chunks = list(iter_text_chunks(path, chunk_size=chunk_size))
    assert "".join(chunks) == MIXED
    out = prepare_corpus(path, tmp_path / "prepared", progress=False, chunk_size=chunk_size)
    corpus, decoded = read_all(out)
    assert decoded == MIXED
    assert sum(corpus.meta["tokens"].values()) == len(MIXED)  # code points, not bytes


@pytest.mark.parametrize(
    "distinct, dtype",
    [(256, np.uint8), (257, np.uint16), (65537, np.uint32)],
)
def test_dtype_follows_vocabulary_size(tmp_path, distinct, dtype):
    # Distinct code points from U+4E00 up (skipping the surrogates), each once, plus padding 'a's.
    code_points = [cp for cp in range(0x4E00, 0x4E00 + distinct + 2048) if not 0xD800 <= cp < 0xE000]
    text = "".join(map(chr, code_points[: distinct - 1])) + "a" * 100
    out = prepare_corpus(write(tmp_path, text), tmp_path / "prepared", progress=False)
    corpus, decoded = read_all(out)
    assert len(corpus.vocab) == distinct
    assert corpus.split("train").dtype == dtype
    assert decoded == text


def test_word_corpus_matches_tokenizer_even_with_tiny_chunks(tmp_path):
    text = "the cat sat on the mat.\nthe dog, it ran!\n" * 10 + "rare words here\n"
    path = write(tmp_path, text)
    expected_vocab = build_word_vocab(Counter(tokenize_words(text)), min_count=2)
    for chunk_size in (3, 1 << 20):
        options = dict(level="word", min_count=2, chunk_size=chunk_size, progress=False)
        out = prepare_corpus(path, tmp_path / f"w{chunk_size}", **options)
        corpus = TokenCorpus.open(out)
        assert corpus.vocab == expected_vocab
        ids = np.concatenate([corpus.split(name) for name in ("train", "val", "test")])
        assert ids.tolist() == expected_vocab.encode(text, unknown="replace")
        assert corpus.meta["level"] == "word" and corpus.meta["min_count"] == 2


def test_latin1_file_with_encoding_option(tmp_path):
    text = "café crème brûlée " * 10
    path = write(tmp_path, text, encoding="latin-1")
    out = prepare_corpus(path, tmp_path / "p", encoding="latin-1", progress=False)
    assert read_all(out)[1] == text
    assert TokenCorpus.open(out).meta["encoding"] == "iso8859-1"


def test_utf8_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + ("hello world " * 10).encode())
    assert read_all(prepare_corpus(path, tmp_path / "p", progress=False))[1] == "hello world " * 10
    assert "".join(iter_text_chunks(path, chunk_size=1)) == "hello world " * 10


def test_progress_bar_goes_to_stderr(tmp_path, capsys):
    prepare_corpus(write(tmp_path, "abc" * 50), tmp_path / "p", progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "preparing input.txt" in captured.err


# ----- bad input ----------------------------------------------------------------------------------


def one_line_error(call) -> str:
    with pytest.raises(UserError) as error:
        call()
    message = str(error.value)
    assert "\n" not in message and message.endswith((".", "shakespeare"))
    return message


def test_missing_file_names_the_path(tmp_path):
    message = one_line_error(lambda: prepare_corpus(tmp_path / "nope.txt", tmp_path / "p"))
    assert str(tmp_path / "nope.txt") in message and "does not exist" in message


def test_directory_instead_of_file(tmp_path):
    assert "is a folder" in one_line_error(lambda: prepare_corpus(tmp_path, tmp_path / "p"))


def test_empty_file(tmp_path):
    assert "is empty" in one_line_error(lambda: prepare_corpus(write(tmp_path, ""), tmp_path / "p"))


def test_binary_file(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert "looks binary" in one_line_error(lambda: prepare_corpus(path, tmp_path / "p"))


@pytest.mark.parametrize("chunk_size", [4, 1 << 20])
def test_non_utf8_names_offset_and_suggests_encoding(tmp_path, chunk_size):
    path = tmp_path / "latin.txt"
    path.write_bytes(b"hello world, " + "café".encode("latin-1") + b" and more")
    message = one_line_error(lambda: prepare_corpus(path, tmp_path / "p", chunk_size=chunk_size))
    assert "byte 0xE9 at byte offset 16" in message
    assert "--encoding latin-1" in message


def test_character_cut_off_at_end_of_file(tmp_path):
    path = tmp_path / "cut.txt"
    path.write_bytes(("x" * 50).encode() + "生".encode()[:2])
    message = one_line_error(lambda: prepare_corpus(path, tmp_path / "p", chunk_size=7))
    assert "cut off by the end of the file at byte offset 50" in message


def test_utf16_bom_suggests_utf16(tmp_path):
    text = "hello there, utf-16 text " * 4
    path = write(tmp_path, "\ufeff" + text, encoding="utf-16-le")
    message = one_line_error(lambda: prepare_corpus(path, tmp_path / "p"))
    assert "UTF-16 byte-order mark" in message and message.endswith("use --encoding utf-16.")
    out = prepare_corpus(path, tmp_path / "p", encoding="utf-16", progress=False)
    assert read_all(out)[1] == text


def test_vocabulary_over_max_vocab(tmp_path):
    path = write(tmp_path, "abcdefghij" * 10)
    assert "--max-vocab 5" in one_line_error(lambda: prepare_corpus(path, tmp_path / "p", max_vocab=5))
    words = write(tmp_path, "one two three four five six\n" * 10, name="words.txt")
    message = one_line_error(lambda: prepare_corpus(words, tmp_path / "w", level="word", max_vocab=5))
    assert "--min-count or --max-size" in message


def test_text_too_short_for_splits(tmp_path):
    message = one_line_error(lambda: prepare_corpus(write(tmp_path, "x" * 39), tmp_path / "p"))
    assert "only 39 char tokens" in message and "at least 2 tokens each" in message
    prepare_corpus(write(tmp_path, "x" * 40), tmp_path / "p", progress=False)  # 36 / 2 / 2 is enough


def test_unknown_level_encoding_and_bad_split(tmp_path):
    path = write(tmp_path, "x" * 100)
    assert "--level char or --level word" in one_line_error(
        lambda: prepare_corpus(path, tmp_path / "p", level="byte")
    )
    assert "Unknown text encoding" in one_line_error(
        lambda: prepare_corpus(path, tmp_path / "p", encoding="utf-9")
    )
    assert "add up to 1" in one_line_error(
        lambda: prepare_corpus(path, tmp_path / "p", split=(0.9, 0.2, 0.1))
    )
    assert "three positive" in one_line_error(lambda: prepare_corpus(path, tmp_path / "p", split=(1.0, 0.0)))


def test_failures_leave_no_half_written_corpus(tmp_path, monkeypatch):
    path = write(tmp_path, "hello world " * 20)
    with pytest.raises(UserError):
        prepare_corpus(write(tmp_path, "tiny", name="tiny.txt"), tmp_path / "p")

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(corpus_module.Vocabulary, "save", crash)
    with pytest.raises(RuntimeError):
        prepare_corpus(path, tmp_path / "p", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.txt", "tiny.txt"]  # no p/, no staging


def test_prepare_into_existing_folder_keeps_other_files_and_replaces_corpus(tmp_path):
    folder = tmp_path / "dataset"
    folder.mkdir()
    source = write(folder, "first text " * 10)
    prepare_corpus(source, folder, progress=False)
    source.write_text("second, different text " * 10, encoding="utf-8")
    prepare_corpus(source, folder, progress=False)
    assert read_all(folder)[1] == "second, different text " * 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]  # the staging folder is gone


# ----- TokenCorpus ----------------------------------------------------------------------------------


@pytest.fixture
def prepared(tmp_path) -> Path:
    return prepare_corpus(write(tmp_path, MIXED), tmp_path / "prepared", progress=False)


def test_split_is_read_only_1d_memmap(prepared):
    corpus = TokenCorpus.open(prepared)
    train = corpus.split("train")
    assert isinstance(train, np.memmap) and train.ndim == 1 and not train.flags.writeable
    assert len(train) == corpus.num_tokens("train") == corpus.meta["tokens"]["train"]
    with pytest.raises(UserError, match="Unknown split"):
        corpus.split("dev")


def test_truncated_file_is_detected(prepared):
    with open(prepared / "val.bin", "r+b") as file:
        file.truncate(os.path.getsize(prepared / "val.bin") - 1)
    with pytest.raises(
        UserError, match=r"val.bin has \d+ bytes but should have \d+ .*prepare the corpus again"
    ):
        TokenCorpus.open(prepared)


def test_missing_files_and_not_a_corpus(prepared, tmp_path):
    (prepared / "test.bin").unlink()
    with pytest.raises(UserError, match="test.bin is missing"):
        TokenCorpus.open(prepared)
    with pytest.raises(UserError, match="not a prepared corpus"):
        TokenCorpus.open(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        TokenCorpus.open(tmp_path / "nowhere")
    (prepared / "meta.json").write_text("{}")
    with pytest.raises(UserError, match="not an rnnlab prepared corpus"):
        TokenCorpus.open(prepared)


# ----- resolve_corpus -------------------------------------------------------------------------------


def test_resolve_prepared_folder_is_itself(prepared, tmp_path):
    assert resolve_corpus(str(prepared), data_root=tmp_path / "data") == prepared


def test_resolve_text_file_prepares_once_into_cache(tmp_path, monkeypatch):
    path = write(tmp_path, "some words to learn from " * 10, name="my book.txt")
    root = tmp_path / "data"
    first = resolve_corpus(str(path), data_root=root)
    assert first.parent == root / "prepared" and first.name.startswith("my_book-char-")
    assert first == cache_dir_for(path, "char", "utf-8", root)
    assert read_all(first)[1] == path.read_text()

    def refuse(*args, **kwargs):
        raise AssertionError("prepared twice")

    monkeypatch.setattr(corpus_module, "prepare_corpus", refuse)
    assert resolve_corpus(str(path), data_root=root) == first  # re-used, not prepared again
    monkeypatch.undo()
    word = resolve_corpus(str(path), level="word", data_root=root)
    assert word != first and TokenCorpus.open(word).level == "word"
    path.write_text("an edited, longer text with other words " * 10, encoding="utf-8")
    assert resolve_corpus(str(path), data_root=root) != first  # the file changed: prepared again


def test_resolve_dataset_name(tmp_path, monkeypatch):
    root = tmp_path / "data"
    with pytest.raises(UserError) as error:
        resolve_corpus("shakespeare", data_root=root)
    assert str(error.value).endswith("run: rnnlab data fetch shakespeare")
    folder = root / "shakespeare"
    folder.mkdir(parents=True)
    prepare_corpus(write(folder, "ROMEO:\nBut soft!\n\n" * 10), folder, progress=False)
    assert resolve_corpus("shakespeare", data_root=root) == folder
    monkeypatch.setenv("RNNLAB_DATA", str(root))
    assert resolve_corpus("shakespeare") == folder  # data_root from $RNNLAB_DATA
    word = resolve_corpus("shakespeare", level="word")
    assert word.parent == root / "prepared" and TokenCorpus.open(word).level == "word"


def test_resolve_errors(tmp_path):
    with pytest.raises(UserError, match=r"No file, folder or dataset named 'hamlet.txt'.*shakespeare"):
        resolve_corpus("hamlet.txt", data_root=tmp_path)
    with pytest.raises(UserError, match="is not a prepared corpus"):
        resolve_corpus(str(tmp_path), data_root=tmp_path)
    with pytest.raises(UserError, match="Unknown level"):
        resolve_corpus("shakespeare", level="bpe", data_root=tmp_path)


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
@pytest.mark.parametrize("wide", [False, True])
def test_ascii_chunks_skip_the_decoder_with_the_same_ids(tmp_path, encoding, wide):
    # Pure-ASCII chunks take the undecoded fast path, the others the decoder: both must agree, with
    # one-byte ids (bytes.translate) and with two-byte ids (more than 256 distinct characters).
    extra = "".join(map(chr, range(0x100, 0x100 + 300))) if wide and encoding == "utf-8" else "éàü"
    text = ("plain ascii line\n" * 20) + extra + ("more ascii\n" * 20) + "ñ" + "tail\n" * 10
    path = tmp_path / "input.txt"
    path.write_bytes(text.encode(encoding))
    out = prepare_corpus(path, tmp_path / "prepared", encoding=encoding, progress=False, chunk_size=16)
    corpus, decoded = read_all(out)
    assert decoded == text
