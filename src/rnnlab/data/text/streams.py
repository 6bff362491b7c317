"""Token streams for truncated backpropagation through time (TBPTT).

Letters: N tokens in the split, S = B * W streams (B per process, W processes), L stream length,
T truncation length (seq_len).

The split is cut into S contiguous streams of equal length L = N // S (the last N - S*L tokens are
dropped). Row s of the (S, L) view is tokens[s*L : (s+1)*L]. Process `rank` owns rows
rank*B ... (rank+1)*B - 1. Each batch is the window [p, p+T+1) of its rows: x = window[:, :T],
y = window[:, 1:], so y is x shifted by one token. The next batch starts at p + T, exactly where x
ended, which is why the hidden state may be carried from one batch to the next: row b of batch k+1
continues the text of row b of batch k. When fewer than T+1 tokens remain, the streams wrap to 0,
`epoch` grows by one, and that batch is flagged `reset` so the trainer starts from a zero state.

    stream 0: |  x0  |  x1  |  x2  |...      each |..| is T tokens; y is the same window shifted by 1
    stream 1: |  x0  |  x1  |  x2  |...
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from rnnlab.errors import UserError


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise UserError(f"{name} must be a positive whole number, not {value!r}.")
    return int(value)


def _too_short(what: str, num_tokens: int, streams: int, window: int) -> UserError:
    return UserError(
        f"The {what} text has {num_tokens} tokens, too few for one batch of {streams} streams × {window} "
        "tokens; use a smaller --batch-size or --seq-len, or more text."
    )


def _window(rows: np.ndarray, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x, y of shape (B, stop-start-1) from rows[:, start:stop], with one cast to int64."""
    # np.array(..., dtype) gathers the B strided slices (from a memmap: reads only those bytes) and casts
    # in one copy; torch.from_numpy then shares that buffer.
    window = torch.from_numpy(np.array(rows[:, start:stop], dtype=np.int64))  # (B, t+1)
    # contiguous() so that callers may .view(-1) the targets; the copies are B*t int64, negligible.
    return window[:, :-1].contiguous(), window[:, 1:].contiguous()  # (B, t), (B, t)


class StreamBatcher:
    """Endless TBPTT batches over one split, resumable exactly from `state_dict`.

    Args:
        tokens: 1-D array of token ids (an `np.memmap` from `TokenCorpus.split` is fine; nothing is
            copied besides each batch).
        batch_size: B, streams read by this process.
        seq_len: T, time steps per batch.
        rank, world_size: this process's index and the number of processes; each reads its own
            B streams, disjoint from the others'.
        what: how error messages call the split ("training", "validation").

    Attributes:
        position: start of the next batch within each stream (a multiple of T).
        epoch: number of completed passes over the streams.
    """

    def __init__(
        self,
        tokens: np.ndarray,
        batch_size: int,
        seq_len: int,
        rank: int = 0,
        world_size: int = 1,
        what: str = "training",
    ) -> None:
        tokens = np.asarray(tokens) if not isinstance(tokens, np.ndarray) else tokens
        if tokens.ndim != 1:
            raise ValueError(f"tokens must be 1-D, got shape {tokens.shape}")
        self.batch_size = _positive_int(batch_size, "--batch-size")
        self.seq_len = _positive_int(seq_len, "--seq-len")
        self.world_size = _positive_int(world_size, "world_size")
        if (
            isinstance(rank, bool)
            or not isinstance(rank, (int, np.integer))
            or not 0 <= rank < self.world_size
        ):
            raise UserError(f"rank must be between 0 and {self.world_size - 1}, not {rank!r}.")
        self.rank = int(rank)
        self.num_tokens = len(tokens)
        num_streams = self.batch_size * self.world_size
        self.stream_length = self.num_tokens // num_streams  # L
        if self.stream_length < self.seq_len + 1:
            raise _too_short(what, self.num_tokens, num_streams, self.seq_len + 1)
        streams = tokens[: num_streams * self.stream_length].reshape(
            num_streams, self.stream_length
        )  # (S, L)
        self.rows = streams[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]  # (B, L), a view
        self.position = 0
        self.epoch = 0

    @property
    def chunks_per_epoch(self) -> int:
        """Batches per pass over the streams: windows [p, p+T+1) with p = 0, T, 2T, ... that fit in L."""
        return (self.stream_length - 1) // self.seq_len

    @property
    def chunk_index(self) -> int:
        """Index of the next batch within the current epoch, 0 .. chunks_per_epoch - 1."""
        return self.position // self.seq_len

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """The next (x, y, reset).

        Returns:
            x: (B, T) int64 input ids.
            y: (B, T) int64 target ids, x shifted left by one token.
            reset: True on the first batch of every epoch (the very first batch included): the
                streams restarted from their beginnings, so the carried hidden state must be zeroed.
        """
        start = self.position
        x, y = _window(self.rows, start, start + self.seq_len + 1)
        reset = start == 0
        self.position = start + self.seq_len
        if self.stream_length - self.position < self.seq_len + 1:  # no full window left: wrap
            self.position = 0
            self.epoch += 1
        return x, y, reset

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, bool]]:
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict:
        """JSON-able state: the position and epoch, plus the sizes that must match on resume."""
        return {
            "position": self.position,
            "epoch": self.epoch,
            "batch_size": self.batch_size,
            "seq_len": self.seq_len,
            "rank": self.rank,
            "world_size": self.world_size,
            "num_tokens": self.num_tokens,
            "stream_length": self.stream_length,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue exactly where `state_dict` was taken; `UserError` if the data or sizes differ."""
        for key in ("batch_size", "seq_len", "world_size", "num_tokens"):
            if key in state and state[key] != getattr(self, key):
                raise UserError(
                    f"The checkpoint was taken with {key}={state[key]} but this run has {key}="
                    f"{getattr(self, key)}; resume with the same --data, --batch-size and --seq-len."
                )
        try:
            position, epoch = int(state["position"]), int(state["epoch"])
        except (KeyError, TypeError, ValueError):
            raise UserError("The checkpoint's data stream state is incomplete; start a new run.") from None
        if (
            position < 0
            or position % self.seq_len
            or position + self.seq_len + 1 > self.stream_length
            or epoch < 0
        ):
            raise UserError(
                f"The checkpoint's data stream position {position} does not fit this data; start a new run."
            )
        self.position, self.epoch = position, epoch
