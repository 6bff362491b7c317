"""One-to-many: an image in, a caption out. An encoder, then one of the named decoders.

Letters: B batch, T caption length, L image locations, D annotation (feature) size, E word-vector
size, H hidden size, A attention size, V vocabulary.

Encoder: the rnnlab CNN (`rnnlab.models.cnn.CNNEncoder`, trained with the captioner or loaded from an
image run, frozen or fine-tuned) gives a grid of annotation vectors a_1 .. a_L (B, L, D); or they
come precomputed from a file, (N, D) vectors (L = 1) or (N, L, D) grids, as the CS231n assignment's
VGG features do.

Decoder (`model.decoder`, one module each in `rnnlab.models.decoders`, where the equations are; all
teacher-forced in training, with any cell, rnn / lstm / gru):

    show-tell  Show and Tell: the image sets h_0 (CS231n's CaptioningRNN)   section model.show_tell
    soft       Show, Attend and Tell, deterministic attention (the default)  section model.soft
    hard       Show, Attend and Tell, stochastic attention, REINFORCE       section model.hard
    where      soft attention; the cell reads where it looked, not what     section model.where
    look       `where` made to look: learned h_0, smoothed grid, entropy    section model.look

Each decoder reads only its own section (`model.soft.gate`, `model.hard.reinforce`, …); the keys that
all share (cell, embedding, hidden, attention_size, dropout) stay in `model`. Configurations written
before the decoders had names (`model.mode` soft | hard | init and a flat list of booleans) are read
through `upgrade`, and their checkpoints through `Captioner.load_state_dict`.

Decoding goes through `step(tokens, state)`, the interface of `rnnlab.generate` (greedy, sampling,
batched beam search), with `reorder_caption_state` for beam search.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from ..nn import canonical_cell_name
from .cnn import CNNConfig, CNNEncoder, frozen_blocks
from .decoders import (
    DECODERS,
    END_ID,
    NULL_ID,
    START_ID,
    CaptionOutput,
    CaptionState,
    DecoderShape,
    HardConfig,
    LookConfig,
    ShowTellConfig,
    SoftConfig,
    WhereConfig,
    reorder_caption_state,
)

__all__ = [
    "DECODERS",
    "END_ID",
    "NULL_ID",
    "START_ID",
    "CaptionEncoderConfig",
    "CaptionOutput",
    "CaptionState",
    "Captioner",
    "CaptionerConfig",
    "load_pretrained_encoder",
    "reorder_caption_state",
    "upgrade",
]

ENCODERS = ("cnn", "features")


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


# ---- configurations before the decoders had names ------------------------------------------------

#: the flat keys of the old model section and their defaults then
OLD_KEYS = {
    "mode": "soft",
    "gate": True,
    "positions": True,
    "coordinates": False,
    "smooth": 1,
    "context_in_cell": True,
    "where_in_cell": False,
    "image_h0": True,
    "image_vector": "mean",
    "doubly_stochastic": 1.0,
    "attention_entropy": 0.0,
    "reinforce": 1.0,
    "entropy": 0.01,
    "baseline_decay": 0.9,
    "expected_prob": 0.5,
}
OLD_MODES = {"init": "show-tell", "soft": "soft", "hard": "hard"}
_ATTENTION_KEYS = (
    "gate", "positions", "coordinates", "smooth", "context_in_cell", "where_in_cell", "image_h0"
)
_SECTION_KEYS = {
    "show-tell": ("image_vector",),
    "soft": (*_ATTENTION_KEYS, "doubly_stochastic", "attention_entropy"),
    "hard": (*_ATTENTION_KEYS, "reinforce", "entropy", "baseline_decay", "expected_prob"),
}
_WHERE = {"context_in_cell": False, "where_in_cell": True, "coordinates": True}
_LOOK = {**_WHERE, "image_h0": False, "smooth": 3, "attention_entropy": 0.02}


def upgrade(values: dict) -> dict:
    """An old model section (`mode` soft | hard | init and flat keys) in today's layout.

    mode init becomes `show-tell`, hard `hard`, soft `soft`, except the two wirings that the benchmark
    named: context_in_cell false, where_in_cell true and coordinates true is `where`, and that with
    image_h0 false, smooth 3 and attention_entropy 0.02 is `look`. Every key the old mode read goes into
    the decoder's section (absent keys with their old defaults, so the model is the same whatever the
    new defaults); keys the old mode ignored (a loss weight of another mode) are dropped, as it dropped
    them. A section already in today's layout passes unchanged. Raises UserError for an unknown mode and
    for contradictions: attention keys set with mode init, image_vector=flatten with attention, or a
    `decoder` (or section key) that says otherwise than the old keys.
    """
    if not isinstance(values, dict) or not set(values) & set(OLD_KEYS):
        return values
    new = {key: value for key, value in values.items() if key not in OLD_KEYS}
    old = {key: values.get(key, default) for key, default in OLD_KEYS.items()}
    mode = old["mode"]
    if mode not in OLD_MODES:
        raise UserError(
            f"model.mode={mode!r} (an old configuration) is not soft, hard or init; set model.decoder "
            "to show-tell, soft, hard, where or look instead."
        )
    name = OLD_MODES[mode]
    if name == "show-tell":
        given = [k for k in _ATTENTION_KEYS if k in values and values[k] != OLD_KEYS[k]]
        if given:
            raise UserError(
                f"the old configuration sets model.mode=init and model.{given[0]}={values[given[0]]!r}, "
                "which only an attention decoder reads; drop one of them."
            )
    elif old["image_vector"] != "mean":
        raise UserError(
            f"the old configuration sets model.mode={mode} and model.image_vector={old['image_vector']!r}, "
            "which only mode init (show-tell) reads; drop one of them."
        )
    section = {key: old[key] for key in _SECTION_KEYS[name]}
    if name == "soft" and all(section[k] == v for k, v in _WHERE.items()):
        name = "look" if all(section[k] == v for k, v in _LOOK.items()) else "where"
    if new.get("decoder", name) != name:
        raise UserError(
            f"model.decoder={new['decoder']!r} contradicts the old keys of the same section "
            f"(model.mode={mode}: decoder {name}); keep model.decoder and its section only."
        )
    key = DECODERS[name].Config.section
    given_section = new.get(key) if isinstance(new.get(key), dict) else {}
    for k, value in given_section.items():
        if k in section and section[k] != value:
            raise UserError(
                f"model.{key}.{k}={value!r} contradicts the old key model.{k}={section[k]!r}; keep one."
            )
    new.update({"decoder": name, key: {**given_section, **section}})
    return new


# ---- the model section ---------------------------------------------------------------------------


@dataclass
class CaptionerConfig:
    decoder: str = "soft"  # show-tell | soft | hard | where | look (rnnlab.models.decoders)
    cell: str = "lstm"  # rnn | rnn-relu | lstm | lstm-peephole | gru | gru-cho
    embedding: int = 128  # E
    hidden: int = 256  # H
    attention_size: int = 128  # A (the attention decoders)
    dropout: float = 0.2  # on word vectors and before the output layer
    # one section per decoder; only model.decoder's is read
    show_tell: ShowTellConfig = field(default_factory=ShowTellConfig)
    soft: SoftConfig = field(default_factory=SoftConfig)
    hard: HardConfig = field(default_factory=HardConfig)
    where: WhereConfig = field(default_factory=WhereConfig)
    look: LookConfig = field(default_factory=LookConfig)
    encoder: CaptionEncoderConfig = field(default_factory=CaptionEncoderConfig)

    #: `rnnlab.train.config.from_dict` reads older model sections through this
    upgrade_values = staticmethod(upgrade)

    def __post_init__(self) -> None:
        if self.decoder not in DECODERS:
            raise UserError(
                f"model.decoder must be one of {', '.join(DECODERS)} (got {self.decoder!r})."
            )
        try:
            self.cell = canonical_cell_name(self.cell)
        except ValueError as error:
            raise UserError(f"model.cell: {error}; pick one of rnn, lstm, gru (or a variant).") from None
        for name in ("embedding", "hidden", "attention_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"model.{name} must be a positive integer (got {value!r}).")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"model.dropout must be in [0, 1) (got {self.dropout!r}).")
        for decoder in DECODERS.values():
            section = decoder.Config.section
            if isinstance(getattr(self, section), dict):
                setattr(self, section, decoder.Config(**getattr(self, section)))
        if isinstance(self.encoder, dict):
            self.encoder = CaptionEncoderConfig(**self.encoder)

    @property
    def settings(self):
        """The section of `decoder` (a ShowTellConfig, SoftConfig, HardConfig, WhereConfig or LookConfig)."""
        return getattr(self, DECODERS[self.decoder].Config.section)


class Captioner(nn.Module):
    """Image (or precomputed features) -> caption word scores: `encoder`, then `decoder`.

    Args:
        vocab_size: V, with <NULL> = 0, <START> = 1, <END> = 2.
        config: the model settings.
        input_shape: (C, H, W) images for the CNN encoder; (D,) or (L, D) precomputed features.
    """

    def __init__(self, vocab_size: int, config: CaptionerConfig, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.config = config
        decoder_class = DECODERS[config.decoder]
        settings = config.settings
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
        if decoder_class.attends and L < 2:
            raise UserError(
                "attention needs a grid of L ≥ 2 locations; give (N, L, D) features, fewer CNN "
                "blocks, or use --decoder show-tell."
            )
        self.num_locations, self.feature_size = L, D
        self.vocab_size = vocab_size
        # p_l, the learned location embeddings that the attention decoders add to the grid (they start
        # at zero). They belong to the decoder's reading of the grid but are held here, a parameter of
        # the captioner itself: it keeps them first among the parameters, where the captioner before
        # the named decoders had them, so old optimizer states resume exactly.
        uses_positions = decoder_class.attends and settings.positions
        self.positions = nn.Parameter(torch.zeros(L, D)) if uses_positions else None
        shape = DecoderShape(
            vocab_size=vocab_size,
            num_locations=L,
            feature_size=D,
            grid_shape=tuple(self.grid_shape),
            cell=config.cell,
            embedding=config.embedding,
            hidden=config.hidden,
            attention_size=config.attention_size,
            dropout=config.dropout,
        )
        self.decoder = decoder_class(shape, settings)

    @property
    def decoder_name(self) -> str:
        """show-tell | soft | hard | where | look."""
        return self.decoder.name

    @property
    def attends(self) -> bool:
        """True when the decoder has attention weights α_t (every decoder but show-tell)."""
        return self.decoder.attends

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
        with `show_tell.image_vector: flatten` every annotation in order (B, L·D)."""
        return self.decoder.image_vector(grid)

    # ---- decoder ------------------------------------------------------------------------------

    def init_state(self, grid: Tensor) -> CaptionState:
        """Annotations (B, L, D) -> the decoder's state before the first word."""
        return self.decoder.init_state(grid, self.positions)

    def step_with_attention(self, tokens: Tensor, state: CaptionState, how: str | None = None,
                            expected: Tensor | None = None):
        """The decoder's step: tokens (N,) -> logits (N, V), state, α (N, L), log α[s] (N,), H[α] (N,)."""
        return self.decoder.step_with_attention(tokens, state, how, expected)

    def step(self, tokens: Tensor, state: CaptionState) -> tuple[Tensor, CaptionState]:
        """`rnnlab.generate`'s step function: tokens (N,) -> (logits (N, V), state)."""
        return self.decoder.step(tokens, state)

    def forward(self, grid: Tensor, captions_in: Tensor, how: str | None = None) -> CaptionOutput:
        """Teacher forcing: annotations (B, L, D), captions_in (B, T) starting with <START> -> outputs.

        Hard attention samples locations in training mode (how="sample") and takes the argmax in
        evaluation mode, unless `how` says otherwise.
        """
        return self.decoder(self.init_state(grid), captions_in, how)

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
        """The training objective, per caption word, and its parts as floats: mean −log p plus the
        decoder's own terms (soft, where, look: the doubly stochastic and entropy regularisers; hard, in
        training: the REINFORCE surrogate and the entropy bonus)."""
        nll, mask, out = self.token_nll(grid, captions)
        words = mask.sum().clamp_min(1)
        loss = nll.sum() / words
        parts = {"nll": float(loss.detach())}
        return self.decoder.penalties(loss, out, nll, mask, words, parts), parts

    # ---- checkpoints --------------------------------------------------------------------------

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """nn.Module's, reading checkpoints of the captioner before the named decoders too (whose
        decoder weights had no `decoder.` prefix; see `upgrade_state_dict`)."""
        return super().load_state_dict(self.upgrade_state_dict(state_dict), strict=strict, assign=assign)

    def upgrade_state_dict(self, state: dict) -> dict:
        """Weights named as the single-file captioner named them -> today's names (others unchanged).

        Its decoder's layers sat on the model itself (`embedding.weight`, `cell.weight_ih`, …): they
        move under `decoder.`; `encoder.*` and `positions` keep their names. It held the hard decoder's
        reward baseline (`reward_baseline`, `baseline_ready`) in every mode: kept by a hard decoder,
        dropped by the others, which never read it.
        """
        if any(key.startswith("decoder.") for key in state):
            return state
        own = set(self.state_dict())
        upgraded = {}
        for key, value in state.items():
            new = key if key == "positions" or key.startswith("encoder.") else f"decoder.{key}"
            if key in ("reward_baseline", "baseline_ready") and new not in own:
                continue
            upgraded[new] = value
        return upgraded


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
