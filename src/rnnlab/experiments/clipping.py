"""Gradient clipping: an exploding set-up trained with and without global-norm clipping.

The set-up: a vanilla tanh RNN language model unrolled over 100 characters and trained with plain SGD
at a high learning rate (10). Within a few steps the first large update grows W_hh, the dynamics turn
chaotic, and the gradient norm jumps by two orders of magnitude — a "cliff" of Pascanu et al. (2013),
where the long product of Jacobians ∂h_k/∂h_{k-1} blows up. Without clipping that one step throws the
weights far away; the loss jumps and does not come back. With global-norm clipping
(`rnnlab.train.optim.clip_gradients`: if ‖g‖ > c, g ← g · c/‖g‖) the same spikes still happen, as the
logged pre-clipping norms show, but each update keeps its direction and its size is bounded by lr × c,
so a spike costs a bump in the loss rather than the run. (The lecture notes' snippet compares the
*squared* norm with the threshold; clipping the norm itself is what the library does.)

Both runs start from the same weights and see the same batches.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..train.optim import clip_gradients
from .common import ExperimentResult, SequenceModel
from .tasks import encode_chars, grammar_text, random_windows

NAME = "clipping"
DESCRIPTION = "vanilla RNN LM, SGD at lr 10 over 100-step unrolls: with and without global-norm clipping at 1"
CLAIM = ("without clipping, a gradient spike throws the weights away and the loss stays high (above 2× the "
         "clipped run's); with clipping the same spikes are cut to norm 1 and the run recovers, ending below "
         "its initial loss")
LR, MAX_NORM = 10.0, 1.0


def train(ids: torch.Tensor, vocab: int, clip: float | None, steps: int, seq_len: int, seed: int) -> dict:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed + 1)
    model = SequenceModel("rnn", vocab, vocab, embedding=16, hidden=64, per_step=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    losses, norms = [], []
    for _ in range(steps):
        x, y = random_windows(ids, 32, seq_len, generator)  # (B, T) each
        loss = F.cross_entropy(model(x).reshape(-1, vocab), y.reshape(-1))
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            break  # the weights are gone; later steps would only repeat NaN
        optimizer.zero_grad()
        loss.backward()
        norms.append(clip_gradients(model.parameters(), clip))  # the norm before clipping
        optimizer.step()
    return {"losses": losses, "grad_norms": norms}


def summary(run: dict) -> dict:
    losses, norms = run["losses"], run["grad_norms"]
    tail = losses[-20:]
    final = sum(tail) / len(tail) if all(math.isfinite(v) for v in tail) else math.inf
    median = sorted(norms)[len(norms) // 2] if norms else math.nan
    return {"initial": losses[0], "final": final, "max_loss": max(losses), "max_grad_norm": max(norms),
            "median_grad_norm": median, "spikes": sum(n > 10 * median for n in norms)}


def run(quick: bool = False, seed: int = 0) -> ExperimentResult:
    ids, alphabet = encode_chars(grammar_text(20_000, seed=seed))
    steps, seq_len = (20, 20) if quick else (400, 100)
    runs = {"no clipping": train(ids, len(alphabet), None, steps, seq_len, seed),
            f"clip at {MAX_NORM:g}": train(ids, len(alphabet), MAX_NORM, steps, seq_len, seed)}
    stats = {name: summary(r) for name, r in runs.items()}
    keys = ("initial", "final", "max_loss", "max_grad_norm", "median_grad_norm", "spikes")
    rows = [[name, *(s[k] for k in keys)] for name, s in stats.items()]
    plain, clipped = stats["no clipping"], stats[f"clip at {MAX_NORM:g}"]
    holds = clipped["final"] < clipped["initial"] and plain["final"] > 2 * clipped["final"]
    measured = (f"final loss {plain['final']:.3f} without vs {clipped['final']:.3f} with clipping; peak loss "
                f"{plain['max_loss']:.3g} vs {clipped['max_loss']:.3g}; largest gradient norm "
                f"{plain['max_grad_norm']:.3g} vs {clipped['max_grad_norm']:.3g} (before clipping)")
    data = {"runs": runs, "lr": LR, "max_norm": MAX_NORM, "steps": steps, "seq_len": seq_len}
    return ExperimentResult(NAME, DESCRIPTION, CLAIM,
                            ["training", "first loss", "final loss", "peak loss", "max ‖g‖", "median ‖g‖",
                             "spikes (>10× median)"], rows, holds, measured, data)


def figure(result: ExperimentResult, path):
    from ..viz.diagnostics import plot_clipping

    return plot_clipping(result.data, path)
