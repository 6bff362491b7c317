"""Training a language model with truncated backprop through time: one loop, top to bottom.

    for each step:
        lr        <- peak lr × schedule(progress) × rollback scale
        evaluate  every eval_every steps; checkpoint every save_every steps
        forward   one chunk of T tokens per stream, starting from the carried state
        backward  through this chunk only (the state was detached at the boundary)
        clip      the global gradient norm
        step      the optimizer
        log       averaged losses, tokens/s to metrics.jsonl and the progress bar

Truncated BPTT: B streams read the corpus contiguously; the hidden state after one chunk is the
initial state of the next (the model remembers everything read so far), but gradients flow back at
most T steps. A stream that wraps around to the start of the corpus starts from a zero state.

Exact resume: a checkpoint holds the weights, the optimizer moments, the schedule state, the RNG
state, the batcher's position and the carried hidden state, so `--resume` continues with the very
same losses as a run that was never interrupted (on the same machine and thread count).
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..data.corpus import TokenCorpus, resolve_corpus
from ..data.streams import StreamBatcher
from ..data.vocab import Vocabulary
from ..errors import UserError
from ..models.language_model import LanguageModel, initial_loss
from ..nn import detach_state, map_state
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
from .config import LMRunConfig, from_dict, merge, save_yaml, to_dict
from .distributed import Distributed, default_threads, init_distributed, pick_device, shutdown
from .metrics import MetricsLog, lm_metrics
from .optim import Schedule, clip_gradients, make_optimizer


def say(message: str) -> None:
    """Print a line to stderr without breaking an active progress bar."""
    tqdm.write(message, file=sys.stderr)


def bf16_supported(device: torch.device | None = None) -> bool:
    """Whether this machine runs bf16 matmuls natively (AMX/AVX-512-BF16 on CPUs; Ampere+ GPUs)."""
    if device is not None and device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def use_bf16(precision: str, device: torch.device | None = None) -> bool:
    """Whether to train under bf16 autocast: asked for (or "auto") and supported by the hardware."""
    if precision == "bf16" and not bf16_supported(device):
        say("warning: this machine has no native bf16 support; training in fp32 instead.")
        return False
    return precision == "bf16" or (precision == "auto" and bf16_supported(device))


def autocast(enabled: bool, device_type: str = "cpu"):
    """bf16 autocast: matmuls and the fused RNN kernels in bf16, the softmax loss in fp32."""
    return torch.autocast(device_type, dtype=torch.bfloat16) if enabled else nullcontext()


def state_to_tensors(state) -> dict[str, torch.Tensor]:
    """A carried hidden state as named tensors for a checkpoint (empty when there is none)."""
    if state is None:
        return {}
    if isinstance(state, tuple):
        return {"hidden.h": state[0], "hidden.c": state[1]}
    return {"hidden.h": state}


def state_from_tensors(tensors: dict[str, torch.Tensor]):
    if "hidden.c" in tensors:
        return tensors["hidden.h"], tensors["hidden.c"]
    return tensors.get("hidden.h")


# ---- evaluation ----------------------------------------------------------------------------


@torch.no_grad()
def evaluate_lm(model: LanguageModel, tokens: np.ndarray, batch_size: int, seq_len: int,
                max_tokens: int = 0, bf16: bool = False) -> float:
    """Mean cross-entropy (nats per token) of `tokens` under the model, state carried across chunks.

    The text is cut into at most `batch_size` contiguous streams, read T tokens at a time, so that
    every token but the first of each stream is predicted with the full context before it.
    """
    n = len(tokens) if not max_tokens else min(len(tokens), max_tokens + 1)
    if n < 2:
        raise UserError("the evaluation text has fewer than 2 tokens; there is nothing to predict.")
    B = max(1, min(batch_size, (n - 1) // seq_len))
    L = (n - 1) // B
    device = next(model.parameters()).device
    data = torch.from_numpy(np.asarray(tokens[: B * L + 1]).astype(np.int64)).to(device)
    x_all = data[: B * L].view(B, L)  # (B, L)
    y_all = data[1 : B * L + 1].view(B, L)
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    for start in range(0, L, seq_len):
        x, y = x_all[:, start : start + seq_len], y_all[:, start : start + seq_len]
        with autocast(bf16, device.type):
            logits, state = model(x, state)
        total += float(model.loss(logits, y)) * y.numel()
        count += y.numel()
    model.train(was_training)
    return total / count


# ---- the run folder ------------------------------------------------------------------------


def _check_resume_config(saved: dict, config: LMRunConfig) -> None:
    saved_model = saved["model"]
    changed = [k for k, v in to_dict(config.model).items() if saved_model.get(k) != v]
    if changed:
        key = changed[0]
        raise UserError(f"cannot resume with a changed model config: model.{key} was "
                        f"{saved_model.get(key)!r}, now {getattr(config.model, key)!r}; use the original "
                        "settings or start a new run.")
    for key in ("seq_len", "batch_size"):
        if saved["data"][key] != getattr(config.data, key):
            raise UserError(f"cannot resume with a changed data.{key} ({saved['data'][key]} -> "
                            f"{getattr(config.data, key)}): the stream positions would not match.")


def resolve_resume_config(out: Path, values: dict) -> dict:
    """For `--resume`: the saved configuration with the command line's explicit values on top."""
    if not (out / "checkpoints" / "last").is_file():
        raise UserError(f"cannot resume: {out} holds no checkpoint; drop --resume to start a new run.")
    saved = load_checkpoint(out, "last", task="lm").document["config"]
    return merge(saved, values)


# ---- training ------------------------------------------------------------------------------


def train_lm(config: LMRunConfig, out: str | Path, *, resume: bool = False, force: bool = False,
             data_root: str | Path | None = None) -> dict:
    """Train a language model into the run folder `out`; return a summary of the run.

    Under `torchrun` every rank calls this; see `rnnlab.train.distributed`.
    """
    out = Path(out)
    device = pick_device(config.train.device)
    ddp = init_distributed(device)
    try:
        return _train_lm(config, out, resume, force, data_root, device, ddp)
    finally:
        shutdown(ddp)


def _train_lm(config: LMRunConfig, out: Path, resume: bool, force: bool, data_root, device: torch.device,
              ddp: Distributed) -> dict:
    tc, dc = config.train, config.data
    if ddp.is_main:
        prepare_run_folder(out, resume, force)
    torch.set_num_threads(tc.threads or default_threads())
    bf16 = use_bf16(tc.precision, device)
    if dc.batch_size % ddp.world_size:
        raise UserError(f"data.batch_size {dc.batch_size} must be a multiple of the number of processes "
                        f"({ddp.world_size}): it is the global batch, split evenly among them.")
    local_batch = dc.batch_size // ddp.world_size

    # Data: resolved (and prepared once, if a text file) before anything is written or deleted.
    if not dc.path:
        raise UserError("no training data: pass --data FILE|DIR|NAME.")
    # Rank 0 prepares a text file once; the other ranks then find it in the cache.
    if ddp.is_main:
        corpus_dir = resolve_corpus(dc.path, level=dc.level, encoding=dc.encoding, data_root=data_root)
    ddp.barrier()
    if not ddp.is_main:
        corpus_dir = resolve_corpus(dc.path, level=dc.level, encoding=dc.encoding, data_root=data_root,
                                    progress=False)
    corpus = TokenCorpus.open(corpus_dir)
    vocab: Vocabulary = corpus.vocab
    train_tokens = corpus.split("train")
    val_tokens = corpus.split("val")
    if tc.overfit:
        # N batches of B streams × (T + 1) tokens: the loop cycles through them and must memorise them.
        train_tokens = train_tokens[: dc.batch_size * (tc.overfit * dc.seq_len + 1)]
        val_tokens = train_tokens
    # B streams over the corpus; this rank reads its own B/N of them.
    batcher = StreamBatcher(train_tokens, local_batch, dc.seq_len, ddp.rank, ddp.world_size)

    torch.manual_seed(tc.seed)  # the same initial weights on every rank
    model = LanguageModel(len(vocab), config.model).to(device)
    if ddp.enabled:
        torch.manual_seed(tc.seed + ddp.rank)  # but different dropout masks
    net = model
    if ddp.enabled:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = make_optimizer(model.parameters(), config.optim)
    schedule = Schedule(config.schedule)

    ckpt = None
    if resume:
        ckpt = load_checkpoint(out, "last", task="lm")
        _check_resume_config(ckpt.document["config"], config)
        if ckpt.document["vocab"] != vocab.to_dict():
            raise UserError("cannot resume: the data's vocabulary differs from the checkpoint's.")
    if ddp.is_main:
        if not resume and out.exists():
            shutil.rmtree(out)  # --force, checked above; only now that data and model are known good
        out.mkdir(parents=True, exist_ok=True)
        save_yaml(config, out / "config.yaml")
        vocab.save(out / "vocab.json")
    log = MetricsLog(out / "metrics.jsonl") if ddp.is_main else None

    # Mutable run state, everything a checkpoint must hold to resume exactly.
    run = {
        "step": 0, "elapsed": 0.0, "cpu": 0.0, "lr_scale": 1.0, "rollbacks": 0, "best_val": math.inf,
        "evals_without_improvement": 0, "last_eval_step": -1, "last_save_step": -1,
        "acc_loss": 0.0, "acc_steps": 0, "acc_tokens": 0, "acc_time": 0.0,
    }
    state = None

    def snapshot(pointers=("last",), metrics=None) -> None:
        """Write a checkpoint (a collective: every rank contributes its streams' state and RNG)."""
        tensors = {}
        if state is not None:  # the global (layers, B, H) state: all ranks' streams in order
            tensors.update(state_to_tensors(map_state(lambda s: ddp.gather(s, 1), state)))
        rngs = ddp.gather(torch.get_rng_state().unsqueeze(0), 0)  # (N, bytes)
        if ddp.is_main:
            optim_tensors, optim_rest = split_optimizer_state(optimizer.state_dict())
            document = {
                "task": "lm", "step": run["step"], "config": to_dict(config), "vocab": vocab.to_dict(),
                "corpus": str(corpus_dir), "metrics": metrics or {}, "world_size": ddp.world_size,
                "train_state": {**run, "schedule": schedule.state_dict(), "optimizer": optim_rest,
                                "batcher": {"position": batcher.position, "epoch": batcher.epoch}},
            }
            tensors.update(optim_tensors)
            tensors.update(rng_tensors())
            tensors.update({f"rng.rank{r}": rngs[r] for r in range(ddp.world_size)})
            save_checkpoint(out, document, model.state_dict(), tensors, pointers)
        run["last_save_step"] = run["step"]

    def restore(checkpoint) -> None:
        nonlocal state
        model.load_state_dict(checkpoint.model_state)
        saved = checkpoint.document["train_state"]
        optimizer.load_state_dict(join_optimizer_state(checkpoint.state_tensors, saved["optimizer"]))
        schedule.load_state_dict(saved["schedule"])
        batcher.load_state_dict({key: saved["batcher"][key] for key in ("position", "epoch")})
        same_world = checkpoint.document.get("world_size", 1) == ddp.world_size
        rank_rng = checkpoint.state_tensors.get(f"rng.rank{ddp.rank}")
        if same_world and rank_rng is not None:
            torch.set_rng_state(rank_rng)
        else:  # another number of ranks: the same streams and states, different dropout masks
            restore_rng(checkpoint.state_tensors)
            if ddp.enabled:
                torch.manual_seed(tc.seed + ddp.rank + 7919 * checkpoint.step)
        rows = slice(ddp.rank * local_batch, (ddp.rank + 1) * local_batch)
        state = state_from_tensors(checkpoint.state_tensors)
        if state is not None:  # this rank's streams of the global state
            state = map_state(lambda s: s[:, rows].to(device), state)
        for key in run:
            run[key] = saved.get(key, run[key])  # keys added since the checkpoint keep their value

    if ckpt is not None:
        restore(ckpt)
        if ddp.is_main:
            log.truncate_after(run["step"])
            say(f"resuming {out} at step {run['step']}")

    def rollback(reason: str) -> None:
        run_rollbacks, scale = run["rollbacks"] + 1, run["lr_scale"] * 0.5
        if run_rollbacks > tc.max_rollbacks:
            raise UserError(f"training diverged ({reason}) and {tc.max_rollbacks} rollbacks with a halved "
                            "learning rate did not help; lower --lr or tighten train.clip_norm.")
        ddp.barrier()
        restore(load_checkpoint(out, "last", task="lm"))
        run["rollbacks"], run["lr_scale"] = run_rollbacks, scale
        if ddp.is_main:
            log.truncate_after(run["step"])
            say(f"warning: {reason}; rolled back to step {run['step']} and lowered the learning rate to "
                f"{config.optim.lr * scale:.3g} (rollback {run_rollbacks} of {tc.max_rollbacks}).")

    def evaluate(max_tokens: int) -> dict:
        """Validation loss on rank 0, shared with every rank so their decisions agree."""
        val_loss = 0.0
        if ddp.is_main:
            val_loss = evaluate_lm(model, val_tokens, dc.batch_size, dc.seq_len, max_tokens, bf16)
        val_loss = ddp.broadcast(val_loss)
        event = {"step": run["step"], "split": "val", **lm_metrics(val_loss), "time": round(clock(), 3)}
        run["last_eval_step"] = run["step"]
        schedule.observe(val_loss)
        improved = val_loss < run["best_val"] - 1e-6
        if improved:
            run["best_val"], run["evals_without_improvement"] = val_loss, 0
        else:
            run["evals_without_improvement"] += 1
        if ddp.is_main:
            log.write(event)
            say(f"step {run['step']}: val loss {val_loss:.4f}, {event['bpc']:.4f} bits/token"
                + (" (best)" if improved else ""))
        return {"event": event, "improved": improved}

    ln_v = initial_loss(len(vocab))
    budget = Budget(tc.steps, tc.minutes, tc.cpu_minutes, elapsed=run["elapsed"], cpu=run["cpu"])
    clock = budget.wall

    def progress() -> float:
        fraction = budget.progress(run["step"])
        return ddp.broadcast(fraction) if budget.timed else fraction  # clocks differ between ranks

    if run["step"] == 0 and run["last_save_step"] < 0:
        snapshot()  # a step-0 checkpoint: the first rollback target
    # The bar counts steps, or seconds of the budget when the run is timed (so it has an ETA too):
    # wall-clock seconds, or CPU seconds when only train.cpu_minutes is set.
    timed = tc.steps is None
    seconds = budget.wall if budget.wall_s else budget.cpu
    bar = tqdm(total=round(budget.wall_s or budget.cpu_s or 0) if timed else tc.steps,
               initial=round(seconds()) if timed else run["step"],
               disable=not (tc.progress and ddp.is_main), unit="s" if timed else "step", dynamic_ncols=True,
               file=sys.stderr, desc=f"train {out.name}")
    tokens_per_step = dc.batch_size * dc.seq_len
    stop_reason = "done"
    last_val = None
    try:
        while True:
            reason = budget.stop_reason(run["step"])
            if budget.timed:  # rank 0's clocks decide for every rank
                reason = STOP_REASONS[int(ddp.broadcast(float(STOP_REASONS.index(reason))))]
            if reason is not None:
                stop_reason = reason
                break
            # lr
            lr = config.optim.lr * schedule.factor(run["step"], progress()) * run["lr_scale"]
            for group in optimizer.param_groups:
                group["lr"] = lr
            # eval / checkpoint
            step = run["step"]
            if tc.eval_every and step > 0 and step % tc.eval_every == 0 and run["last_eval_step"] != step:
                result = evaluate(tc.eval_tokens)
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
            x, y, reset = batcher.next_batch()
            if device.type == "cuda":
                x = x.pin_memory().to(device, non_blocking=True)
                y = y.pin_memory().to(device, non_blocking=True)
            if reset:
                state = None  # a stream wrapped to the start of the corpus: forget the old text
            model.train()
            with autocast(bf16, device.type):
                logits, new_state = net(x, state)
            loss = model.loss(logits, y)
            loss_value = ddp.mean(loss.item())  # the global batch's loss, the same on every rank
            if step == 0 and run["rollbacks"] == 0 and ddp.is_main:
                _sanity_check(loss_value, ln_v, len(vocab))
            if not math.isfinite(loss_value) or loss_value > tc.explode_factor * ln_v:
                rollback(f"loss {loss_value:.4g} at step {step}")
                continue
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # under DDP, gradients arrive averaged over all ranks
            # clip
            grad_norm = clip_gradients(model.parameters(), tc.clip_norm, tc.clip_value)
            if not math.isfinite(grad_norm):
                rollback(f"gradient norm {grad_norm} at step {step}")
                continue
            # step
            optimizer.step()
            state = detach_state(new_state)
            run["step"] += 1
            # log
            run["acc_loss"] += loss_value
            run["acc_steps"] += 1
            run["acc_tokens"] += tokens_per_step
            run["acc_time"] += time.perf_counter() - tick
            run["elapsed"], run["cpu"] = clock(), budget.cpu()
            bar.update(min(round(seconds()), bar.total) - bar.n if timed else 1)
            if run["step"] % tc.log_every == 0:
                mean_loss = run["acc_loss"] / run["acc_steps"]
                tokens_per_s = run["acc_tokens"] / max(run["acc_time"], 1e-9)
                if ddp.is_main:
                    log.write({"step": run["step"], "split": "train", **lm_metrics(mean_loss),
                               "lr": lr, "grad_norm": grad_norm, "tokens_per_s": round(tokens_per_s, 1),
                               "time": round(clock(), 3)})
                bpc = mean_loss / math.log(2)
                bar.set_postfix(step=run["step"], loss=f"{mean_loss:.3f}", bpc=f"{bpc:.3f}",
                                tok_s=f"{tokens_per_s:,.0f}", refresh=False)
                run.update(acc_loss=0.0, acc_steps=0, acc_tokens=0, acc_time=0.0)
    finally:
        bar.close()

    # The end: a full evaluation, the last (and maybe best) checkpoint, the curves.
    run["elapsed"], run["cpu"] = clock(), budget.cpu()
    if run["last_eval_step"] != run["step"] or last_val is None:
        result = evaluate(tc.final_eval_tokens)
        last_val = result["event"]
        snapshot(("last", "best") if result["improved"] else ("last",), last_val)
    elif run["last_save_step"] != run["step"]:
        snapshot(("last",), last_val)
    if stop_reason != "done" and ddp.is_main:
        say(f"stopped at step {run['step']}: {stop_reason}.")
    if ddp.is_main:
        try:
            from ..viz.curves import plot_run

            plot_run(out)
        except Exception as error:  # noqa: BLE001 - a missing plot must not fail a finished run
            say(f"warning: could not draw the loss curves ({error}).")
    return {"step": run["step"], "val_loss": last_val["loss"], "val_bpc": last_val["bpc"],
            "best_val_loss": run["best_val"], "elapsed": run["elapsed"], "stop": stop_reason,
            "out": str(out)}


def _sanity_check(loss: float, ln_v: float, vocab_size: int) -> None:
    """The notes' first babysitting check: a fresh model's loss should be about ln V."""
    say(f"step 0: loss {loss:.4f} nats; a uniform guess over V={vocab_size} gives ln V = {ln_v:.4f}")
    if abs(loss - ln_v) > max(0.5, 0.15 * ln_v):
        say("warning: the initial loss is far from ln V; check the initialisation and the data.")


def config_from_checkpoint(run: str | Path) -> tuple[LMRunConfig, dict]:
    """Rebuild the typed config and return the checkpoint document (for sample/eval)."""
    ckpt = load_checkpoint(Path(run), "last", task="lm")
    return from_dict(LMRunConfig, ckpt.document["config"]), ckpt.document
