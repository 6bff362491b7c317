"""A corpus bigger than memory should be: preparation speed and training's peak RSS on ≥ 1 GB of text.

Builds a text of --gb gigabytes (the Shakespeare corpus repeated, each copy with its lines shuffled so
the text is not one block repeated), prepares it with `rnnlab data prepare` (char level) and measures
MB/s, then trains the default 2×512 LSTM for --steps steps on it in a child process and reports that
process's peak resident memory. The token file is memory-mapped, so the peak should not grow with
the corpus: only the model, the optimizer and one batch live in RAM.

    python benchmarks/large_corpus.py [--gb 1.0] [--steps 30] [--keep]

Prints a table and writes benchmarks/results/large_corpus.json. Needs about 2 × --gb of free disk
(text + tokens) under the data folder; removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rnnlab.data.corpus import TokenCorpus, prepare_corpus
from rnnlab.data.fetch import fetch
from rnnlab.data.paths import data_root

RESULTS = Path(__file__).parent / "results"


def build_text(path: Path, gigabytes: float) -> int:
    """Write shuffled copies of Shakespeare's lines until the file reaches `gigabytes`."""
    lines = (fetch("shakespeare") / "input.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    rng = random.Random(0)
    target = int(gigabytes * 1e9)
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        while written < target:
            rng.shuffle(lines)
            block = "".join(lines)
            handle.write(block)
            written += len(block.encode("utf-8"))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="corpus size in GB")
    parser.add_argument("--steps", type=int, default=30, help="training steps for the RSS measurement")
    parser.add_argument("--keep", action="store_true", help="keep the generated corpus")
    args = parser.parse_args()

    folder = data_root() / "large-corpus"
    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "input.txt"
    size = text.stat().st_size if text.exists() else 0
    if size < args.gb * 1e9:
        print(f"writing {args.gb:g} GB of text to {text} ...", file=sys.stderr)
        size = build_text(text, args.gb)

    prepared = folder / "prepared"
    started = time.perf_counter()
    prepare_corpus(text, prepared, progress=True)
    prepare_s = time.perf_counter() - started
    prepare_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tokens = TokenCorpus.open(prepared).num_tokens("train")

    run = folder / "run"
    command = [
        sys.executable,
        "-c",
        (
            "import resource, sys; from rnnlab.cli import main; code = main(sys.argv[1:]); "
            "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)"
        ),
        "train",
        "lm",
        "--data",
        str(prepared),
        "--out",
        str(run),
        "--steps",
        str(args.steps),
        "--force",
        "--no-progress",
        "--eval-every",
        "0",
        "--set",
        "train.eval_tokens=100000",
        "--set",
        "train.final_eval_tokens=100000",
    ]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    train_s = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(result.stderr[-2000:])
    peak_kb = int(
        next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("PEAK_RSS_KB"))
    )

    rows = {
        "corpus_bytes": size,
        "train_tokens": tokens,
        "prepare_seconds": round(prepare_s, 1),
        "prepare_mb_per_s": round(size / 1e6 / prepare_s, 1),
        "prepare_peak_rss_mb": round(prepare_rss_mb, 1),
        "train_steps": args.steps,
        "train_seconds": round(train_s, 1),
        "train_peak_rss_mb": round(peak_kb / 1024, 1),
    }
    print(f"\nLarge corpus ({size / 1e9:.2f} GB of text, {tokens:,} training tokens)\n")
    print(f"{'measure':<34} {'value':>10}  target")
    print(f"{'preparation speed (MB/s)':<34} {rows['prepare_mb_per_s']:>10.1f}  >= 100")
    print(f"{'preparation peak RSS (MB)':<34} {rows['prepare_peak_rss_mb']:>10.1f}")
    print(f"{'training peak RSS (MB), 2x512 LSTM':<34} {rows['train_peak_rss_mb']:>10.1f}  <= 1536")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "large_corpus.json").write_text(json.dumps(rows, indent=1))
    print(f"\nwrote {RESULTS / 'large_corpus.json'}")
    if not args.keep:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
