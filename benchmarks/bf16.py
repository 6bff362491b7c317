"""bf16 autocast against fp32: training step speed (interleaved) and validation bits/char after the
same number of steps on Shakespeare.

    python benchmarks/bf16.py [--steps 300] [--hidden 512] [--batch-size 32]

On a CPU without native bf16 (no AMX / AVX-512-BF16) rnnlab falls back to fp32 and this reports so.
Prints a table and writes benchmarks/results/bf16.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from rnnlab.data.fetch import fetch
from rnnlab.models.language_model import LanguageModel, LanguageModelConfig
from rnnlab.train.config import DataConfig, LMRunConfig, TrainConfig
from rnnlab.train.loop import autocast, bf16_supported, train_lm

RESULTS = Path(__file__).parent / "results"


def step_times(hidden: int, batch: int, seq_len: int, repeats: int) -> dict[str, float]:
    """Median seconds per training step, fp32 and bf16 interleaved step by step."""
    torch.manual_seed(0)
    V = 76
    model = LanguageModel(V, LanguageModelConfig(hidden=hidden, layers=2))
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = torch.randint(0, V, (batch, seq_len)), torch.randint(0, V, (batch, seq_len))
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for i in range(repeats + 1):
        for name in ("fp32", "bf16"):
            start = time.perf_counter()
            with autocast(name == "bf16"):
                logits, _ = model(x)
            loss = model.loss(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if i:  # the first round warms up both
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per precision")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    args = parser.parse_args()
    supported = bf16_supported()

    times = step_times(args.hidden, args.batch_size, args.seq_len, repeats=6)
    corpus = fetch("shakespeare")
    results = {}
    for precision in ("fp32", "bf16"):
        config = LMRunConfig(
            model=LanguageModelConfig(hidden=args.hidden, layers=2),
            data=DataConfig(path=str(corpus), batch_size=args.batch_size, seq_len=args.seq_len),
            train=TrainConfig(
                steps=args.steps, eval_every=0, save_every=0, precision=precision, progress=False
            ),
        )
        summary = train_lm(config, RESULTS / f"bf16_{precision}", force=True)
        results[precision] = summary["val_bpc"]

    row = {
        "bf16_supported": supported,
        "hidden": args.hidden,
        "batch": args.batch_size,
        "steps": args.steps,
        "fp32_step_s": times["fp32"],
        "bf16_step_s": times["bf16"],
        "speedup": times["fp32"] / times["bf16"],
        "fp32_val_bpc": results["fp32"],
        "bf16_val_bpc": results["bf16"],
        "bpc_difference": results["bf16"] - results["fp32"],
    }
    print(
        f"\nbf16 autocast vs fp32 (2x{args.hidden} LSTM, B {args.batch_size}, T {args.seq_len}; native bf16: "
        f"{'yes' if supported else 'no, bf16 falls back to fp32'})\n"
    )
    print(f"{'measure':<40} {'value':>8}  target")
    print(f"{'step speed-up (fp32 time / bf16 time)':<40} {row['speedup']:>8.2f}  >= 1.8")
    print(f"{'val bpc after ' + str(args.steps) + ' steps, fp32':<40} {row['fp32_val_bpc']:>8.4f}")
    print(f"{'val bpc after ' + str(args.steps) + ' steps, bf16':<40} {row['bf16_val_bpc']:>8.4f}")
    print(f"{'difference (bf16 - fp32)':<40} {row['bpc_difference']:>+8.4f}  within 0.01")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bf16.json").write_text(json.dumps(row, indent=1))
    print(f"\nwrote {RESULTS / 'bf16.json'}")


if __name__ == "__main__":
    main()
