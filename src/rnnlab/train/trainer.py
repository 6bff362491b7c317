"""The one training loop of rnnlab, for every task, read top to bottom.

    for each step:
        evaluate   every N steps (the task says N); the best checkpoint is the best primary metric
                   (a tie goes to the lower validation loss); checkpoint every save_every steps
        lr         <- peak lr × schedule(progress) × rollback scale (× a parameter group's lr_scale);
                   after the evaluation, so that a plateau's cut applies from the very next step
        forward    the task's training step on this rank's batch (bf16 autocast when asked)
        diverged?  a loss that is not finite or above explode_factor × the initial loss, or a gradient
                   norm that is not finite: the task's policy (train.on_divergence) rolls back to the
                   last checkpoint with a halved learning rate, stops, or ends with an error
        backward   (under DDP, gradients arrive averaged over the ranks)
        clip       the global gradient norm (and elementwise values, when asked)
        step       optimizer.step(closure): L-BFGS evaluates the closure again, the others reuse it
        after      the task's after_step (the language model detaches its carried state here)
        log        averaged loss and throughput to metrics.jsonl and the progress bar

Exact resume: a checkpoint holds the weights, the optimizer moments, the schedule, the run's counters,
the batcher's position, every rank's RNG and the task's own state tensors, so `--resume` continues
with the very same losses as a run that was never interrupted (same machine and thread count).
Non-gradient fits (kNN, the bag-of-words baselines) do not come here.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ..console import say
from ..errors import UserError
from ..runlog import MetricsLog
from .budget import STOP_REASONS, Budget
from .checkpoint import (
    join_optimizer_state,
    load_checkpoint,
    prepare_run_folder,
    restore_rng,
    rng_tensors,
    save_checkpoint,
    split_optimizer_state,
)
from .config import save_yaml, to_dict
from .distributed import Distributed, default_threads, init_distributed, pick_device, shutdown
from .optim import Schedule, clip_gradients
from .precision import use_bf16
from .task import Context, Task

POLICIES = ("rollback", "stop", "error")


def fit(task: Task, out: str | Path, *, resume: bool = False, force: bool = False,
        data_root: str | Path | None = None) -> dict:
    """Train `task` into the run folder `out`; return the task's summary of the run.

    Under `torchrun` every rank calls this; see `rnnlab.train.distributed`.
    """
    out = Path(out)
    device = pick_device(getattr(task.config.train, "device", "auto"))
    ddp = init_distributed(device)
    try:
        return _fit(task, out, resume, force, data_root, device, ddp)
    finally:
        shutdown(ddp)


class _TrainingStep(torch.nn.Module):
    """The task's training step as a module's forward, so that DistributedDataParallel sees every task's
    forward pass, whatever the model's own methods are called (`model.loss`, `model.scores`, a
    captioner's teacher-forced loop): DDP averages gradients only for computations that go through
    the forward of the module it wraps."""

    def __init__(self, model: torch.nn.Module, task: Task):
        super().__init__()
        self.model = model
        self.task = task
        self.output = None

    def forward(self, batch) -> torch.Tensor:
        self.output = self.task.training_step(self.model, batch)
        return self.output.loss


def _new_run_state() -> dict:
    """The run's counters: everything beyond weights, optimizer and RNG that a checkpoint holds."""
    return {
        "step": 0, "elapsed": 0.0, "cpu": 0.0, "lr_scale": 1.0, "rollbacks": 0,
        "best": -math.inf, "best_loss": math.inf, "initial_loss": None, "evals_without_improvement": 0,
        "last_eval_step": -1, "last_save_step": -1,
        "acc_loss": 0.0, "acc_steps": 0, "acc_count": 0, "acc_correct": 0, "acc_time": 0.0,
    }


def _fit(task: Task, out: Path, resume: bool, force: bool, data_root, device: torch.device,
         ddp: Distributed) -> dict:
    config = task.config
    tc = config.train
    policy = tc.on_divergence or task.on_divergence
    if policy not in POLICIES:
        raise UserError(f"train.on_divergence must be one of {', '.join(POLICIES)} (got {policy!r}).")
    if ddp.is_main:
        prepare_run_folder(out, resume, force)
    torch.set_num_threads(tc.threads or default_threads())
    bf16 = use_bf16(tc.precision, device)

    # Data and model, both checked before anything is written or deleted.
    ckpt = load_checkpoint(out, "last", task=task.name) if resume else None
    context = Context(device=device, ddp=ddp, data_root=data_root, bf16=bf16, resume=resume, out=out)
    task.setup(context, ckpt.document.get("task_state") if ckpt else None)
    torch.manual_seed(tc.seed)  # the same initial weights on every rank
    model = task.build_model().to(device)
    if ddp.enabled:
        torch.manual_seed(tc.seed + ddp.rank)  # but different dropout masks
    step_module = _TrainingStep(model, task)
    net = step_module  # net(batch) -> loss; the task's StepOutput is kept in step_module.output
    if ddp.enabled:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(step_module,
                                      device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = task.make_optimizer(model)
    # L-BFGS keeps curvature pairs, not moments: it restarts its memory on resume.
    keeps_state = not isinstance(optimizer, torch.optim.LBFGS)
    schedule = Schedule(config.schedule)
    batcher = task.batches()
    steps_per_epoch = getattr(batcher, "steps_per_epoch", None)
    if ckpt is not None:
        task.check_resume(ckpt.document)
    if ddp.is_main:
        if not resume and out.exists():
            shutil.rmtree(out)  # --force, checked above; only now that data and model are known good
        out.mkdir(parents=True, exist_ok=True)
        save_yaml(config, out / "config.yaml")
        task.write_files(out, fresh=ckpt is None)
    log = MetricsLog(out / "metrics.jsonl") if ddp.is_main else None
    run = _new_run_state()

    def snapshot(pointers=("last",), metrics=None) -> None:
        """Write a checkpoint (a collective: every rank contributes its state and RNG)."""
        tensors = dict(task.state_tensors())
        rngs = ddp.gather(torch.get_rng_state().unsqueeze(0), 0)  # (N, bytes)
        if ddp.is_main:
            optim_tensors, optim_rest = (split_optimizer_state(optimizer.state_dict()) if keeps_state
                                         else ({}, None))
            document = {
                "task": task.name, "step": run["step"], "config": to_dict(config), **task.document(),
                "metrics": metrics or {}, "world_size": ddp.world_size,
                "train_state": {**run, "schedule": schedule.state_dict(), "optimizer": optim_rest,
                                "batcher": batcher.state_dict()},
            }
            tensors.update(optim_tensors)
            tensors.update(rng_tensors())
            tensors.update({f"rng.rank{r}": rngs[r] for r in range(ddp.world_size)})
            save_checkpoint(out, document, model.state_dict(), tensors, pointers)
        run["last_save_step"] = run["step"]

    def restore(checkpoint) -> None:
        model.load_state_dict(checkpoint.model_state)
        saved = task.upgrade_train_state(dict(checkpoint.document["train_state"]))
        if keeps_state and saved.get("optimizer") is not None:
            optimizer.load_state_dict(join_optimizer_state(checkpoint.state_tensors, saved["optimizer"]))
        schedule.load_state_dict(saved["schedule"])
        batcher.load_state_dict(saved["batcher"])
        same_world = checkpoint.document.get("world_size", 1) == ddp.world_size
        rank_rng = checkpoint.state_tensors.get(f"rng.rank{ddp.rank}")
        if same_world and rank_rng is not None:
            torch.set_rng_state(rank_rng)
        else:  # another number of ranks: the same batches and states, different dropout masks
            restore_rng(checkpoint.state_tensors)
            if ddp.enabled:
                torch.manual_seed(tc.seed + ddp.rank + 7919 * checkpoint.step)
        task.load_state_tensors(checkpoint.state_tensors)
        for key in run:
            run[key] = saved.get(key, run[key])  # keys added since the checkpoint keep their value

    if ckpt is not None:
        restore(ckpt)
        if ddp.is_main:
            log.truncate_after(run["step"])
            say(f"resuming {out} at step {run['step']}")

    def diverged(reason: str) -> str | None:
        """Apply the divergence policy; "stop" ends the loop, None goes on (after a rollback)."""
        if policy == "error":
            raise UserError(f"training diverged ({reason}); lower --lr or tighten train.clip_norm, and "
                            "resume from the last checkpoint with --resume.")
        if policy == "stop":
            say(f"warning: {reason}; stopping (lower --lr).")
            return "diverged"
        rollbacks, scale, initial = run["rollbacks"] + 1, run["lr_scale"] * 0.5, run["initial_loss"]
        if rollbacks > tc.max_rollbacks:
            raise UserError(f"training diverged ({reason}) and {tc.max_rollbacks} rollbacks with a halved "
                            "learning rate did not help; lower --lr or tighten train.clip_norm.")
        ddp.barrier()
        restore(load_checkpoint(out, "last", task=task.name))
        run.update(rollbacks=rollbacks, lr_scale=scale, initial_loss=initial)
        if ddp.is_main:
            log.truncate_after(run["step"])
            say(f"warning: {reason}; rolled back to step {run['step']} and lowered the learning rate to "
                f"{config.optim.lr * scale:.3g} (rollback {rollbacks} of {tc.max_rollbacks}).")
        return None

    def evaluate(final: bool) -> dict:
        """Validation metrics on rank 0; the decisions they lead to are shared with every rank."""
        context.step = run["step"]
        metrics = task.validate(model, final) if ddp.is_main else {}
        run["last_eval_step"] = run["step"]
        if metrics is None:  # nothing to validate on (an image run with data.val_size 0): newest is best
            return {"event": None, "improved": True}
        loss = ddp.broadcast(float(metrics.get("loss", 0.0)))
        value = ddp.broadcast(float(metrics.get(task.primary_metric, 0.0)))
        score = value if task.higher_is_better else -value
        event = {"step": run["step"], "split": "val", **metrics}
        if steps_per_epoch and task.log_epoch_ends:
            event["epoch"] = round(run["step"] / steps_per_epoch, 3)
        event["time"] = round(clock(), 3)
        schedule.observe(loss if task.plateau_on == "loss" else -score)  # a value that should fall
        tied = abs(score - run["best"]) <= 1e-9
        improved = score > run["best"] + 1e-9 or (tied and loss < run["best_loss"])
        if improved:
            run.update(best=score, best_loss=loss, evals_without_improvement=0)
        else:
            run["evals_without_improvement"] += 1
        if ddp.is_main:
            log.write(event)
            shown = (f"{100 * value:.2f}%" if task.primary_metric == "accuracy" and task.log_epoch_ends
                     else f"{value:.4f}")
            where = f" (epoch {event['epoch']:g})" if "epoch" in event else ""
            what = "" if task.primary_metric == "loss" else f", {task.primary_metric} {shown}"
            extra = f", {metrics['bpc']:.4f} bits/token" if "bpc" in metrics else ""
            best = " (best)" if improved else ""
            say(f"step {run['step']}{where}: val loss {loss:.4f}{extra}{what}{best}")
        return {"event": event, "improved": improved}

    total_steps = tc.steps
    if getattr(tc, "epochs", None) and steps_per_epoch:
        by_epochs = math.ceil(tc.epochs * steps_per_epoch)
        total_steps = min(total_steps, by_epochs) if total_steps else by_epochs
    budget = Budget(total_steps, tc.minutes, tc.cpu_minutes, elapsed=run["elapsed"], cpu=run["cpu"])
    clock = budget.wall
    eval_every = task.eval_interval(steps_per_epoch)

    def progress() -> float:
        fraction = budget.progress(run["step"])
        return ddp.broadcast(fraction) if budget.timed else fraction  # clocks differ between ranks

    if run["step"] == 0 and run["last_save_step"] < 0:
        snapshot()  # a step-0 checkpoint: the first rollback target
    # The bar counts steps, or seconds of the budget when the run is timed (so it has an ETA too):
    # wall-clock seconds, or CPU seconds when only train.cpu_minutes is set.
    timed = total_steps is None
    seconds = budget.wall if budget.wall_s else budget.cpu
    bar = tqdm(total=round(budget.wall_s or budget.cpu_s or 0) if timed else total_steps,
               initial=round(seconds()) if timed else run["step"],
               disable=not (tc.progress and ddp.is_main), unit="s" if timed else "step", dynamic_ncols=True,
               file=sys.stderr, desc=f"train {task.name} {out.name}")
    stop_reason, last_val = "done", None
    try:
        while True:
            reason = budget.stop_reason(run["step"])
            if budget.timed:  # rank 0's clocks decide for every rank
                reason = STOP_REASONS[int(ddp.broadcast(float(STOP_REASONS.index(reason))))]
            if reason is not None:
                stop_reason = reason
                break
            # eval / checkpoint
            step = run["step"]
            if eval_every and step > 0 and step % eval_every == 0 and run["last_eval_step"] != step:
                result = evaluate(final=False)
                last_val = result["event"]
                if result["improved"] or task.save_every_eval:
                    snapshot(("last", "best") if result["improved"] else ("last",), last_val)
                if tc.early_stopping and run["evals_without_improvement"] >= tc.early_stopping:
                    stop_reason = f"early stopping after {tc.early_stopping} evaluations without improvement"
                    break
            if tc.save_every and step % tc.save_every == 0 and run["last_save_step"] != step:
                snapshot()
            # lr, after the evaluation that a plateau schedule reacts to
            lr = config.optim.lr * schedule.factor(run["step"], progress()) * run["lr_scale"]
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            # forward / backward / clip, as a closure that L-BFGS may evaluate again
            tick = time.perf_counter()
            batch = batcher.next_batch()
            model.train()

            def compute(batch=batch):
                optimizer.zero_grad(set_to_none=True)
                net(batch)  # task.training_step(model, batch), through DDP when it is on
                output = step_module.output
                output.loss.backward()  # under DDP, gradients arrive averaged over all ranks
                return output, clip_gradients(model.parameters(), tc.clip_norm, tc.clip_value)

            output, grad_norm = compute()
            loss_value = ddp.mean(output.loss.item())  # the global batch's loss, the same on every rank
            if run["initial_loss"] is None:
                run["initial_loss"] = loss_value
                if ddp.is_main:
                    task.check_initial_loss(loss_value)
            too_big = tc.explode_factor is not None and loss_value > tc.explode_factor * run["initial_loss"]
            if not math.isfinite(loss_value) or too_big:
                stop_reason = diverged(f"loss {loss_value:.4g} at step {step}" + (
                    f" is more than {tc.explode_factor:g}× the initial {run['initial_loss']:.4g}" if too_big
                    else ""))
                if stop_reason:
                    break
                continue
            if not math.isfinite(grad_norm):
                stop_reason = diverged(f"gradient norm {grad_norm} at step {step}")
                if stop_reason:
                    break
                continue
            # step: the first evaluation of the closure is the one above
            first = [output.loss]
            optimizer.step(lambda first=first: first.pop() if first else compute()[0].loss)
            task.after_step()
            run["step"] += 1
            # log
            run["acc_loss"] += loss_value
            run["acc_steps"] += 1
            run["acc_count"] += output.count
            run["acc_correct"] += output.correct or 0
            run["acc_time"] += time.perf_counter() - tick
            run["elapsed"], run["cpu"] = clock(), budget.cpu()
            bar.update(min(round(seconds()), bar.total) - bar.n if timed else 1)
            epoch_end = bool(steps_per_epoch) and task.log_epoch_ends and run["step"] % steps_per_epoch == 0
            if run["step"] % tc.log_every == 0 or epoch_end:
                mean_loss = run["acc_loss"] / run["acc_steps"]
                rate = run["acc_count"] / max(run["acc_time"], 1e-9)
                event = {"step": run["step"], "split": "train", **task.loss_metrics(mean_loss), "lr": lr}
                if steps_per_epoch and task.log_epoch_ends:
                    event["epoch"] = round(run["step"] / steps_per_epoch, 3)
                if output.correct is not None and run["acc_count"]:
                    event["accuracy"] = run["acc_correct"] / run["acc_count"]
                if run["acc_count"]:
                    event[f"{task.count_unit}_per_s"] = round(rate, 1)
                if math.isfinite(grad_norm):
                    event["grad_norm"] = grad_norm
                event["time"] = round(clock(), 3)
                if ddp.is_main:
                    log.write(event)
                shown = {"loss": f"{mean_loss:.3f}"}
                if "bpc" in event:
                    shown["bpc"] = f"{event['bpc']:.3f}"
                if "accuracy" in event:
                    shown["acc"] = f"{100 * event['accuracy']:.1f}"
                bar.set_postfix(step=run["step"], **shown, rate=f"{rate:,.0f}", refresh=False)
                run.update(acc_loss=0.0, acc_steps=0, acc_count=0, acc_correct=0, acc_time=0.0)
    finally:
        bar.close()

    # The end: a full evaluation, the last (and maybe best) checkpoint, then the task's own finish.
    run["elapsed"], run["cpu"] = clock(), budget.cpu()
    if stop_reason != "diverged":
        if run["last_eval_step"] != run["step"] or last_val is None:
            result = evaluate(final=True)
            last_val = result["event"]
            snapshot(("last", "best") if result["improved"] else ("last",), last_val)
        elif run["last_save_step"] != run["step"]:
            snapshot(("last",), last_val)
    if stop_reason != "done" and ddp.is_main:
        say(f"stopped at step {run['step']}: {stop_reason}.")
    summary = {
        "step": run["step"],
        "val": {k: v for k, v in (last_val or {}).items() if k not in ("step", "split")},
        "best": run["best"] if task.higher_is_better else -run["best"],
        "primary": task.primary_metric,
        "elapsed": run["elapsed"],
        "stop": stop_reason,
        "out": str(out),
        "rank": ddp.rank,  # under torchrun only rank 0's summary has the task's figures
    }
    if not ddp.is_main:
        return summary
    try:
        from ..viz.curves import plot_run

        plot_run(out)
    except Exception as error:  # noqa: BLE001 - a missing plot must not fail a finished run
        say(f"warning: could not draw the loss curves ({error}).")
    return task.finish(out, summary)
