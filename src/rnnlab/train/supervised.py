"""Tasks over labelled examples (classify, tag, seq2seq, caption) on the one trainer.

`ExampleTask` is the Task protocol (`rnnlab.train.task`) for a task object that reads and encodes its
examples, pads a batch, gives its loss and scores examples; `rnnlab.train.trainer.fit` runs the loop.
Everything task-specific — reading the data, vocabularies, batching, the model, the loss, the
metrics — lives in the task (`rnnlab.train.sequence_tasks`, `rnnlab.train.caption_task`).

Exact resume: a checkpoint holds the weights, the optimizer moments, the schedule state, the RNG
state and the batcher's position (epoch and batch), so `--resume` continues with the very same
batches, dropout masks and losses as a run that was never interrupted.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..console import say
from ..errors import UserError
from .batching import LengthPooledBatcher
from .checkpoint import best_or_last, load_checkpoint
from .config import SupervisedTrainConfig, from_dict, merge, to_dict  # noqa: F401 - SupervisedTrainConfig re-exported
from .task import Context, StepOutput, Task
from .trainer import fit

#: the batcher of example tasks (the name it had before train/batching.py)
EpochBatcher = LengthPooledBatcher


class ExampleTask(Task):
    """The Task protocol for tasks over labelled examples (classify, tag, seq2seq, caption).

    A subclass reads and encodes its data (`load_data`), pads a batch (`length`, `collate`), gives its
    loss (`loss`) and scores examples (`evaluate(model, examples)`); this class turns that into the
    trainer's steps: shuffled length-pooled batches, this rank's share of each under DDP, validation
    on (at most train.eval_limit of) the validation examples, the baseline written beside the run.
    """

    higher_is_better = True
    on_divergence = "error"
    count_unit = "examples"

    def setup(self, context: Context, saved: dict | None) -> None:
        self.context = context
        self.load_data(context.data_root, saved=saved)
        self.train_examples = self.splits["train"]
        self.val_examples = self.splits["val"]
        if self.config.train.overfit:
            self.train_examples = self.train_examples[: self.config.train.overfit]
            self.val_examples = self.train_examples

    def batches(self) -> EpochBatcher:
        lengths = [self.length(e) for e in self.train_examples]
        return EpochBatcher(lengths, self.config.data.batch_size, self.config.train.seed)

    def check_resume(self, document: dict) -> None:
        _check_resume_config(document["config"], self.config)

    def write_files(self, out: Path, fresh: bool) -> None:
        if not fresh:
            return
        # The task's simple baseline on the same split, so the run's numbers have something beside them.
        baseline = self.baseline()
        if baseline:
            (out / "baseline.json").write_text(json.dumps(baseline, indent=1), encoding="utf-8")
            shown = ", ".join(
                f"{k} {v:.4f}" for k, v in baseline.get("val", {}).items() if isinstance(v, float)
            )
            say(f"baseline ({baseline['model']}) on val: {shown}")

    def training_step(self, net, indices) -> StepOutput:
        ddp = self.context.ddp
        if ddp.enabled:  # this rank's contiguous share of the global batch
            indices = np.array_split(indices, ddp.world_size)[ddp.rank]
        batch = self.collate([self.train_examples[i] for i in indices])
        return StepOutput(self.loss(net, batch), count=int(batch["size"]))

    def validate(self, model, final: bool) -> dict:
        limit = 0 if final else self.config.train.eval_limit
        examples = self.val_examples[:limit] if limit else self.val_examples
        return self.evaluate(model, examples)

    def document(self) -> dict:
        return {"task_state": self.state()}

    def upgrade_train_state(self, saved: dict) -> dict:
        if "acc_examples" in saved:  # written by the supervised loop (before the one trainer)
            saved = {**saved, "acc_count": saved["acc_examples"]}
        return saved


def train_supervised(
    task, out: str | Path, *, resume: bool = False, force: bool = False, data_root: str | Path | None = None
) -> dict:
    """Train `task` (a ClassifyTask, TagTask, Seq2SeqTask or CaptionTask) into `out`; return a summary."""
    return fit(task, out, resume=resume, force=force, data_root=data_root)


def _check_resume_config(saved: dict, config) -> None:
    # the saved section as today's config reads it: an older layout compares in today's keys
    saved_model = to_dict(from_dict(type(config.model), saved["model"], "model"))
    for key, value in to_dict(config.model).items():
        if saved_model.get(key) != value:
            raise UserError(
                f"cannot resume with a changed model config: model.{key} was "
                f"{saved_model.get(key)!r}, now {value!r}; use the original settings or start a "
                "new run."
            )
    if saved["data"].get("batch_size") != config.data.batch_size:
        raise UserError(
            f"cannot resume with a changed data.batch_size ({saved['data'].get('batch_size')} -> "
            f"{config.data.batch_size}): the batch order would not match."
        )


def restore_task_run(run: str | Path, which: str, tasks: dict, task: str | None = None):
    """(task object with its vocabularies, model in eval mode, checkpoint document) of a trained run.

    `tasks` maps a task name to (task class, run-config class); `task` names the one kind of run
    wanted (any of `tasks` when None). `which` "best" falls back to "last" for a run that has none.
    """
    run = Path(run)
    which = best_or_last(run, which)
    ckpt = load_checkpoint(run, which, task=task)
    document = ckpt.document
    name = document.get("task")
    if name not in tasks:
        raise UserError(f"{run} is a {name!r} run; expected one of {', '.join(tasks)}.")
    task_cls, config_cls = tasks[name]
    try:
        task_obj = task_cls(from_dict(config_cls, document["config"]))
        task_obj.set_state(document["task_state"])
        model = task_obj.build_model()
        model.load_state_dict(ckpt.model_state)
    except (KeyError, RuntimeError, ValueError) as error:
        detail = str(error).splitlines()[0][:120]
        raise UserError(
            f"the checkpoint in {ckpt.path} does not match its own configuration ({detail}); it is damaged."
        ) from None
    model.eval()
    document["checkpoint"] = which
    return task_obj, model, document
