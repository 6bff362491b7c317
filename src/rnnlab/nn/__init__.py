"""The recurrent core: cells (one time step), their gate layout, the sequence layer, initialisation, heads."""

from .cells import (
    CELLS,
    GRUCell,
    GRUChoCell,
    LSTMCell,
    PeepholeLSTMCell,
    RecurrentCell,
    RNNCell,
    canonical_cell_name,
    make_cell,
)
from .head import FeedForwardHead
from .init import init_cell, init_recurrent
from .recurrent import Recurrent, detach_state, lengths_to_mask, map_state, reverse_padded

__all__ = [
    "CELLS", "GRUCell", "GRUChoCell", "LSTMCell", "PeepholeLSTMCell", "RecurrentCell", "RNNCell",
    "canonical_cell_name", "make_cell", "FeedForwardHead", "init_cell", "init_recurrent",
    "Recurrent", "detach_state", "lengths_to_mask", "map_state", "reverse_padded",
]
