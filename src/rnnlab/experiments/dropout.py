"""Dropout: the gap between training and validation loss, with and without.

A two-layer LSTM language model much larger than its training text (6,000 characters of the grammar's
sentences) memorises that text: its training loss keeps falling while the validation loss, on other
sentences from the same grammar, turns back up — the overfitting picture of the notes. Dropout (here
0.5, between the layers and before the output layer, as `LanguageModelConfig.dropout` does it)
randomly silences units during training, so the network cannot rely on any one co-adaptation; the
gap should shrink. Both losses are measured in evaluation mode (no dropout), on the whole training
text and on 20,000 validation characters, so the gap compares like with like.
"""

from __future__ import annotations

import torch

from ..models.language_model import LanguageModel, LanguageModelConfig
from .common import ExperimentResult, mean_loss, train_char_lm
from .tasks import encode_chars, grammar_text

NAME = "dropout"
DESCRIPTION = "an LSTM LM larger than its 6k-character training text: train/val gap with and without dropout"
CLAIM = "the final validation-minus-training gap is smaller with dropout 0.5 than without, and so is val loss"


def run(quick: bool = False, seed: int = 0) -> ExperimentResult:
    train_text = grammar_text(1_000 if quick else 6_000, seed=seed)
    val_text = grammar_text(2_000 if quick else 20_000, seed=seed + 1)
    alphabet = "".join(sorted(set(train_text) | set(val_text)))
    train_ids, _ = encode_chars(train_text, alphabet)
    val_ids, _ = encode_chars(val_text, alphabet)
    steps, hidden = (20, 32) if quick else (400, 128)
    results = {}
    for name, p in (("no dropout", 0.0), ("dropout 0.5", 0.5)):
        torch.manual_seed(seed)
        config = LanguageModelConfig(cell="lstm", embedding=32, hidden=hidden, layers=2, dropout=p)
        model = LanguageModel(len(alphabet), config)
        def evaluate(m):
            return {"train": mean_loss(m, train_ids), "val": mean_loss(m, val_ids)}

        curves = train_char_lm(model, train_ids, steps, seq_len=64, lr=3e-3, seed=seed, evaluate=evaluate,
                               eval_every=max(steps // 10, 1))
        results[name] = curves
    rows = []
    for name, curves in results.items():
        last = curves["evals"][-1]
        best = min(curves["evals"], key=lambda e: e["val"])
        gap = last["val"] - last["train"]
        rows.append([name, last["train"], last["val"], gap, best["val"], best["step"]])
    gap = {r[0]: r[3] for r in rows}
    val = {r[0]: r[2] for r in rows}
    measured = (f"final gap {gap['no dropout']:.3f} without vs {gap['dropout 0.5']:.3f} with dropout; final "
                f"val loss {val['no dropout']:.3f} vs {val['dropout 0.5']:.3f} nats/char")
    holds = gap["dropout 0.5"] < gap["no dropout"] and val["dropout 0.5"] < val["no dropout"]
    data = {name: {"evals": c["evals"], "losses": c["losses"]} for name, c in results.items()}
    data["train_chars"], data["val_chars"] = len(train_text), len(val_text)
    return ExperimentResult(NAME, DESCRIPTION, CLAIM,
                            ["model", "train loss", "val loss", "gap", "best val", "best at step"], rows,
                            holds, measured, data)


def figure(result: ExperimentResult, path):
    from ..viz.diagnostics import plot_dropout

    return plot_dropout(result.data, path)
