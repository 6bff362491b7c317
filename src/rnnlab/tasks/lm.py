"""The language-model task: truncated backprop through time over B streams, on the one trainer.

The loop itself is `rnnlab.train.trainer.fit`; this module is what is the language model's own:
    forward   one chunk of T tokens per stream, starting from the carried state
    backward  through this chunk only (`after_step` detaches the state at the boundary)
    evaluate  the validation text read the same way, the state carried across chunks (`evaluate_lm`)

Truncated BPTT: B streams read the corpus contiguously; the hidden state after one chunk is the
initial state of the next (the model remembers everything read so far), but gradients flow back at
most T steps. A stream that wraps around to the start of the corpus starts from a zero state.

Exact resume: a checkpoint holds the weights, the optimizer moments, the schedule state, the RNG
state, the batcher's position and the carried hidden state, so `--resume` continues with the very
same losses as a run that was never interrupted (on the same machine and thread count).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..console import say
from ..data.corpus import TokenCorpus, iter_text_chunks, resolve_corpus
from ..data.streams import StreamBatcher
from ..data.vocab import Vocabulary
from ..errors import UserError
from ..generate import sample_text
from ..models.language_model import LanguageModel, LanguageModelConfig, initial_loss
from ..nn import detach_state, map_state
from ..runlog import lm_metrics
from ..train.checkpoint import best_or_last, load_checkpoint
from ..train.config import TrainConfig, from_dict, to_dict
from ..train.optim import OptimConfig, ScheduleConfig
from ..train.precision import autocast, bf16_supported, use_bf16  # noqa: F401 - re-exported (deprecated here)
from ..train.task import Context, StepOutput, Task
from ..train.trainer import fit

# ---- configuration ---------------------------------------------------------------------------


@dataclass
class DataConfig:
    path: str = ""  # a text file, a prepared corpus folder, or a fetched dataset's name
    level: str = "char"  # char | word (for text files prepared on the fly)
    encoding: str = "utf-8"  # of the text file
    seq_len: int = 128  # T: steps of truncated backprop through time per chunk
    batch_size: int = 32  # B: parallel contiguous streams through the corpus

    def __post_init__(self) -> None:
        if self.level not in ("char", "word"):
            raise UserError(f"data.level must be char or word (got {self.level!r}).")
        for name in ("seq_len", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"data.{name} must be a positive integer (got {value!r}).")


@dataclass
class LMRunConfig:
    """Everything `rnnlab train lm` needs; saved with every run and checkpoint."""

    task: str = "lm"
    model: LanguageModelConfig = field(default_factory=LanguageModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


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


def evaluate_lm(model: LanguageModel, tokens: np.ndarray, batch_size: int, seq_len: int,
                max_tokens: int = 0, bf16: bool = False) -> float:
    """Mean cross-entropy (nats per token) of `tokens` under the model, state carried across chunks.

    The text is cut into at most `batch_size` contiguous streams, read T tokens at a time, so that
    every token but the first of each stream is predicted with the full context before it.
    """
    with torch.no_grad():  # (not a decorator: mutmut mutates undecorated functions only)
        return _evaluate_lm(model, tokens, batch_size, seq_len, max_tokens, bf16)


def _evaluate_lm(model: LanguageModel, tokens: np.ndarray, batch_size: int, seq_len: int,
                 max_tokens: int, bf16: bool) -> float:
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


# ---- training ------------------------------------------------------------------------------


class _Streams(StreamBatcher):
    """The stream batcher whose checkpointed state is its position alone (the rank and sizes follow
    from the run), so a run resumes on another number of ranks."""

    def state_dict(self) -> dict:
        return {"position": self.position, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict({key: state[key] for key in ("position", "epoch")})


class LMTask(Task):
    """A language model trained with truncated BPTT over B contiguous streams of one corpus."""

    name = "lm"
    primary_metric = "loss"
    higher_is_better = False
    count_unit = "tokens"
    on_divergence = "rollback"

    def __init__(self, config: LMRunConfig) -> None:
        self.config = config
        self.state = None  # the hidden state carried from one chunk to the next
        self._new_state = None

    def setup(self, context: Context, saved: dict | None) -> None:
        self.context = context
        ddp, dc, tc = context.ddp, self.config.data, self.config.train
        if dc.batch_size % ddp.world_size:
            raise UserError(f"data.batch_size {dc.batch_size} must be a multiple of the number of processes "
                            f"({ddp.world_size}): it is the global batch, split evenly among them.")
        self.local_batch = dc.batch_size // ddp.world_size
        if not dc.path:
            raise UserError("no training data: pass --data FILE|DIR|NAME.")
        # Rank 0 prepares a text file once; the other ranks then find it in the cache.
        root = context.data_root
        if ddp.is_main:
            self.corpus_dir = resolve_corpus(dc.path, level=dc.level, encoding=dc.encoding, data_root=root)
        ddp.barrier()
        if not ddp.is_main:
            self.corpus_dir = resolve_corpus(dc.path, level=dc.level, encoding=dc.encoding, data_root=root,
                                             progress=False)
        corpus = TokenCorpus.open(self.corpus_dir)
        self.vocab: Vocabulary = corpus.vocab
        self.train_tokens = corpus.split("train")
        self.val_tokens = corpus.split("val")
        if tc.overfit:
            # N batches of B streams × (T + 1) tokens: the loop cycles through them and must memorise them.
            self.train_tokens = self.train_tokens[: dc.batch_size * (tc.overfit * dc.seq_len + 1)]
            self.val_tokens = self.train_tokens

    def build_model(self) -> LanguageModel:
        self.model = LanguageModel(len(self.vocab), self.config.model)
        return self.model

    def batches(self) -> StreamBatcher:
        # B streams over the corpus; this rank reads its own B/N of them.
        ddp, dc = self.context.ddp, self.config.data
        return _Streams(self.train_tokens, self.local_batch, dc.seq_len, ddp.rank, ddp.world_size)

    def check_resume(self, document: dict) -> None:
        _check_resume_config(document["config"], self.config)
        if document["vocab"] != self.vocab.to_dict():
            raise UserError("cannot resume: the data's vocabulary differs from the checkpoint's.")

    def write_files(self, out: Path, fresh: bool) -> None:
        self.vocab.save(out / "vocab.json")

    def training_step(self, net, batch) -> StepOutput:
        x, y, reset = batch
        device = self.context.device
        if device.type == "cuda":
            x = x.pin_memory().to(device, non_blocking=True)
            y = y.pin_memory().to(device, non_blocking=True)
        if reset:
            self.state = None  # a stream wrapped to the start of the corpus: forget the old text
        with self.context.autocast():
            logits, self._new_state = net(x, self.state)
        loss = self.model.loss(logits, y)
        dc = self.config.data
        return StepOutput(loss, count=dc.batch_size * dc.seq_len)

    def after_step(self) -> None:
        # Truncated BPTT: the next chunk starts from this state, but no gradient flows back through it.
        self.state = detach_state(self._new_state)

    def loss_metrics(self, loss: float) -> dict:
        return lm_metrics(loss)

    def initial_loss(self) -> tuple[float, str]:
        return initial_loss(len(self.vocab)), f"a uniform guess over V={len(self.vocab)} gives ln V"

    def check_initial_loss(self, loss: float) -> None:
        _sanity_check(loss, initial_loss(len(self.vocab)), len(self.vocab))

    def validate(self, model, final: bool) -> dict:
        tc, dc = self.config.train, self.config.data
        limit = tc.final_eval_tokens if final else tc.eval_tokens
        return lm_metrics(evaluate_lm(model, self.val_tokens, dc.batch_size, dc.seq_len, limit,
                                      self.context.bf16))

    def document(self) -> dict:
        return {"vocab": self.vocab.to_dict(), "corpus": str(self.corpus_dir)}

    def state_tensors(self) -> dict:
        if self.state is None:
            return {}
        # the global (layers, B, H) state: all ranks' streams in order (a collective)
        return state_to_tensors(map_state(lambda s: self.context.ddp.gather(s, 1), self.state))

    def load_state_tensors(self, tensors: dict) -> None:
        ddp = self.context.ddp
        rows = slice(ddp.rank * self.local_batch, (ddp.rank + 1) * self.local_batch)
        state = state_from_tensors(tensors)
        if state is not None:  # this rank's streams of the global state
            state = map_state(lambda s: s[:, rows].to(self.context.device), state)
        self.state = state

    def upgrade_train_state(self, saved: dict) -> dict:
        if "best_val" in saved:  # written by the LM's own loop (before the one trainer)
            saved = {**saved, "best": -saved["best_val"], "best_loss": saved["best_val"],
                     "acc_count": saved.get("acc_tokens", 0)}
            saved.setdefault("initial_loss", initial_loss(len(self.vocab)))
        return saved

    def finish(self, out: Path, summary: dict) -> dict:
        val = summary["val"]
        return {**summary, "val_loss": val.get("loss"), "val_bpc": val.get("bpc"),
                "best_val_loss": summary["best"]}


def train_lm(config: LMRunConfig, out: str | Path, *, resume: bool = False, force: bool = False,
             data_root: str | Path | None = None) -> dict:
    """Train a language model into the run folder `out`; return a summary of the run.

    Under `torchrun` every rank calls this; see `rnnlab.train.distributed`.
    """
    return fit(LMTask(config), out, resume=resume, force=force, data_root=data_root)


def _sanity_check(loss: float, ln_v: float, vocab_size: int) -> None:
    """The notes' first babysitting check: a fresh model's loss should be about ln V."""
    say(f"step 0: loss {loss:.4f} nats; a uniform guess over V={vocab_size} gives ln V = {ln_v:.4f}")
    if abs(loss - ln_v) > max(0.5, 0.15 * ln_v):
        say("warning: the initial loss is far from ln V; check the initialisation and the data.")


# ---- trained runs: load, sample, evaluate ---------------------------------------------------------


def load_lm(run: str | Path, which: str = "best") -> tuple[LanguageModel, Vocabulary, dict]:
    """Load a trained language model on the CPU: (model in eval mode, vocabulary, document).

    `which` is "best" (lowest validation loss; falls back to "last") or "last".
    """
    run = Path(run)
    which = best_or_last(run, which)
    ckpt = load_checkpoint(run, which, task="lm")
    document = ckpt.document
    try:
        config = from_dict(LMRunConfig, document["config"])
        vocab = Vocabulary.from_dict(document["vocab"])
        model = LanguageModel(len(vocab), config.model)
        model.load_state_dict(ckpt.model_state)
    except (KeyError, RuntimeError, ValueError) as error:
        detail = str(error).splitlines()[0][:120]
        raise UserError(f"the checkpoint in {ckpt.path} does not match its own configuration ({detail}); "
                        "it is damaged.") from None
    model.eval()
    return model, vocab, document


def sample_run(run: str | Path, prime: str, length: int, *, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None, greedy: bool = False,
               beam: int = 0, seed: int | None = None, stop: str | None = None, unknown: str = "error",
               which: str = "best", precision: str = "fp32") -> Iterator[str]:
    """Text pieces sampled from a trained run, as they are produced (the prime first).

    `precision` "bf16" (or "auto": where the CPU supports it) steps with bfloat16 copies of the weight
    matrices: faster at batch 1, where reading the weights is the cost, and sampling from a very
    slightly different distribution than fp32.
    """
    model, vocab, _ = load_lm(run, which)
    if beam:
        return iter([beam_text(model, vocab, prime, length, beam, unknown)])
    step_model = model
    if precision not in ("fp32", "bf16", "auto"):
        raise UserError(f"--precision must be fp32, bf16 or auto (got {precision!r}).")
    if precision != "fp32":
        from ..nn.stepper import Stepper

        if precision == "bf16" and not bf16_supported():
            raise UserError("--precision bf16: this CPU has no native bfloat16 support; use fp32 or auto.")
        step_model = Stepper(model, bf16=True)  # auto on a CPU without bf16: the fp32 stepper
    return sample_text(step_model, vocab, prime, length, temperature=temperature, top_k=top_k, top_p=top_p,
                       greedy=greedy, seed=seed, stop=stop, unknown=unknown)


def beam_text(model: LanguageModel, vocab: Vocabulary, prime: str, length: int, beam: int,
              unknown: str) -> str:
    """The most likely continuation of `prime` found by beam search (prime included)."""
    from ..generate import beam_search

    ids = vocab.encode(prime, unknown=unknown)
    if not ids:
        raise UserError("beam search needs a non-empty --prime.")
    with torch.inference_mode():
        state = model.init_state(1)
        for token in ids[:-1]:
            _, state = model.step(torch.tensor([token]), state)
        hypotheses = beam_search(model.step, state, torch.tensor([ids[-1]]), beam, length,
                                 eos_id=vocab.eos_id)
    best_tokens, _ = hypotheses[0][0]
    return vocab.decode(ids + list(best_tokens))


def evaluate_run(run: str | Path, file: str | Path | None = None, *, encoding: str = "utf-8",
                 unknown: str = "error", which: str = "best", batch_size: int = 16, seq_len: int = 256,
                 **_options) -> dict:
    """Loss, bits per token and perplexity of a text (or of the run's val/test splits)."""
    model, vocab, document = load_lm(run, which)
    results = {"run": str(run), "step": document["step"], "checkpoint": which}
    if file is None:
        corpus = TokenCorpus.open(_run_corpus(document, vocab))
        for split in ("val", "test"):
            loss = evaluate_lm(model, corpus.split(split), batch_size, seq_len)
            results[split] = {"tokens": int(len(corpus.split(split))), **lm_metrics(loss)}
        return results
    text = "".join(iter_text_chunks(Path(file), encoding=encoding))
    if not text:
        raise UserError(f"{file} is empty; there is nothing to evaluate.")
    ids = np.asarray(vocab.encode(text, unknown=unknown), dtype=np.int64)
    if len(ids) < 2:
        raise UserError(f"{file} has fewer than 2 known tokens; there is nothing to evaluate.")
    loss = evaluate_lm(model, ids, batch_size, seq_len)
    results["file"] = {"path": str(file), "tokens": int(len(ids)), **lm_metrics(loss)}
    return results


def _run_corpus(document: dict, vocab: Vocabulary) -> Path:
    """The prepared corpus a run was trained on: the folder it recorded or, when that cache is gone
    (another machine, a cleared data folder), its `data.path` prepared again, if that gives the very
    vocabulary the model was trained with."""
    recorded = Path(document["corpus"])
    if recorded.is_dir():
        return recorded
    data = document["config"].get("data", {})
    try:
        folder = resolve_corpus(data.get("path", ""), level=data.get("level", "char"),
                                encoding=data.get("encoding", "utf-8"), progress=False)
    except UserError:
        folder = None
    if folder is None or TokenCorpus.open(folder).vocab.to_dict() != vocab.to_dict():
        raise UserError(f"the corpus this run was trained on ({recorded}) is gone and its data.path "
                        f"{data.get('path')!r} does not give it again; pass a text file to evaluate: "
                        "rnnlab eval RUN FILE.")
    return folder


def config_from_checkpoint(run: str | Path) -> tuple[LMRunConfig, dict]:
    """Rebuild the typed config and return the checkpoint document (for sample/eval)."""
    ckpt = load_checkpoint(Path(run), "last", task="lm")
    return from_dict(LMRunConfig, ckpt.document["config"]), ckpt.document
