"""Command line of image captioning (a group of `rnnlab.cli.GROUPS`); each handler calls one function.

rnnlab data fetch emoji                       npm emoji-datasource-google -> <data>/emoji (rnnlab.data_cli)
rnnlab data make scenes [--seed S] [--train N --val N --test N]                  (rnnlab.data_cli)
rnnlab train caption --data emoji|scenes|captions.json --out RUN
                     [--decoder show-tell|soft|hard|where|look] ...
rnnlab caption RUN IMAGE... [--beam 3] [--attention out.png] [--temperature T --seed S]
"""

from __future__ import annotations

import argparse
import json

from ..argtypes import add_budget_flags, add_optimizer_flags, add_run_flags
from ..argtypes import number as _float
from ..argtypes import positive_int as _positive_int
from ..console import warn
from ..errors import UserError
from .config import config_from_args

DECODER_NAMES = ("show-tell", "soft", "hard", "where", "look")  # rnnlab.models.decoders.DECODERS
# the deprecated `train caption --attention` (one release) -> the decoder it meant
OLD_ATTENTION = {"soft": "soft", "hard": "hard", "init": "show-tell"}

# flag -> (section, key) of the caption run configuration
FLAGS = {
    "data": ("data", "path"),
    "images": ("data", "images"),
    "features": ("data", "features"),
    "image_size": ("data", "image_size"),
    "batch_size": ("data", "batch_size"),
    "decoder": ("model", "decoder"),
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

TRAIN_EPILOG = """Any setting can be given as --set section.key=value; sections: model (with model.encoder),
data, optim, schedule, train. examples:
  rnnlab data make scenes
  rnnlab train caption --data scenes --out runs/scenes --cpu-minutes 10
  rnnlab train caption --data emoji --out runs/emoji-show-tell --decoder show-tell
  rnnlab train caption --data scenes --out runs/scenes-cnn --encoder runs/fmnist-cnn --freeze all
  rnnlab train caption --data captions.json --images photos/ --out runs/mine
"""


def add_train_parsers(train_sub) -> None:
    p = train_sub.add_parser(
        "caption",
        help="image captioning: Show and Tell, Show Attend and Tell",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data", help="emoji, scenes, a COCO/Karpathy captions JSON, or a folder with captions.json"
    )
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics.jsonl, curves.png)")
    p.add_argument("--images", help="image folder of a captions JSON (default: images/ beside it)")
    p.add_argument("--features", help="precomputed features .npy/.npz (N, D) or (N, L, D) instead of a CNN")
    p.add_argument("--image-size", type=_positive_int, help="images are resized to S×S (default 64)")
    p.add_argument(
        "--decoder",
        choices=DECODER_NAMES,
        help="soft (default) | hard (REINFORCE) | where | look | show-tell (no attention: the image "
        "sets h0); its settings: --set model.SECTION.KEY=VALUE (sections show_tell, soft, hard, where, look)",
    )
    p.add_argument(
        "--attention",
        choices=tuple(OLD_ATTENTION),
        help="deprecated (one release): soft | hard | init, the same as --decoder soft | hard | show-tell",
    )
    p.add_argument("--cell", help="rnn | lstm | gru (or a variant; default lstm)")
    p.add_argument("--hidden", type=_positive_int, help="hidden units H")
    p.add_argument("--embedding", type=_positive_int, help="word-vector size E")
    p.add_argument("--dropout", type=_float, help="dropout on word vectors and before the output")
    p.add_argument(
        "--encoder", help="start from a trained CNN (a `train image --model cnn` run or its encoder/)"
    )
    p.add_argument("--freeze", help="encoder blocks to keep fixed: all | none | 0,1 (default none)")
    p.add_argument("--batch-size", type=_positive_int, help="captions per batch")
    add_budget_flags(p)
    add_optimizer_flags(p)
    add_run_flags(p, overfit_help="sanity check: train and validate on the first N training captions only")
    p.set_defaults(func=cmd_train_caption)


def add_parsers(sub) -> None:
    c = sub.add_parser("caption", help="caption image files with a trained caption run")
    c.add_argument("run", help="run folder")
    c.add_argument("images", nargs="+", metavar="IMAGE", help="image file(s): PNG, JPEG, ...")
    c.add_argument("--beam", type=_positive_int, default=3, help="beam size (1: greedy; default 3)")
    c.add_argument("--length-penalty", type=_float, default=0.0, help="GNMT alpha (0: none)")
    c.add_argument("--temperature", type=_float, help="sample with this temperature instead of searching")
    c.add_argument("--seed", type=int, help="random seed of sampling")
    c.add_argument("--max-length", type=_positive_int, help="longest caption in words")
    c.add_argument("--attention", metavar="PNG", help="draw the per-word attention strip into this PNG")
    c.add_argument("--checkpoint", choices=("best", "last"), default="best")
    c.add_argument("--json", action="store_true", help="print JSON")
    c.set_defaults(func=cmd_caption)


# ---- handlers ----------------------------------------------------------------------------------


def caption_config(args):
    """Defaults (or the saved config when resuming) <- --config <- flags <- --set."""
    from ..tasks.caption import CaptionRunConfig

    extra = {("model", "encoder", "path"): args.encoder, ("model", "encoder", "freeze"): args.freeze}
    if args.attention is not None:
        meant = OLD_ATTENTION[args.attention]
        if args.decoder is not None and args.decoder != meant:
            raise UserError(
                f"--attention {args.attention} (deprecated) means --decoder {meant}, which contradicts "
                f"--decoder {args.decoder}; give --decoder only."
            )
        warn(f"--attention {args.attention} is deprecated; use --decoder {meant}.")
        extra[("model", "decoder")] = meant
    return config_from_args(args, "caption", CaptionRunConfig, FLAGS, extra=extra)


def cmd_train_caption(args) -> int:
    from ..tasks.caption import train_caption

    config = caption_config(args)
    summary = train_caption(config, args.out, resume=args.resume, force=args.force)
    if summary.get("rank", 0):  # another rank than rank 0 under torchrun: rank 0 reports
        return 0
    val = summary["val"]
    print(
        f"trained {summary['step']} steps into {summary['out']}: val loss {val['loss']:.4f}, "
        f"bleu4 {val['bleu4']:.2f}, cider {val['cider']:.3f}, exact match {val['exact_match']:.3f} "
        f"(best bleu4 {summary['best']:.2f})"
    )
    return 0


def cmd_caption(args) -> int:
    from ..tasks.caption import caption_images

    if args.temperature is not None and not args.temperature > 0:
        raise UserError(f"--temperature must be greater than 0 (got {args.temperature}).")
    results = caption_images(
        args.run,
        args.images,
        which=args.checkpoint,
        beam=args.beam,
        length_penalty=args.length_penalty,
        temperature=args.temperature,
        seed=args.seed,
        max_length=args.max_length,
        attention_png=args.attention,
    )
    if args.json:
        print(json.dumps(results, indent=1, ensure_ascii=False))
        return 0
    for r in results:
        print(f"{r['image']}: {r['caption']}" if len(results) > 1 else r["caption"])
        if "attention_png" in r:
            print(f"attention: {r['attention_png']}")
    return 0
