"""`rnnlab gradflow`: how far back the gradient reaches — the lecture's vanishing/exploding picture.

Letters: B batch, T time (the horizon), D input size, H hidden size, V vocabulary.

Backpropagating from a loss L_T at the last step, the gradient at an earlier hidden state is

    ∂L_T/∂h_t = ∂L_T/∂h_T · Π_{k=t+1..T} ∂h_k/∂h_{k-1},   ∂h_k/∂h_{k-1} = diag(tanh'(a_k)) W_hh  (vanilla RNN)

so its norm shrinks or grows roughly like σ^(T-t), σ the largest singular value of W_hh times the
average tanh' ≤ 1: the gradient vanishes when σ < 1 and may explode when σ > 1 (Pascanu et al. 2013).
We measure it directly: run the cells one step at a time (the explicit path), keep every h_t, and ask
autograd for ∂L_T/∂h_t for all t at once with `torch.autograd.grad` (h_t are non-leaf tensors of the
graph; the gradient is the total derivative through every later step).

Two sources of weights:

- at initialisation (`flow_at_init`): a one-layer cell with the package's initialisation
  (`rnnlab.nn.init`: Xavier W_ih, orthogonal W_hh per gate block, LSTM forget bias 1), then each
  gate block of W_hh — (H, H) rows i, f, g, o of the LSTM, r, z, n of the GRU, the whole matrix of the
  vanilla RNN — rescaled so its largest singular value is the requested value. The orthogonal blocks
  have all singular values equal, so after rescaling every singular value is that value. Inputs are
  N(0, s²) with s = `input_scale`, the loss L_T = Σ_b u_b · h_T,b with a fixed random u, so
  ∂L_T/∂h_T = u. The input scale matters: small inputs (s = 0.1, the default) keep tanh near its
  linear range, where the lecture's σ^(T-t) picture holds (σ = 1.5 explodes); unit inputs saturate
  tanh, tanh' ≪ 1, and the gradient vanishes even at σ = 1.5 — saturation is the other road to
  vanishing gradients.
- from a trained language model (`flow_from_run`): the run's own weights on the start of its
  validation text (random tokens if the corpus is gone), L_T the cross-entropy of the last step's
  prediction; one curve per layer (∂L_T/∂h_t of that layer's hidden states).

For gated cells the number is ∂L_T/∂h_t only (the `dnext_h` of a hand-written backward); the LSTM's
cell state c carries its own gradient, which reaches ∂L_T/∂h_t through the gates of step t+1. With the
default forget bias, f ≈ σ(1) ≈ 0.73 at initialisation, so even the LSTM's highway decays over 200
steps until training learns to open the forget gate (try `--forget-bias 5`).

Everything runs in float64: 0.5^200 ≈ 6e-61 would underflow float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import UserError
from ..nn import RecurrentCell, canonical_cell_name, init_cell, make_cell

#: ratio thresholds for the words in the table: an order of magnitude lost or gained over the horizon
VANISHING, EXPLODING = 0.1, 10.0


@dataclass
class FlowResult:
    """‖∂L_T/∂h_t‖ for t = 1..T of one setting (index 0 is t = 1)."""

    label: str
    norms: list[float]
    settings: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """‖∂L/∂h_1‖ / ‖∂L/∂h_T‖."""
        return self.norms[0] / self.norms[-1] if self.norms[-1] > 0 else math.nan

    @property
    def per_step(self) -> float:
        """The geometric-mean factor per step back: ratio^(1/(T-1))."""
        T = len(self.norms)
        if T < 2 or not self.ratio > 0:
            return math.nan
        return math.exp(math.log(self.ratio) / (T - 1))

    @property
    def picture(self) -> str:
        if not math.isfinite(self.ratio):
            return "undefined"
        if self.ratio < VANISHING:
            return "vanishing"
        if self.ratio > EXPLODING:
            return "exploding"
        return "kept"

    def to_dict(self) -> dict:
        return {"label": self.label, **self.settings, "ratio": self.ratio, "per_step": self.per_step,
                "picture": self.picture, "norms": self.norms}


@torch.no_grad()
def rescale_recurrent(cell: RecurrentCell, spectral_radius: float) -> None:
    """Scale each (H, H) gate block of W_hh so its largest singular value is `spectral_radius`.

    ("Spectral radius" as the command's option calls it; for the orthogonal blocks of the course's
    initialisation the largest singular value and the spectral radius coincide.)
    """
    H = cell.hidden_size
    for block in range(cell.gates):
        rows = slice(block * H, (block + 1) * H)
        sigma_max = torch.linalg.matrix_norm(cell.weight_hh[rows], ord=2)
        cell.weight_hh[rows] *= spectral_radius / sigma_max


def unroll(cells: list[RecurrentCell], x: Tensor) -> list[list[Tensor]]:
    """Run stacked cells one step at a time over x (B, T, D) from zero states.

    Returns hidden[layer][t], each (B, H), all part of the autograd graph.
    """
    hidden = []
    layer_input = x
    for cell in cells:
        state = cell.zero_state(x.shape[0], like=x)
        hs = []
        for x_t in layer_input.unbind(1):  # T × (B, D)
            state = cell(x_t, state)
            hs.append(state[0] if isinstance(state, tuple) else state)
        hidden.append(hs)
        layer_input = torch.stack(hs, dim=1)  # (B, T, H)
    return hidden


def _norms(loss: Tensor, hs: list[Tensor]) -> list[float]:
    grads = torch.autograd.grad(loss, hs, allow_unused=True)
    return [float(g.norm()) if g is not None else 0.0 for g in grads]


def flow_at_init(cell: str, steps: int, spectral_radius: float, *, hidden: int = 64, input_size: int = 32,
                 batch: int = 8, input_scale: float = 0.1, forget_bias: float = 1.0,
                 seed: int = 0) -> FlowResult:
    """‖∂L_T/∂h_t‖ at initialisation with W_hh rescaled (see the module docstring)."""
    if steps < 2:
        raise UserError(f"--steps must be at least 2 to follow the gradient back (got {steps}).")
    if input_scale < 0:
        raise UserError(f"--input-scale must be ≥ 0 (got {input_scale}).")
    if not spectral_radius > 0:
        raise UserError(f"--spectral-radius values must be positive (got {spectral_radius}).")
    name = canonical_cell_name(cell)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the cell's own initialisation draws from the global generator
    model = make_cell(name, input_size, hidden).double()
    init_cell(model, forget_bias=forget_bias)
    rescale_recurrent(model, spectral_radius)
    x = torch.randn(batch, steps, input_size, generator=gen, dtype=torch.float64) * input_scale  # (B, T, D)
    u = torch.randn(batch, hidden, generator=gen, dtype=torch.float64) / math.sqrt(hidden)  # (B, H)
    (hs,) = unroll([model], x)
    loss = (u * hs[-1]).sum()  # L_T
    settings = {"cell": name, "spectral_radius": spectral_radius, "steps": steps, "hidden": hidden,
                "input_scale": input_scale, "forget_bias": forget_bias if name.startswith("lstm") else None}
    return FlowResult(f"{name} σ={spectral_radius:g}", _norms(loss, hs), settings)


def flow_from_run(run: str | Path, steps: int, *, batch: int = 4, seed: int = 0) -> list[FlowResult]:
    """‖∂L_T/∂h_t‖ of every layer of a trained language model, on the start of its validation text."""
    from ..tasks.lm import load_lm

    if steps < 2:
        raise UserError(f"--steps must be at least 2 to follow the gradient back (got {steps}).")
    model, vocab, document = load_lm(run)
    model = model.double().eval()
    tokens = _validation_tokens(document, batch, steps + 1, len(vocab), seed)  # (B, T + 1)
    x = model.embedding(tokens[:, :-1]).double()  # (B, T, E)
    hidden = unroll(list(model.rnn.cells), x)
    logits = model.decoder(model.head(hidden[-1][-1]))  # (B, V): the prediction after the last step
    loss = F.cross_entropy(logits, tokens[:, -1], reduction="sum")  # L_T
    flat = [h for hs in hidden for h in hs]
    norms = _norms(loss, flat)
    results = []
    for layer in range(len(hidden)):
        settings = {"run": str(run), "cell": model.config.cell, "layer": layer + 1, "steps": steps,
                    "step": document.get("step")}
        results.append(FlowResult(f"{Path(run).name} layer {layer + 1}",
                                  norms[layer * steps:(layer + 1) * steps], settings))
    return results


def _validation_tokens(document: dict, batch: int, length: int, vocab_size: int, seed: int) -> Tensor:
    """B windows of `length` tokens from the run's validation split, or random tokens without it."""
    try:
        from ..data.corpus import TokenCorpus

        tokens = np.asarray(TokenCorpus.open(document["corpus"]).split("val"))
        if len(tokens) < batch * length:
            tokens = np.asarray(TokenCorpus.open(document["corpus"]).split("train"))
        if len(tokens) >= batch * length:
            rows = tokens[: batch * length].reshape(batch, length).astype(np.int64)
            return torch.from_numpy(rows)
    except (UserError, KeyError, OSError, ValueError):
        pass
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(vocab_size, (batch, length), generator=gen)


def format_table(results: list[FlowResult]) -> str:
    """The ratio ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ of each setting, with the factor per step."""
    width = max([len(r.label) for r in results] + [7])
    lines = [f"{'setting':<{width}}  {'T':>4}  {'‖∂L/∂h_T‖':>10}  {'‖∂L/∂h_1‖':>10}  {'ratio':>10}  "
             f"{'per step':>8}  picture", "-" * (width + 64)]
    for r in results:
        lines.append(f"{r.label:<{width}}  {len(r.norms):>4}  {r.norms[-1]:>10.3e}  {r.norms[0]:>10.3e}  "
                     f"{r.ratio:>10.3e}  {r.per_step:>8.4f}  {r.picture}")
    return "\n".join(lines)


def parse_radii(text: str) -> list[float]:
    """'0.5,1.0,1.5' -> [0.5, 1.0, 1.5]."""
    try:
        radii = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--spectral-radius expects numbers separated by commas, like 0.5,1.0,1.5 "
                        f"(got {text!r}).") from None
    if not radii or any(not r > 0 for r in radii):
        raise UserError(f"--spectral-radius expects positive numbers, like 0.5,1.0,1.5 (got {text!r}).")
    return radii
