"""Vocabularies: the map between text and integer token ids.

Two levels:

* ``char``: one token per Unicode code point (not per byte), so accented letters, CJK and emoji are
  single tokens. Tokens are sorted by code point, which makes the id order independent of the text's
  order and two vocabularies of the same character set identical.
* ``word``: tokens from `tokenize_words`; ids 0 and 1 are the specials ``<unk>`` and ``<eos>``,
  then words by descending count, ties alphabetically.

A vocabulary is saved as a small JSON document (``to_dict``/``save``) that checkpoints and prepared
corpora embed; loading never runs code.

`TaskVocab` puts a `Vocabulary` behind the ids the sequence tasks reserve (<pad>, <start>, <eos>, <unk>).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from rnnlab.errors import UserError

UNK = "<unk>"
EOS = "<eos>"
LEVELS = ("char", "word")
UNKNOWN_MODES = ("error", "skip", "replace")
VOCAB_FORMAT = "rnnlab.vocab"
VOCAB_VERSION = 1

# Words are runs of Unicode word characters (letters, digits, underscore), optionally joined by an
# apostrophe inside the word ("don't", "o'er", "ne'er-do-well" -> "ne'er", "-", "do", "-", "well").
# Every other non-space character is a token of its own; "\n" ends a line and becomes <eos>.
_WORD_PATTERN = re.compile(r"\n|\w+(?:['’]\w+)*|[^\w\s]")

# Tokens that attach to the word before them when word ids are decoded back to text.
_NO_SPACE_BEFORE = frozenset(",.;:!?')]}’”%")
_NO_SPACE_AFTER = frozenset("([{“‘")

# At most this many distinct unknown symbols are named in an error message.
_MAX_NAMED_UNKNOWNS = 10


def tokenize_words(text: str) -> list[str]:
    """Split text into word-level tokens.

    The rules, deliberately simple and reversible enough for reading samples:

    * a word is a run of Unicode word characters (``\\w``: letters of any script, digits, ``_``),
      which may contain apostrophes between word characters: ``don't``, ``o'er`` are one token each;
      a leading or trailing apostrophe (``'Tis``, ``lovers'``) is a separate token;
    * every other non-whitespace character (punctuation, symbols, emoji) is one token;
    * each newline ``"\\n"`` becomes the token ``<eos>``; other whitespace only separates tokens;
    * case is kept (``The`` and ``the`` are different words).

    >>> tokenize_words("Tush, 'twill not appear.\\nO!")
    ['Tush', ',', "'", 'twill', 'not', 'appear', '.', '<eos>', 'O', '!']
    """
    return [EOS if token == "\n" else token for token in _WORD_PATTERN.findall(text)]


def _quote_all(symbols: Iterable[str]) -> str:
    """Render unknown symbols as "'a', 'b', ... and 3 more" for one-line error messages."""
    symbols = list(symbols)
    shown = ", ".join(repr(symbol) for symbol in symbols[:_MAX_NAMED_UNKNOWNS])
    if len(symbols) > _MAX_NAMED_UNKNOWNS:
        shown += f" and {len(symbols) - _MAX_NAMED_UNKNOWNS} more"
    return shown


class Vocabulary:
    """Token list plus reverse map for one level ("char" or "word").

    Attributes:
        level: "char" or "word".
        tokens: index -> token string.
        stoi: token string -> index.
        counts: how often each token occurred in the text it was built from (aligned with
            `tokens`), or None when unknown.
        replacement: char level only: the character that ``encode(..., unknown="replace")``
            substitutes for characters outside the vocabulary. By default the most frequent
            character (ties: lowest code point), which for English text is the space; None for word
            level, where unknown words become ``<unk>``.
    """

    def __init__(
        self,
        level: str,
        tokens: list[str],
        counts: list[int] | None = None,
        replacement: str | None = None,
    ) -> None:
        if level not in LEVELS:
            raise UserError(f"Unknown vocabulary level {level!r}; use 'char' or 'word'.")
        if not tokens:
            raise UserError("A vocabulary needs at least one token; build it from a non-empty text.")
        if counts is not None and len(counts) != len(tokens):
            raise UserError(
                f"The vocabulary has {len(tokens)} tokens but {len(counts)} counts; rebuild it from the text."
            )
        self.level = level
        self.tokens = list(tokens)
        self.counts = None if counts is None else [int(count) for count in counts]
        self.stoi = {token: index for index, token in enumerate(self.tokens)}
        if len(self.stoi) != len(self.tokens):
            duplicates = [token for token, n in Counter(self.tokens).items() if n > 1]
            raise UserError(
                f"The vocabulary lists some tokens twice ({_quote_all(duplicates)}); "
                "rebuild it from the text."
            )
        if level == "char":
            bad = [token for token in self.tokens if len(token) != 1]
            if bad:
                raise UserError(
                    f"A character vocabulary must hold single characters, not {_quote_all(bad)}; "
                    "rebuild it from the text."
                )
            if replacement is None:
                replacement = self._most_frequent()
            if replacement not in self.stoi:
                raise UserError(
                    f"The replacement character {replacement!r} is not in the vocabulary; "
                    "rebuild it from the text."
                )
        else:
            missing = [special for special in (UNK, EOS) if special not in self.stoi]
            if missing:
                raise UserError(
                    f"A word vocabulary must contain {_quote_all(missing)}; build it with build_word_vocab."
                )
            replacement = None
        self.replacement = replacement

    def _most_frequent(self) -> str:
        if self.counts is None:
            # Without counts the space is the least surprising stand-in, if there is one.
            return " " if " " in self.stoi else self.tokens[0]
        best = max(range(len(self.tokens)), key=lambda i: (self.counts[i], -ord(self.tokens[i])))
        return self.tokens[best]

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return f"Vocabulary(level={self.level!r}, size={len(self)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    @property
    def unk_id(self) -> int | None:
        """Id of ``<unk>`` (word level); None for char level, which has no unknown token."""
        return self.stoi[UNK] if self.level == "word" else None

    @property
    def eos_id(self) -> int | None:
        """Id of ``<eos>`` (word level, one per newline); None for char level, where "\\n" is a character."""
        return self.stoi[EOS] if self.level == "word" else None

    # ----- text <-> ids ---------------------------------------------------------------------------

    def split(self, text: str) -> list[str]:
        """The tokens of `text` at this vocabulary's level (characters or `tokenize_words`)."""
        return list(text) if self.level == "char" else tokenize_words(text)

    def encode(self, text: str, unknown: str = "error", what: str = "text") -> list[int]:
        """Map text to token ids.

        Args:
            text: the text to encode.
            unknown: what to do with characters (char level) or words (word level) that are not in
                the vocabulary: "error" raises `UserError` naming them, "skip" drops them, "replace"
                maps them to ``<unk>`` (word level) or to `replacement` (char level).
            what: how the error message calls the text ("prime", "text", ...).

        Returns:
            list of ids, one per token.
        """
        if unknown not in UNKNOWN_MODES:
            raise UserError(f"Unknown value {unknown!r} for --unknown; use error, skip or replace.")
        pieces = self.split(text)
        stoi = self.stoi
        try:
            return [stoi[piece] for piece in pieces]  # the common case: everything is known
        except KeyError:
            pass
        if unknown == "error":
            missing = list(dict.fromkeys(piece for piece in pieces if piece not in stoi))
            kind = "characters" if self.level == "char" else "words"
            raise UserError(
                f"The {what} contains {kind} not in the vocabulary: {_quote_all(missing)}. "
                "Use --unknown skip or --unknown replace."
            )
        if unknown == "skip":
            return [stoi[piece] for piece in pieces if piece in stoi]
        fallback = stoi[self.replacement] if self.level == "char" else stoi[UNK]
        return [stoi.get(piece, fallback) for piece in pieces]

    def decode(self, ids: Iterable[int]) -> str:
        """Map token ids back to text.

        Char level concatenates the characters. Word level joins words with single spaces, renders
        ``<eos>`` as a newline, and puts no space before closing punctuation (``, . ; : ! ? ' ) ]``)
        or after opening brackets, so ``["Tush", ",", "no", "!"]`` reads ``"Tush, no!"``.

        Args:
            ids: token ids: a list, a 1-D numpy array or a 1-D tensor.
        """
        if hasattr(ids, "tolist"):  # numpy arrays and torch tensors: one conversion, not one per item
            ids = ids.tolist()
        ids = list(ids)
        tokens = self.tokens
        try:
            pieces = [tokens[index] for index in ids]
            if any(index < 0 for index in ids):
                raise IndexError
        except (IndexError, TypeError):
            bad = [index for index in ids if not isinstance(index, int) or not 0 <= index < len(tokens)]
            raise UserError(
                f"Cannot decode token ids {_quote_all(bad)}: the vocabulary has ids 0 to {len(tokens) - 1}; "
                "use the vocabulary the model was trained with."
            ) from None
        if self.level == "char":
            return "".join(pieces)
        parts: list[str] = []
        previous = "\n"  # no space at the very start
        for token in pieces:
            text = "\n" if token == EOS else token
            glue = not (
                previous == "\n" or text == "\n" or text in _NO_SPACE_BEFORE or previous in _NO_SPACE_AFTER
            )
            if glue:
                parts.append(" ")
            parts.append(text)
            previous = text
        return "".join(parts)

    # ----- persistence ----------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """A JSON-able description: format, version, level, tokens, counts and (char) replacement."""
        document = {
            "format": VOCAB_FORMAT,
            "version": VOCAB_VERSION,
            "level": self.level,
            "tokens": list(self.tokens),
        }
        if self.counts is not None:
            document["counts"] = list(self.counts)
        if self.replacement is not None:
            document["replacement"] = self.replacement
        return document

    @classmethod
    def from_dict(cls, document: Mapping) -> Vocabulary:
        """Inverse of `to_dict`; raises `UserError` for documents that are not vocabularies."""
        if not isinstance(document, Mapping) or document.get("format", VOCAB_FORMAT) != VOCAB_FORMAT:
            raise UserError("The vocabulary document is not an rnnlab vocabulary; rebuild it from the text.")
        version = document.get("version", VOCAB_VERSION)
        if version != VOCAB_VERSION:
            raise UserError(
                f"The vocabulary has format version {version}, but this rnnlab reads version "
                f"{VOCAB_VERSION}; prepare the data again with this version."
            )
        tokens = document.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(token, str) for token in tokens):
            raise UserError("The vocabulary document has no list of tokens; rebuild it from the text.")
        return cls(
            level=document.get("level", ""),
            tokens=tokens,
            counts=document.get("counts"),
            replacement=document.get("replacement"),
        )

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as UTF-8 JSON (characters kept readable, not \\u-escaped)."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a vocabulary written by `save`; `UserError` if the file is missing or not one."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"The vocabulary file {path} does not exist; prepare the corpus again.")
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise UserError(
                f"The vocabulary file {path} is not valid JSON ({error}); prepare the corpus again."
            ) from None
        return cls.from_dict(document)


# ----- building ---------------------------------------------------------------------------------


def build_char_vocab(counts: Mapping[str, int] | np.ndarray) -> Vocabulary:
    """Character vocabulary from character counts, tokens sorted by code point.

    Args:
        counts: either a mapping character -> count (e.g. ``collections.Counter(text)``), or a 1-D
            integer array indexed by code point (``counts[ord(c)]``), as the corpus preparation
            counts with ``np.bincount``. Characters with count 0 are left out.

    Returns:
        a char-level `Vocabulary` with `counts` and `replacement` (the most frequent character).
    """
    if isinstance(counts, np.ndarray):
        if counts.ndim != 1:
            raise UserError("Code-point counts must be a 1-D array indexed by code point.")
        code_points = np.flatnonzero(counts)
        tokens = [chr(int(code_point)) for code_point in code_points]
        token_counts = [int(count) for count in counts[code_points]]
    else:
        items = sorted((char, int(count)) for char, count in counts.items() if count > 0)
        if any(len(char) != 1 for char, _ in items):
            raise UserError(
                "Character counts must be keyed by single characters; count a string's characters."
            )
        tokens = [char for char, _ in items]
        token_counts = [count for _, count in items]
    if not tokens:
        raise UserError(
            "Cannot build a character vocabulary from an empty text; give a text with some characters."
        )
    return Vocabulary("char", tokens, token_counts)


def build_word_vocab(
    counter: Mapping[str, int],
    min_count: int = 1,
    max_size: int | None = None,
) -> Vocabulary:
    """Word vocabulary: ``<unk>``, ``<eos>``, then words by descending count, ties alphabetically.

    Args:
        counter: word -> count, e.g. ``Counter(tokenize_words(text))``. A ``<eos>`` entry there
            becomes the count of the ``<eos>`` special.
        min_count: words seen fewer times than this become ``<unk>``.
        max_size: the largest vocabulary wanted, the two specials included; the rarest words beyond
            it become ``<unk>``. None for no limit.

    Returns:
        a word-level `Vocabulary` whose counts give ``<unk>`` the total count of the words it stands for.
    """
    if min_count < 1:
        raise UserError(f"--min-count must be at least 1, not {min_count}.")
    if max_size is not None and max_size < 3:
        raise UserError(f"--max-size must be at least 3 (two special tokens and one word), not {max_size}.")
    words = [(word, int(count)) for word, count in counter.items() if word not in (UNK, EOS) and count > 0]
    words.sort(key=lambda item: (-item[1], item[0]))
    kept = [item for item in words if item[1] >= min_count]
    if max_size is not None:
        kept = kept[: max_size - 2]
    unk_count = int(counter.get(UNK, 0)) + sum(count for _, count in words) - sum(count for _, count in kept)
    tokens = [UNK, EOS] + [word for word, _ in kept]
    token_counts = [unk_count, int(counter.get(EOS, 0))] + [count for _, count in kept]
    return Vocabulary("word", tokens, token_counts)


# ----- vocabularies with reserved ids ---------------------------------------------------------------

PAD, START = "<pad>", "<start>"


class TaskVocab:
    """A `Vocabulary` behind ids reserved for the sequence tasks.

    Ids: 0 ``<pad>`` (fills short rows of a batch; embeddings and losses ignore it), 1 ``<start>``
    (the decoder's first input), 2 ``<eos>``, 3 ``<unk>``, then the vocabulary's own tokens in its
    order (a word vocabulary's own ``<unk>``/``<eos>`` are these same two). Tokenization and text
    reconstruction are the wrapped vocabulary's (characters, or `tokenize_words`).
    """

    SPECIALS = (PAD, START, EOS, UNK)
    pad_id, start_id, eos_id, unk_id = 0, 1, 2, 3

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self.level = vocab.level
        self.tokens = list(self.SPECIALS) + [t for t in vocab.tokens if t not in (UNK, EOS)]
        self.stoi = {token: index for index, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(
        cls,
        texts,
        level: str = "word",
        min_count: int = 1,
        max_size: int | None = None,
        pretokenized: bool = False,
    ) -> TaskVocab:
        """Count tokens of `texts` (strings, or token lists when `pretokenized`) and build one."""
        counts: Counter = Counter()
        for text in texts:
            counts.update(text if pretokenized else (list(text) if level == "char" else tokenize_words(text)))
        if level == "char" and not pretokenized:
            kept = {c: n for c, n in counts.items() if n >= min_count and len(c) == 1}
            if max_size:
                kept = dict(sorted(kept.items(), key=lambda item: (-item[1], item[0]))[:max_size])
            return cls(build_char_vocab(kept))
        return cls(build_word_vocab(counts, min_count=min_count, max_size=max_size))

    def split(self, text: str) -> list[str]:
        return self.vocab.split(text)

    def encode_tokens(self, tokens: Sequence[str], unknown: str = "replace", what: str = "text") -> list[int]:
        """Ids of tokens; unknown ones -> ``<unk>`` ("replace"), dropped ("skip") or an error ("error")."""
        stoi, unk = self.stoi, self.unk_id
        ids = [stoi.get(token, unk) for token in tokens]
        if unknown == "replace" or unk not in ids:
            return ids
        if unknown == "skip":
            return [i for i, token in zip(ids, tokens) if i != unk or token == UNK]
        missing = list(dict.fromkeys(token for token in tokens if token not in stoi))
        shown = ", ".join(repr(token) for token in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise UserError(
            f"the {what} contains tokens the model never saw: {shown}; pass --unknown replace "
            "(they become <unk>) or --unknown skip."
        )

    def encode(self, text: str, unknown: str = "replace", what: str = "text") -> list[int]:
        return self.encode_tokens(self.split(text), unknown, what)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ids: <pad>, <start> and <eos> are dropped; <unk> shows as "<unk>"."""
        pieces = [self.tokens[i] for i in ids if i > self.eos_id]
        if self.level == "char":
            return "".join(pieces)
        return self.vocab.decode([self.vocab.stoi[piece] for piece in pieces])

    def to_dict(self) -> dict:
        return {"vocab": self.vocab.to_dict()}

    @classmethod
    def from_dict(cls, document: dict) -> TaskVocab:
        return cls(Vocabulary.from_dict(document["vocab"]))
