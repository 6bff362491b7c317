"""What the command line does with a trained run folder: load, sample, evaluate."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from .data.corpus import TokenCorpus, iter_text_chunks
from .data.vocab import Vocabulary
from .errors import UserError
from .generate import sample_text
from .models.language_model import LanguageModel
from .train.checkpoint import best_or_last, load_checkpoint
from .train.config import LMRunConfig, from_dict
from .train.loop import evaluate_lm
from .train.metrics import lm_metrics


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
        from .nn.stepper import Stepper
        from .train.loop import bf16_supported

        if precision == "bf16" and not bf16_supported():
            raise UserError("--precision bf16: this CPU has no native bfloat16 support; use fp32 or auto.")
        step_model = Stepper(model, bf16=True)  # auto on a CPU without bf16: the fp32 stepper
    return sample_text(step_model, vocab, prime, length, temperature=temperature, top_k=top_k, top_p=top_p,
                       greedy=greedy, seed=seed, stop=stop, unknown=unknown)


def beam_text(model: LanguageModel, vocab: Vocabulary, prime: str, length: int, beam: int,
              unknown: str) -> str:
    """The most likely continuation of `prime` found by beam search (prime included)."""
    from .generate import beam_search

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


#: `rnnlab eval RUN` for tasks other than "lm": task -> function(run, data, which=..., **options) -> dict
#: returning {"run", "step", "checkpoint", <split>: {metric: value}}; task modules register here.
EVALUATORS: dict = {}


def run_task(run: str | Path) -> str:
    """The task ("lm", "classify", ...) of a run folder, from its last checkpoint's document."""
    return load_checkpoint(Path(run), "last").document.get("task", "lm")


def eval_run(run: str | Path, file: str | Path | None = None, *, encoding: str = "utf-8",
             unknown: str = "error", which: str = "best", batch_size: int = 16, seq_len: int = 256) -> dict:
    """Loss, bits per token and perplexity of a text (or of the run's val/test splits).

    Runs of other tasks are handed to the evaluator their task module registered in EVALUATORS.
    """
    task = run_task(run)
    if task != "lm":
        if task not in EVALUATORS:
            raise UserError(f"{run} is a {task!r} run, which `rnnlab eval` cannot evaluate yet.")
        return EVALUATORS[task](run, file, which=which)
    model, vocab, document = load_lm(run, which)
    results = {"run": str(run), "step": document["step"], "checkpoint": which}
    if file is None:
        corpus = TokenCorpus.open(document["corpus"])
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


def format_eval(results: dict) -> str:
    """A small table of `eval_run`'s results."""
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
