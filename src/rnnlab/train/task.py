"""The `Task` protocol: what one kind of training (lm, image, classify, …) tells the one trainer.

The trainer (`rnnlab.train.trainer.fit`) owns everything every task shares: the run folder, budgets,
the learning-rate schedule, evaluation and the best/last checkpoints, clipping, bf16 autocast, DDP,
the divergence policy, exact resume, the progress bar and metrics.jsonl. A task owns what is its own:
its data, its model, one training step's loss, its evaluation, and the few tensors beyond weights,
optimizer and RNG that exact resume needs (the language model's carried hidden state, the image
task's augmentation generator). In the spirit of a LightningModule, as a Protocol whose methods all
have working defaults, so a task defines only what differs:

    setup(context, saved)        read the data (vocabularies from `saved`, a checkpoint's task state)
    build_model()                the model (the trainer seeds the RNG first)
    batches()                    a resumable batcher of this rank's batches
    training_step(net, batch)    forward: the loss (and what to log about it)
    after_step()                 after the optimizer step (the LM detaches its carried state here:
                                 truncated BPTT belongs to the task, not the trainer)
    validate(model, final)       validation metrics, with "loss" and the primary metric
    state_tensors() / load_state_tensors(tensors)   extra resume state
    initial_loss()               the babysitting check's expected step-0 loss (ln V, ln K, …)
    finish(out, summary)         after the last checkpoint: test scores, exports, pictures

A new task is one module under `rnnlab/tasks/` with its run config and a Task subclass.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn

from .distributed import Distributed


@dataclass
class Context:
    """What the trainer tells a task when it sets up: where, on which device, which rank."""

    device: torch.device
    ddp: Distributed
    data_root: str | Path | None = None
    bf16: bool = False
    resume: bool = False
    out: Path | None = None  # the run folder
    step: int = 0  # the trainer's step counter, kept current for the task (at evaluations, say)

    def autocast(self) -> AbstractContextManager:
        from .precision import autocast

        return autocast(self.bf16, self.device.type)


@dataclass
class StepOutput:
    """One training step's loss and what the log reports about it."""

    loss: Tensor  # scalar, with a graph to backpropagate
    count: int = 0  # items in the batch (tokens, examples, images): the throughput's unit
    correct: int | None = None  # right predictions among them (a training accuracy), if meaningful
    extra: dict[str, Any] = field(default_factory=dict)


class Task(Protocol):
    """One kind of training; see the module docstring. Subclass it and override what differs."""

    name: ClassVar[str] = ""
    primary_metric: ClassVar[str] = "loss"  # chooses the best checkpoint
    higher_is_better: ClassVar[bool] = False  # for the primary metric (accuracy: True; loss: False)
    count_unit: ClassVar[str] = "examples"  # metrics.jsonl's `<unit>_per_s`
    on_divergence: ClassVar[str] = "rollback"  # the default policy: rollback | stop | error
    plateau_on: ClassVar[str] = "primary"  # what a plateau schedule watches: primary | loss
    save_every_eval: ClassVar[bool] = False  # also write `last` at every evaluation (not only when best)
    log_epoch_ends: ClassVar[bool] = False  # a train event at the end of every epoch as well
    config: Any

    # ---- data and model -----------------------------------------------------------------------

    def setup(self, context: Context, saved: dict | None) -> None:
        """Read the data; `saved` is the checkpoint's task state when resuming (vocabularies, labels)."""
        self.context = context

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        from .optim import make_optimizer

        return make_optimizer(model.parameters(), self.config.optim)

    def check_resume(self, document: dict) -> None:
        """Refuse a resume whose settings cannot continue the saved run (a one-line UserError)."""

    def batches(self):
        """A batcher: next_batch(), state_dict(), load_state_dict(state), and optionally steps_per_epoch."""
        raise NotImplementedError

    def write_files(self, out: Path, fresh: bool) -> None:
        """Files beside config.yaml (the vocabulary, a baseline), once the run folder is known good."""

    # ---- training -----------------------------------------------------------------------------

    def training_step(self, net: nn.Module, batch) -> StepOutput:
        raise NotImplementedError

    def after_step(self) -> None:
        """After the optimizer step: e.g. detach the carried state at a truncation boundary."""

    def loss_metrics(self, loss: float) -> dict:
        """The metrics of a mean training loss (the LM adds bits per token and perplexity)."""
        return {"loss": loss}

    def initial_loss(self) -> tuple[float, str] | None:
        """(expected step-0 loss, what it is) for the babysitting check, or None."""
        return None

    def check_initial_loss(self, loss: float) -> None:
        """Print the step-0 loss beside the expected one (and warn when they are far apart)."""

    # ---- evaluation and the end ---------------------------------------------------------------

    def eval_interval(self, steps_per_epoch: int | None) -> int:
        """Evaluate every N steps (0: only at the end)."""
        return self.config.train.eval_every

    def validate(self, model: nn.Module, final: bool) -> dict | None:
        """Validation metrics {"loss": …, primary_metric: …, …}; `final` at the end of the run (None:
        nothing to validate on, so the newest weights are the best)."""
        raise NotImplementedError

    def document(self) -> dict:
        """JSON-able entries of every checkpoint document beside the config (vocabulary, labels, …)."""
        return {}

    def state_tensors(self) -> dict[str, Tensor]:
        """Extra tensors exact resume needs (a collective under DDP: every rank calls it)."""
        return {}

    def load_state_tensors(self, tensors: dict[str, Tensor]) -> None:
        """Restore what `state_tensors` saved (on resume and on a rollback)."""

    def upgrade_train_state(self, saved: dict) -> dict:
        """Map a checkpoint's train state written by an older release onto today's keys."""
        return saved

    def finish(self, out: Path, summary: dict) -> dict:
        """After the last checkpoint (rank 0): test scores, exported encoders, pictures; the summary."""
        return summary
