"""TBPTT token streams: layout, shift, contiguity, wrap, resume, ranks, evaluation order."""

import json

import numpy as np
import pytest
import torch

from rnnlab.data.text.streams import StreamBatcher
from rnnlab.errors import UserError

N = 1003  # not a multiple of anything used below, so the dropped remainder is exercised
TOKENS = (np.arange(N) % 251).astype(np.uint8)  # distinct enough to recognise positions


def streams(tokens: np.ndarray, num_streams: int) -> np.ndarray:
    """The reference layout: num_streams contiguous rows of equal length."""
    length = len(tokens) // num_streams
    return tokens[: num_streams * length].reshape(num_streams, length).astype(np.int64)


def test_shapes_dtype_and_shift_by_one():
    batcher = StreamBatcher(TOKENS, batch_size=4, seq_len=10)
    x, y, reset = batcher.next_batch()
    assert x.shape == y.shape == (4, 10) and x.dtype == y.dtype == torch.long
    assert reset is True
    assert torch.equal(x[:, 1:], y[:, :-1])
    rows = streams(TOKENS, 4)
    assert torch.equal(x, torch.from_numpy(rows[:, :10]))
    assert torch.equal(y, torch.from_numpy(rows[:, 1:11]))
    assert x.is_contiguous() and y.is_contiguous()  # so that y.view(-1) works


def test_streams_are_contiguous_across_batches():
    batcher = StreamBatcher(TOKENS, batch_size=3, seq_len=7)
    batches = [batcher.next_batch() for _ in range(batcher.chunks_per_epoch)]
    for (_, y, _), (next_x, _, reset) in zip(batches, batches[1:]):
        assert torch.equal(next_x[:, 0], y[:, -1])  # the last target is the next batch's first input
        assert not reset  # so the hidden state is carried over
    joined = torch.cat([x for x, _, _ in batches], dim=1)  # (B, chunks * T)
    assert torch.equal(joined, torch.from_numpy(streams(TOKENS, 3)[:, : joined.shape[1]]))


def test_wrap_resets_and_counts_epochs():
    batcher = StreamBatcher(TOKENS, batch_size=4, seq_len=10)
    length = N // 4  # 250 tokens per stream
    assert batcher.stream_length == length
    assert batcher.chunks_per_epoch == (length - 1) // 10 == 24
    first_x, _, _ = batcher.next_batch()
    for _ in range(batcher.chunks_per_epoch - 1):
        _, _, reset = batcher.next_batch()
        assert not reset
    assert batcher.epoch == 1 and batcher.position == 0
    x, _, reset = batcher.next_batch()
    assert reset and torch.equal(x, first_x)
    assert batcher.chunk_index == 1


def test_exact_fit_uses_the_last_window():
    # L = 21, T = 10: windows [0, 11) and [10, 21) both fit exactly.
    batcher = StreamBatcher(np.arange(42), batch_size=2, seq_len=10)
    assert batcher.chunks_per_epoch == 2
    batcher.next_batch()
    _, y, _ = batcher.next_batch()
    assert y[0, -1].item() == 20 and batcher.epoch == 1


def test_state_dict_round_trip_continues_identically():
    batcher = StreamBatcher(TOKENS, batch_size=4, seq_len=9)
    for _ in range(30):  # past one wrap
        batcher.next_batch()
    state = json.loads(json.dumps(batcher.state_dict()))  # JSON-able
    expected = [batcher.next_batch() for _ in range(40)]
    resumed = StreamBatcher(TOKENS, batch_size=4, seq_len=9)
    resumed.load_state_dict(state)
    assert resumed.epoch == state["epoch"] == 1
    for x, y, reset in expected:
        rx, ry, rreset = resumed.next_batch()
        assert torch.equal(x, rx) and torch.equal(y, ry) and reset == rreset
    assert resumed.state_dict() == batcher.state_dict()


def test_load_state_dict_rejects_other_sizes():
    state = StreamBatcher(TOKENS, batch_size=4, seq_len=9).state_dict()
    with pytest.raises(UserError, match="same --data, --batch-size and --seq-len"):
        StreamBatcher(TOKENS, batch_size=4, seq_len=8).load_state_dict(state)
    with pytest.raises(UserError, match="same --data"):
        StreamBatcher(TOKENS[:-1], batch_size=4, seq_len=9).load_state_dict(state)
    with pytest.raises(UserError, match="does not fit"):
        StreamBatcher(TOKENS, batch_size=4, seq_len=9).load_state_dict({**state, "position": 5})


def test_ranks_read_disjoint_streams_that_together_equal_one_process():
    batch_size, world_size, seq_len = 2, 3, 5
    single = StreamBatcher(TOKENS, batch_size=batch_size * world_size, seq_len=seq_len)
    ranks = [
        StreamBatcher(TOKENS, batch_size, seq_len, rank=r, world_size=world_size) for r in range(world_size)
    ]
    assert all(r.chunks_per_epoch == single.chunks_per_epoch for r in ranks)
    for _ in range(single.chunks_per_epoch + 2):
        x, y, reset = single.next_batch()
        parts = [r.next_batch() for r in ranks]
        assert torch.equal(torch.cat([p[0] for p in parts]), x)
        assert torch.equal(torch.cat([p[1] for p in parts]), y)
        assert all(p[2] == reset for p in parts)
    starts = [set(r.rows[:, 0].tolist()) for r in ranks]
    assert not (starts[0] & starts[1]) and not (starts[1] & starts[2])
    with pytest.raises(UserError, match="rank must be between 0 and 2"):
        StreamBatcher(TOKENS, batch_size, seq_len, rank=3, world_size=world_size)


def test_too_short_for_one_batch():
    with pytest.raises(UserError) as error:
        StreamBatcher(np.arange(100), batch_size=10, seq_len=10)
    assert str(error.value) == (
        "The training text has 100 tokens, too few for one batch of 10 streams × 11 tokens; "
        "use a smaller --batch-size or --seq-len, or more text."
    )
    with pytest.raises(UserError, match="--batch-size must be a positive whole number"):
        StreamBatcher(TOKENS, batch_size=0, seq_len=10)


def test_reads_from_memmap(tmp_path):
    path = tmp_path / "train.bin"
    TOKENS.tofile(path)
    mapped = np.memmap(path, dtype=np.uint8, mode="r")
    x, y, _ = StreamBatcher(mapped, batch_size=4, seq_len=10).next_batch()
    expected, _, _ = StreamBatcher(TOKENS, batch_size=4, seq_len=10).next_batch()
    assert torch.equal(x, expected) and x.dtype == torch.long


def test_sizes_are_checked_with_the_flag_they_come_from():
    for kwargs, message in [
        ({"batch_size": 0}, "--batch-size must be a positive whole number, not 0."),
        ({"batch_size": True}, "--batch-size must be a positive whole number, not True."),
        ({"batch_size": 2.0}, "--batch-size must be a positive whole number, not 2.0."),
        ({"seq_len": -1}, "--seq-len must be a positive whole number, not -1."),
        ({"world_size": 0}, "world_size must be a positive whole number, not 0."),
        ({"rank": 2, "world_size": 2}, "rank must be between 0 and 1, not 2."),
        ({"rank": True, "world_size": 2}, "rank must be between 0 and 1, not True."),
        ({"rank": 0.0}, "rank must be between 0 and 0, not 0.0."),
    ]:
        with pytest.raises(UserError) as error:
            StreamBatcher(TOKENS, **{"batch_size": 2, "seq_len": 5, **kwargs})
        assert str(error.value) == message
    # numpy integers are whole numbers too
    assert StreamBatcher(TOKENS, np.int64(2), np.int32(5), rank=np.int64(1), world_size=2).rank == 1
    with pytest.raises(ValueError, match=r"tokens must be 1-D, got shape \(1, 1003\)"):
        StreamBatcher(TOKENS[None], 2, 5)


def test_a_list_of_ids_reads_like_an_array():
    a, b = StreamBatcher(TOKENS.tolist(), 3, 7), StreamBatcher(TOKENS, 3, 7)
    for _ in range(5):
        (xa, ya, ra), (xb, yb, rb) = a.next_batch(), b.next_batch()
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and ra == rb


def test_the_shortest_streams_hold_one_window():
    # L = T + 1 is just enough: one batch per epoch, every batch a reset
    batcher = StreamBatcher(np.arange(12), batch_size=2, seq_len=5)  # L = 6
    assert batcher.chunks_per_epoch == 1
    assert [batcher.next_batch()[2] for _ in range(3)] == [True, True, True] and batcher.epoch == 3
    with pytest.raises(UserError, match="too few for one batch of 2 streams × 6 tokens"):
        StreamBatcher(np.arange(11), batch_size=2, seq_len=5)  # L = 5


def test_state_dict_holds_the_sizes_and_checks_each():
    batcher = StreamBatcher(TOKENS, 2, 5, rank=1, world_size=2)
    batcher.next_batch()
    assert batcher.state_dict() == {"position": 5, "epoch": 0, "batch_size": 2, "seq_len": 5, "rank": 1,
                                    "world_size": 2, "num_tokens": N, "stream_length": N // 4}
    for key, value in [("batch_size", 3), ("seq_len", 4), ("world_size", 1), ("num_tokens", 7)]:
        fresh = StreamBatcher(TOKENS, 2, 5, rank=1, world_size=2)
        with pytest.raises(UserError, match=f"taken with {key}={value} but this run has {key}="):
            fresh.load_state_dict({**batcher.state_dict(), key: value})


def test_load_state_dict_accepts_every_position_that_fits_and_no_other():
    batcher = StreamBatcher(np.arange(42), batch_size=2, seq_len=5)  # L = 21: windows 0, 5, 10, 15 (the
    # last one ends exactly at L)
    with pytest.raises(UserError) as error:
        batcher.load_state_dict({"epoch": 0})
    assert str(error.value) == "The checkpoint's data stream state is incomplete; start a new run."
    for position in (0, 5, 10, 15):
        batcher.load_state_dict({"position": position, "epoch": 0})
        assert batcher.position == position
    for position, epoch in [(-5, 0), (3, 0), (20, 0), (0, -1)]:
        with pytest.raises(UserError, match=f"position {position} does not fit this data"):
            batcher.load_state_dict({"position": position, "epoch": epoch})
    longer = StreamBatcher(np.arange(48), batch_size=2, seq_len=5)  # L = 24: 20 + 6 > 24 still
    with pytest.raises(UserError, match="position 20 does not fit this data"):
        longer.load_state_dict({"position": 20, "epoch": 0})
    batcher.load_state_dict({"position": 15, "epoch": 4})
    batcher.next_batch()
    assert (batcher.position, batcher.epoch) == (0, 5)  # the last window wraps and counts the epoch
