"""`soft`: Show, Attend and Tell with deterministic attention (the default decoder).

    a_l  ← a_l + p_l                                  (B, L, D)  p_l a learned embedding of location l
    h_0  = tanh(W_init_h mean_l a_l), c_0 = tanh(W_init_c mean_l a_l)
    e_tl = v · tanh(W_a a_l + W_h h_{t-1} + b)        (B, L)    additive attention (`rnnlab.nn.attention`)
    α_t  = softmax_l(e_t)                             (B, L)    sums to 1 over the locations
    β_t  = σ(w_β · h_{t-1} + b_β)                     (B, 1)    the gating scalar
    z_t  = β_t Σ_l α_tl a_l                           (B, D)    the context vector
    h_t  = cell([E y_{t-1} ; z_t], h_{t-1})           (B, H)
    p(y_t) = softmax(L_o tanh(E y_{t-1} + L_h h_t + L_z z_t))   the deep output layer

and the loss adds the doubly stochastic regularisation λ Σ_l (1 − Σ_t α_tl)²: over a caption every
location should receive about one unit of attention in total, so the model looks at all of the image
rather than at one place all the time.

Section `model.soft` (the `hard`, `where` and `look` decoders share its attention keys):

``gate`` — the gating scalar β_t (on, as in the paper).

``positions`` — the learned location embeddings p_l. They are not in the paper (its VGG grid carries
position implicitly through the padding); they let the decoder know *where* it looked, which
relations like "left of" need, and start at zero. The captioner holds them (`Captioner.positions`).

``context_in_cell = false`` drops z_t from the cell's input, h_t = cell(E y_{t-1}, h_{t-1}), and keeps
it in the deep output layer only (a variant, not the paper). The paper's decoder can look at an item
early, keep what it saw in its memory and name it later, so α_t need not be on the item that word t
names; without that path the image reaches word t only through the z_t of the same step (and h_0), so
naming an item requires looking at it.

``image_h0 = false`` starts every caption from the same learned state, h_0 = tanh(b_init_h) (c_0
likewise), instead of one made from the mean annotation: the image then reaches the decoder only
through what it attends to, so the decoder must look at an item to learn what it is (a variant, not
the paper: its h_0 already holds a summary of every item, so naming one needs no attention).

``where_in_cell = true`` also feeds the cell where the decoder looked, the centre of the attention
Σ_l α_tl (x_l, y_l) ∈ [-1, 1]², but not what it saw there (the `where` decoder, with
``context_in_cell = false``).

``attention_entropy = λ_H > 0`` adds λ_H · mean_t H[α_t] to the loss (not the paper): a prior that the
decoder looks at one place per word, as hard attention does, while training stays differentiable. It
says nothing about where to look; the ground-truth boxes are never used.

``smooth = k`` (odd, > 1) replaces every annotation by the mean of the k×k block of locations around it
before anything reads the grid (a fixed average pool, stride 1): one location then carries what its
neighbourhood shows, so a decoder can name an item while looking at the item's middle alone, instead
of spreading its attention over every location that sees part of the item (a variant, not the paper).

``coordinates = true`` appends each location's fixed centre (x_l, y_l) ∈ [-1, 1]² to a_l
("CoordConv"): the context then carries Σ_l α_tl (x_l, y_l), where the model looked, from the first
step on, with nothing to learn.

``doubly_stochastic`` — λ of the regulariser above, per caption word.

The paper's deep output layer has no tanh; its authors' code adds one, as here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...errors import UserError
from ...nn import make_cell
from ...nn.attention import make_attention
from .base import CaptionOutput, CaptionState, Decoder, DecoderShape, StepResult


@dataclass
class AttentionConfig:
    """The attention keys that every attention decoder (soft, hard, where, look) has."""

    section: ClassVar[str] = "soft"
    gate: bool = True  # the gating scalar β_t
    positions: bool = True  # learned location embeddings p_l added to the annotations
    coordinates: bool = False  # append each location's fixed (x, y) in [-1, 1] to its annotation
    smooth: int = 1  # k > 1 replaces each a_l by the mean of its k×k neighbourhood on the grid
    context_in_cell: bool = True  # feed z_t into the cell (the paper); False: z_t reaches the output only
    where_in_cell: bool = False  # feed the centre of the attention, Σ_l α_tl (x_l, y_l), into the cell
    image_h0: bool = True  # h_0, c_0 from the mean annotation (the paper); False: learned

    def __post_init__(self) -> None:
        if not isinstance(self.smooth, int) or self.smooth < 1 or self.smooth % 2 == 0:
            raise UserError(f"model.{self.section}.smooth must be an odd integer ≥ 1 (got {self.smooth!r}).")


@dataclass
class SoftConfig(AttentionConfig):
    """Section `model.soft`: the attention keys and the soft decoder's two regularisers."""

    doubly_stochastic: float = 1.0  # λ of Σ_l (1 − Σ_t α_tl)², per caption word
    attention_entropy: float = 0.0  # λ_H of the mean entropy of α_t per word (sharper attention)

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.doubly_stochastic, self.attention_entropy) < 0:
            raise UserError(
                f"model.{self.section}.doubly_stochastic and model.{self.section}.attention_entropy "
                "must be ≥ 0."
            )


class AttentionDecoder(Decoder):
    """Show, Attend and Tell's decoder; how the context is read (soft, sample, argmax) is per call."""

    attends = True
    default_read: ClassVar[str] = "soft"

    def __init__(self, shape: DecoderShape, settings: AttentionConfig) -> None:
        super().__init__(shape, settings)
        L, D, E, H, V = (shape.num_locations, shape.feature_size, shape.embedding, shape.hidden,
                         shape.vocab_size)
        # (L, 2): x then y of each location's centre in [-1, 1], row-major like the grid
        h, w = shape.grid_shape
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        self.register_buffer("centres", torch.stack([xs, ys], -1).reshape(L, 2), persistent=False)
        if settings.coordinates:
            D = D + 2  # the annotations the decoder reads
        self.init_h = nn.Linear(D, H)
        self.init_c = nn.Linear(D, H) if self.is_lstm else None
        self.attention = make_attention("additive", H, D, shape.attention_size)
        self.gate = nn.Linear(H, 1) if settings.gate else None
        # without z_t in its input the cell cannot remember what it saw: to name an item the
        # decoder must look at it again at that very step (see the module docstring)
        cell_in = E + (D if settings.context_in_cell else 0) + (2 if settings.where_in_cell else 0)
        self.cell = make_cell(shape.cell, cell_in, H)
        self.out_h = nn.Linear(H, E)  # L_h
        self.out_z = nn.Linear(D, E, bias=False)  # L_z
        self.out = nn.Linear(E, V)  # L_o
        self.finish_init()

    @property
    def coordinates(self) -> Tensor | None:
        """(L, 2) the locations' centres when they are appended to the annotations, else None."""
        return self.centres if self.settings.coordinates else None

    def init_state(self, grid: Tensor, positions: Tensor | None = None) -> CaptionState:
        if self.settings.smooth > 1:
            grid = self.smoothed(grid)
        a = grid + positions if positions is not None else grid  # (B, L, D)
        if self.coordinates is not None:
            a = torch.cat(
                [a, self.coordinates.to(a.dtype).expand(a.shape[0], -1, -1)], dim=2
            )  # (B, L, D + 2)
        mean = a.mean(1) if self.settings.image_h0 else a.new_zeros(a.shape[0], a.shape[2])  # (B, D)
        h0 = torch.tanh(self.init_h(mean))  # (B, H); without image_h0 tanh(b_init_h), the same for all
        hidden = (h0, torch.tanh(self.init_c(mean))) if self.is_lstm else h0
        return CaptionState(hidden, a, self.attention.project_keys(a))

    def smoothed(self, grid: Tensor) -> Tensor:
        """(B, L, D) -> (B, L, D): each annotation replaced by the mean of the k×k block of grid
        locations around it (k = `smooth`; at the border, of the locations inside the grid)."""
        (B, L, D), (h, w), k = grid.shape, self.shape.grid_shape, self.settings.smooth
        image = grid.transpose(1, 2).reshape(B, D, h, w)
        pooled = F.avg_pool2d(image, k, stride=1, padding=k // 2, count_include_pad=False)
        return pooled.reshape(B, D, L).transpose(1, 2)

    def step_with_attention(
        self, tokens: Tensor, state: CaptionState, how: str | None = None, expected: Tensor | None = None
    ) -> StepResult:
        """One step: previous words (N,) -> logits (N, V), state, α (N, L), log α[s] (N,), H[α] (N,).

        `how` picks the context: "soft" (Σ α a), "sample" (a_s, s ~ α; rows where `expected` (N,) is
        True use Σ α a instead) or "argmax" (a at the most probable location). The default is the
        decoder's decoding choice: soft for soft, argmax for hard.
        """
        x = self.dropout(self.embedding(tokens))  # (N, E)
        how = how or self.default_read
        h_prev = self.hidden_of(state.hidden)  # (N, H)
        a = state.annotations  # (N, L, D)
        context, alpha = self.attention(h_prev, a, a, None, projected_keys=state.keys)  # (N, D), (N, L)
        log_pick = entropy = None
        if how == "soft":
            z = context
        else:
            if how == "sample":
                s = torch.multinomial(alpha.detach(), 1).squeeze(1)  # (N,)
                log_pick = alpha.gather(1, s[:, None]).squeeze(1).clamp_min(1e-12).log()  # (N,)
                entropy = -(alpha * alpha.clamp_min(1e-12).log()).sum(1)  # (N,)
            elif how == "argmax":
                s = alpha.argmax(1)
            else:
                raise ValueError(f"unknown attention read-out {how!r}")
            z = a[torch.arange(a.shape[0], device=a.device), s]  # (N, D) the one chosen location
            if expected is not None:
                z = torch.where(expected[:, None], context, z)
        if self.gate is not None:
            z = torch.sigmoid(self.gate(h_prev)) * z  # β_t z_t
        parts = [x, z] if self.settings.context_in_cell else [x]
        if self.settings.where_in_cell:  # where it looked, (N, 2): the centre of α_t on the grid
            parts.append(alpha @ self.centres.to(alpha.dtype))
        hidden = self.cell(torch.cat(parts, dim=1) if len(parts) > 1 else x, state.hidden)
        h = self.hidden_of(hidden)  # (N, H)
        deep = torch.tanh(x + self.out_h(h) + self.out_z(z))  # (N, E)
        logits = self.out(self.dropout(deep))  # (N, V)
        return logits, CaptionState(hidden, a, state.keys), alpha, log_pick, entropy


class SoftDecoder(AttentionDecoder):
    """Soft attention, z_t = β_t Σ_l α_tl a_l, and its regularisers (see the module docstring)."""

    name = "soft"
    Config: ClassVar[type] = SoftConfig

    def penalties(
        self, loss: Tensor, out: CaptionOutput, nll: Tensor, mask: Tensor, words: Tensor, parts: dict
    ) -> Tensor:
        """+ λ Σ_b Σ_l (1 − Σ_t α_btl)² / words (+ λ_H mean_t H[α_t])."""
        if out.weights is not None and self.settings.doubly_stochastic:
            coverage = (out.weights * mask[:, :, None]).sum(1)  # (B, L) Σ_t α_tl
            penalty = ((1.0 - coverage) ** 2).sum() / words
            loss = loss + self.settings.doubly_stochastic * penalty
            parts["doubly_stochastic"] = float(penalty.detach())
        if out.weights is not None and self.settings.attention_entropy:
            alpha = out.weights  # (B, T, L)
            entropy = -(alpha * alpha.clamp_min(1e-12).log()).sum(2)  # (B, T) H[α_t]
            sharpness = (entropy * mask).sum() / words
            loss = loss + self.settings.attention_entropy * sharpness
            parts["attention_entropy"] = float(sharpness.detach())
        return loss
