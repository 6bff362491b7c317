"""`metrics.jsonl`, the record of a run: one JSON object per logged event, appended as training goes.

Every event has `step`, `split` ("train", "val" or "test"), `loss` (nats per token) and `time`
(seconds since the run started, resumes included); language models add `bpc` and `perplexity`,
train events `lr`, `grad_norm` and `tokens_per_s`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .errors import UserError

LN2 = math.log(2)


def lm_metrics(loss: float) -> dict:
    """Loss in nats -> the language-model metrics: bits per token and perplexity."""
    return {"loss": loss, "bpc": loss / LN2, "perplexity": math.exp(min(loss, 50.0))}


class MetricsLog:
    """Append-only JSON-lines log of a run."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write(self, event: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(event, allow_nan=True) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop events logged after `step` (by a run killed after its last checkpoint)."""
        if not self.path.exists():
            return
        kept = [e for e in read_metrics(self.path) if e.get("step", 0) <= step]
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(e) + "\n" for e in kept), encoding="utf-8")
        os.replace(tmp, self.path)


def read_metrics(path: Path) -> list[dict]:
    """Read a metrics.jsonl file (a run folder is accepted too); a torn last line is ignored."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.is_file():
        raise UserError(f"{path} does not exist; is this a run folder written by `rnnlab train`?")
    events = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # a kill during the last write leaves a torn line
                break
            raise UserError(f"{path} line {number} is not valid JSON; the log is damaged.") from None
    return events
