"""Prepared corpora: a text file encoded once into memory-mappable token ids.

A prepared corpus is a folder:

    vocab.json   the `Vocabulary` (JSON)
    train.bin    token ids of the first 90% of the text (by position), raw little-endian integers
    val.bin      the next 5%
    test.bin     the last 5%
    meta.json    level, dtype, token counts per split, source path/size/encoding, format version

The ids are uint8 when the vocabulary has at most 256 tokens, uint16 up to 65,536, else uint32, so a
character corpus costs one byte per character and `np.memmap` reads it without loading it.

Preparation streams the file twice in chunks (never the whole text in memory): pass 1 counts tokens and
builds the vocabulary, pass 2 encodes and writes. At char level both passes are vectorised with numpy:
a chunk becomes an array of code points, pass 1 is a `np.bincount`, pass 2 a lookup table
code point -> id. Everything is written into a temporary folder first and published at the end, with
meta.json last, so a crash never leaves a folder that looks prepared but is not.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rnnlab.data import registry
from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.paths import prepared_dir
from rnnlab.data.publish import publish_folder, staging_folder
from rnnlab.data.text.vocab import LEVELS, Vocabulary, build_char_vocab, build_word_vocab, tokenize_words
from rnnlab.errors import UserError

CORPUS_FORMAT = "rnnlab.corpus"
CORPUS_VERSION = 1
SPLITS = ("train", "val", "test")
META_FILE = "meta.json"
VOCAB_FILE = "vocab.json"
DEFAULT_CHUNK_SIZE = 8 * 2**20  # bytes read per chunk: large enough for numpy to amortise, small for RAM
MIN_SPLIT_TOKENS = 2  # a split needs at least one (input, target) pair
NUM_CODE_POINTS = 0x110000  # every Unicode code point fits below this

# Encodings in which NUL bytes are ordinary (they pad ASCII characters), so NUL does not mean binary.
_WIDE_ENCODINGS = re.compile(r"^utf[-_]?(16|32)")


def dtype_for(vocab_size: int) -> np.dtype:
    """Smallest little-endian unsigned dtype that holds ids 0 .. vocab_size - 1."""
    if vocab_size <= 2**8:
        return np.dtype("u1")
    if vocab_size <= 2**16:
        return np.dtype("<u2")
    return np.dtype("<u4")


# ----- reading text in chunks -------------------------------------------------------------------


def _check_source(path: Path) -> int:
    """Validate the text file; return its size in bytes."""
    if not path.exists():
        raise UserError(f"The text file {path} does not exist; check the path.")
    if path.is_dir():
        raise UserError(
            f"{path} is a folder, but a text file was expected; give the path of a .txt file "
            "(or a prepared corpus folder where one is accepted)."
        )
    size = path.stat().st_size
    if size == 0:
        raise UserError(f"The text file {path} is empty; give a file with some text in it.")
    return size


def _lookup_encoding(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise UserError(
            f"Unknown text encoding {encoding!r}; use a Python codec name such as utf-8, latin-1 or cp1252."
        ) from None


def _wide_bom(first_bytes: bytes) -> str | None:
    """Return "utf-32" or "utf-16" if the bytes start with that encoding's byte-order mark, else None."""
    if first_bytes.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"  # checked first: the UTF-32 LE mark begins with the UTF-16 LE one
    if first_bytes.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _encoding_advice(first_bytes: bytes, encoding: str) -> str:
    """Guess what --encoding the user should have given."""
    if _wide_bom(first_bytes):
        return f"it starts with a byte-order mark, so try --encoding {_wide_bom(first_bytes)}"
    if encoding != "utf-8":
        return "try --encoding utf-8, or --encoding latin-1 which accepts any bytes"
    return "if it is Latin-1 or Windows text, use --encoding latin-1 (or --encoding cp1252)"


def iter_text_chunks(
    path: str | Path,
    encoding: str = "utf-8",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_bytes: Callable[[int], object] | None = None,
) -> Iterator[str]:
    """Yield the decoded text of a file chunk by chunk, never holding the whole file.

    A multi-byte character cut by a chunk boundary is completed by the incremental decoder, so the
    concatenation of the chunks is exactly the file's text. A UTF-8 byte-order mark is dropped.

    Raises `UserError` for a file that is missing, a folder, empty, binary (NUL bytes in the first
    chunk) or not decodable (naming the byte offset and the --encoding to try).

    Args:
        on_bytes: called with the number of bytes read after each chunk (for progress bars).
    """
    for piece in _iter_chunks(path, encoding, chunk_size, on_bytes, ascii_bytes=False):
        assert isinstance(piece, str)
        yield piece


# Codecs in which every ASCII byte is the character of that code point, alone: a pure-ASCII chunk
# needs no decoding (its bytes are its code points).
_ASCII_COMPATIBLE = {"utf-8", "ascii", "latin-1", "iso8859-1", "cp1252"}


def _iter_code_points(
    path: Path, codec: str, chunk_size: int, on_bytes: Callable[[int], object] | None
) -> Iterator[tuple[np.ndarray, bytes | None]]:
    """(code points, the raw bytes or None) of each chunk; the bytes are given for pure-ASCII chunks.

    Pure-ASCII chunks of an ASCII-compatible codec skip the decoder (most text is mostly ASCII); the
    others go through `_code_points` of the decoded text. Errors as `iter_text_chunks`.
    """
    for piece in _iter_chunks(path, codec, chunk_size, on_bytes, ascii_bytes=codec in _ASCII_COMPATIBLE):
        if isinstance(piece, bytes):
            yield np.frombuffer(piece, np.uint8), piece
        else:
            yield _code_points(piece), None


def _iter_chunks(
    path: str | Path,
    encoding: str,
    chunk_size: int,
    on_bytes: Callable[[int], object] | None,
    ascii_bytes: bool,
) -> Iterator[str | bytes]:
    """`iter_text_chunks`, but with `ascii_bytes` a pure-ASCII chunk comes as its undecoded bytes."""
    path = Path(path)
    _check_source(path)
    codec = _lookup_encoding(encoding)
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    offset = 0  # bytes of the file consumed before the current chunk
    first_bytes = b""
    with path.open("rb") as file:
        while True:
            # The first read takes at least 4 bytes so that a byte-order mark is seen whole.
            data = file.read(chunk_size if offset else max(chunk_size, 4))
            final = not data
            if offset == 0 and not final:
                first_bytes = data[:4]
                wide_bom = _wide_bom(data)
                if wide_bom and not _WIDE_ENCODINGS.match(codec):
                    raise UserError(
                        f"The file {path} starts with a {wide_bom.upper()} byte-order mark, so it is not "
                        f"{codec} text; use --encoding {wide_bom}."
                    )
                if b"\x00" in data and not _WIDE_ENCODINGS.match(codec):
                    raise UserError(
                        f"The file {path} looks binary (it contains NUL bytes), not text; "
                        "give a plain text file."
                    )
                if codec == "utf-8" and data.startswith(codecs.BOM_UTF8):
                    data = data[len(codecs.BOM_UTF8) :]
                    offset = len(codecs.BOM_UTF8)
            pending = decoder.getstate()[0]  # bytes of a character cut by the previous chunk boundary
            if ascii_bytes and not final and not pending and data.isascii():
                offset += len(data)
                if on_bytes is not None:
                    on_bytes(len(data))
                yield data
                continue
            try:
                text = decoder.decode(data, final=final)
            except UnicodeDecodeError as error:
                where = offset - len(pending) + error.start
                bad = (pending + data)[error.start : error.start + 1]
                if final and error.reason == "unexpected end of data":
                    what = "a character cut off by the end of the file"
                else:
                    what = f"byte 0x{bad.hex().upper()}"
                raise UserError(
                    f"The file {path} is not valid {codec} text: {what} at byte offset {where} cannot be "
                    f"decoded; {_encoding_advice(first_bytes, codec)}."
                ) from None
            offset += len(data)
            if on_bytes is not None and data:
                on_bytes(len(data))
            if text:
                yield text
            if final:
                return


def _code_points(text: str) -> np.ndarray:
    """Code points of a string as a 1-D array: uint8 for pure ASCII, uint16 within the BMP, else uint32."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), np.uint8)
    # Most text stays in the Basic Multilingual Plane: UTF-16 is then one unit per character and
    # encodes about ten times faster than UTF-32 (measured 4 GB/s against 350 MB/s).
    utf16 = text.encode("utf-16-le", errors="surrogatepass")
    if len(utf16) == 2 * len(text):  # no surrogate pairs: every character is one 16-bit unit
        return np.frombuffer(utf16, np.dtype("<u2"))
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), np.dtype("<u4"))


def _iter_line_blocks(chunks: Iterator[str]) -> Iterator[str]:
    """Re-cut text chunks at line ends (or at least at whitespace) so no word is split in two."""
    carry = ""
    for chunk in chunks:
        text = carry + chunk
        cut = text.rfind("\n") + 1
        if cut == 0:
            # A very long line: cut at the last whitespace instead, or carry it all.
            cut = max(text.rfind(" "), text.rfind("\t"), text.rfind("\r")) + 1
        carry = text[cut:]
        if cut:
            yield text[:cut]
    if carry:
        yield carry


# ----- preparing --------------------------------------------------------------------------------


def _split_sizes(num_tokens: int, split: Sequence[float]) -> dict[str, int]:
    """Token counts of train/val/test, cut by position: floor of each fraction, the rest to test."""
    train = int(num_tokens * split[0] + 1e-9)
    val = int(num_tokens * split[1] + 1e-9)
    return {"train": train, "val": val, "test": num_tokens - train - val}


def _check_split(split: Sequence[float]) -> tuple[float, float, float]:
    try:
        fractions = tuple(float(value) for value in split)
    except (TypeError, ValueError):
        fractions = ()
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise UserError(
            f"The split {split!r} must be three positive fractions for train, val and test that add up "
            "to 1, such as 0.9,0.05,0.05."
        )
    return fractions  # type: ignore[return-value]


class _SplitWriter:
    """Writes a stream of id arrays into train.bin, val.bin, test.bin, switching files by position."""

    def __init__(self, folder: Path, sizes: dict[str, int], dtype: np.dtype) -> None:
        self.folder = folder
        self.sizes = sizes
        self.dtype = dtype
        self.index = 0  # which split is being written
        self.written = 0  # ids written into the current split
        self.total = 0  # ids written into all splits
        self.file = (folder / f"{SPLITS[0]}.bin").open("wb")

    def write(self, ids: np.ndarray) -> None:
        ids = ids.astype(self.dtype, copy=False)
        while len(ids):
            room = self.sizes[SPLITS[self.index]] - self.written
            if room == 0:
                self._next_file()
                continue
            part, ids = ids[:room], ids[room:]
            self.file.write(part.tobytes())
            self.written += len(part)
            self.total += len(part)

    def _next_file(self) -> None:
        self.file.close()
        if self.index + 1 >= len(SPLITS):
            raise UserError(
                "The text file grew while it was being prepared; prepare it again once it is complete."
            )
        self.index += 1
        self.written = 0
        self.file = (self.folder / f"{SPLITS[self.index]}.bin").open("wb")

    def close(self) -> int:
        """Close the last file, creating any split files never reached; return the ids written."""
        self.file.close()
        while self.index + 1 < len(SPLITS):
            self.index += 1
            (self.folder / f"{SPLITS[self.index]}.bin").touch()
        return self.total


def prepare_corpus(
    path: str | Path,
    out_dir: str | Path,
    level: str = "char",
    encoding: str = "utf-8",
    split: Sequence[float] = (0.9, 0.05, 0.05),
    min_count: int = 1,
    max_size: int | None = None,
    max_vocab: int = 1_000_000,
    progress: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Path:
    """Encode a text file once into a prepared corpus folder (see the module docstring).

    Args:
        path: the text file.
        out_dir: the folder to write; created, or its corpus files replaced (other files kept).
        level: "char" (one token per Unicode code point) or "word" (`tokenize_words`).
        encoding: the file's text encoding (any Python codec name).
        split: fractions of the tokens for train, val, test, cut by position in that order.
        min_count, max_size: word level only, passed to `build_word_vocab`.
        max_vocab: refuse vocabularies larger than this (a guard against binary or wrong data).
        progress: show a progress bar over bytes on stderr.
        chunk_size: bytes read at a time (tests use tiny chunks to exercise boundaries).

    Returns:
        `out_dir` as a Path.
    """
    path = Path(path)
    out_dir = Path(out_dir)
    if level not in LEVELS:
        raise UserError(f"Unknown level {level!r}; use --level char or --level word.")
    fractions = _check_split(split)
    size = _check_source(path)
    codec = _lookup_encoding(encoding)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir} is a file; give a folder to write the prepared corpus into.")

    # Built in a folder beside out_dir and published with meta.json last (`publish_folder`): into an
    # existing folder (a fetched dataset keeps its input.txt there) the files are replaced one by one.
    staging = staging_folder(out_dir)
    bar = tqdm(
        total=2 * size,
        desc=f"preparing {path.name}",
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=not progress,
    )
    try:

        def chunks() -> Iterator[str]:
            return iter_text_chunks(path, codec, chunk_size, on_bytes=bar.update)

        # Pass 1: count tokens, build the vocabulary.
        if level == "char":
            counts = np.zeros(NUM_CODE_POINTS, np.int64)
            for points, _ in _iter_code_points(path, codec, chunk_size, bar.update):
                chunk_counts = np.bincount(points)
                counts[: len(chunk_counts)] += chunk_counts
            num_tokens = int(counts.sum())
            distinct = int(np.count_nonzero(counts))
            if distinct > max_vocab:
                raise UserError(
                    f"The text has {distinct} distinct characters, more than --max-vocab {max_vocab}; "
                    "check that it is text in the right --encoding, or raise --max-vocab."
                )
            vocab = build_char_vocab(counts) if num_tokens else None
        else:
            counter: Counter[str] = Counter()
            for block in _iter_line_blocks(chunks()):
                counter.update(tokenize_words(block))
            num_tokens = sum(counter.values())
            vocab = build_word_vocab(counter, min_count=min_count, max_size=max_size) if num_tokens else None
            if vocab is not None and len(vocab) > max_vocab:
                raise UserError(
                    f"The text has a vocabulary of {len(vocab)} words, more than --max-vocab {max_vocab}; "
                    "keep fewer words with --min-count or --max-size, or raise --max-vocab."
                )

        sizes = _split_sizes(num_tokens, fractions)
        if min(sizes.values()) < MIN_SPLIT_TOKENS:
            raise UserError(
                f"The text {path} has only {num_tokens} {level} tokens, too few to give train, val and test "
                f"(split {'/'.join(f'{f:g}' for f in fractions)}) at least {MIN_SPLIT_TOKENS} tokens each; "
                "give a longer text."
            )
        assert vocab is not None
        dtype = dtype_for(len(vocab))

        # Pass 2: encode and write the ids, split by position.
        writer = _SplitWriter(staging, sizes, dtype)
        try:
            if level == "char":
                # Lookup table code point -> id; code points not in the vocabulary cannot occur
                # (the file changed between the passes is caught by the token count below).
                table = np.zeros(NUM_CODE_POINTS, dtype)
                table[[ord(char) for char in vocab.tokens]] = np.arange(len(vocab), dtype=dtype)
                # one-byte ids of ASCII bytes: bytes.translate maps a chunk without numpy's int64 indices
                byte_table = table[:256].tobytes() if dtype == np.uint8 else None
                for points, raw in _iter_code_points(path, codec, chunk_size, bar.update):
                    if raw is not None and byte_table is not None:
                        writer.write(np.frombuffer(raw.translate(byte_table), np.uint8))
                    else:
                        writer.write(np.take(table, points))
            else:
                stoi, unk = vocab.stoi, vocab.unk_id
                for block in _iter_line_blocks(chunks()):
                    words = tokenize_words(block)
                    writer.write(np.fromiter((stoi.get(w, unk) for w in words), dtype, count=len(words)))
        finally:
            written = writer.close()
        if written != num_tokens:
            raise UserError(f"The text file {path} changed while it was being prepared; prepare it again.")

        vocab.save(staging / VOCAB_FILE)
        stat = path.stat()
        meta = {
            "format": CORPUS_FORMAT,
            "version": CORPUS_VERSION,
            "level": level,
            "dtype": dtype.name,
            "vocab_size": len(vocab),
            "tokens": sizes,
            "split": list(fractions),
            "source_path": str(path.resolve()),
            "source_size": stat.st_size,
            "source_mtime_ns": stat.st_mtime_ns,
            "encoding": codec,
            "min_count": min_count if level == "word" else None,
            "max_size": max_size if level == "word" else None,
        }
        (staging / META_FILE).write_text(
            json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        publish_folder(staging, out_dir, META_FILE)
    except BaseException:
        bar.leave = False  # erase the half-filled bar so the error message stands alone
        raise
    finally:
        bar.close()
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


# ----- reading a prepared corpus ----------------------------------------------------------------


@dataclass
class TokenCorpus:
    """A prepared corpus opened for reading; splits are read-only memory maps.

    Attributes:
        path: the corpus folder.
        vocab: its `Vocabulary`.
        meta: the parsed meta.json.
        dtype: the little-endian dtype of the ids.
    """

    path: Path
    vocab: Vocabulary
    meta: dict
    dtype: np.dtype
    _maps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, path: str | Path) -> TokenCorpus:
        """Open and check a prepared corpus folder; `UserError` if it is not one or a file is damaged."""
        path = Path(path)
        if not path.is_dir():
            raise UserError(
                f"The prepared corpus folder {path} does not exist; "
                "prepare it with: rnnlab data prepare FILE."
            )
        meta_path = path / META_FILE
        if not meta_path.is_file():
            raise UserError(
                f"{path} is not a prepared corpus (it has no {META_FILE}); prepare a text file with: "
                "rnnlab data prepare FILE."
            )
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise UserError(f"{meta_path} is not valid JSON; prepare the corpus again.") from None
        if not isinstance(meta, dict) or meta.get("format") != CORPUS_FORMAT:
            raise UserError(f"{path} is not an rnnlab prepared corpus; prepare the text again.")
        if meta.get("version") != CORPUS_VERSION:
            raise UserError(
                f"The corpus {path} has format version {meta.get('version')}, but this rnnlab reads version "
                f"{CORPUS_VERSION}; prepare the text again."
            )
        vocab = Vocabulary.load(path / VOCAB_FILE)
        try:
            dtype = np.dtype(meta["dtype"]).newbyteorder("<")
            sizes = {name: int(meta["tokens"][name]) for name in SPLITS}
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{meta_path} is incomplete; prepare the corpus again.") from None
        if dtype != dtype_for(len(vocab)) or vocab.level != meta.get("level"):
            raise UserError(f"{meta_path} does not match {VOCAB_FILE}; prepare the corpus again.")
        for name, count in sizes.items():
            file = path / f"{name}.bin"
            if not file.is_file():
                raise UserError(f"The corpus file {file} is missing; prepare the corpus again.")
            expected = count * dtype.itemsize
            actual = file.stat().st_size
            if actual != expected:
                raise UserError(
                    f"The corpus file {file} has {actual} bytes but should have {expected} "
                    "(truncated or changed); prepare the corpus again."
                )
        return cls(path=path, vocab=vocab, meta=meta, dtype=dtype)

    def num_tokens(self, name: str) -> int:
        """Number of tokens in split `name`."""
        self._check_name(name)
        return int(self.meta["tokens"][name])

    @property
    def level(self) -> str:
        return self.vocab.level

    def split(self, name: str) -> np.ndarray:
        """The ids of split "train", "val" or "test" as a 1-D read-only `np.memmap` (no copy)."""
        self._check_name(name)
        if name not in self._maps:
            file = self.path / f"{name}.bin"
            if self.num_tokens(name) == 0:  # mmap cannot map an empty file
                self._maps[name] = np.zeros(0, self.dtype)
            else:
                self._maps[name] = np.memmap(file, dtype=self.dtype, mode="r")
        return self._maps[name]

    @staticmethod
    def _check_name(name: str) -> None:
        if name not in SPLITS:
            raise UserError(f"Unknown split {name!r}; use one of train, val, test.")


# ----- --data FILE|DIR|NAME ---------------------------------------------------------------------


def is_prepared(path: str | Path) -> bool:
    """True if `path` is a folder holding a finished prepared corpus (meta.json written last)."""
    return (Path(path) / META_FILE).is_file()


def cache_dir_for(path: str | Path, level: str = "char", encoding: str = "utf-8", data_root=None) -> Path:
    """Cache folder ``<data_root>/prepared/<stem>-<level>-<hash>`` for a text file.

    The hash covers the absolute path, size, modification time and encoding, so an edited file is
    prepared again and an unchanged one is re-used.
    """
    path = Path(path)
    _check_source(path)
    stat = path.stat()
    key = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{_lookup_encoding(encoding)}"
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]
    stem = re.sub(r"[^\w.-]+", "_", path.stem) or "text"
    return prepared_dir(data_root) / f"{stem}-{level}-{digest}"


def resolve_corpus(
    data: str | Path,
    level: str = "char",
    encoding: str = "utf-8",
    data_root: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Turn the ``--data FILE|DIR|NAME`` argument into a prepared corpus folder.

    * a prepared corpus folder: returned as is (its own level wins over `level`);
    * a text file: prepared once at `level` into ``<data_root>/prepared/<stem>-<level>-<hash>`` and
      re-used while the file is unchanged;
    * a dataset NAME (e.g. "shakespeare"): ``<data_root>/<name>`` once fetched; asking for another
      level than the fetched one prepares the dataset's input.txt at that level into the cache.

    `data_root` defaults to ``$RNNLAB_DATA`` or ``./data``.
    """
    if level not in LEVELS:
        raise UserError(f"Unknown level {level!r}; use --level char or --level word.")
    given = Path(data).expanduser()
    if given.is_dir():
        if is_prepared(given):
            return given
        raise UserError(
            f"The folder {given} is not a prepared corpus (it has no {META_FILE}); give a text file, a "
            "prepared corpus folder or a dataset name."
        )
    if given.is_file():
        cache = cache_dir_for(given, level, encoding, data_root)
        if not is_prepared(cache):
            prepare_corpus(given, cache, level=level, encoding=encoding, progress=progress)
        return cache

    name = str(data)
    root = resolve_data_root(data_root)
    corpora = registry.names(task="lm")
    if name in corpora:
        folder = root / name
        if is_prepared(folder):
            fetched_level = TokenCorpus.open(folder).level
            if fetched_level == level:
                return folder
            if (folder / "input.txt").is_file():
                return resolve_corpus(folder / "input.txt", level, "utf-8", data_root, progress)
        raise UserError(
            f"The dataset {name!r} has not been fetched into {root} yet; run: {registry.get(name).command}"
        )
    known = ", ".join(corpora)
    raise UserError(
        f"No file, folder or dataset named {name!r} was found; give a text file, a prepared corpus folder, "
        f"or a dataset name ({known})."
    )
