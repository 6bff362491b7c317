"""Deprecated: moved to `rnnlab.data.text.corpus`; this module only re-exports it for old imports."""

from rnnlab.data.text.corpus import *  # noqa: F403
from rnnlab.data.text.corpus import (  # noqa: F401
    SPLITS,
    TokenCorpus,
    cache_dir_for,
    is_prepared,
    iter_text_chunks,
    prepare_corpus,
    resolve_corpus,
)
