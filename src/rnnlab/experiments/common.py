"""What every experiment shares: the result record, the table, writing the files, small models.

An experiment module defines

    NAME, DESCRIPTION, CLAIM             strings: what it does and the direction the lectures predict
    run(quick: bool, seed: int) -> ExperimentResult
    figure(result, path) -> Path         draws result.data through rnnlab.viz.diagnostics

and stays within a few CPU minutes at one thread (`quick`: a few seconds, for the tests; a quick run
is too small for the claim to be expected to hold, so its check is reported but not asserted).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ..nn import Recurrent, init_recurrent


@dataclass
class ExperimentResult:
    """The outcome of one experiment: a table, the claim's check, and the data behind the figure."""

    name: str
    description: str
    claim: str  # the expected direction, in words
    columns: list[str]
    rows: list[list]
    holds: bool  # whether the expected direction was observed
    measured: str  # the numbers the check compared, in words
    data: dict = field(default_factory=dict)  # curves etc. for the figure and the JSON
    quick: bool = False
    seed: int = 0
    seconds: float = 0.0
    files: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "name": self.name, "description": self.description, "quick": self.quick, "seed": self.seed,
            "seconds": round(self.seconds, 2),
            "check": {"claim": self.claim, "holds": self.holds, "measured": self.measured},
            "table": {"columns": self.columns, "rows": self.rows}, "data": self.data, "files": self.files,
        }


def format_table(columns: list[str], rows: list[list]) -> str:
    """A plain text table; floats with 4 significant digits."""

    def cell(value) -> str:
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return "nan" if math.isnan(value) else f"{value:.4g}"
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in text]) for i, c in enumerate(columns)]
    # numbers right-aligned, words left-aligned; the last column is not padded
    numeric = [all(isinstance(row[i], int | float) and not isinstance(row[i], bool) for row in rows)
               for i in range(len(columns))]

    def line(values) -> str:
        cells = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(cells).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(row) for row in text])


def report(result: ExperimentResult) -> str:
    """The table and the claim's verdict, as printed by `rnnlab experiment`."""
    verdict = "holds" if result.holds else "does NOT hold"
    size = " (quick run: too small to expect the claim)" if result.quick else ""
    return (f"{result.name}: {result.description}\n\n{format_table(result.columns, result.rows)}\n\n"
            f"expected: {result.claim}\nobserved: {result.measured} -> {verdict}{size}")


def write_outputs(result: ExperimentResult, out: Path, figure) -> None:
    """Write NAME.json (table, check, data) and NAME.png into `out`; record their paths."""
    out.mkdir(parents=True, exist_ok=True)
    result.files = {"json": str(out / f"{result.name}.json"), "figure": str(out / f"{result.name}.png")}
    figure(result, out / f"{result.name}.png")
    text = json.dumps(result.to_dict(), indent=1, default=_jsonable)
    (out / f"{result.name}.json").write_text(text + "\n", encoding="utf-8")


def _jsonable(value):
    if isinstance(value, Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


class Timer:
    """`with Timer() as t: ...; t.seconds`."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


# ---- small models of the synthetic tasks (tasks are in the experiment modules) ---------------------


class SequenceModel(nn.Module):
    """Embedding -> Recurrent -> linear, for the synthetic tasks.

    Letters: B batch, T time, V vocabulary, E embedding, H hidden, C classes.
    `per_step=False`: classify the whole sequence from the last output, (B, T) -> (B, C).
    `per_step=True`: tag every step, (B, T) -> (B, T, C).
    """

    def __init__(self, cell: str, vocab_size: int, classes: int, *, embedding: int = 16, hidden: int = 32,
                 bidirectional: bool = False, per_step: bool = False) -> None:
        super().__init__()
        self.per_step = per_step
        self.embedding = nn.Embedding(vocab_size, embedding)
        self.rnn = Recurrent(cell, embedding, hidden, bidirectional=bidirectional)
        init_recurrent(self.rnn)
        self.output = nn.Linear(self.rnn.output_size, classes)

    def forward(self, tokens: Tensor) -> Tensor:
        h, _ = self.rnn(self.embedding(tokens))  # (B, T, H·dirs)
        return self.output(h if self.per_step else h[:, -1])  # (B, T, C) or (B, C)


def accuracy(logits: Tensor, labels: Tensor) -> float:
    return float((logits.argmax(-1) == labels).float().mean())


def train_char_lm(model: nn.Module, ids: Tensor, steps: int, *, batch: int = 32, seq_len: int = 64,
                  lr: float = 3e-3, seed: int = 0, clip: float | None = 1.0,
                  evaluate=None, eval_every: int = 0) -> dict:
    """Train a `LanguageModel` on random windows of `ids` with Adam; return its loss curves.

    `evaluate(model) -> dict`, when given, is called every `eval_every` steps and at the end (in eval
    mode) and its results are collected under "evals" with the step.
    """
    from ..train.optim import clip_gradients
    from .tasks import random_windows

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses, evals = [], []
    for step in range(steps):
        if evaluate is not None and eval_every and step % eval_every == 0:
            model.eval()
            evals.append({"step": step, **evaluate(model)})
        model.train()
        x, y = random_windows(ids, batch, seq_len, generator)  # (B, T) each
        logits, _ = model(x)
        loss = model.loss(logits, y)
        optimizer.zero_grad()
        loss.backward()
        clip_gradients(model.parameters(), clip)
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    if evaluate is not None:
        evals.append({"step": steps, **evaluate(model)})
    return {"losses": losses, "evals": evals}


@torch.no_grad()
def mean_loss(model: nn.Module, ids: Tensor, seq_len: int = 128) -> float:
    """Cross-entropy (nats per character) of a language model over all of `ids`, in windows."""
    model.eval()
    usable = (len(ids) - 1) // seq_len * seq_len
    x = ids[:usable].view(-1, seq_len)  # (windows, T)
    y = ids[1 : usable + 1].view(-1, seq_len)
    logits, _ = model(x)
    return float(model.loss(logits, y))
