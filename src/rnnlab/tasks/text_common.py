"""What the text tasks (classify, tag, seq2seq) share: data-section checks, length limits, padding."""

from __future__ import annotations

import torch
from torch import Tensor

from ..console import warn  # noqa: F401 - the text tasks' warnings
from ..data.text_tasks import (
    resolve_task_data,
    split_examples,
)
from ..errors import UserError

TOO_LONG = ("truncate", "error")
EVAL_BATCH = 128


def _check_common(section, name: str) -> None:
    """Validation shared by the data sections."""
    if not isinstance(section.batch_size, int) or section.batch_size < 1:
        raise UserError(f"data.batch_size must be a positive integer (got {section.batch_size!r}).")
    if section.too_long not in TOO_LONG:
        raise UserError(f"data.too_long must be truncate or error (got {section.too_long!r}).")
    if section.bad_rows not in ("error", "skip"):
        raise UserError(f"data.bad_rows must be error or skip (got {section.bad_rows!r}).")
    if not isinstance(section.min_count, int) or section.min_count < 1:
        raise UserError(f"data.min_count must be a positive integer (got {section.min_count!r}).")
    split = [float(f) for f in section.split]
    if len(split) != 3 or any(f < 0 for f in split) or not 0.99 <= sum(split) <= 1.01:
        raise UserError(f"data.split must be three fractions summing to 1, like 0.8,0.1,0.1 (got {split}).")
    section.split = split


def _fit_length(ids: list, limit: int, counter: list) -> list:
    """Cut `ids` to `limit` items (0: no limit), counting the cuts in counter[0]."""
    if limit and len(ids) > limit:
        counter[0] += 1
        return ids[:limit]
    return ids


def _report_too_long(count: int, total: int, what: str, limit: int, policy: str, key: str) -> None:
    if not count:
        return
    if policy == "error":
        raise UserError(
            f"{count} of {total} {what} are longer than data.{key}={limit} tokens; raise the "
            f"limit with --set data.{key}=N, or pass --set data.too_long=truncate."
        )
    warn(f"{count} of {total} {what} were longer than data.{key}={limit} tokens and were truncated.")


def _pad(rows: list[list[int]], value: int = 0) -> tuple[Tensor, Tensor]:
    """Right-pad lists of ids into (B, T) with their lengths (B,)."""
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    out = torch.full((len(rows), int(lengths.max())), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out, lengths


def _batches(items: list, size: int = EVAL_BATCH):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _read_splits(path: str, data_root, reader, split: list[float]) -> dict[str, list]:
    """{split: examples} from --data: a folder's split files, or one file cut by `split` (seeded)."""
    files = resolve_task_data(path, data_root)
    if "all" in files:
        return split_examples(reader(files["all"]), split, seed=0)
    return {name: reader(file) for name, file in files.items()}
