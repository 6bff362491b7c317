"""Bidirectional RNNs: a tagging task whose label depends on the future.

The deeplearning.ai example: in "He said, Teddy Roosevelt was a great president" the word Teddy is
part of a name, in "He said, Teddy bears are on sale" it is not, and nothing before Teddy tells the two
apart. Here every sentence is filler words with "teddy" followed by either a surname (tag 1 on both
words) or "bears"/"toys" (tag 0). A unidirectional tagger must tag "teddy" when it has seen only the
past, so on those tokens it can do no better than a coin flip (50%); a bidirectional one also reads
the sentence backwards and sees the next word.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .common import ExperimentResult, SequenceModel
from .tasks import TAG_ID, TAG_WORDS, tagging_batch

NAME = "bidirectional"
DESCRIPTION = "tagging 'Teddy Roosevelt' vs 'Teddy bears': uni- vs bidirectional accuracy on 'Teddy'"
CLAIM = ("on 'teddy' tokens the unidirectional tagger stays near chance (≈ 50%) while the bidirectional one "
         "tags them right; bidirectional beats unidirectional by at least 0.3 there")
MARGIN = 0.3


def train_and_score(bidirectional: bool, steps: int, seed: int, cell: str = "gru") -> dict:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed + 1)
    model = SequenceModel(cell, len(TAG_WORDS), 2, embedding=16, hidden=32, bidirectional=bidirectional,
                          per_step=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        tokens, tags = tagging_batch(20, 32, generator)
        loss = F.cross_entropy(model(tokens).reshape(-1, 2), tags.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    tokens, tags = tagging_batch(20, 1000, torch.Generator().manual_seed(10_000 + seed))
    with torch.no_grad():
        predicted = model(tokens).argmax(-1)  # (B, T)
    right = predicted == tags
    teddy = tokens == TAG_ID["teddy"]
    return {"accuracy": float(right.float().mean()), "teddy_accuracy": float(right[teddy].float().mean()),
            "other_accuracy": float(right[~teddy].float().mean()), "losses": losses}


def run(quick: bool = False, seed: int = 0) -> ExperimentResult:
    steps = 20 if quick else 400
    results = {name: train_and_score(bi, steps, seed) for name, bi in (("unidirectional", False),
                                                                       ("bidirectional", True))}
    rows = [[name, r["accuracy"], r["teddy_accuracy"], r["other_accuracy"]] for name, r in results.items()]
    uni, bi = results["unidirectional"]["teddy_accuracy"], results["bidirectional"]["teddy_accuracy"]
    measured = f"accuracy on 'teddy': unidirectional {uni:.3f}, bidirectional {bi:.3f}"
    data = {name: r for name, r in results.items()}
    data["steps"] = steps
    return ExperimentResult(NAME, DESCRIPTION, CLAIM, ["tagger (GRU)", "accuracy", "on 'teddy'", "elsewhere"],
                            rows, bi >= uni + MARGIN, measured, data)


def figure(result: ExperimentResult, path):
    from ..viz.diagnostics import plot_bidirectional

    return plot_bidirectional(result.data, path)
