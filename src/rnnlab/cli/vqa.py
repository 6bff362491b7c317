"""Command line of visual question answering (a group of `rnnlab.cli.GROUPS`).

rnnlab data make shapes-vqa [--seed S] [--train N --val N --test N]                  (rnnlab.cli.data)
rnnlab train vqa --data shapes-vqa|qa.json --out RUN [--kind lecture|question-only|image-only] ...
rnnlab ask RUN IMAGE "question?" [--unknown warn|error] [--json]
"""

from __future__ import annotations

import argparse
import json
import warnings

from ..argtypes import add_budget_flags, add_optimizer_flags, add_run_flags
from ..argtypes import number as _float
from ..argtypes import positive_int as _positive_int
from .config import config_from_args

FLAGS = {
    "data": ("data", "path"),
    "batch_size": ("data", "batch_size"),
    "kind": ("model", "kind"),
    "cell": ("model", "cell"),
    "fusion": ("model", "fusion"),
    "hidden": ("model", "hidden"),
    "embedding": ("model", "embedding"),
    "dropout": ("model", "dropout"),
    "steps": ("train", "steps"),
    "minutes": ("train", "minutes"),
    "cpu_minutes": ("train", "cpu_minutes"),
    "seed": ("train", "seed"),
    "eval_every": ("train", "eval_every"),
    "save_every": ("train", "save_every"),
    "overfit": ("train", "overfit"),
    "threads": ("train", "threads"),
    "clip": ("train", "clip_norm"),
    "lr": ("optim", "lr"),
    "optimizer": ("optim", "name"),
    "schedule": ("schedule", "name"),
}

TRAIN_EPILOG = """Any setting can be given as --set section.key=value; sections: model (with model.cnn),
encoder, data, optim, schedule, train. examples:
  rnnlab data make shapes-vqa
  rnnlab train vqa --data shapes-vqa --out runs/vqa --cpu-minutes 5
  rnnlab train vqa --data shapes-vqa --out runs/vqa-q --kind question-only
  rnnlab eval runs/vqa --json
  rnnlab ask runs/vqa scene.png "what shape is the red object?"
"""


def add_train_parsers(train_sub) -> None:
    p = train_sub.add_parser(
        "vqa",
        help="visual question answering: CNN + RNN -> answer",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", help="shapes-vqa, a cached VQA folder, or a JSON of {image, question, answer}")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument(
        "--kind", choices=("lecture", "question-only", "image-only"), help="model (default lecture)"
    )
    p.add_argument("--cell", choices=("lstm", "gru"), help="question RNN cell (default lstm)")
    p.add_argument("--fusion", choices=("concat", "product"), help="how image and question meet")
    p.add_argument("--hidden", type=_positive_int, help="question RNN units")
    p.add_argument("--embedding", type=_positive_int, help="word-vector size")
    p.add_argument("--dropout", type=_float, help="dropout in the answer MLP")
    p.add_argument("--encoder", help="start from a trained CNN (a `train image --model cnn` run or encoder/)")
    p.add_argument("--freeze", help="encoder blocks to keep fixed: all | none | 0,1 (default none)")
    p.add_argument("--batch-size", type=_positive_int, help="questions per batch")
    add_budget_flags(p)
    add_optimizer_flags(p)
    add_run_flags(p, overfit_help="sanity check: train and validate on the first N training questions only")
    p.set_defaults(func=cmd_train_vqa)


def add_parsers(sub) -> None:
    a = sub.add_parser("ask", help="answer a question about an image with a trained vqa run")
    a.add_argument("run", help="run folder")
    a.add_argument("image", help="image file (PNG, JPEG, ...)")
    a.add_argument("question", help='the question, e.g. "what shape is the red object?"')
    a.add_argument(
        "--unknown",
        choices=("warn", "error"),
        default="warn",
        help="words the run never saw: read as <unk> with a warning, or refuse",
    )
    a.add_argument("--top", type=_positive_int, default=3, help="show this many answers")
    a.add_argument("--checkpoint", choices=("best", "last"), default="best")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(func=cmd_ask)


def cmd_train_vqa(args) -> int:
    from ..tasks.vqa import VQARunConfig, train_vqa

    extra = {("encoder", "path"): args.encoder, ("encoder", "freeze"): args.freeze}
    config = config_from_args(args, "vqa", VQARunConfig, FLAGS, extra=extra)
    summary = train_vqa(config, args.out, resume=args.resume, force=args.force)
    if summary.get("rank", 0):
        return 0
    val = summary["val"]
    print(
        f"trained {summary['step']} steps into {summary['out']}: val loss {val['loss']:.4f}, "
        f"accuracy {val['accuracy']:.4f} (best {summary['best']:.4f})"
    )
    return 0


def cmd_ask(args) -> int:
    from ..tasks.vqa import ask

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ask(
            args.run, args.image, args.question, which=args.checkpoint, unknown=args.unknown, top=args.top
        )
    for w in caught:
        print(f"warning: {w.message}", file=__import__("sys").stderr)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(result["answer"])
    for answer, p in result["top"]:
        print(f"  {answer:<10} {p:.3f}")
    return 0
