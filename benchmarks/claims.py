"""The lectures' claims, all at once: run every `rnnlab experiment` at full size and check each one.

Each experiment (see `rnnlab.experiments`) trains or measures something small on the CPU, at one
thread, and checks the direction the lectures predict (LSTM/GRU hold where the vanilla RNN forgets,
clipping survives a gradient cliff, ...). This script runs them in turn, prints a summary table and
writes benchmarks/results/claims.json; each experiment's own table, JSON and figure go to
benchmarks/results/claims/NAME/. The whole run takes a few CPU minutes per experiment at most.

    python benchmarks/claims.py [--only NAME,NAME] [--quick] [--seed S] [--threads N] [--out JSON] [--dir DIR]

Exit status 1 when a claim does not hold (0 with --quick, whose runs are too small to expect them).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from rnnlab.experiments import EXPERIMENTS, run_experiment
from rnnlab.experiments.common import format_table

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated experiment names (default: all)")
    parser.add_argument("--quick", action="store_true", help="the tiny versions (seconds; for a smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--out", default=str(RESULTS / "claims.json"), help="summary JSON path")
    parser.add_argument("--dir", default=str(RESULTS / "claims"), help="folder for each experiment's files")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.only.split(",") if args.only else list(EXPERIMENTS)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        parser.error(f"unknown experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}")

    summary, rows = [], []
    for name in names:
        cpu = time.process_time()
        result = run_experiment(name, Path(args.dir) / name, quick=args.quick, seed=args.seed)
        check = result["check"]
        cpu_s = time.process_time() - cpu
        summary.append({"name": name, "claim": check["claim"], "holds": check["holds"],
                        "measured": check["measured"], "seconds": result["seconds"], "cpu_seconds": cpu_s,
                        "files": result["files"]})
        rows.append([name, "yes" if check["holds"] else "NO", round(cpu_s, 1), check["measured"]])
        verdict = "holds" if check["holds"] else "does NOT hold"
        print(f"{name}: {verdict} ({cpu_s:.0f} CPU s): {check['measured']}", file=sys.stderr, flush=True)

    print(format_table(["experiment", "holds", "CPU s", "measured"], rows))
    held = sum(s["holds"] for s in summary)
    print(f"\n{held} of {len(summary)} claims hold" + (" (quick runs)" if args.quick else ""))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {"quick": args.quick, "seed": args.seed, "threads": args.threads, "torch": torch.__version__,
                "machine": platform.machine(), "python": platform.python_version(), "experiments": summary}
    out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0 if args.quick or held == len(summary) else 1


if __name__ == "__main__":
    sys.exit(main())
