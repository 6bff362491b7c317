"""`look`: the `where` decoder made to look at what it names.

The benchmark's `scenes-look` row (`LOOK` in benchmarks/captioning.py, formerly `scenes-soft-look`;
the row also sets model.dropout = 0.3): the `where` decoder (`rnnlab.models.decoders.where`) with
three more settings, none of which uses the ground-truth boxes:

    h_0  = tanh(b_init_h), c_0 = tanh(b_init_c)       image_h0 = false: one learned state for every
                                                      caption, so an item can be named only by
                                                      attending to it
    a_l  ← mean of the 3×3 block of locations around l   smooth = 3: the middle of an item shows the
                                                      whole item
    loss += λ_H mean_t H[α_t],  λ_H = 0.02            attention_entropy: a prior of one place per word

Section `model.look`: the soft decoder's keys with those defaults (and where's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .where import WhereConfig, WhereDecoder


@dataclass
class LookConfig(WhereConfig):
    """Section `model.look`: the `where` keys, with a learned h_0, a smoothed grid and sharp attention."""

    section: ClassVar[str] = "look"
    smooth: int = 3  # each a_l the mean of its 3×3 neighbourhood
    image_h0: bool = False  # every caption starts from one learned state
    attention_entropy: float = 0.02  # λ_H


class LookDecoder(WhereDecoder):
    """The `where` decoder with a learned h_0, a smoothed grid and an entropy prior."""

    name = "look"
    Config: ClassVar[type] = LookConfig
