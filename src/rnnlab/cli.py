"""The `rnnlab` command line: thin; each subcommand calls one library function.

    rnnlab data prepare FILE [--out DIR] [--level char|word]
    rnnlab data fetch NAME
    rnnlab train lm --data FILE|DIR|NAME --out RUN [options] [--config FILE] [--set k=v ...]
    rnnlab sample RUN --prime TEXT --length N [--temperature X] [--seed S] ...
    rnnlab eval RUN [FILE] [--json]
    rnnlab plot RUN

A user's mistake ends with one line, `error: ...`, and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from .argtypes import add_budget_flags, add_optimizer_flags, add_run_flags
from .argtypes import non_negative_int as _non_negative_int
from .argtypes import number as _float
from .argtypes import positive_int as _positive_int
from .errors import UserError

EXAMPLES = """examples:
  rnnlab data fetch shakespeare
  rnnlab train lm --data shakespeare --out runs/shakespeare --minutes 10
  rnnlab sample runs/shakespeare --prime "ROMEO:" --length 500 --temperature 0.8 --seed 1
  rnnlab eval runs/shakespeare
  rnnlab plot runs/shakespeare
"""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, `error: ...`, exit status 2."""

    def error(self, message: str) -> None:  # noqa: D401
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnnlab", description="Recurrent neural networks from the equations to "
                     "trained models.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    data = sub.add_parser("data", help="fetch and prepare datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    prep = data_sub.add_parser("prepare", help="encode a text file once into a memory-mappable corpus")
    prep.add_argument("file", help="a UTF-8 (or --encoding) text file")
    prep.add_argument("--out", help="output folder (default: <RNNLAB_DATA>/prepared/...)")
    prep.add_argument("--level", choices=("char", "word"), default="char")
    prep.add_argument("--encoding", default="utf-8", help="text encoding of FILE (default utf-8)")
    prep.add_argument("--split", default="0.9,0.05,0.05", help="train,val,test fractions by position")
    prep.add_argument("--min-count", type=_positive_int, default=1, help="word level: drop rarer words")
    prep.add_argument("--max-size", type=_positive_int, help="word level: keep the N most frequent words")
    prep.add_argument("--max-vocab", type=_positive_int, default=1_000_000,
                      help="refuse a vocabulary larger than this (default 1,000,000)")
    # `rnnlab data fetch NAME` and `rnnlab data make NAME`: every name is in rnnlab.data.registry.
    from .data_cli import add_data_parsers

    add_data_parsers(data_sub)

    train = sub.add_parser("train", help="train a model")
    train_sub = train.add_subparsers(dest="task", required=True, parser_class=_Parser)
    lm = train_sub.add_parser("lm", help="character- or word-level language model (truncated BPTT)",
                              epilog="Any setting can be given as --set section.key=value; sections: "
                              "model, data, optim, schedule, train (see the README).")
    lm.add_argument("--data", help="text file, prepared corpus folder, or dataset name (e.g. shakespeare)")
    lm.add_argument("--out", required=True, help="run folder (checkpoints, metrics.jsonl, curves.png)")
    lm.add_argument("--level", choices=("char", "word"), help="token level when --data is a text file")
    lm.add_argument("--encoding", help="text encoding when --data is a text file")
    lm.add_argument("--cell", help="rnn | rnn-relu | lstm | lstm-peephole | gru | gru-cho (default lstm)")
    lm.add_argument("--hidden", type=_positive_int, help="hidden units per layer")
    lm.add_argument("--layers", type=_positive_int, help="number of stacked layers")
    lm.add_argument("--embedding", type=_positive_int, help="embedding size")
    lm.add_argument("--dropout", type=_float, help="dropout between layers and before the output")
    lm.add_argument("--seq-len", type=_positive_int, help="T: truncation length of BPTT")
    lm.add_argument("--batch-size", type=_positive_int, help="B: parallel streams")
    add_budget_flags(lm)
    add_optimizer_flags(lm)
    add_run_flags(
        lm,
        overfit_help="sanity check: train on the first N batches only (loss must approach 0)",
        precision=True,
    )

    sample = sub.add_parser("sample", help="generate text from a trained language model")
    sample.add_argument("run", help="run folder (or checkpoint folder)")
    sample.add_argument("--prime", default="", help="text to start from")
    sample.add_argument("--length", type=_non_negative_int, default=500, help="tokens to generate")
    sample.add_argument("--temperature", type=_float, default=1.0, help="> 0; lower is more conservative")
    sample.add_argument("--top-k", type=int, help="sample among the k most likely tokens")
    sample.add_argument("--top-p", type=_float, help="nucleus sampling: smallest set with probability ≥ p")
    sample.add_argument("--greedy", action="store_true", help="always take the most likely token")
    sample.add_argument("--beam", type=_non_negative_int, default=0, help="beam search of this width")
    sample.add_argument("--seed", type=int, help="random seed (same seed, same text)")
    sample.add_argument("--stop", help="stop once this string has been generated")
    sample.add_argument("--unknown", choices=("error", "skip", "replace"), default="error",
                        help="what to do with prime characters outside the vocabulary")
    sample.add_argument("--checkpoint", choices=("best", "last"), default="best")
    sample.add_argument("--precision", choices=("fp32", "bf16", "auto"), default="fp32",
                        help="bf16: bfloat16 weight copies, faster at batch 1 (auto: where supported)")

    ev = sub.add_parser("eval", help="loss / bits per token / perplexity of a text under a trained model")
    ev.add_argument("run", help="run folder")
    ev.add_argument("file", nargs="?", help="text file (default: the run's validation and test splits)")
    ev.add_argument("--encoding", default="utf-8")
    ev.add_argument("--unknown", choices=("error", "skip", "replace"), default="error")
    ev.add_argument("--checkpoint", choices=("best", "last"), default="best")
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")

    plot = sub.add_parser("plot", help="draw a run's loss curves into RUN/curves.png")
    plot.add_argument("run", help="run folder")
    plot.add_argument("--out", help="PNG path (default RUN/curves.png)")

    # Other subcommands live beside the library code they call. Each module listed in EXTENSIONS
    # may define `add_parsers(sub)` (top-level commands) and `add_train_parsers(train_sub)`
    # (`rnnlab train TASK`); every parser sets its handler with `set_defaults(func=handler)`.
    for name in EXTENSIONS:
        module = importlib.import_module(name, __package__)
        if hasattr(module, "add_parsers"):
            module.add_parsers(sub)
        if hasattr(module, "add_train_parsers"):
            module.add_train_parsers(train_sub)
    return parser


# ---- subcommands ---------------------------------------------------------------------------


def _lm_config(args):
    """Defaults (or the saved config when resuming) <- --config <- flags <- --set."""
    from .train.config import LMRunConfig, apply_overrides, from_dict, load_yaml, merge, to_dict
    from .train.loop import resolve_resume_config

    values = load_yaml(args.config) if args.config else {}
    flags = {
        ("data", "path"): args.data, ("data", "level"): args.level, ("data", "encoding"): args.encoding,
        ("data", "seq_len"): args.seq_len, ("data", "batch_size"): args.batch_size,
        ("model", "cell"): args.cell, ("model", "hidden"): args.hidden, ("model", "layers"): args.layers,
        ("model", "embedding"): args.embedding, ("model", "dropout"): args.dropout,
        ("optim", "lr"): args.lr, ("optim", "name"): args.optimizer, ("schedule", "name"): args.schedule,
        ("train", "steps"): args.steps, ("train", "minutes"): args.minutes,
        ("train", "cpu_minutes"): args.cpu_minutes, ("train", "seed"): args.seed,
        ("train", "save_every"): args.save_every, ("train", "eval_every"): args.eval_every,
        ("train", "overfit"): args.overfit, ("train", "precision"): args.precision,
        ("train", "threads"): args.threads, ("train", "clip_norm"): args.clip,
    }
    for (section, key), value in flags.items():
        if value is not None:
            values = merge(values, {section: {key: value}})
    if (args.minutes is not None or args.cpu_minutes is not None) and args.steps is None:
        values = merge(values, {"train": {"steps": None}})  # --steps N | --minutes M | --cpu-minutes M
    if args.no_progress:
        values = merge(values, {"train": {"progress": False}})
    if args.resume:
        base = resolve_resume_config(Path(args.out), values)
    else:
        base = merge(to_dict(LMRunConfig()), values)
    return from_dict(LMRunConfig, apply_overrides(base, args.set))


def cmd_train(args) -> int:
    from .train.loop import train_lm

    config = _lm_config(args)
    summary = train_lm(config, args.out, resume=args.resume, force=args.force)
    print(f"trained {summary['step']} steps into {summary['out']}: val loss {summary['val_loss']:.4f} "
          f"({summary['val_bpc']:.4f} bits/token)")
    return 0


def cmd_data(args) -> int:
    from .data.text.corpus import TokenCorpus, cache_dir_for, prepare_corpus

    try:
        split = tuple(float(s) for s in args.split.split(","))
    except ValueError:
        raise UserError(f"--split expects three fractions like 0.9,0.05,0.05 (got {args.split!r}).") from None
    out = args.out or cache_dir_for(args.file, args.level, args.encoding)
    folder = prepare_corpus(args.file, out, level=args.level, encoding=args.encoding, split=split,
                            min_count=args.min_count, max_size=args.max_size,
                            max_vocab=args.max_vocab)
    corpus = TokenCorpus.open(folder)
    sizes = ", ".join(f"{s} {corpus.num_tokens(s):,}" for s in ("train", "val", "test"))
    print(f"prepared {folder}: {len(corpus.vocab):,} {args.level} tokens in the vocabulary; {sizes}")
    return 0


def cmd_sample(args) -> int:
    from .runs import sample_run

    pieces = sample_run(args.run, args.prime, args.length, temperature=args.temperature, top_k=args.top_k,
                        top_p=args.top_p, greedy=args.greedy, beam=args.beam, seed=args.seed,
                        stop=args.stop, unknown=args.unknown, which=args.checkpoint,
                        precision=args.precision)
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def cmd_eval(args) -> int:
    from .runs import eval_run, format_eval

    results = eval_run(args.run, args.file, encoding=args.encoding, unknown=args.unknown,
                       which=args.checkpoint)
    print(json.dumps(results, indent=1) if args.json else format_eval(results))
    return 0


def cmd_plot(args) -> int:
    from .viz.curves import plot_run

    print(plot_run(args.run, args.out))
    return 0


#: modules (relative to rnnlab) that add subcommands; see build_parser
EXTENSIONS: list[str] = [".tasks_cli", ".images_cli", ".diagnostics.commands", ".caption_cli"]

COMMANDS = {"train": cmd_train, "data": cmd_data, "sample": cmd_sample, "eval": cmd_eval, "plot": cmd_plot}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        handler = getattr(args, "func", None) or COMMANDS[args.command]
        return handler(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; the last checkpoint is intact (resume with --resume).", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
