"""Small synthetic tasks, generated in code from a seed (nothing is downloaded).

Letters: B batch, T time.

- `agreement_batch`: "the cat … was" / "the cats … were" with D distractors between subject and verb.
- `tagging_batch`: "Teddy Roosevelt" (a name) vs "Teddy bears" (not), decided by the *next* word.
- `grammar_text`: sentences from a tiny probabilistic grammar, for character-level language models:
  regular enough to learn in a minute, random enough that sampling has choices to make.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import Tensor

# ---- long memory: subject-verb agreement across D distractors ---------------------------------------

#: token ids of the agreement task: two subjects, the distractor words, the verb slot
SINGULAR, PLURAL = 0, 1
AGREEMENT_DISTRACTORS = 8
AGREEMENT_QUERY = 2 + AGREEMENT_DISTRACTORS
AGREEMENT_VOCAB = AGREEMENT_QUERY + 1


def agreement_batch(distance: int, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """(tokens (B, D + 2), labels (B,)): subject, D distractors, then the verb slot to predict.

    The label is the subject's number (0: "was", 1: "were"); nothing after the first token tells it.
    """
    subject = torch.randint(2, (batch,), generator=generator)  # (B,)
    distractors = torch.randint(2, 2 + AGREEMENT_DISTRACTORS, (batch, distance), generator=generator)
    query = torch.full((batch, 1), AGREEMENT_QUERY)
    return torch.cat([subject[:, None], distractors, query], dim=1), subject  # (B, D + 2), (B,)


# ---- tagging that needs the future: "Teddy Roosevelt" vs "Teddy bears" --------------------------------

TAG_WORDS = ["<pad>", "teddy", "roosevelt", "kennedy", "bears", "toys", "he", "said", "loves", "the",
             "big", "old", "saw", "a", "and"]
TAG_ID = {w: i for i, w in enumerate(TAG_WORDS)}
SURNAMES = [TAG_ID["roosevelt"], TAG_ID["kennedy"]]
OBJECTS = [TAG_ID["bears"], TAG_ID["toys"]]
FILLERS = [TAG_ID[w] for w in ("he", "said", "loves", "the", "big", "old", "saw", "a", "and")]


def tagging_batch(length: int, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """(tokens (B, T), tags (B, T)): tag 1 marks a person's name ("teddy" in "teddy roosevelt" and the
    surname), 0 everything else. Whether "teddy" is a name depends only on the word after it."""
    g = np.random.default_rng(int(torch.randint(2**31, (1,), generator=generator)))
    tokens = g.choice(FILLERS, size=(batch, length))
    tags = np.zeros((batch, length), dtype=np.int64)
    for b in range(batch):
        t = int(g.integers(0, 3))
        while t < length - 1:
            tokens[b, t] = TAG_ID["teddy"]
            if g.random() < 0.5:
                tokens[b, t + 1] = g.choice(SURNAMES)
                tags[b, t] = tags[b, t + 1] = 1
            else:
                tokens[b, t + 1] = g.choice(OBJECTS)
            t += int(g.integers(3, 7))
    return torch.from_numpy(tokens).long(), torch.from_numpy(tags)


# ---- text for character-level language models ------------------------------------------------------

_GRAMMAR = {
    "S": [["NP", "VP", "."], ["NP", "VP", "and", "NP", "VP", "."],
          ["the", "N", "said", "that", "NP", "VP", "."]],
    "NP": [["the", "N"], ["the", "A", "N"], ["a", "N"], ["NAME"]],
    "VP": [["V", "NP"], ["V", "P", "NP"], ["slept"], ["V", "NP", "P", "NP"]],
    "N": [["cat"], ["dog"], ["bird"], ["mat"], ["king"], ["queen"], ["boat"], ["tree"], ["house"]],
    "A": [["big"], ["small"], ["red"], ["old"], ["happy"], ["green"]],
    "V": [["saw"], ["liked"], ["chased"], ["found"], ["sat"], ["ran"], ["painted"]],
    "P": [["on"], ["near"], ["under"], ["with"], ["behind"]],
    "NAME": [["alice"], ["bob"], ["romeo"], ["juliet"]],
}


def _expand(symbol: str, rng: random.Random) -> list[str]:
    if symbol not in _GRAMMAR:
        return [symbol]
    return [word for part in rng.choice(_GRAMMAR[symbol]) for word in _expand(part, rng)]


def grammar_text(characters: int, seed: int = 0) -> str:
    """At least `characters` characters of sentences from the grammar, one sentence per line."""
    rng = random.Random(seed)
    lines, size = [], 0
    while size < characters:
        words = _expand("S", rng)
        line = " ".join(words[:-1]) + words[-1]
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines) + "\n"


def encode_chars(text: str, alphabet: str | None = None) -> tuple[Tensor, str]:
    """Characters -> int64 ids over `alphabet` (default: the sorted characters of the text)."""
    alphabet = alphabet or "".join(sorted(set(text)))
    index = {c: i for i, c in enumerate(alphabet)}
    return torch.tensor([index[c] for c in text], dtype=torch.long), alphabet


def random_windows(ids: Tensor, batch: int, length: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """B random windows: inputs (B, T) and next-character targets (B, T)."""
    starts = torch.randint(len(ids) - length - 1, (batch,), generator=generator)
    rows = torch.stack([ids[s : s + length + 1] for s in starts.tolist()])  # (B, T + 1)
    return rows[:, :-1], rows[:, 1:]
