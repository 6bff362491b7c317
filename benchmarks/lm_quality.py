"""Model quality: validation bits/char on Shakespeare after a fixed wall-clock budget.

Trains `rnnlab train lm` with its defaults (plus any --set overrides) on the Shakespeare corpus for
--minutes (default 10) and reports the full validation split's bits per character, with the loss
curve. With --baseline it also trains, for the same budget and on the same split, a plain Adam
nn.LSTM 2×512 loop (the reference the issue quotes) so the two can be compared side by side.

    python benchmarks/lm_quality.py [--minutes 10] [--set section.key=value ...] [--baseline]

Prints a table and writes benchmarks/results/lm_quality.json (the run folder goes to
benchmarks/results/lm_quality_run).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from rnnlab.data.corpus import TokenCorpus
from rnnlab.data.fetch import fetch
from rnnlab.train.config import LMRunConfig, apply_overrides, from_dict, to_dict
from rnnlab.train.loop import evaluate_lm, train_lm
from rnnlab.train.metrics import read_metrics

RESULTS = Path(__file__).parent / "results"
LN2 = math.log(2)


def plain_baseline(
    corpus: TokenCorpus,
    minutes: float,
    hidden: int = 512,
    batch: int = 64,
    seq_len: int = 128,
    lr: float = 2e-3,
) -> dict:
    """A plain nn.LSTM 2×hidden, Adam at a constant LR, trained for `minutes` on the same split."""
    torch.manual_seed(0)
    V = len(corpus.vocab)
    embed, lstm = torch.nn.Embedding(V, 64), torch.nn.LSTM(64, hidden, 2, batch_first=True)
    head = torch.nn.Linear(hidden, V)
    params = [*embed.parameters(), *lstm.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=lr)
    train = np.asarray(corpus.split("train"), dtype=np.int64)
    L = len(train) // batch
    streams = torch.from_numpy(train[: batch * L]).view(batch, L)
    state, position, steps, start = None, 0, 0, time.perf_counter()
    while time.perf_counter() - start < minutes * 60:
        if position + seq_len + 1 > L:
            position, state = 0, None
        x = streams[:, position : position + seq_len]
        y = streams[:, position + 1 : position + seq_len + 1]
        out, state = lstm(embed(x), state)
        loss = torch.nn.functional.cross_entropy(head(out).reshape(-1, V), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        optimizer.step()
        state = tuple(s.detach() for s in state)
        position += seq_len
        steps += 1

    class _Plain(torch.nn.Module):
        def forward(self, tokens, state=None):
            out, state = lstm(embed(tokens), state)
            return head(out), state

        def loss(self, logits, targets):
            return torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))

    val = evaluate_lm(_Plain(), corpus.split("val"), 16, 256)
    return {"steps": steps, "val_loss": val, "val_bpc": val / LN2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--set", action="append", default=[], help="override a default (section.key=value)")
    parser.add_argument("--baseline", action="store_true", help="also train a plain nn.LSTM for comparison")
    parser.add_argument("--out", default=str(RESULTS / "lm_quality_run"), help="the run folder")
    parser.add_argument("--json", default=str(RESULTS / "lm_quality.json"), help="where the results go")
    args = parser.parse_args()

    corpus_dir = fetch("shakespeare")
    corpus = TokenCorpus.open(corpus_dir)
    values = to_dict(LMRunConfig())
    values["data"]["path"] = str(corpus_dir)
    values["train"].update(steps=None, minutes=args.minutes)
    config = from_dict(LMRunConfig, apply_overrides(values, args.set))
    m = config.model
    started = time.perf_counter()
    summary = train_lm(config, args.out, force=True)
    elapsed = time.perf_counter() - started
    # the full validation split, with the checkpoint the run ended on
    curve = [(e["step"], e["time"], e["bpc"]) for e in read_metrics(args.out) if e["split"] == "val"]

    result = {
        "config": {
            "cell": m.cell,
            "layers": m.layers,
            "hidden": m.hidden,
            "batch": config.data.batch_size,
            "seq_len": config.data.seq_len,
            "lr": config.optim.lr,
            "schedule": config.schedule.name,
            "precision": config.train.precision,
            "overrides": args.set,
        },
        "minutes": args.minutes,
        "steps": summary["step"],
        "wall_s": round(elapsed, 1),
        "val_bpc": summary["val_bpc"],
        "curve": curve,
        "vocab": len(corpus.vocab),
        "val_tokens": int(corpus.num_tokens("val")),
    }
    print(f"\nValidation loss curve ({args.minutes:g}-minute budget):")
    print(f"{'step':>6} {'time s':>8} {'val bpc':>8}")
    for step, t, bpc in curve:
        print(f"{step:>6} {t:>8.0f} {bpc:>8.4f}")
    rows = [
        (
            "rnnlab defaults" + (" + " + " ".join(args.set) if args.set else ""),
            summary["step"],
            summary["val_bpc"],
        )
    ]
    if args.baseline:
        base = plain_baseline(corpus, args.minutes)
        result["baseline"] = base
        rows.append(("plain nn.LSTM 2x512, Adam 2e-3, B64", base["steps"], base["val_bpc"]))
    print(
        f"\nShakespeare, {result['val_tokens']:,} validation characters, V={result['vocab']}, "
        f"{args.minutes:g} minutes each, {torch.get_num_threads()} threads"
    )
    print(f"{'trainer':<48} {'steps':>6} {'val bpc':>8}")
    for name, steps, bpc in rows:
        print(f"{name:<48} {steps:>6} {bpc:>8.4f}")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
