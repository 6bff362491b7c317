"""Command-line entry points of the image side (a group of `rnnlab.cli.GROUPS`).

    rnnlab train image --data fashion-mnist --out RUN --model knn|linear|mlp|cnn|rnn [options]
    rnnlab summary RUN|CONFIG|MODEL              layer output shapes and parameter counts
    rnnlab ensemble RUN [RUN ...] [--snapshots]  average the members' class probabilities
    rnnlab search SPACE.yaml --data D --out DIR  random search (coarse, then fine), in parallel

`rnnlab eval RUN` of an image run goes to `rnnlab.tasks.image.evaluate_run` through the task registry.
Each handler calls one library function and prints its result.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..argtypes import OPTIMIZERS_HELP, add_optimizer_flags, add_run_flags
from ..argtypes import non_negative_int as _non_negative_int
from ..argtypes import number as _float
from ..argtypes import positive_int as _positive_int
from .config import config_from_args

# ---- rnnlab train image ------------------------------------------------------------------------

TRAIN_EPILOG = """Every setting is also --set section.key=value (sections model, data, optim, schedule, train;
model has one sub-section per family, e.g. --set model.cnn.channels=[32,64,128]). examples:
  rnnlab data fetch fashion-mnist
  rnnlab train image --data fashion-mnist --out runs/knn --model knn
  rnnlab train image --data fashion-mnist --out runs/cnn --model cnn --minutes 10
  rnnlab train image --data fashion-mnist --out runs/gru --model rnn --cell gru --hidden 128
  rnnlab train image --data fashion-mnist --out runs/head --model cnn --encoder runs/cnn --freeze all
"""


def add_train_parsers(train_sub) -> None:
    p = train_sub.add_parser(
        "image",
        help="image classifier: knn, linear, mlp, cnn or row-by-row rnn",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", help="fashion-mnist, or a folder of MNIST-format IDX files")
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics.jsonl, confusion.png)")
    p.add_argument("--model", help="knn | linear | mlp | cnn | rnn (default cnn)")
    budget = p.add_argument_group("length of the run (whichever ends first)")
    budget.add_argument("--epochs", type=_float, help="passes over the training images")
    budget.add_argument("--steps", type=_positive_int, help="optimizer steps")
    budget.add_argument("--minutes", type=_float, help="wall-clock budget; the LR schedule ends with it")
    budget.add_argument(
        "--cpu-minutes",
        type=_float,
        help="CPU-time budget (all threads): unlike --minutes, not shortened by other jobs",
    )
    p.add_argument("--batch-size", type=_positive_int, help="B")
    add_optimizer_flags(p, optimizers=OPTIMIZERS_HELP + " | lbfgs", clip=False)
    p.add_argument("--weight-decay", type=_float, help="L2 penalty in the optimizer")
    p.add_argument("--features", help="pixels | hog | histogram | hog+histogram (knn, linear, mlp)")
    p.add_argument("--pca", type=_non_negative_int, help="keep N principal components (knn, linear, mlp)")
    p.add_argument(
        "--augment",
        choices=("none", "flip", "shift", "both"),
        help="training augmentation: horizontal flips, shifts of up to 2 pixels, or both",
    )
    m = p.add_argument_group("model options (for the chosen --model)")
    m.add_argument("--k", type=_non_negative_int, help="knn: neighbours (0: choose on validation)")
    m.add_argument("--distance", choices=("l1", "l2"), help="knn: distance")
    m.add_argument("--loss", choices=("softmax", "svm"), help="linear: loss")
    m.add_argument("--reg", type=_float, help="linear: regularisation strength λ")
    m.add_argument("--regularizer", choices=("l2", "l1", "elastic"), help="linear: R(W)")
    m.add_argument("--hidden", help="mlp: widths such as 512,256; rnn: hidden size; cnn: head width")
    m.add_argument("--activation", help="mlp: relu | leaky-relu | elu | tanh | sigmoid | maxout")
    m.add_argument("--dropout", type=_float, help="mlp, cnn, rnn: dropout")
    m.add_argument("--channels", help="cnn: channels of each block, such as 32,64")
    m.add_argument("--cell", help="rnn: rnn | rnn-relu | lstm | lstm-peephole | gru | gru-cho")
    m.add_argument("--layers", type=_positive_int, help="rnn: stacked layers")
    m.add_argument("--bidirectional", action="store_true", default=None, help="rnn: read the rows both ways")
    m.add_argument("--encoder", help="cnn: start from a trained encoder (a cnn run or encoder folder)")
    m.add_argument("--freeze", help="cnn with --encoder: all | none | block numbers like 0,1")
    m.add_argument("--finetune-lr", type=_float, help="cnn with --encoder: LR fraction for unfrozen blocks")
    add_run_flags(
        p,
        overfit_help="sanity check: train on N images only (the loss must go to about 0)",
        eval_help="validate every N steps (0: every epoch)",
        save_every=False,
        precision=True,
    )
    p.set_defaults(func=cmd_train_image)


def image_config_from_args(args):
    """Defaults of the model family (or the saved config when resuming) <- --config <- flags <- --set.

    The model family decides where --hidden, --dropout, ... go: --model, the config file, --set
    model.name=..., the run being resumed, or the default (cnn).
    """
    from ..tasks.image import ImageRunConfig, _override_value, default_config
    from ..train.config import load_yaml

    values = load_yaml(args.config) if args.config else {}
    name = args.model or (values.get("model") or {}).get("name") or _override_value(args.set, "model.name")
    if name is None and args.resume and (Path(args.out) / "checkpoints" / "last").is_file():
        from ..train.checkpoint import load_checkpoint

        name = load_checkpoint(Path(args.out), "last", task="image").document["config"]["model"]["name"]
    name = name or "cnn"
    flags = {
        "data": ("data", "path"), "batch_size": ("data", "batch_size"), "features": ("data", "features"),
        "pca": ("data", "pca"), "lr": ("optim", "lr"), "optimizer": ("optim", "name"),
        "weight_decay": ("optim", "weight_decay"), "schedule": ("schedule", "name"),
        "seed": ("train", "seed"), "eval_every": ("train", "eval_every"), "overfit": ("train", "overfit"),
        "precision": ("train", "precision"), "threads": ("train", "threads"),
    }
    for key in ("k", "distance", "loss", "reg", "regularizer", "activation", "dropout", "channels", "cell",
                "layers", "bidirectional", "encoder", "freeze", "finetune_lr", "hidden"):
        flags[key] = ("model", name, key)
    extra: dict = {("model", "name"): args.model}
    if args.augment is not None:
        extra[("data", "flip")] = args.augment in ("flip", "both")
        extra[("data", "translate")] = 2 if args.augment in ("shift", "both") else 0
    return config_from_args(args, "image", ImageRunConfig, flags, extra=extra, defaults=default_config(name),
                            budget="replace")


def cmd_train_image(args) -> int:
    from ..tasks.image import train_image

    config = image_config_from_args(args)
    summary = train_image(config, args.out, resume=args.resume, force=args.force)
    if summary.get("rank", 0):  # another rank than rank 0 under torchrun: rank 0 reports
        return 0
    val = summary["val_accuracy"]
    val_text = f"validation accuracy {100 * val:.2f}%, " if isinstance(val, float) and val == val else ""
    print(
        f"trained {config.model.name} for {summary['step']} steps into {summary['out']}: {val_text}"
        f"test accuracy {100 * summary['test_accuracy']:.2f}%"
    )
    return 0





# ---- summary, ensemble, search -----------------------------------------------------------------


def add_parsers(sub) -> None:
    s = sub.add_parser("summary", help="every layer's output shape and parameter count of a model")
    s.add_argument(
        "target", help="a run folder, a YAML config file, or a model name (knn, linear, mlp, cnn, rnn)"
    )
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override settings of a config or model name",
    )
    s.add_argument(
        "--image-shape", default="1,28,28", help="C,H,W for a config or model name (default 1,28,28)"
    )
    s.add_argument("--classes", type=_positive_int, default=10, help="K for a config or model name")
    s.set_defaults(func=cmd_summary)

    e = sub.add_parser("ensemble", help="average the class probabilities of trained image runs")
    e.add_argument("runs", nargs="+", help="image run folders (their best checkpoints)")
    e.add_argument("--snapshots", action="store_true", help="also average each run's RUN/snapshots/*")
    e.add_argument("--data", help="evaluate on this dataset's test set (default: the runs' own)")
    e.add_argument("--split", choices=("val", "test"), default="test")
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    e.set_defaults(func=cmd_ensemble)

    r = sub.add_parser(
        "search", help="random hyperparameter search (coarse stage, then fine) over image runs"
    )
    r.add_argument("space", help="YAML file: base config, the ranges to sample, the stages (see --help)")
    r.add_argument("--data", help="dataset for every trial (or base.data.path in the file)")
    r.add_argument("--out", required=True, help="search folder: trials/, results.csv, search.png")
    r.add_argument(
        "--workers",
        type=_non_negative_int,
        default=0,
        help="trials run in parallel processes (0: as many as CPU cores)",
    )
    r.add_argument("--seed", type=int, default=0, help="seed of the sampling")
    r.add_argument(
        "--resume", action="store_true", help="continue a search in --out (finished trials are kept)"
    )
    r.add_argument("--force", action="store_true", help="delete an existing --out and start over")
    r.set_defaults(func=cmd_search)


def cmd_summary(args) -> int:
    from ..tasks.summary import format_summary, summarize

    print(
        format_summary(
            summarize(args.target, overrides=args.set, image_shape=args.image_shape, num_classes=args.classes)
        )
    )
    return 0


def cmd_ensemble(args) -> int:
    from ..tasks.ensemble import ensemble_runs, format_ensemble

    result = ensemble_runs(args.runs, data=args.data, snapshots=args.snapshots, split=args.split)
    print(json.dumps(result, indent=1) if args.json else format_ensemble(result))
    return 0


def cmd_search(args) -> int:
    from ..search import run_search

    result = run_search(
        args.space,
        args.out,
        data=args.data,
        workers=args.workers,
        seed=args.seed,
        resume=args.resume,
        force=args.force,
    )
    best = result["best"]
    if best is None:
        print(f"search in {args.out}: no trial finished; see {result['csv']}")
        return 0
    values = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best["params"].items()
    )
    print(
        f"search in {args.out}: {result['done']} trials; best validation accuracy "
        f"{100 * best['val_accuracy']:.2f}% with {values}\nresults: {result['csv']}  plot: {result['plot']}"
    )
    return 0
