"""Word-level language models with a large vocabulary: adaptive softmax against the full softmax.

Prepares the Shakespeare corpus at word level (every word kept: about 30k distinct, case kept),
then trains the same LSTM twice for the same wall-clock budget — once with a full softmax over V,
once with an adaptive softmax — and reports training tokens/s and validation perplexity.

    python benchmarks/word_lm.py [--minutes 4] [--hidden 256]

Prints a table and writes benchmarks/results/word_lm.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from rnnlab.data.corpus import TokenCorpus, prepare_corpus
from rnnlab.data.fetch import fetch
from rnnlab.data.paths import prepared_dir
from rnnlab.models.language_model import LanguageModelConfig
from rnnlab.train.config import DataConfig, LMRunConfig, TrainConfig
from rnnlab.train.loop import train_lm
from rnnlab.train.metrics import read_metrics
from rnnlab.train.optim import OptimConfig

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="budget per model")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--cutoffs", default="2000,10000")
    args = parser.parse_args()

    folder = prepared_dir() / "shakespeare-word-bench"
    if not (folder / "meta.json").exists():
        prepare_corpus(fetch("shakespeare") / "input.txt", folder, level="word")
    corpus = TokenCorpus.open(folder)
    V = len(corpus.vocab)
    rows = []
    for output in ("softmax", "adaptive"):
        config = LMRunConfig(
            model=LanguageModelConfig(
                cell="lstm",
                hidden=args.hidden,
                layers=1,
                embedding=args.hidden,
                dropout=0.2,
                output=output,
                cutoffs=[int(c) for c in args.cutoffs.split(",")],
            ),
            data=DataConfig(path=str(folder), seq_len=35, batch_size=32),
            optim=OptimConfig(name="adam", lr=2e-3),
            train=TrainConfig(
                steps=None, minutes=args.minutes, eval_every=0, save_every=0, log_every=20, progress=False
            ),
        )
        out = RESULTS / f"word_lm_{output}"
        summary = train_lm(config, out, force=True)
        speeds = [e["tokens_per_s"] for e in read_metrics(out) if e["split"] == "train"]
        rows.append(
            {
                "output": output,
                "steps": summary["step"],
                # the logged speeds leave out evaluation; a run too short to log one falls back to the total
                "tokens_per_s": statistics.median(speeds)
                if speeds
                else summary["step"] * 32 * 35 / summary["elapsed"],
                "val_loss": summary["val_loss"],
                "val_perplexity": 2.718281828 ** summary["val_loss"],
            }
        )
    base = rows[0]["tokens_per_s"]
    print(
        f"\nShakespeare at word level: V = {V:,} words, {corpus.num_tokens('train'):,} training tokens; "
        f"1×{args.hidden} LSTM, B 32, T 35, {args.minutes:g} minutes each\n"
    )
    print(f"{'output layer':<14} {'steps':>6} {'tokens/s':>10} {'speed-up':>9} {'val perplexity':>15}")
    for r in rows:
        print(
            f"{r['output']:<14} {r['steps']:>6} {r['tokens_per_s']:>10,.0f} {r['tokens_per_s'] / base:>9.2f} "
            f"{r['val_perplexity']:>15.1f}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "word_lm.json").write_text(json.dumps({"vocab": V, "rows": rows}, indent=1))
    print(f"\nwrote {RESULTS / 'word_lm.json'}")


if __name__ == "__main__":
    main()
