"""`rnnlab eval` and `rnnlab plot`: commands for a run folder of any task."""

from __future__ import annotations

import json

EVAL_EPILOG = """examples:
  rnnlab eval runs/shakespeare                  loss, bits/char, perplexity on val and test
  rnnlab eval runs/shakespeare other.txt --json
  rnnlab eval runs/pos --json                   a tagging run: accuracy, unknown-word accuracy, baseline
"""


def add_parsers(sub) -> None:
    import argparse

    ev = sub.add_parser("eval", help="a trained run's metrics on its val and test splits (or on DATA)",
                        epilog=EVAL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("run", help="run folder")
    ev.add_argument("file", nargs="?", help="data to score (default: the run's validation and test splits)")
    ev.add_argument("--encoding", default="utf-8")
    ev.add_argument("--unknown", choices=("error", "skip", "replace"), default="error")
    ev.add_argument("--checkpoint", choices=("best", "last"), default="best")
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")

    plot = sub.add_parser("plot", help="draw a run's loss curves into RUN/curves.png")
    plot.add_argument("run", help="run folder")
    plot.add_argument("--out", help="PNG path (default RUN/curves.png)")

    ev.set_defaults(func=cmd_eval)
    plot.set_defaults(func=cmd_plot)


def cmd_eval(args) -> int:
    from ..tasks import evaluate_run, format_eval, run_task

    # the text options concern a language model's text file; the other tasks read DATA by its format
    options = {"encoding": args.encoding, "unknown": args.unknown} if run_task(args.run) == "lm" else {}
    results = evaluate_run(args.run, args.file, which=args.checkpoint, **options)
    print(json.dumps(results, indent=1) if args.json else format_eval(results))
    return 0


def cmd_plot(args) -> int:
    from ..viz.curves import plot_run

    print(plot_run(args.run, args.out))
    return 0
