"""Command line of the sequence tasks (a group of `rnnlab.cli.GROUPS`); each handler calls one function.

rnnlab train classify --data FILE|DIR|NAME --out RUN [--text-column C --label-column C] ...
rnnlab train tag      --data FILE|DIR|NAME --out RUN [--format slash|conll] ...
rnnlab train seq2seq  --data FILE|DIR|NAME --out RUN [--attention additive|dot|general|none] ...
rnnlab predict RUN "text" ...                 label, probabilities, most attended tokens (or tags)
rnnlab translate RUN "text" [--beam 5] [--attention out.png]
"""

from __future__ import annotations

import json

from ..argtypes import add_budget_flags, add_optimizer_flags, add_run_flags
from ..argtypes import non_negative_int as _non_negative_int
from ..argtypes import number as _float
from ..argtypes import positive_int as _positive_int
from .config import config_from_args

# flag -> (section, key) of the run configuration, per task (flags shared by all three first)
COMMON_FLAGS = {
    "data": ("data", "path"),
    "encoding": ("data", "encoding"),
    "batch_size": ("data", "batch_size"),
    "max_length": ("data", "max_length"),
    "bad_rows": ("data", "bad_rows"),
    "too_long": ("data", "too_long"),
    "cell": ("model", "cell"),
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
TASK_FLAGS = {
    "classify": {
        "text_column": ("data", "text_column"),
        "label_column": ("data", "label_column"),
        "format": ("data", "format"),
        "level": ("data", "level"),
        "layers": ("model", "layers"),
        "pooling": ("model", "pooling"),
        "lowercase": ("data", "lowercase"),
        "pretrained": ("init", "pretrained"),
    },
    "tag": {"format": ("data", "format"), "layers": ("model", "layers"), "lowercase": ("data", "lowercase")},
    "seq2seq": {
        "attention": ("model", "attention"),
        "teacher_forcing": ("model", "teacher_forcing"),
        "source_level": ("data", "source_level"),
        "target_level": ("data", "target_level"),
        "layers": ("model", "encoder_layers"),
        "limit": ("data", "limit"),
        "lowercase": ("data", "lowercase"),
    },
}


def _common_train_flags(parser) -> None:
    parser.add_argument("--data", help="data file, folder with train/val/test files, or dataset name")
    parser.add_argument("--out", required=True, help="run folder (checkpoints, metrics.jsonl, curves.png)")
    parser.add_argument("--encoding", help="text encoding of the data files (default utf-8)")
    parser.add_argument("--cell", help="rnn | rnn-relu | lstm | lstm-peephole | gru | gru-cho")
    parser.add_argument("--hidden", type=_positive_int, help="hidden units per layer and direction")
    parser.add_argument("--layers", type=_positive_int, help="stacked recurrent layers")
    parser.add_argument("--embedding", type=_positive_int, help="embedding size")
    parser.add_argument("--dropout", type=_float, help="dropout probability")
    parser.add_argument("--batch-size", type=_positive_int, help="examples per batch")
    parser.add_argument("--max-length", type=_non_negative_int, help="longest input in tokens (0: no limit)")
    parser.add_argument(
        "--too-long",
        choices=("truncate", "error"),
        help="over-long inputs: truncate with a warning (default) or refuse",
    )
    parser.add_argument(
        "--bad-rows",
        choices=("error", "skip"),
        help="malformed rows (wrong field count, missing label, empty text): error or skip",
    )
    parser.add_argument("--lowercase", action="store_const", const=True, help="lower-case the text")
    add_budget_flags(parser)
    add_optimizer_flags(parser)
    add_run_flags(
        parser, overfit_help="sanity check: train and validate on the first N training examples only"
    )


def add_train_parsers(train_sub) -> None:
    epilog = (
        "Any setting can be given as --set section.key=value; sections: model, data, optim, schedule, "
        "train (classify also init)."
    )
    classify = train_sub.add_parser(
        "classify", help="many-to-one text classification (e.g. sentiment)", epilog=epilog
    )
    _common_train_flags(classify)
    classify.add_argument("--text-column", help="name of the text column/field (default text)")
    classify.add_argument("--label-column", help="name of the label column/field (default label)")
    classify.add_argument(
        "--format", choices=("auto", "csv", "tsv", "jsonl"), help="data format (default auto)"
    )
    classify.add_argument("--level", choices=("word", "char"), help="token level (default word)")
    classify.add_argument("--pooling", choices=("last", "mean", "max", "attention"), help="default mean")
    classify.add_argument(
        "--pretrained",
        metavar="RUN",
        help="fine-tune: start from this classify run's vocabulary and weights (same model settings)",
    )
    classify.set_defaults(func=cmd_train_task, task_name="classify")

    tag = train_sub.add_parser(
        "tag", help="many-to-many tagging, one tag per word (e.g. part of speech)", epilog=epilog
    )
    _common_train_flags(tag)
    tag.add_argument("--format", choices=("auto", "slash", "conll"), help="word/TAG lines or CoNLL columns")
    tag.add_argument("--no-char-features", action="store_true", help="word embeddings only")
    tag.set_defaults(func=cmd_train_task, task_name="tag")

    seq = train_sub.add_parser(
        "seq2seq", help="encoder-decoder with attention (translation, dates)", epilog=epilog
    )
    _common_train_flags(seq)
    seq.add_argument(
        "--attention",
        choices=("additive", "dot", "general", "scaled-dot", "none"),
        help="attention score (default additive)",
    )
    seq.add_argument(
        "--teacher-forcing", type=_float, help="probability of feeding the gold token (default 1)"
    )
    seq.add_argument("--source-level", choices=("char", "word"), help="source tokens (default char)")
    seq.add_argument("--target-level", choices=("char", "word"), help="target tokens (default char)")
    seq.add_argument("--limit", type=_non_negative_int, help="use only the first N training pairs")
    seq.set_defaults(func=cmd_train_task, task_name="seq2seq")


def add_parsers(sub) -> None:
    predict = sub.add_parser("predict", help="label (or tag) texts with a classify or tag run")
    predict.add_argument("run", help="run folder")
    predict.add_argument("texts", nargs="+", metavar="TEXT", help="text(s) to classify")
    predict.add_argument(
        "--unknown",
        choices=("replace", "skip", "error"),
        default="replace",
        help="tokens outside the vocabulary: <unk> (default), dropped, or an error",
    )
    predict.add_argument("--top", type=_positive_int, default=5, help="most attended tokens to show")
    predict.add_argument("--checkpoint", choices=("best", "last"), default="best")
    predict.add_argument("--json", action="store_true", help="print JSON")
    predict.set_defaults(func=cmd_predict)

    translate = sub.add_parser("translate", help="translate a text with a seq2seq run")
    translate.add_argument("run", help="run folder")
    translate.add_argument("text", help="source text")
    translate.add_argument("--beam", type=_positive_int, default=5, help="beam size (1: greedy)")
    translate.add_argument("--length-penalty", type=_float, default=0.6, help="GNMT alpha (0: none)")
    translate.add_argument("--max-length", type=_positive_int, help="longest output in tokens")
    translate.add_argument("--attention", metavar="PNG", help="draw the attention matrix into this PNG")
    translate.add_argument(
        "--unknown",
        choices=("replace", "skip", "error"),
        default="replace",
        help="source tokens outside the vocabulary: <unk> (default), dropped, or an error",
    )
    translate.add_argument("--checkpoint", choices=("best", "last"), default="best")
    translate.add_argument("--json", action="store_true", help="print JSON")
    translate.set_defaults(func=cmd_translate)


# ---- handlers ----------------------------------------------------------------------------------


def task_config(args):
    """Defaults (or the saved config when resuming) <- --config <- flags <- --set, for args.task_name."""
    from ..tasks.text import TASKS

    name = args.task_name
    _, config_cls = TASKS[name]
    flags = {**COMMON_FLAGS, **TASK_FLAGS[name]}
    if name == "seq2seq":
        flags["max_length"] = ("data", "max_source_length")
    extra = {("model", "char_features"): False} if getattr(args, "no_char_features", False) else {}
    return config_from_args(args, name, config_cls, flags, extra=extra)


def cmd_train_task(args) -> int:
    from ..tasks.text import TASKS
    from ..train.supervised import train_supervised

    config = task_config(args)
    task_cls, _ = TASKS[args.task_name]
    summary = train_supervised(task_cls(config), args.out, resume=args.resume, force=args.force)
    if summary.get("rank", 0):  # another rank than rank 0 under torchrun: rank 0 reports
        return 0
    val = summary["val"]
    print(
        f"trained {summary['step']} steps into {summary['out']}: val loss {val['loss']:.4f}, "
        f"{summary['primary']} {val[summary['primary']]:.4f} (best {summary['best']:.4f})"
    )
    return 0


def cmd_predict(args) -> int:
    from ..tasks.text import predict_text

    results = predict_text(args.run, args.texts, which=args.checkpoint, unknown=args.unknown, top=args.top)
    if args.json:
        print(json.dumps(results, indent=1, ensure_ascii=False))
        return 0
    for r in results:
        if "tags" in r:
            print(" ".join(f"{w}/{t}" for w, t in zip(r["words"], r["tags"])))
        else:
            probs = "  ".join(f"{label} {p:.3f}" for label, p in r["probabilities"].items())
            print(f"{r['label']}\t({probs})")
            if "attention" in r:
                print("  most attended: " + ", ".join(f"{t!r} {w:.2f}" for t, w in r["attention"]))
        if r["unknown"]:
            print(f"  unknown to the model (read as <unk>): {', '.join(r['unknown'][:10])}")
    return 0


def cmd_translate(args) -> int:
    from ..tasks.text import translate_text

    result = translate_text(
        args.run,
        args.text,
        which=args.checkpoint,
        beam=args.beam,
        length_penalty=args.length_penalty,
        unknown=args.unknown,
        max_length=args.max_length,
        attention_png=args.attention,
    )
    if args.json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
        return 0
    print(result["translation"])
    if "attention_png" in result:
        print(f"attention: {result['attention_png']}")
    return 0
