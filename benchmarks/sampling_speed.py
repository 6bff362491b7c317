"""Sampling speed: characters per second at batch 1 and batch 64, against the matvec bound.

For a character language model (2×512 LSTM, E 64, V 80 by default) this times, interleaved round by
round so that machine noise hits every variant alike:

- `rnnlab`: `rnnlab.generate.generate` over `LanguageModel.step` (the cached `Stepper`), float32;
- `rnnlab step`: the model step alone (argmax feedback, no sampling), to separate the step's cost
  from that of `generate`'s sampling (temperature, softmax, multinomial);
- `rnnlab bf16`: the same over `Stepper(model, bf16=True)` (where the CPU supports bfloat16), and
  `bf16 bound`, the matvec bound below with bfloat16 matrices;
- `plain cells`: `generate` over the cells called one by one (`rnnlab.nn.stepper.reference_step`,
  how `LanguageModel.step` worked before);
- `naive nn.LSTM`: a hand-written loop over `torch.nn.LSTM` (one-step sequences), `nn.Linear`,
  softmax and `torch.multinomial`, with the same weights;
- `matvec bound`: only the weight products every token needs, [e_t, h_{t-1}] @ [W_ih, W_hh]ᵀ per
  layer and the decoder, one after the other as in a real step, through whichever of the default
  BLAS and oneDNN (prepacked) is faster here — nothing else. At batch 64 they are matrix products.

Every figure is a median over rounds; `of bound` is the (float32) bound's time per token divided by
the variant's, per round (same round = same machine conditions); `of own bound` compares bfloat16
with the bfloat16 bound.

    python benchmarks/sampling_speed.py [--tokens 300] [--rounds 5] [--threads 1 --clock cpu]

Prints a table and writes benchmarks/results/sampling_speed.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from rnnlab.generate import generate
from rnnlab.models.language_model import LanguageModel, LanguageModelConfig
from rnnlab.nn.stepper import Stepper, reference_step, stepper_for

RESULTS = Path(__file__).parent / "results"
VOCAB = 80


class _ReferenceModel:
    """The model with the old step (cells one by one), for `generate`."""

    def __init__(self, model):
        self.model = model

    def init_state(self, batch_size):
        return self.model.init_state(batch_size)

    def step(self, tokens, state):
        return reference_step(self.model, tokens, state)


def time_generate(step_model, tokens: int, batch: int, clock) -> float:
    """Seconds per generated token (per step of `batch` rows) through `rnnlab.generate.generate`."""
    stream = generate(step_model, [1, 2, 3], tokens, temperature=1.0, seed=0, batch_size=batch)
    start = clock()
    for _ in stream:
        pass
    return (clock() - start) / tokens


def time_steps(stepper: Stepper, tokens: int, batch: int, clock) -> float:
    """Seconds per step of the model step alone, each step fed the previous step's argmax."""
    with torch.inference_mode():
        x = torch.full((batch,), 1, dtype=torch.long)
        logits, state = stepper.step(x, None)
        start = clock()
        for _ in range(tokens):
            logits, state = stepper.step(logits.argmax(dim=-1), state)
        return (clock() - start) / tokens


def naive_lstm(model: LanguageModel):
    """A plain nn.LSTM sampling loop with the model's weights; returns a timing function."""
    config = model.config
    lstm = torch.nn.LSTM(config.embedding, config.hidden, num_layers=config.layers)
    with torch.no_grad():
        for layer, cell in enumerate(model.rnn.cells):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(lstm, f"{name}_l{layer}").copy_(getattr(cell, name))
    embedding, decoder = model.embedding, model.decoder

    def run(tokens: int, batch: int, clock) -> float:
        generator = torch.Generator().manual_seed(0)
        with torch.inference_mode():
            x = torch.full((1, batch), 1, dtype=torch.long)
            state = None
            start = clock()
            for _ in range(tokens):
                out, state = lstm(embedding(x), state)  # (1, B, H)
                probs = decoder(out[0]).softmax(dim=-1)  # (B, V)
                x = torch.multinomial(probs, 1, generator=generator).view(1, batch)
            return (clock() - start) / tokens

    return run


def matvec_bound(model: LanguageModel, bf16: bool = False):
    """Only the weight products of each token: the least any step can cost.

    One token reads every matrix once, in turn, as a real step does (timing one matrix over and over
    would keep it in the cache and overstate the bound). Each matrix goes through the default BLAS
    or oneDNN (prepacked); the fastest of the assignments tried is the bound. With `bf16`, the
    matrices are bfloat16 (oneDNN only): the bound of `Stepper(model, bf16=True)`.
    """
    cells = model.rnn.cells
    weights = [torch.cat([c.weight_ih, c.weight_hh], dim=1).detach() for c in cells]  # (4H, D+H)
    biases = [(c.bias_ih + c.bias_hh).detach() for c in cells]
    weights.append(model.decoder.weight.detach())
    biases.append(model.decoder.bias.detach())

    def run(tokens: int, batch: int, clock) -> float:
        with torch.inference_mode():
            if bf16:
                return run_bf16(tokens, batch, clock)
            inputs = [torch.randn(batch, W.shape[1]) for W in weights]
            packed = [torch.ops.mkldnn._reorder_linear_weight(W, batch) for W in weights]
            blas = [
                lambda W=W, b=b, x=x: torch.addmm(b, x, W.t()) for W, b, x in zip(weights, biases, inputs)
            ]
            onednn = [
                lambda P=P, b=b, x=x: torch.ops.mkldnn._linear_pointwise(x, P, b, "none", [], "")
                for P, b, x in zip(packed, biases, inputs)
            ]
            assignments = [blas, onednn, onednn[:-1] + blas[-1:]]  # the last: the small decoder on BLAS
            best = float("inf")
            for products in assignments:
                for product in products:
                    product()
                start = clock()
                for _ in range(tokens):
                    for product in products:
                        product()
                best = min(best, (clock() - start) / tokens)
            return best

    def run_bf16(tokens: int, batch: int, clock) -> float:
        inputs = [torch.randn(batch, W.shape[1], dtype=torch.bfloat16) for W in weights]
        packed = [torch.ops.mkldnn._reorder_linear_weight(W.bfloat16(), batch) for W in weights]
        bias = [b.bfloat16() for b in biases]
        products = [
            lambda P=P, b=b, x=x: torch.ops.mkldnn._linear_pointwise(x, P, b, "none", [], "")
            for P, b, x in zip(packed, bias, inputs)
        ]
        for product in products:
            product()
        start = clock()
        for _ in range(tokens):
            for product in products:
                product()
        return (clock() - start) / tokens

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--tokens", type=int, default=300, help="tokens per timing at batch 1 (÷8 at 64)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this process's CPU time (robust on a shared machine; with --threads 1)")
    parser.add_argument("--out", default=str(RESULTS / "sampling_speed.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    torch.manual_seed(0)
    model = LanguageModel(
        VOCAB, LanguageModelConfig(cell="lstm", hidden=args.hidden, layers=args.layers, embedding=64)
    ).eval()
    bf16_ok = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    naive, bound = naive_lstm(model), matvec_bound(model)
    variants = {
        "rnnlab": lambda n, b: time_generate(model, n, b, clock),
        "rnnlab step": lambda n, b: time_steps(stepper_for(model), n, b, clock),
        "plain cells": lambda n, b: time_generate(_ReferenceModel(model), n, b, clock),
        "naive nn.LSTM": lambda n, b: naive(n, b, clock),
        "matvec bound": lambda n, b: bound(n, b, clock),
    }
    if bf16_ok:
        bf16, bf16_bound = Stepper(model, bf16=True), matvec_bound(model, bf16=True)
        variants["rnnlab bf16"] = lambda n, b: time_generate(bf16, n, b, clock)
        variants["bf16 bound"] = lambda n, b: bf16_bound(n, b, clock)

    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        tokens = args.tokens if batch == 1 else max(10, args.tokens // 8)
        for fn in variants.values():  # warm-up: prepacking, first-call costs
            fn(5, batch)
        times: dict[str, list[float]] = {name: [] for name in variants}
        for round_ in range(args.rounds):
            for name, fn in variants.items():
                times[name].append(fn(tokens, batch))
            print(f"  batch {batch}: round {round_ + 1}/{args.rounds}", file=sys.stderr)
        bound_times, naive_times = times["matvec bound"], times["naive nn.LSTM"]
        for name, ts in times.items():
            own = times["bf16 bound"] if "bf16" in name else bound_times  # bf16 against its own bound
            rows.append({
                "batch": batch, "variant": name,
                "chars_per_s": round(batch / statistics.median(ts), 1),
                "of_bound": round(statistics.median(b / t for b, t in zip(bound_times, ts)), 3),
                "of_own_bound": round(statistics.median(b / t for b, t in zip(own, ts)), 3),
                "vs_naive": round(statistics.median(n / t for n, t in zip(naive_times, ts)), 3),
            })

    threads = torch.get_num_threads()
    print(f"\nSampling speed, {args.layers}x{args.hidden} LSTM, V {VOCAB} (torch {torch.__version__}, "
          f"{threads} threads, {args.clock} clock; ratios = medians over {args.rounds} interleaved rounds)\n")
    header = f"{'batch':>5} {'variant':<15} {'chars/s':>10} {'of bound':>9} {'of own bound':>13}"
    print(f"{header} {'vs naive':>9}")
    for r in rows:
        print(f"{r['batch']:>5} {r['variant']:<15} {r['chars_per_s']:>10,.0f} {r['of_bound']:>9.3f} "
              f"{r['of_own_bound']:>13.3f} {r['vs_naive']:>9.3f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"threads": threads, "clock": args.clock, "torch": torch.__version__, "bf16": bf16_ok,
              "rows": rows}
    out.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
