"""Caption words: the tokenizer and the vocabulary with the CS231n reserved ids."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

#: the CS231n names of the reserved tokens, with their ids
NULL, START, END, UNK = "<NULL>", "<START>", "<END>", "<UNK>"
SPECIALS = (NULL, START, END, UNK)
NULL_ID, START_ID, END_ID, UNK_ID = 0, 1, 2, 3

_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")


def tokenize_caption(text: str) -> list[str]:
    """Lower-cased words of a caption: letters and digits, joined by inner hyphens or apostrophes.

    "Flag: Guinea-Bissau" -> ["flag", "guinea-bissau"]; punctuation and underscores separate words.
    """
    return _WORD.findall(text.lower())


# ----- vocabulary ------------------------------------------------------------------------------------


class CaptionVocab:
    """Words with the reserved ids 0 <NULL> (padding), 1 <START>, 2 <END>, 3 <UNK>, then by frequency."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[:4]) != SPECIALS:
            raise ValueError(f"a caption vocabulary starts with {SPECIALS}")
        self.tokens = list(tokens)
        self.stoi = {token: index for index, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, captions: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None):
        """From tokenized captions: words seen at least `min_count` times, the `max_size` most frequent."""
        counts = Counter(word for caption in captions for word in caption)
        words = sorted(
            (w for w, n in counts.items() if n >= min_count and w not in SPECIALS),
            key=lambda w: (-counts[w], w),
        )
        if max_size:
            words = words[:max_size]
        return cls(list(SPECIALS) + words)

    def encode(self, words: Sequence[str]) -> list[int]:
        """Ids of words; unknown words become <UNK>."""
        return [self.stoi.get(word, UNK_ID) for word in words]

    def words(self, ids: Iterable[int]) -> list[str]:
        """The words of ids up to the first <END>, without <NULL> and <START>."""
        out = []
        for i in ids:
            i = int(i)
            if i == END_ID:
                break
            if i not in (NULL_ID, START_ID):
                out.append(self.tokens[i])
        return out

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.words(ids))

    def to_dict(self) -> dict:
        return {"tokens": self.tokens}

    @classmethod
    def from_dict(cls, values: dict) -> CaptionVocab:
        return cls(values["tokens"])

