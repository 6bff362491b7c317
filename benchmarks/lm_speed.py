"""Training speed of the rnnlab language-model trainer, side by side with a plain nn.LSTM loop.

For each size (2×256 and 2×512 LSTM, B 64, T 128 by default) this measures, interleaved in one
run so that machine noise hits every variant alike:

- rnnlab's trainer (`train_lm`, the real loop with its data batcher, clipping, logging), fused path;
- the same trainer on the explicit path (the cells in a Python time loop);
- a plain PyTorch loop written here: nn.Embedding -> nn.LSTM -> nn.Linear, Adam, clipping;

and reports tokens/s (median per-step time), the ratio to the plain loop, and achieved GFLOP/s as a
fraction of an fp32 matmul peak measured in the same run.

    python benchmarks/lm_speed.py [--sizes 256,512] [--batch-size 64] [--seq-len 128] [--steps 10]

Prints a table and writes benchmarks/results/lm_speed.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rnnlab.data.corpus import prepare_corpus
from rnnlab.models.language_model import LanguageModel, LanguageModelConfig
from rnnlab.train.config import DataConfig, LMRunConfig, TrainConfig
from rnnlab.train.loop import train_lm
from rnnlab.train.metrics import read_metrics
from rnnlab.train.optim import OptimConfig, ScheduleConfig

RESULTS = Path(__file__).parent / "results"
VOCAB = 80  # about Shakespeare's character count


def matmul_peak(n: int = 2048, repeats: int = 10) -> float:
    """fp32 GFLOP/s of a large square matmul: the practical peak of this machine.

    The best of torch's default GEMM (`a @ b`) and oneDNN's with a prepacked weight, which is what
    the fused RNN kernels use: on the development machine (AMD EPYC, AVX-512) the default GEMM
    reached about 185 GFLOP/s and oneDNN's about 430, so a peak from `a @ b` alone would be too low.
    """
    a, b = torch.randn(n, n), torch.randn(n, n)
    candidates = [lambda: a @ b]
    if torch.backends.mkldnn.is_available():
        packed = torch.ops.mkldnn._reorder_linear_weight(b, n)
        candidates.append(lambda: torch.ops.mkldnn._linear_pointwise(a, packed, None, "none", [], ""))
    best = 0.0
    for run in candidates:
        for _ in range(2):
            run()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        best = max(best, 2 * n**3 / min(times) / 1e9)
    return best


def synthetic_corpus(folder: Path, tokens: int) -> Path:
    """A random text of `tokens` characters over VOCAB symbols, prepared as a corpus."""
    rng = np.random.default_rng(0)
    alphabet = np.array(
        list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'-\n()[]{}<>*&^%$#@")
    )
    text = "".join(alphabet[rng.integers(0, VOCAB, tokens)])
    source = folder / "text.txt"
    source.write_text(text)
    return prepare_corpus(source, folder / "corpus", progress=False)


def trainer_step_times(
    corpus: Path, out: Path, hidden: int, batch: int, seq_len: int, steps: int, path: str
) -> list[float]:
    """Seconds per step of rnnlab's own training loop (from its metrics.jsonl)."""
    config = LMRunConfig(
        model=LanguageModelConfig(cell="lstm", hidden=hidden, layers=2, embedding=64, path=path),
        data=DataConfig(path=str(corpus), seq_len=seq_len, batch_size=batch),
        optim=OptimConfig(name="adam", lr=1e-3),
        schedule=ScheduleConfig(name="constant", warmup=0),
        train=TrainConfig(
            steps=steps, eval_every=0, save_every=0, log_every=1, progress=False, eval_tokens=batch * seq_len
        ),
    )
    train_lm(config, out, force=True)
    events = [e for e in read_metrics(out) if e["split"] == "train"]
    return [batch * seq_len / e["tokens_per_s"] for e in events]


def plain_step_times(hidden: int, batch: int, seq_len: int, steps: int) -> list[float]:
    """Seconds per step of a plain nn.LSTM language-model loop of the same size."""
    torch.manual_seed(0)
    embed = torch.nn.Embedding(VOCAB, 64)
    lstm = torch.nn.LSTM(64, hidden, num_layers=2, batch_first=True)
    head = torch.nn.Linear(hidden, VOCAB)
    params = [*embed.parameters(), *lstm.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    data = torch.randint(0, VOCAB, (batch, steps * seq_len + 1))
    state = None
    times = []
    for step in range(steps):
        start = time.perf_counter()
        x = data[:, step * seq_len : (step + 1) * seq_len]
        y = data[:, step * seq_len + 1 : (step + 1) * seq_len + 1]
        out, state = lstm(embed(x), state)
        loss = torch.nn.functional.cross_entropy(head(out).reshape(-1, VOCAB), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()
        state = tuple(s.detach() for s in state)
        times.append(time.perf_counter() - start)
    return times


def median_after_warmup(times: list[float], warmup: int = 2) -> float:
    return statistics.median(times[warmup:] if len(times) > warmup + 2 else times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512", help="hidden sizes of the 2-layer LSTM")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="steps per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repetitions")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    B, T = args.batch_size, args.seq_len

    peak = matmul_peak()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = synthetic_corpus(tmp, tokens=B * (args.steps + 2) * (T + 1) * 2)
        for hidden in (int(h) for h in args.sizes.split(",")):
            times: dict[str, list[float]] = {"rnnlab fused": [], "rnnlab explicit": [], "plain nn.LSTM": []}
            for _ in range(args.rounds):  # interleave: noise hits every variant alike
                times["plain nn.LSTM"] += plain_step_times(hidden, B, T, args.steps)[2:]
                times["rnnlab fused"] += trainer_step_times(
                    corpus, tmp / "run", hidden, B, T, args.steps, "fused"
                )[2:]
                times["rnnlab explicit"] += trainer_step_times(
                    corpus, tmp / "run", hidden, B, T, args.steps, "explicit"
                )[2:]
            flops = LanguageModel(
                VOCAB, LanguageModelConfig(hidden=hidden, layers=2, embedding=64)
            ).flops_per_token()
            plain = B * T / statistics.median(times["plain nn.LSTM"])
            for name, ts in times.items():
                tokens_per_s = B * T / statistics.median(ts)
                rows.append(
                    {
                        "model": f"lstm 2x{hidden}",
                        "variant": name,
                        "batch": B,
                        "seq_len": T,
                        "tokens_per_s": round(tokens_per_s, 1),
                        "vs_plain": round(tokens_per_s / plain, 3),
                        "gflops": round(tokens_per_s * flops / 1e9, 1),
                        "fraction_of_peak": round(tokens_per_s * flops / 1e9 / peak, 3),
                    }
                )
                print(f"  measured {rows[-1]['model']} {name}: {tokens_per_s:,.0f} tokens/s", file=sys.stderr)

    # a peak measured while something else ran would be too low: keep the best of before and after
    peak = max(peak, matmul_peak())
    for r in rows:
        r["fraction_of_peak"] = round(r["gflops"] / peak, 3)
    print(
        f"\nLanguage-model training speed (torch {torch.__version__}, {threads} threads, "
        f"fp32 matmul peak {peak:.0f} GFLOP/s measured in this run)\n"
    )
    print(f"{'model':<13} {'variant':<16} {'tokens/s':>10} {'vs plain':>9} {'GFLOP/s':>8} {'of peak':>8}")
    for r in rows:
        print(
            f"{r['model']:<13} {r['variant']:<16} {r['tokens_per_s']:>10,.0f} {r['vs_plain']:>9.3f} "
            f"{r['gflops']:>8.1f} {r['fraction_of_peak']:>8.3f}"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "lm_speed.json"
    out.write_text(
        json.dumps(
            {"peak_gflops": peak, "threads": threads, "torch": torch.__version__, "rows": rows}, indent=1
        )
    )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
