"""One-to-many: an image in, a caption out. Show and Tell, and Show, Attend and Tell (soft and hard).

Letters: B batch, T caption length, L image locations, D annotation (feature) size, E word-vector
size, H hidden size, A attention size, V vocabulary.

Encoder: the rnnlab CNN (`rnnlab.models.cnn.CNNEncoder`, trained with the captioner or loaded from an
image run, frozen or fine-tuned) gives a grid of annotation vectors a_1 .. a_L (B, L, D); or they
come precomputed from a file, (N, D) vectors (L = 1) or (N, L, D) grids, as the CS231n assignment's
VGG features do.

Three decoders (`mode`), all teacher-forced in training, with any cell (rnn / lstm / gru):

``init`` — Show and Tell; exactly the CS231n ``CaptioningRNN`` (`rnnlab.reference.CaptioningRNN`):

    f   = mean_l a_l                                  (B, D)   the image vector
                                                               (image_vector=flatten: [a_1; …; a_L])
    h_0 = W_proj f + b_proj,  c_0 = 0                 (B, H)   the image only sets the initial state
    h_t = cell(W_embed[y_{t-1}], h_{t-1})             (B, H)
    p(y_t) = softmax(W_vocab h_t + b_vocab)           (B, V)

``soft`` — Show, Attend and Tell, deterministic attention (the default):

    a_l  ← a_l + p_l                                  (B, L, D)  p_l a learned embedding of location l
    h_0  = tanh(W_init_h mean_l a_l), c_0 = tanh(W_init_c mean_l a_l)
    e_tl = v · tanh(W_a a_l + W_h h_{t-1} + b)        (B, L)    additive attention (`rnnlab.nn.attention`)
    α_t  = softmax_l(e_t)                             (B, L)    sums to 1 over the locations
    β_t  = σ(w_β · h_{t-1} + b_β)                     (B, 1)    the gating scalar
    z_t  = β_t Σ_l α_tl a_l                           (B, D)    the context vector
    h_t  = cell([E y_{t-1} ; z_t], h_{t-1})           (B, H)
    p(y_t) = softmax(L_o tanh(E y_{t-1} + L_h h_t + L_z z_t))   the deep output layer

  and the loss adds the doubly stochastic regularisation λ Σ_l (1 − Σ_t α_tl)²: over a caption every
  location should receive about one unit of attention in total, so the model looks at all of the
  image rather than at one place all the time.

``hard`` — stochastic attention: z_t = a_{s_t} with one location s_t ~ Categorical(α_t) (no
  average). The sample is not differentiable, so the attention is trained with REINFORCE on the
  paper's variational bound:

    ∂L/∂W ≈ −∂ log p(y | s, a)/∂W − λ_r (r − b) ∂ log p(s | a)/∂W − λ_e ∂H[α]/∂W

  with the reward r = log p(y | s, a) (here per word: the mean over the caption, so that captions of
  different lengths share one baseline; the paper sums), b a moving average of past rewards (a
  buffer of the model, so it is checkpointed) and an entropy bonus λ_e H[α_t]. As in the paper, with
  probability 0.5 an image uses the expected context Σ_l α_tl a_l (the soft one) instead of a
  sample. Decoding uses the most probable location, argmax_l α_tl.

``model.context_in_cell = false`` drops z_t from the cell's input, h_t = cell(E y_{t-1}, h_{t-1}),
and keeps it in the deep output layer only (a variant, not the paper). The paper's decoder can look
at an item early, keep what it saw in its memory and name it later, so α_t need not be on the item
that word t names; without that path the image reaches word t only through the z_t of the same step
(and h_0), so naming an item requires looking at it.

``model.image_h0 = false`` starts every caption from the same learned state, h_0 = tanh(b_init_h)
(c_0 likewise), instead of one made from the mean annotation: the image then reaches the decoder only
through what it attends to, so the decoder must look at an item to learn what it is (a variant, not
the paper: its h_0 already holds a summary of every item, so naming one needs no attention).

``model.where_in_cell = true`` also feeds the cell where the decoder looked, the centre of the
attention Σ_l α_tl (x_l, y_l) ∈ [-1, 1]², but not what it saw there: with ``context_in_cell = false``
the decoder remembers the layout (enough to plan the next item and the relations) and must look at an
item to name it (a variant, not the paper).

``model.attention_entropy = λ_H > 0`` adds λ_H · mean_t H[α_t] to the soft loss (not the paper): a
prior that the decoder looks at one place per word, as hard attention does, while training stays
differentiable. It says nothing about where to look; the ground-truth boxes are never used.

``model.smooth = k`` (odd, > 1) replaces every annotation by the mean of the k×k block of locations
around it before anything reads the grid (a fixed average pool, stride 1): one location then carries
what its neighbourhood shows, so a decoder can name an item while looking at the item's middle alone,
instead of spreading its attention over every location that sees part of the item (a variant, not
the paper).

``model.coordinates = true`` appends each location's fixed centre (x_l, y_l) ∈ [-1, 1]² to a_l
("CoordConv"): the context then carries Σ_l α_tl (x_l, y_l), where the model looked, from the first
step on, with nothing to learn.

Location embeddings p_l are not in the paper (its VGG grid carries position implicitly through the
padding); they let the decoder know *where* it looked, which relations like "left of" need, and start
at zero. The paper's deep output layer has no tanh; its authors' code adds one, as here.

Decoding goes through `step(tokens, state)`, the interface of `rnnlab.generate` (greedy, sampling,
batched beam search); `CaptionState` keeps the hidden state and, for attention, the annotations and
their projected keys, and `reorder_caption_state` picks rows of all of them. Id 0 (<NULL>) pads
captions; its positions are masked out of every loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from ..nn import canonical_cell_name, init_cell, make_cell
from ..nn.attention import make_attention
from .cnn import CNNConfig, CNNEncoder, frozen_blocks

MODES = ("soft", "hard", "init")
ENCODERS = ("cnn", "features")
NULL_ID, START_ID, END_ID = 0, 1, 2  # as in rnnlab.data.captions


@dataclass
class CaptionEncoderConfig:
    kind: str = "cnn"  # cnn (images through rnnlab's CNN) | features (precomputed vectors or grids)
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])  # CNN blocks (each halves the size)
    convs_per_block: int = 1  # conv–BN–ReLU layers per block
    kernel: int = 3
    path: str = ""  # start from a trained encoder: a `train image --model cnn` run folder or its encoder/
    freeze: str = "none"  # all | none | block numbers ("0,1"): blocks that keep their weights

    def __post_init__(self) -> None:
        if self.kind not in ENCODERS:
            raise UserError(f"model.encoder.kind must be cnn or features (got {self.kind!r}).")
        self.channels = [int(c) for c in self.channels]
        if not self.channels or min(self.channels) < 1 or self.convs_per_block < 1:
            raise UserError("model.encoder.channels must list positive widths and convs_per_block be ≥ 1.")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise UserError(f"model.encoder.kernel must be an odd number ≥ 1 (got {self.kernel!r}).")
        frozen_blocks(self.freeze, len(self.channels))  # validates the spelling


@dataclass
class CaptionerConfig:
    mode: str = "soft"  # soft | hard | init (see the module docstring)
    cell: str = "lstm"  # rnn | rnn-relu | lstm | lstm-peephole | gru | gru-cho
    embedding: int = 128  # E
    hidden: int = 256  # H
    attention_size: int = 128  # A
    dropout: float = 0.2  # on word vectors and before the output layer
    gate: bool = True  # the gating scalar β_t (soft and hard)
    positions: bool = True  # learned location embeddings p_l added to the annotations
    coordinates: bool = False  # append each location's fixed (x, y) in [-1, 1] to its annotation
    smooth: int = 1  # soft/hard: k > 1 replaces each a_l by the mean of its k×k neighbourhood on the grid
    context_in_cell: bool = True  # feed z_t into the cell (the paper); False: z_t reaches the output only
    where_in_cell: bool = False  # feed the centre of the attention, Σ_l α_tl (x_l, y_l), into the cell
    image_h0: bool = True  # soft/hard: h_0, c_0 from the mean annotation (the paper); False: learned
    # init: the image as one vector, `mean` (global average pool, D) or `flatten` (every location in
    # order, L·D: a fully connected readout of the grid, which keeps where things are)
    image_vector: str = "mean"
    doubly_stochastic: float = 1.0  # λ of Σ_l (1 − Σ_t α_tl)² (soft), per caption
    attention_entropy: float = 0.0  # soft: λ_H of the mean entropy of α_t per word (sharper attention)
    reinforce: float = 1.0  # λ_r (hard)
    entropy: float = 0.01  # λ_e, the entropy bonus (hard)
    baseline_decay: float = 0.9  # b ← decay · b + (1 − decay) · mean reward (hard)
    expected_prob: float = 0.5  # hard: probability that an image uses the expected context instead
    encoder: CaptionEncoderConfig = field(default_factory=CaptionEncoderConfig)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UserError(f"model.mode must be soft, hard or init (got {self.mode!r}).")
        try:
            self.cell = canonical_cell_name(self.cell)
        except ValueError as error:
            raise UserError(f"model.cell: {error}; pick one of rnn, lstm, gru (or a variant).") from None
        for name in ("embedding", "hidden", "attention_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"model.{name} must be a positive integer (got {value!r}).")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.expected_prob <= 1.0:
            raise UserError("model.dropout must be in [0, 1) and model.expected_prob in [0, 1].")
        if min(self.doubly_stochastic, self.attention_entropy, self.reinforce, self.entropy) < 0:
            raise UserError(
                "model.doubly_stochastic, model.attention_entropy, model.reinforce and model.entropy "
                "must be ≥ 0."
            )
        if not 0.0 <= self.baseline_decay < 1.0:
            raise UserError(f"model.baseline_decay must be in [0, 1) (got {self.baseline_decay!r}).")
        if not isinstance(self.smooth, int) or self.smooth < 1 or self.smooth % 2 == 0:
            raise UserError(f"model.smooth must be an odd integer ≥ 1 (got {self.smooth!r}).")
        if self.image_vector not in ("mean", "flatten"):
            raise UserError(f"model.image_vector must be mean or flatten (got {self.image_vector!r}).")
        if isinstance(self.encoder, dict):
            self.encoder = CaptionEncoderConfig(**self.encoder)


class CaptionState(NamedTuple):
    """One decoder step's state, batch-first. hidden: (N, H) or (h, c); None fields in init mode."""

    hidden: Tensor | tuple[Tensor, Tensor]
    annotations: Tensor | None  # (N, L, D) a_l (+ p_l)
    keys: Tensor | None  # (N, L, A) W_a a_l, computed once per image


def reorder_caption_state(state: CaptionState, index: Tensor) -> CaptionState:
    """Pick rows `index` (M,) of every tensor of a caption state (beam search's reorder_state)."""
    hidden = state.hidden
    hidden = (
        tuple(h.index_select(0, index) for h in hidden)
        if isinstance(hidden, tuple)
        else (hidden.index_select(0, index))
    )
    pick = lambda t: None if t is None else t.index_select(0, index)
    return CaptionState(hidden, pick(state.annotations), pick(state.keys))


class CaptionOutput(NamedTuple):
    """Teacher-forced decoding of a batch."""

    logits: Tensor  # (B, T, V)
    weights: Tensor | None  # (B, T, L) α_t; None in init mode
    log_pick: Tensor | None  # (B, T) log α_t[s_t] of the sampled locations (hard, training)
    entropy: Tensor | None  # (B, T) H[α_t] (hard)
    sampled: Tensor | None  # (B,) True for the images that sampled (not the expected context)


class Captioner(nn.Module):
    """Image (or precomputed features) -> caption word scores; see the module docstring.

    Args:
        vocab_size: V, with <NULL> = 0, <START> = 1, <END> = 2.
        config: the model settings.
        input_shape: (C, H, W) images for the CNN encoder; (D,) or (L, D) precomputed features.
    """

    def __init__(self, vocab_size: int, config: CaptionerConfig, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.config = config
        self.mode = config.mode
        ec = config.encoder
        self.input_shape = tuple(int(s) for s in input_shape)
        if ec.kind == "cnn":
            if len(self.input_shape) != 3:
                raise UserError(
                    f"the CNN encoder reads images (C, H, W), not inputs of shape {self.input_shape}."
                )
            cnn = CNNConfig(
                channels=ec.channels,
                convs_per_block=ec.convs_per_block,
                kernel=ec.kernel,
                readout="pool",
                hidden=0,
                dropout=0.0,
            )
            self.encoder: CNNEncoder | None = CNNEncoder(cnn, self.input_shape)
            L, D = self.encoder.num_locations, self.encoder.feature_size
            self.grid_shape = self.encoder.grid_shape
        else:
            if len(self.input_shape) not in (1, 2):
                raise UserError(
                    f"precomputed features must be (N, D) or (N, L, D), not (N, {self.input_shape})."
                )
            self.encoder = None
            L, D = (1, self.input_shape[0]) if len(self.input_shape) == 1 else self.input_shape
            side = int(round(L**0.5))
            self.grid_shape = (side, side) if side * side == L else (1, L)
        if self.mode != "init" and L < 2:
            raise UserError(
                "attention needs a grid of L ≥ 2 locations; give (N, L, D) features, fewer CNN "
                "blocks, or use --attention init."
            )
        self.num_locations, self.feature_size = L, D
        E, H, V = config.embedding, config.hidden, vocab_size
        self.vocab_size = V
        self.is_lstm = canonical_cell_name(config.cell).startswith("lstm")
        self.embedding = nn.Embedding(V, E, padding_idx=NULL_ID)  # W_embed
        self.dropout = nn.Dropout(config.dropout)
        if self.mode == "init":
            self.project = nn.Linear(L * D if config.image_vector == "flatten" else D, H)  # W_proj, b_proj
            self.cell = make_cell(config.cell, E, H)
            self.out = nn.Linear(H, V)  # W_vocab, b_vocab
        else:
            self.positions = nn.Parameter(torch.zeros(L, D)) if config.positions else None
            # (L, 2): x then y of each location's centre in [-1, 1], row-major like the grid
            h, w = self.grid_shape
            ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
            self.register_buffer("centres", torch.stack([xs, ys], -1).reshape(L, 2), persistent=False)
            if config.coordinates:
                D = D + 2  # the annotations the decoder reads
            self.init_h = nn.Linear(D, H)
            self.init_c = nn.Linear(D, H) if self.is_lstm else None
            self.attention = make_attention("additive", H, D, config.attention_size)
            self.gate = nn.Linear(H, 1) if config.gate else None
            # without z_t in its input the cell cannot remember what it saw: to name an item the
            # decoder must look at it again at that very step (see the module docstring)
            cell_in = E + (D if config.context_in_cell else 0) + (2 if config.where_in_cell else 0)
            self.cell = make_cell(config.cell, cell_in, H)
            self.out_h = nn.Linear(H, E)  # L_h
            self.out_z = nn.Linear(D, E, bias=False)  # L_z
            self.out = nn.Linear(E, V)  # L_o
        init_cell(self.cell)
        nn.init.normal_(self.embedding.weight, std=0.1)
        # The hard mode's moving-average reward baseline; buffers, so checkpoints hold them.
        self.register_buffer("reward_baseline", torch.zeros(()))
        self.register_buffer("baseline_ready", torch.zeros(()))

    @property
    def coordinates(self) -> Tensor | None:
        """(L, 2) the locations' centres when they are appended to the annotations, else None."""
        return self.centres if self.mode != "init" and self.config.coordinates else None

    # ---- encoder ------------------------------------------------------------------------------

    @property
    def encoder_frozen(self) -> bool:
        """True when no encoder weight is trained (no CNN, or every block frozen): grids can be cached."""
        return self.encoder is None or len(self.encoder.frozen) == len(self.encoder.blocks)

    def encode(self, inputs: Tensor) -> Tensor:
        """Images (B, C, H, W) in [0, 1], or features (B, D) / (B, L, D) -> annotations (B, L, D)."""
        if self.encoder is not None:
            return self.encoder.grid(inputs)  # (B, L, D)
        if inputs.shape[1:] != torch.Size(self.input_shape):
            raise UserError(
                f"features of shape {tuple(inputs.shape[1:])} given to a model trained on {self.input_shape}."
            )
        return inputs.unsqueeze(1) if inputs.dim() == 2 else inputs  # (B, L, D)

    def image_vector(self, grid: Tensor) -> Tensor:
        """The image as one vector: the mean annotation (B, D) (the CNN's global average pool), or
        with `image_vector: flatten` in init mode every annotation in order (B, L·D)."""
        if self.mode == "init" and self.config.image_vector == "flatten":
            return grid.flatten(1)
        return grid.mean(1)

    # ---- decoder ------------------------------------------------------------------------------

    def init_state(self, grid: Tensor) -> CaptionState:
        """Annotations (B, L, D) -> the decoder's state before the first word."""
        if self.mode == "init":
            h0 = self.project(self.image_vector(grid))  # (B, H)
            return CaptionState((h0, torch.zeros_like(h0)) if self.is_lstm else h0, None, None)
        if self.config.smooth > 1:
            grid = self.smoothed(grid)
        a = grid + self.positions if self.positions is not None else grid  # (B, L, D)
        if self.coordinates is not None:
            a = torch.cat(
                [a, self.coordinates.to(a.dtype).expand(a.shape[0], -1, -1)], dim=2
            )  # (B, L, D + 2)
        mean = a.mean(1) if self.config.image_h0 else a.new_zeros(a.shape[0], a.shape[2])  # (B, D)
        h0 = torch.tanh(self.init_h(mean))  # (B, H); without image_h0 tanh(b_init_h), the same for all
        hidden = (h0, torch.tanh(self.init_c(mean))) if self.is_lstm else h0
        return CaptionState(hidden, a, self.attention.project_keys(a))

    def smoothed(self, grid: Tensor) -> Tensor:
        """(B, L, D) -> (B, L, D): each annotation replaced by the mean of the k×k block of grid
        locations around it (k = `smooth`; at the border, of the locations inside the grid)."""
        (B, L, D), (h, w), k = grid.shape, self.grid_shape, self.config.smooth
        image = grid.transpose(1, 2).reshape(B, D, h, w)
        pooled = F.avg_pool2d(image, k, stride=1, padding=k // 2, count_include_pad=False)
        return pooled.reshape(B, D, L).transpose(1, 2)

    def step_with_attention(
        self, tokens: Tensor, state: CaptionState, how: str | None = None, expected: Tensor | None = None
    ) -> tuple[Tensor, CaptionState, Tensor | None, Tensor | None, Tensor | None]:
        """One step: previous words (N,) -> logits (N, V), state, α (N, L), log α[s] (N,), H[α] (N,).

        `how` picks the context: "soft" (Σ α a), "sample" (a_s, s ~ α; rows where `expected` (N,) is
        True use Σ α a instead) or "argmax" (a at the most probable location). The default is the
        mode's decoding choice: soft for soft, argmax for hard.
        """
        x = self.dropout(self.embedding(tokens))  # (N, E)
        if self.mode == "init":
            hidden = self.cell(x, state.hidden)
            h = hidden[0] if self.is_lstm else hidden  # (N, H)
            return self.out(self.dropout(h)), CaptionState(hidden, None, None), None, None, None
        how = how or ("soft" if self.mode == "soft" else "argmax")
        h_prev = state.hidden[0] if self.is_lstm else state.hidden  # (N, H)
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
        parts = [x, z] if self.config.context_in_cell else [x]
        if self.config.where_in_cell:  # where it looked, (N, 2): the centre of α_t on the grid
            parts.append(alpha @ self.centres.to(alpha.dtype))
        hidden = self.cell(torch.cat(parts, dim=1) if len(parts) > 1 else x, state.hidden)
        h = hidden[0] if self.is_lstm else hidden  # (N, H)
        deep = torch.tanh(x + self.out_h(h) + self.out_z(z))  # (N, E)
        logits = self.out(self.dropout(deep))  # (N, V)
        return logits, CaptionState(hidden, a, state.keys), alpha, log_pick, entropy

    def step(self, tokens: Tensor, state: CaptionState) -> tuple[Tensor, CaptionState]:
        """`rnnlab.generate`'s step function: tokens (N,) -> (logits (N, V), state)."""
        logits, state, *_ = self.step_with_attention(tokens, state)
        return logits, state

    def forward(self, grid: Tensor, captions_in: Tensor, how: str | None = None) -> CaptionOutput:
        """Teacher forcing: annotations (B, L, D), captions_in (B, T) starting with <START> -> outputs.

        Hard attention samples locations in training mode (how="sample") and takes the argmax in
        evaluation mode, unless `how` says otherwise.
        """
        B, T = captions_in.shape
        if how is None and self.mode == "hard":
            how = "sample" if self.training else "argmax"
        expected = sampled = None
        if how == "sample":
            # the paper: with probability 0.5 an image uses the expected context (soft) this time
            expected = torch.rand(B, device=grid.device) < self.config.expected_prob  # (B,)
            sampled = ~expected
        state = self.init_state(grid)
        logits, weights, picks, entropies = [], [], [], []
        for t in range(T):
            step_logits, state, alpha, log_pick, entropy = self.step_with_attention(
                captions_in[:, t], state, how, expected
            )
            logits.append(step_logits)
            weights.append(alpha)
            picks.append(log_pick)
            entropies.append(entropy)
        stack = lambda xs: None if xs[0] is None else torch.stack(xs, dim=1)
        return CaptionOutput(stack(logits), stack(weights), stack(picks), stack(entropies), sampled)

    # ---- losses -------------------------------------------------------------------------------

    def token_nll(
        self, grid: Tensor, captions: Tensor, how: str | None = None
    ) -> tuple[Tensor, Tensor, CaptionOutput]:
        """captions (B, T + 1) from <START>, padded with <NULL> -> (−log p per word (B, T), mask, output).

        Inputs are words 0..T−1, targets words 1..T (the next word); padding positions are 0 in the
        returned −log p and False in the mask (B, T).
        """
        captions_in, captions_out = captions[:, :-1], captions[:, 1:]  # (B, T), (B, T)
        mask = captions_out != NULL_ID  # (B, T)
        out = self(grid, captions_in, how)
        nll = F.cross_entropy(
            out.logits.reshape(-1, self.vocab_size), captions_out.reshape(-1), reduction="none"
        ).view(captions_out.shape)  # (B, T)
        return nll * mask, mask, out

    def loss(self, grid: Tensor, captions: Tensor) -> tuple[Tensor, dict]:
        """The training objective of the mode, per caption word; and its parts as floats.

        soft: mean −log p + λ Σ_b Σ_l (1 − Σ_t α_btl)² / words (+ λ_H mean_t H[α_t]); hard
        (training): + the REINFORCE surrogate and the entropy bonus (see the module docstring); init:
        mean −log p.
        """
        nll, mask, out = self.token_nll(grid, captions)
        words = mask.sum().clamp_min(1)
        loss = nll.sum() / words
        parts = {"nll": float(loss.detach())}
        if out.weights is not None and self.mode == "soft" and self.config.doubly_stochastic:
            coverage = (out.weights * mask[:, :, None]).sum(1)  # (B, L) Σ_t α_tl
            penalty = ((1.0 - coverage) ** 2).sum() / words
            loss = loss + self.config.doubly_stochastic * penalty
            parts["doubly_stochastic"] = float(penalty.detach())
        if out.weights is not None and self.mode == "soft" and self.config.attention_entropy:
            alpha = out.weights  # (B, T, L)
            entropy = -(alpha * alpha.clamp_min(1e-12).log()).sum(2)  # (B, T) H[α_t]
            sharpness = (entropy * mask).sum() / words
            loss = loss + self.config.attention_entropy * sharpness
            parts["attention_entropy"] = float(sharpness.detach())
        if out.log_pick is not None:
            with torch.no_grad():
                # reward: the caption's mean log-likelihood per word given the sampled locations
                reward = -(nll.sum(1) / mask.sum(1).clamp_min(1))  # (B,)
                sampled = out.sampled  # (B,)
                if sampled.any():
                    if not bool(self.baseline_ready):
                        self.reward_baseline.fill_(reward[sampled].mean())
                        self.baseline_ready.fill_(1.0)
                    advantage = (reward - self.reward_baseline) * sampled  # (B,) 0 for expected rows
                    decay = self.config.baseline_decay
                    self.reward_baseline.mul_(decay).add_((1 - decay) * reward[sampled].mean())
                else:
                    advantage = torch.zeros_like(reward)
            reinforce = -(advantage[:, None] * out.log_pick * mask).sum() / words
            bonus = (out.entropy * mask * sampled[:, None]).sum() / words
            loss = loss + self.config.reinforce * reinforce - self.config.entropy * bonus
            parts.update(
                reinforce=float(reinforce.detach()),
                entropy=float(bonus.detach()),
                baseline=float(self.reward_baseline),
            )
        return loss, parts


# ---- pretrained encoders ---------------------------------------------------------------------


def load_pretrained_encoder(path: str, image_shape: tuple[int, int, int]) -> CNNEncoder:
    """A trained CNN encoder (run folder or encoder folder) made to read `image_shape` images.

    Convolutions read any image size, so an encoder trained on 28×28 items reads 64×64 scenes; only
    its input statistics must carry over, which works when they are per channel (center "channel" or
    "none"). A different number of channels, or per-pixel statistics of another size, is an error.
    """
    encoder = CNNEncoder.load(path)
    C, H, W = encoder.image_shape
    if C != image_shape[0]:
        raise UserError(
            f"the encoder in {path} reads {C}-channel images, these images have {image_shape[0]} "
            "channels; train an encoder on images like these."
        )
    if (C, H, W) == tuple(image_shape):
        return encoder
    state = encoder.state_dict()
    per_pixel = any(
        not torch.allclose(state[name].reshape(C, -1), state[name].reshape(C, -1)[:, :1].expand(C, H * W))
        for name in ("input.mean", "input.std")
    )
    if per_pixel:
        raise UserError(
            f"the encoder in {path} normalises each pixel of {H}×{W} images; it cannot read "
            f"{image_shape[1]}×{image_shape[2]} images. Train it with data.center=channel."
        )
    resized = CNNEncoder(encoder.config, tuple(image_shape))
    target = resized.state_dict()
    for name in ("input.mean", "input.std"):
        per_channel = state[name].reshape(C, -1)[:, :1]  # (C, 1): the same value at every pixel
        state[name] = per_channel.reshape(C, 1, 1).expand(target[name].shape).clone()
    resized.load_state_dict(state)
    return resized.eval()
