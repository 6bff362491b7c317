"""Training speed of the explicit path (hand-written BPTT) against the fused kernels and the old loop.

For each cell and size this times one training step of a character language model (embedding ->
2-layer recurrent stack -> linear -> cross-entropy -> backward -> Adam) on every path, interleaved
round by round so that machine noise hits every variant alike:

- `fused`: PyTorch's kernels (`torch._VF.lstm/gru/rnn_*`, oneDNN on the CPU), where the cell has one;
- `explicit`: one autograd Function per layer with the course's BPTT (`rnnlab.nn.bptt`), its inner
  loops compiled by TorchScript (the default);
- `explicit, plain`: the same with the inner loops as plain Python (the fallback);
- `loop`: the cells in a Python time loop under autograd (the reference path).

Every figure is a median over rounds and reported as a ratio to the fused path of the same standard
cell (peephole LSTM against the LSTM's kernel, Cho's GRU against the GRU's), measured in the same run.

    python benchmarks/explicit_speed.py [--cells lstm,gru,...] [--sizes 256x32,512x64] [--rounds 3]

Prints a table and writes benchmarks/results/explicit_speed.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from rnnlab.models.language_model import LanguageModel, LanguageModelConfig
from rnnlab.nn import bptt

RESULTS = Path(__file__).parent / "results"
VOCAB = 80
STANDARD = {"lstm-peephole": "lstm", "gru-cho": "gru"}  # the fused cell each custom cell is held against
FUSED = {"lstm", "gru", "rnn-tanh", "rnn-relu"}


def make_step(cell: str, hidden: int, batch: int, seq_len: int, path: str, scripted: bool, clock):
    """A closure running one training step of a fresh 2-layer model; returns its seconds."""
    torch.manual_seed(0)
    model = LanguageModel(VOCAB, LanguageModelConfig(cell=cell, hidden=hidden, layers=2, embedding=64))
    model.rnn.path = path
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = torch.randint(0, VOCAB, (batch, seq_len + 1))
    x, y = data[:, :-1], data[:, 1:]

    def step() -> float:
        bptt.use_scripted_loops(scripted)
        start = clock()
        logits, _ = model(x)
        loss = model.loss(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return clock() - start

    return step


def variants(cell: str) -> list[tuple[str, str, bool]]:
    """(name, path, scripted) of every variant to time for this cell."""
    out = [("explicit", "explicit", True), ("explicit, plain", "explicit", False), ("loop", "loop", False)]
    if cell in FUSED:
        out.insert(0, ("fused", "fused", False))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="lstm,lstm-peephole,gru,gru-cho,rnn-tanh")
    parser.add_argument("--sizes", default="256x32,512x64", help="HIDDENxBATCH of the 2-layer models")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per variant and round")
    parser.add_argument("--skip-loop", action="store_true", help="leave out the slow reference loop")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall",
        help="wall: elapsed time; cpu: this process's CPU time, robust to other jobs on a shared "
        "machine (meaningful with --threads 1)",
    )
    parser.add_argument("--out", default=str(RESULTS / "explicit_speed.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cells = args.cells.split(",")
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    T = args.seq_len
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    # the fused kernel of every standard cell is needed as the reference
    timed = list(dict.fromkeys([STANDARD.get(c, c) for c in cells if STANDARD.get(c, c) in FUSED] + cells))

    rows = []
    for hidden, batch in sizes:
        steps = {}
        for cell in timed:
            for name, path, scripted in variants(cell):
                if args.skip_loop and path == "loop":
                    continue
                if cell not in cells and name != "fused":
                    continue
                steps[(cell, name)] = make_step(cell, hidden, batch, T, path, scripted, clock)
        times: dict[tuple[str, str], list[float]] = {key: [] for key in steps}
        for step in steps.values():  # warm-up: first-call costs, TorchScript's profiling runs
            for _ in range(2):
                step()
        for round_ in range(args.rounds):
            for key, step in steps.items():
                times[key].append(min(step() for _ in range(args.steps)))
            print(f"  2x{hidden} B{batch}: round {round_ + 1}/{args.rounds}", file=sys.stderr)
        # ratios per round (same round = same machine conditions), then the median over rounds
        for (cell, name), ts in times.items():
            reference = (STANDARD.get(cell, cell), "fused")
            ratio = None
            if reference in times:
                ratio = statistics.median(r / t for r, t in zip(times[reference], ts))
            median = statistics.median(ts)
            rows.append({
                "cell": cell, "variant": name, "hidden": hidden, "layers": 2, "batch": batch, "seq_len": T,
                "tokens_per_s": round(batch * T / median, 1),
                "vs_fused": None if ratio is None else round(ratio, 3),
                "reference": f"{reference[0]} fused",
            })
    bptt.use_scripted_loops(True)

    threads = torch.get_num_threads()
    print(f"\nTraining step, explicit vs fused (torch {torch.__version__}, {threads} threads, T {T}, "
          f"{args.clock} clock; vs fused = median over {args.rounds} interleaved rounds of "
          f"fused time / variant time)\n")
    print(f"{'size':<12} {'cell':<14} {'variant':<16} {'tokens/s':>10} {'vs fused':>9}  reference")
    for r in rows:
        ratio = "" if r["vs_fused"] is None else f"{r['vs_fused']:.3f}"
        size = f"2x{r['hidden']} B{r['batch']}"
        print(f"{size:<12} {r['cell']:<14} {r['variant']:<16} {r['tokens_per_s']:>10,.0f} {ratio:>9}  "
              f"{r['reference']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"threads": threads, "clock": args.clock, "torch": torch.__version__, "rows": rows}
    out.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
