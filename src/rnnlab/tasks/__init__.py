"""The tasks rnnlab trains, one module each, and the one registry that finds a run's task.

    lm        language model (char or word), truncated BPTT             rnnlab.tasks.lm
    image     image classifiers: kNN, linear, MLP, CNN, row RNN           rnnlab.tasks.image
    classify  many-to-one: text -> label                                  rnnlab.tasks.classify
    tag       many-to-many, Tx = Ty: a tag per word                       rnnlab.tasks.tag
    seq2seq   many-to-many, Tx ≠ Ty: encoder-decoder with attention       rnnlab.tasks.seq2seq
    caption   one-to-many: image -> caption (Show and Tell / Attend)      rnnlab.tasks.caption

From Python, with no command line involved:

    from rnnlab.tasks import load_run, evaluate_run
    loaded = load_run("runs/pos")            # LoadedRun(task="tag", model=..., document=..., context=...)
    results = evaluate_run("runs/pos")       # {"run", "step", "checkpoint", "val": {...}, "test": {...}}
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import UserError
from ..train.checkpoint import load_checkpoint


@dataclass(frozen=True)
class TaskEntry:
    """Where a task lives: its module, and the names there of its loader and evaluator."""

    module: str
    load: str  # (run, which) -> model and what reads its inputs
    evaluate: str  # (run, data, which=..., **options) -> {"run", "step", "checkpoint", split: metrics}
    description: str


#: every task, by the name `rnnlab train TASK` and checkpoints use
TASKS: dict[str, TaskEntry] = {
    "lm": TaskEntry("lm", "load_lm", "evaluate_run", "character- or word-level language model"),
    "image": TaskEntry("image", "load_image_model", "evaluate_run", "image classifier"),
    "classify": TaskEntry("text", "load_task_run", "evaluate_run", "text -> label"),
    "tag": TaskEntry("text", "load_task_run", "evaluate_run", "a tag per word"),
    "seq2seq": TaskEntry("text", "load_task_run", "evaluate_run", "sequence to sequence with attention"),
    "caption": TaskEntry("caption", "load_caption_run", "evaluate_run", "image -> caption"),
    "vqa": TaskEntry("vqa", "load_vqa_run", "evaluate_run", "(image, question) -> answer"),
}


@dataclass
class LoadedRun:
    """A trained run: its task, model (eval mode, CPU), checkpoint document and what reads inputs
    (the LM's vocabulary, or the task object with its vocabularies and labels)."""

    task: str
    model: nn.Module
    document: dict
    context: Any = None


def task_module(name: str):
    """The module of task `name` (imported on first use)."""
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; the tasks are: {', '.join(TASKS)}.")
    return importlib.import_module(f"{__name__}.{TASKS[name].module}")


def run_task(run: str | Path) -> str:
    """The task ("lm", "classify", ...) of a run folder, from its last checkpoint's document."""
    return load_checkpoint(Path(run), "last").document.get("task", "lm")


def load_run(run: str | Path, which: str = "best") -> LoadedRun:
    """Load any trained run folder for its task (`which`: "best", falling back to "last", or "last")."""
    name = run_task(run)
    loader = getattr(task_module(name), TASKS[name].load)
    if name == "lm":
        model, vocab, document = loader(run, which)
        return LoadedRun(name, model, document, vocab)
    if name == "image":
        model, document = loader(run, which)
        return LoadedRun(name, model, document)
    if name in ("caption", "vqa"):
        task, model, document = loader(run, which)
    else:
        task, model, document = loader(run, which, task=name)
    return LoadedRun(name, model, document, task)


def evaluate_run(run: str | Path, data: str | Path | None = None, *, which: str = "best", **options) -> dict:
    """`rnnlab eval RUN [DATA]` for a run of any task: {"run", "step", "checkpoint", split: metrics}."""
    name = run_task(run)
    evaluator = getattr(task_module(name), TASKS[name].evaluate)
    return evaluator(run, data, which=which, **options)


def format_eval(results: dict) -> str:
    """A small table of `evaluate_run`'s results."""
    rows = [(k, v) for k, v in results.items() if isinstance(v, dict)]
    if any("bpc" not in r for _, r in rows):  # another task's metrics: one generic row each
        lines = [f"run {results['run']} (step {results['step']}, {results['checkpoint']} checkpoint)"]
        for name, r in rows:
            shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()
                              if not isinstance(v, dict | list))
            lines.append(f"{name:<8} {shown}")
        return "\n".join(lines)
    lines = [f"run {results['run']} (step {results['step']}, {results['checkpoint']} checkpoint)",
             f"{'text':<8} {'tokens':>10} {'loss':>8} {'bits/tok':>9} {'perplexity':>11}"]
    for name, r in rows:
        ppl = r["perplexity"] if math.isfinite(r["perplexity"]) else float("inf")
        lines.append(f"{name:<8} {r['tokens']:>10,} {r['loss']:>8.4f} {r['bpc']:>9.4f} {ppl:>11.3f}")
    return "\n".join(lines)
