"""Deprecated: moved to `rnnlab.data.text.vocab`; this module only re-exports it for old imports."""

from rnnlab.data.text.vocab import *  # noqa: F403
from rnnlab.data.text.vocab import (  # noqa: F401
    EOS,
    LEVELS,
    UNK,
    Vocabulary,
    build_char_vocab,
    build_word_vocab,
    tokenize_words,
)
