"""The lecture's character-level example: vocabulary [h, e, l, o], training sequence "hello".

The inputs are h, e, l, l and the targets e, l, l, o. The two l's are the point: after the first l the
answer is l, after the second it is o, so the prediction cannot come from the current character alone —
the hidden state has to remember how far into the word we are. We train the vanilla RNN language model
(H = 3, as the slide draws it) and show the output distribution at each step before and after
training, then greedy and sampled continuations of "h". (The slide feeds one-hot vectors through W_xh;
an embedding table of width 4 is the same thing: row x of the table is column x of W_xh.)
"""

from __future__ import annotations

import math

import torch

from ..generate import generate
from ..models.language_model import LanguageModel, LanguageModelConfig
from .common import ExperimentResult

NAME = "hello"
DESCRIPTION = "the lecture's 'hello' example: output distributions before/after training, greedy vs sampled"
CLAIM = ("after training, the argmax at every step is the next character (both l's right: h-e-l-l -> "
         "e-l-l-o) and greedy decoding from 'h' spells 'hello'; before training the predictions are near "
         "uniform (loss ≈ ln 4)")

VOCAB = ["h", "e", "l", "o"]
WORD = "hello"


def _distributions(model: LanguageModel, inputs: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        logits, _ = model(inputs)  # (1, 4, V)
    return logits.softmax(-1)[0]  # (4, V)


def run(quick: bool = False, seed: int = 0) -> ExperimentResult:
    torch.manual_seed(seed)
    ids = [VOCAB.index(c) for c in WORD]
    inputs, targets = torch.tensor([ids[:-1]]), torch.tensor([ids[1:]])  # (1, 4) each
    model = LanguageModel(len(VOCAB), LanguageModelConfig(cell="rnn", embedding=4, hidden=3, layers=1))
    before = _distributions(model, inputs)
    with torch.no_grad():
        loss_before = float(model.loss(model(inputs)[0], targets))

    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30 if quick else 300):
        logits, _ = model(inputs)
        loss = model.loss(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    after = _distributions(model, inputs)
    loss_after = float(model.loss(model(inputs)[0], targets).detach())

    def text(tokens) -> str:
        return "h" + "".join(VOCAB[t] for t in tokens)

    greedy = text(generate(model, [ids[0]], 4, greedy=True))
    samples = [text(generate(model, [ids[0]], 4, seed=seed + k)) for k in range(5)]
    hot = [text(generate(model, [ids[0]], 4, temperature=2.0, seed=seed + k)) for k in range(5)]

    rows = []
    for t in range(len(ids) - 1):
        target = ids[t + 1]
        rows.append([t + 1, WORD[t], WORD[t + 1], float(before[t, target]), VOCAB[int(before[t].argmax())],
                     float(after[t, target]), VOCAB[int(after[t].argmax())]])
    right = sum(VOCAB[int(after[t].argmax())] == WORD[t + 1] for t in range(len(ids) - 1))
    holds = right == len(ids) - 1 and greedy == WORD and abs(loss_before - math.log(4)) < 0.5
    measured = (f"loss {loss_before:.3f} (ln 4 = {math.log(4):.3f}) -> {loss_after:.4f}; {right}/4 steps "
                f"right after training; greedy 'h' -> {greedy!r}; samples at T=1: {', '.join(samples)}; "
                f"at T=2: {', '.join(hot)}")
    data = {"vocab": VOCAB, "word": WORD, "before": before.tolist(), "after": after.tolist(),
            "loss_curve": losses, "loss_before": loss_before, "loss_after": loss_after,
            "greedy": greedy, "samples_t1": samples, "samples_t2": hot}
    return ExperimentResult(NAME, DESCRIPTION, CLAIM,
                            ["step", "input", "target", "p(target) before", "argmax before",
                             "p(target) after", "argmax after"], rows, holds, measured, data)


def figure(result: ExperimentResult, path):
    from ..viz.diagnostics import plot_hello

    return plot_hello(result.data, path)
