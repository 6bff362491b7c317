"""`rnnlab train lm` and `rnnlab sample`: the language model's commands."""

from __future__ import annotations

import sys

from ..argtypes import add_budget_flags, add_optimizer_flags, add_run_flags
from ..argtypes import non_negative_int as _non_negative_int
from ..argtypes import number as _float
from ..argtypes import positive_int as _positive_int
from .config import config_from_args

TRAIN_EPILOG = """Any setting can be given as --set section.key=value; sections: model, data, optim, schedule,
train (see the README). examples:
  rnnlab data fetch shakespeare
  rnnlab train lm --data shakespeare --out runs/shakespeare --minutes 10
  rnnlab train lm --data mybook.txt --level word --out runs/book --cell gru --layers 3
"""

SAMPLE_EPILOG = """examples:
  rnnlab sample runs/shakespeare --prime "ROMEO:" --length 500 --temperature 0.8 --seed 1
  rnnlab sample runs/shakespeare --prime "To be" --length 60 --beam 5
"""

#: flag -> configuration key
FLAGS = {
    "data": ("data", "path"), "level": ("data", "level"), "encoding": ("data", "encoding"),
    "seq_len": ("data", "seq_len"), "batch_size": ("data", "batch_size"),
    "cell": ("model", "cell"), "hidden": ("model", "hidden"), "layers": ("model", "layers"),
    "embedding": ("model", "embedding"), "dropout": ("model", "dropout"),
    "lr": ("optim", "lr"), "optimizer": ("optim", "name"), "schedule": ("schedule", "name"),
    "steps": ("train", "steps"), "minutes": ("train", "minutes"), "cpu_minutes": ("train", "cpu_minutes"),
    "seed": ("train", "seed"), "save_every": ("train", "save_every"), "eval_every": ("train", "eval_every"),
    "overfit": ("train", "overfit"), "precision": ("train", "precision"), "threads": ("train", "threads"),
    "clip": ("train", "clip_norm"),
}


def add_train_parsers(train_sub) -> None:
    import argparse

    lm = train_sub.add_parser("lm", help="character- or word-level language model (truncated BPTT)",
                              epilog=TRAIN_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
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

    lm.set_defaults(func=cmd_train)


def add_parsers(sub) -> None:
    import argparse

    sample = sub.add_parser("sample", help="generate text from a trained language model",
                            epilog=SAMPLE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
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

    sample.set_defaults(func=cmd_sample)


def cmd_train(args) -> int:
    from ..tasks.lm import LMRunConfig, train_lm

    config = config_from_args(args, "lm", LMRunConfig, FLAGS)
    summary = train_lm(config, args.out, resume=args.resume, force=args.force)
    if summary.get("val_loss") is None:  # another rank than rank 0 under torchrun: rank 0 reports
        return 0
    print(f"trained {summary['step']} steps into {summary['out']}: val loss {summary['val_loss']:.4f} "
          f"({summary['val_bpc']:.4f} bits/token)")
    return 0


def cmd_sample(args) -> int:
    from ..tasks.lm import sample_run

    pieces = sample_run(args.run, args.prime, args.length, temperature=args.temperature, top_k=args.top_k,
                        top_p=args.top_p, greedy=args.greedy, beam=args.beam, seed=args.seed,
                        stop=args.stop, unknown=args.unknown, which=args.checkpoint,
                        precision=args.precision)
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0
