"""The captioner's decoders, one module each; `model.decoder` names one, `model.<section>` sets it.

    show-tell  show_tell.py  Show and Tell: the image sets h_0 (CS231n's CaptioningRNN)
    soft       soft.py       Show, Attend and Tell, deterministic attention (the default)
    hard       hard.py       Show, Attend and Tell, stochastic attention trained with REINFORCE
    where      where.py      soft attention; the cell reads where it looked, not what it saw
    look       look.py       `where` made to look: learned h_0, a smoothed grid, an entropy prior

base.py holds what they share: the word embedding, the cell, the step interface of
`rnnlab.generate` and `CaptionState` / `reorder_caption_state`.
"""

from __future__ import annotations

from .base import (
    END_ID,
    NULL_ID,
    START_ID,
    CaptionOutput,
    CaptionState,
    Decoder,
    DecoderShape,
    reorder_caption_state,
)
from .hard import HardConfig, HardDecoder
from .look import LookConfig, LookDecoder
from .show_tell import ShowTellConfig, ShowTellDecoder
from .soft import AttentionConfig, AttentionDecoder, SoftConfig, SoftDecoder
from .where import WhereConfig, WhereDecoder

#: decoder name -> its class; `DECODERS[name].Config` is its section, `model.<Config.section>`
DECODERS: dict[str, type[Decoder]] = {
    "show-tell": ShowTellDecoder,
    "soft": SoftDecoder,
    "hard": HardDecoder,
    "where": WhereDecoder,
    "look": LookDecoder,
}

__all__ = [
    "DECODERS",
    "END_ID",
    "NULL_ID",
    "START_ID",
    "AttentionConfig",
    "AttentionDecoder",
    "CaptionOutput",
    "CaptionState",
    "Decoder",
    "DecoderShape",
    "HardConfig",
    "HardDecoder",
    "LookConfig",
    "LookDecoder",
    "ShowTellConfig",
    "ShowTellDecoder",
    "SoftConfig",
    "SoftDecoder",
    "WhereConfig",
    "WhereDecoder",
    "reorder_caption_state",
]
