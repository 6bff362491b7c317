"""Training on labelled examples (classify, tag, seq2seq): one loop, top to bottom.

    for each step:
        lr        <- peak lr × schedule(progress)
        evaluate  every eval_every steps on the validation split (the task's metrics); the best
                  checkpoint is the one with the best primary metric (accuracy, exact match, BLEU;
                  a tie goes to the lower validation loss)
        checkpoint every save_every steps
        forward   one batch of examples (similar lengths batched together, padded, masked)
        backward
        clip      the global gradient norm
        step      the optimizer
        log       averaged loss and examples/s to metrics.jsonl and the progress bar

Everything task-specific — reading the data, vocabularies, batching, the model, the loss, the
metrics — lives in a task object (`rnnlab.train.sequence_tasks`); this loop knows none of it.

Exact resume: a checkpoint holds the weights, the optimizer moments, the schedule state, the RNG
state and the batcher's position (epoch and batch), so `--resume` continues with the very same
batches, dropout masks and losses as a run that was never interrupted.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..errors import UserError
from .budget import Budget
from .checkpoint import (
    best_or_last,
    join_optimizer_state,
    load_checkpoint,
    prepare_run_folder,
    restore_rng,
    rng_tensors,
    save_checkpoint,
    split_optimizer_state,
)
from .config import from_dict, merge, save_yaml, to_dict
from .metrics import MetricsLog
from .optim import Schedule, clip_gradients, make_optimizer


def say(message: str) -> None:
    """Print a line to stderr without breaking an active progress bar."""
    tqdm.write(message, file=sys.stderr)


@dataclass
class SupervisedTrainConfig:
    steps: int | None = 3000  # total optimizer steps (a resumed run continues up to this)
    minutes: float | None = None  # wall-clock budget; with both set, whichever ends first
    # CPU-time budget: seconds this process computes, all threads counted. On a shared machine it does
    # not shrink when other jobs take the cores, as wall-clock minutes do.
    cpu_minutes: float | None = None
    seed: int = 1
    eval_every: int = 250  # evaluate on the validation split every N steps (0: only at the end)
    eval_limit: int = 0  # at most this many validation examples per evaluation in training (0: all)
    save_every: int = 250  # write the `last` checkpoint every N steps
    log_every: int = 10  # one train event in metrics.jsonl per N steps (losses averaged)
    clip_norm: float | None = 5.0  # global L2-norm gradient clipping (None: off)
    overfit: int = 0  # train (and validate) on the first N training examples only: must reach ~0 loss
    early_stopping: int = 0  # stop after N evaluations without improvement (0: off)
    threads: int = 0  # torch CPU threads (0: all cores)
    progress: bool = True  # tqdm progress bar on stderr

    def __post_init__(self) -> None:
        if self.steps is None and self.minutes is None and self.cpu_minutes is None:
            raise UserError("train.steps, train.minutes or train.cpu_minutes must be given.")
        if self.steps is not None and (not isinstance(self.steps, int) or self.steps < 1):
            raise UserError(f"train.steps must be a positive integer (got {self.steps!r}).")
        for name in ("minutes", "cpu_minutes"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise UserError(f"train.{name} must be greater than 0 (got {getattr(self, name)!r}).")
        for name in ("eval_every", "eval_limit", "save_every", "overfit", "early_stopping", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise UserError(f"train.{name} must be a non-negative integer (got {value!r}).")
        if not isinstance(self.log_every, int) or self.log_every < 1:
            raise UserError(f"train.log_every must be a positive integer (got {self.log_every!r}).")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise UserError(f"train.clip_norm must be greater than 0 or null (got {self.clip_norm!r}).")


class EpochBatcher:
    """Shuffled batches of example indices, epoch after epoch, with a resumable position.

    Each epoch's order depends only on (seed, epoch): a permutation, cut into pools of 50 batches,
    each pool sorted by length and cut into batches, and the batches shuffled. Similar lengths in a
    batch waste little time on padding, while the order stays random from batch to batch.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, pool: int = 50) -> None:
        if not lengths:
            raise UserError("there are no training examples.")
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.pool = pool
        self.epoch = 0
        self.position = 0
        self._batches = self._epoch_batches(0)

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.lengths))
        batches = []
        span = self.batch_size * self.pool
        for start in range(0, len(order), span):
            chunk = order[start : start + span]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def next_batch(self) -> np.ndarray:
        if self.position >= len(self._batches):
            self.epoch, self.position = self.epoch + 1, 0
            self._batches = self._epoch_batches(self.epoch)
        batch = self._batches[self.position]
        self.position += 1
        return batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._batches = self._epoch_batches(self.epoch)


def resolve_resume_config(out: Path, task: str, values: dict) -> dict:
    """For `--resume`: the saved configuration with the command line's explicit values on top."""
    prepare_run_folder(out, resume=True, force=False)
    saved = load_checkpoint(out, "last", task=task).document["config"]
    return merge(saved, values)


def train_supervised(
    task, out: str | Path, *, resume: bool = False, force: bool = False, data_root: str | Path | None = None
) -> dict:
    """Train `task` (a ClassifyTask, TagTask or Seq2SeqTask) into the run folder `out`; return a summary."""
    out = Path(out)
    prepare_run_folder(out, resume, force)
    config = task.config
    tc = config.train
    torch.set_num_threads(tc.threads or torch.get_num_threads())

    # Data first (vocabularies, labels), before anything is written or deleted.
    ckpt = load_checkpoint(out, "last", task=task.name) if resume else None
    task.load_data(data_root, saved=ckpt.document["task_state"] if ckpt else None)
    train_examples = task.splits["train"]
    val_examples = task.splits["val"]
    if tc.overfit:
        train_examples = train_examples[: tc.overfit]
        val_examples = train_examples
    batcher = EpochBatcher([task.length(e) for e in train_examples], config.data.batch_size, tc.seed)

    torch.manual_seed(tc.seed)
    model = task.build_model()
    optimizer = make_optimizer(model.parameters(), config.optim)
    schedule = Schedule(config.schedule)

    if ckpt is not None:
        _check_resume_config(ckpt.document["config"], config)
    elif out.exists():
        shutil.rmtree(out)  # --force, checked above; only now that data and model are known good
    out.mkdir(parents=True, exist_ok=True)
    save_yaml(config, out / "config.yaml")
    log = MetricsLog(out / "metrics.jsonl")
    if ckpt is None:
        # The task's simple baseline on the same split, so the run's numbers have something beside them.
        baseline = task.baseline()
        if baseline:
            (out / "baseline.json").write_text(json.dumps(baseline, indent=1), encoding="utf-8")
            shown = ", ".join(
                f"{k} {v:.4f}" for k, v in baseline.get("val", {}).items() if isinstance(v, float)
            )
            say(f"baseline ({baseline['model']}) on val: {shown}")
    primary = task.primary_metric

    # Mutable run state: everything a checkpoint must hold to resume exactly.
    run = {
        "step": 0,
        "elapsed": 0.0,
        "cpu": 0.0,
        "best": -math.inf,
        "best_loss": math.inf,
        "evals_without_improvement": 0,
        "last_eval_step": -1,
        "last_save_step": -1,
        "acc_loss": 0.0,
        "acc_steps": 0,
        "acc_examples": 0,
        "acc_time": 0.0,
    }

    def snapshot(pointers=("last",), metrics=None) -> None:
        optim_tensors, optim_rest = split_optimizer_state(optimizer.state_dict())
        document = {
            "task": task.name,
            "step": run["step"],
            "config": to_dict(config),
            "task_state": task.state(),
            "metrics": metrics or {},
            "train_state": {
                **run,
                "batcher": batcher.state_dict(),
                "schedule": schedule.state_dict(),
                "optimizer": optim_rest,
            },
        }
        save_checkpoint(out, document, model.state_dict(), {**optim_tensors, **rng_tensors()}, pointers)
        run["last_save_step"] = run["step"]

    if ckpt is not None:
        model.load_state_dict(ckpt.model_state)
        saved = ckpt.document["train_state"]
        optimizer.load_state_dict(join_optimizer_state(ckpt.state_tensors, saved["optimizer"]))
        schedule.load_state_dict(saved["schedule"])
        batcher.load_state_dict(saved["batcher"])
        restore_rng(ckpt.state_tensors)
        for key in run:
            run[key] = saved.get(key, run[key])  # keys added since the checkpoint keep their start value
        log.truncate_after(run["step"])
        say(f"resuming {out} at step {run['step']}")

    budget = Budget(tc.steps, tc.minutes, tc.cpu_minutes, elapsed=run["elapsed"], cpu=run["cpu"])
    clock = budget.wall

    def evaluate(limit: int) -> dict:
        examples = val_examples[:limit] if limit else val_examples
        metrics = task.evaluate(model, examples)
        event = {"step": run["step"], "split": "val", **metrics, "time": round(clock(), 3)}
        log.write(event)
        run["last_eval_step"] = run["step"]
        schedule.observe(-metrics[primary])  # plateau schedules watch a value that should fall
        # a tie on the metric (exact match stuck at 100%, say) goes to the lower validation loss
        tied = abs(metrics[primary] - run["best"]) <= 1e-9
        improved = metrics[primary] > run["best"] + 1e-9 or (tied and metrics["loss"] < run["best_loss"])
        if improved:
            run.update(best=metrics[primary], best_loss=metrics["loss"], evals_without_improvement=0)
        else:
            run["evals_without_improvement"] += 1
        say(
            f"step {run['step']}: val loss {metrics['loss']:.4f}, {primary} {metrics[primary]:.4f}"
            + (" (best)" if improved else "")
        )
        return {"event": event, "improved": improved}

    if run["step"] == 0 and run["last_save_step"] < 0:
        snapshot()
    bar = tqdm(
        total=tc.steps,
        initial=run["step"],
        disable=not tc.progress,
        unit="step",
        dynamic_ncols=True,
        file=sys.stderr,
        desc=f"train {task.name} {out.name}",
    )
    stop_reason = "done"
    last_val = None
    try:
        while True:
            if (reason := budget.stop_reason(run["step"])) is not None:
                stop_reason = reason
                break
            # lr
            lr = config.optim.lr * schedule.factor(run["step"], budget.progress(run["step"]))
            for group in optimizer.param_groups:
                group["lr"] = lr
            # eval / checkpoint
            step = run["step"]
            if tc.eval_every and step > 0 and step % tc.eval_every == 0 and run["last_eval_step"] != step:
                result = evaluate(tc.eval_limit)
                last_val = result["event"]
                if result["improved"]:
                    snapshot(("last", "best"), last_val)
                if tc.early_stopping and run["evals_without_improvement"] >= tc.early_stopping:
                    stop_reason = f"early stopping after {tc.early_stopping} evaluations without improvement"
                    break
            if tc.save_every and step % tc.save_every == 0 and run["last_save_step"] != step:
                snapshot()
            # forward / backward
            tick = time.perf_counter()
            batch = task.collate([train_examples[i] for i in batcher.next_batch()])
            model.train()
            loss = task.loss(model, batch)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise UserError(
                    f"the loss became {loss_value} at step {step}; lower --lr or tighten "
                    "train.clip_norm, and resume from the last checkpoint with --resume."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # clip
            grad_norm = clip_gradients(model.parameters(), tc.clip_norm)
            # step
            optimizer.step()
            run["step"] += 1
            # log
            run["acc_loss"] += loss_value
            run["acc_steps"] += 1
            run["acc_examples"] += int(batch["size"])
            run["acc_time"] += time.perf_counter() - tick
            run["elapsed"], run["cpu"] = clock(), budget.cpu()
            bar.update(1)
            if run["step"] % tc.log_every == 0:
                mean_loss = run["acc_loss"] / run["acc_steps"]
                examples_per_s = run["acc_examples"] / max(run["acc_time"], 1e-9)
                log.write(
                    {
                        "step": run["step"],
                        "split": "train",
                        "loss": mean_loss,
                        "lr": lr,
                        "grad_norm": grad_norm,
                        "examples_per_s": round(examples_per_s, 1),
                        "time": round(clock(), 3),
                    }
                )
                bar.set_postfix(loss=f"{mean_loss:.3f}", ex_s=f"{examples_per_s:,.0f}", refresh=False)
                run.update(acc_loss=0.0, acc_steps=0, acc_examples=0, acc_time=0.0)
    finally:
        bar.close()

    # The end: a full evaluation, the last (and maybe best) checkpoint, the curves.
    run["elapsed"], run["cpu"] = clock(), budget.cpu()
    if run["last_eval_step"] != run["step"] or last_val is None:
        result = evaluate(0)
        last_val = result["event"]
        snapshot(("last", "best") if result["improved"] else ("last",), last_val)
    elif run["last_save_step"] != run["step"]:
        snapshot(("last",), last_val)
    if stop_reason != "done":
        say(f"stopped at step {run['step']}: {stop_reason}.")
    try:
        from ..viz.curves import plot_run

        plot_run(out)
    except Exception as error:  # noqa: BLE001 - a missing plot must not fail a finished run
        say(f"warning: could not draw the loss curves ({error}).")
    return {
        "step": run["step"],
        "val": {k: v for k, v in last_val.items() if k not in ("step", "split")},
        "best": run["best"],
        "primary": primary,
        "elapsed": run["elapsed"],
        "stop": stop_reason,
        "out": str(out),
    }


def _check_resume_config(saved: dict, config) -> None:
    saved_model = saved["model"]
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
