"""Resumable batchers: which examples each step reads, as a function of (seed, epoch, position).

    LengthPooledBatcher   example tasks (classify, tag, seq2seq, caption): shuffled, and batched among
                          examples of similar length so little is padding
    ShuffledBatcher       images: a random permutation per epoch, the last incomplete batch dropped
    (the language model's StreamBatcher, B contiguous streams, is in rnnlab.data.streams)

Each exposes next_batch(), state_dict(), load_state_dict(state) and steps_per_epoch; the state is a
position, so a checkpoint resumes the very same sequence of batches.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..errors import UserError


class LengthPooledBatcher:
    """Shuffled batches of example indices, epoch after epoch, with a resumable position.

    Each epoch's order depends only on (seed, epoch): a permutation, cut into pools of 50 batches,
    each pool sorted by length and cut into batches, and the batches shuffled. Similar lengths in a
    batch waste little time on padding, while the order stays random from batch to batch.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int, pool: int = 50) -> None:
        if not lengths:
            raise UserError("there are no training examples.")
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.pool = pool
        self.epoch = 0
        self.position = 0
        self._batches = self._epoch_batches(0)

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.lengths))
        batches = []
        span = self.batch_size * self.pool
        for start in range(0, len(order), span):
            chunk = order[start : start + span]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    @property
    def steps_per_epoch(self) -> int:
        return len(self._batches)

    def next_batch(self) -> np.ndarray:
        if self.position >= len(self._batches):
            self.epoch, self.position = self.epoch + 1, 0
            self._batches = self._epoch_batches(self.epoch)
        batch = self._batches[self.position]
        self.position += 1
        return batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._batches = self._epoch_batches(self.epoch)


class ShuffledBatcher:
    """Shuffled minibatch indices, epoch after epoch, resumable.

    Each epoch's order is `randperm` under a generator seeded with (seed, epoch), so the position
    (epoch, index) is the whole state. The last incomplete batch of an epoch is dropped (a batch of a
    few images would give batch norm noisy statistics), unless the set is smaller than one batch.
    """

    def __init__(self, size: int, batch_size: int, seed: int) -> None:
        self.size, self.batch_size, self.seed = size, min(batch_size, size), seed
        self.steps_per_epoch = max(1, size // self.batch_size)
        self.epoch, self.position = 0, 0
        self._order: Tensor | None = None

    def _epoch_order(self) -> Tensor:
        if self._order is None:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            self._order = torch.randperm(self.size, generator=generator)
        return self._order

    def next_batch(self) -> Tensor:
        if self.position >= self.steps_per_epoch:
            self.epoch, self.position, self._order = self.epoch + 1, 0, None
        start = self.position * self.batch_size
        self.position += 1
        return self._epoch_order()[start : start + self.batch_size]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position, self._order = int(state["epoch"]), int(state["position"]), None
