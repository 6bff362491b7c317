"""`where`: soft attention whose cell remembers where it looked, not what it saw there.

The soft decoder (`rnnlab.models.decoders.soft`) with another wiring (a variant, not the paper), the
benchmark's `scenes-where` row (`WHERE` in benchmarks/captioning.py, formerly `scenes-soft-where`):

    a_l  ← [a_l + p_l ; x_l ; y_l]                    (B, L, D + 2)  coordinates = true
    z_t  = β_t Σ_l α_tl a_l                           (B, D + 2)
    w_t  = Σ_l α_tl (x_l, y_l)                        (B, 2)         the centre of the attention
    h_t  = cell([E y_{t-1} ; w_t], h_{t-1})           (B, H)         where_in_cell = true,
                                                                     context_in_cell = false
    p(y_t) = softmax(L_o tanh(E y_{t-1} + L_h h_t + L_z z_t))

The decoder remembers the layout (enough to plan the next item and the relations), but z_t reaches
only the output layer of its own step: to name an item it must look at it. Section `model.where`: the
soft decoder's keys, with context_in_cell = false, where_in_cell = true and coordinates = true as
defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .soft import SoftConfig, SoftDecoder


@dataclass
class WhereConfig(SoftConfig):
    """Section `model.where`: the soft keys, wired so that the cell reads where, not what."""

    section: ClassVar[str] = "where"
    coordinates: bool = True  # each location carries its fixed (x, y)
    context_in_cell: bool = False  # z_t reaches the output layer only
    where_in_cell: bool = True  # the cell reads Σ_l α_tl (x_l, y_l)


class WhereDecoder(SoftDecoder):
    """The soft decoder with the `where` wiring (see the module docstring)."""

    name = "where"
    Config: ClassVar[type] = WhereConfig
