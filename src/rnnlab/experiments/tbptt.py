"""Truncated backprop through time: memory and speed against the truncation length k.

Letters: B batch, T truncation length k, N tokens per stream, H hidden size.

One pass over B streams of N tokens each with an LSTM language model, cut into chunks of k tokens:
forward a chunk from the carried state, backward through that chunk only, step the optimizer, detach
the state (`rnnlab.nn.detach_state`), go on. k = N is full-sequence BPTT, for contrast.

Memory is what backward needs: the bytes of the tensors autograd saves during a chunk's forward pass,
counted with `torch.autograd.graph.saved_tensors_hooks` (each storage once). This is the activation
memory, the part that grows with k — a chunk's graph is freed by its backward before the next chunk
starts, so it is also the peak. It is measured rather than estimated, and it is the same on any
machine, unlike the process's resident size. Speed is tokens per second of forward + backward + step,
the best of three passes (other work on the machine only ever slows a pass down).
"""

from __future__ import annotations

import time

import torch

from ..models.language_model import LanguageModel, LanguageModelConfig
from ..nn import detach_state
from .common import ExperimentResult
from .tasks import encode_chars, grammar_text

NAME = "tbptt"
DESCRIPTION = "truncated BPTT: activation memory and speed vs truncation length k; full BPTT for contrast"
CLAIM = ("the memory backward needs grows linearly with k (full-sequence BPTT needs about N/k times the "
         "memory of the shortest truncation); truncation trades how far gradients reach for memory")


class SavedBytes:
    """Count the bytes autograd saves for backward while active (each storage once)."""

    def __init__(self) -> None:
        self.bytes = 0
        self._seen: set[int] = set()

    def _pack(self, tensor: torch.Tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in self._seen:
            self._seen.add(storage.data_ptr())
            self.bytes += storage.nbytes()
        return tensor

    def __enter__(self):
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)


def one_pass(model: LanguageModel, optimizer, tokens: torch.Tensor, k: int, measure: bool) -> dict:
    """Train over tokens (B, N + 1) in chunks of k; return seconds, peak saved bytes and mean loss."""
    state, peak, losses = None, 0, []
    start = time.perf_counter()
    for s in range(0, tokens.shape[1] - 1, k):
        x, y = tokens[:, s : s + k], tokens[:, s + 1 : s + k + 1]  # (B, k) each
        counter = SavedBytes()
        if measure:
            with counter:
                logits, new_state = model(x, state)
                loss = model.loss(logits, y)
        else:
            logits, new_state = model(x, state)
            loss = model.loss(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        state = detach_state(new_state)  # the truncation: values carry on, gradients stop here
        peak = max(peak, counter.bytes)
        losses.append(loss.item())
    return {"seconds": time.perf_counter() - start, "saved_bytes": peak, "loss": sum(losses) / len(losses)}


def run(quick: bool = False, seed: int = 0) -> ExperimentResult:
    torch.manual_seed(seed)
    batch, length = (4, 64) if quick else (16, 1024)
    truncations = [8, 64] if quick else [16, 64, 256, 1024]
    config = LanguageModelConfig(cell="lstm", embedding=32, hidden=32 if quick else 128, layers=1)
    ids, alphabet = encode_chars(grammar_text(batch * (length + 1) + 10, seed=seed))
    tokens = ids[: batch * (length + 1)].view(batch, length + 1)  # (B, N + 1)
    rows = []
    data = {"k": [], "saved_mb": [], "tokens_per_s": [], "batch": batch, "tokens_per_stream": length,
            "hidden": config.hidden}
    for k in truncations:
        torch.manual_seed(seed)
        model = LanguageModel(len(alphabet), config)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        measured = one_pass(model, optimizer, tokens, k, measure=True)
        best = min([measured["seconds"]] + [one_pass(model, optimizer, tokens, k, measure=False)["seconds"]
                                            for _ in range(0 if quick else 2)])
        mb = measured["saved_bytes"] / 2**20
        speed = batch * length / best
        label = f"{k} (full BPTT)" if k == length else str(k)
        rows.append([label, length // k, round(mb, 2), round(speed)])
        data["k"].append(k)
        data["saved_mb"].append(mb)
        data["tokens_per_s"].append(speed)
    shortest, full = data["saved_mb"][0], data["saved_mb"][-1]
    expected_ratio = truncations[-1] / truncations[0]
    ratio = full / shortest
    monotone = all(a < b for a, b in zip(data["saved_mb"], data["saved_mb"][1:]))
    holds = monotone and ratio >= 0.5 * expected_ratio
    measured = (f"saved activations {shortest:.2f} MB at k={truncations[0]} vs {full:.2f} MB for full BPTT "
                f"(×{ratio:.1f}; N/k = {expected_ratio:.0f}); tokens/s {data['tokens_per_s'][0]:,.0f} at "
                f"k={truncations[0]} vs {data['tokens_per_s'][-1]:,.0f} full")
    return ExperimentResult(NAME, DESCRIPTION, CLAIM, ["k", "updates per pass", "saved MB", "tokens/s"], rows,
                            holds, measured, data)


def figure(result: ExperimentResult, path):
    from ..viz.diagnostics import plot_tbptt

    return plot_tbptt(result.data, path)
