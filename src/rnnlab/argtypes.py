"""argparse `type=` converters and the flag groups shared by every command: a bad value becomes a one-line
usage error."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer ≥ 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 0, got {text!r}")
    return value


def number(text: str) -> float:
    """Any float (ranges are checked where the value is used, with the option's name)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


# ---- flags every `rnnlab train TASK` shares ------------------------------------------------------

OPTIMIZERS_HELP = "sgd | momentum | nesterov | adagrad | rmsprop | adam | adamw"
SCHEDULES_HELP = "constant | step | exponential | inverse-time | cosine | plateau"


def add_budget_flags(parser) -> None:
    """--steps N | --minutes M | --cpu-minutes M: how long the run is (one of the three)."""
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=positive_int, help="total optimizer steps")
    budget.add_argument("--minutes", type=number, help="wall-clock budget in minutes")
    budget.add_argument(
        "--cpu-minutes", type=number, help="CPU-time budget (all threads): not shortened by other jobs"
    )


def add_optimizer_flags(parser, optimizers: str = OPTIMIZERS_HELP, clip: bool = True) -> None:
    """--lr, --optimizer, --schedule (and --clip)."""
    parser.add_argument("--lr", type=number, help="peak learning rate")
    parser.add_argument("--optimizer", help=optimizers)
    parser.add_argument("--schedule", help=SCHEDULES_HELP)
    if clip:
        parser.add_argument("--clip", type=number, help="global gradient-norm clipping threshold")


def add_run_flags(
    parser,
    *,
    overfit_help: str,
    eval_help: str = "validate every N steps",
    save_every: bool = True,
    precision: bool = False,
) -> None:
    """--seed, --eval-every, --save-every, --overfit, --precision, --threads, --no-progress, --config,
    --set, --resume and --force."""
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--eval-every", type=non_negative_int, help=eval_help)
    if save_every:
        parser.add_argument("--save-every", type=non_negative_int, help="checkpoint every N steps")
    parser.add_argument("--overfit", type=positive_int, metavar="N", help=overfit_help)
    if precision:
        parser.add_argument(
            "--precision", choices=("fp32", "bf16", "auto"), help="bf16 autocast where supported"
        )
    parser.add_argument("--threads", type=non_negative_int, help="CPU threads (0: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--config", help="YAML file with sections model/data/optim/schedule/train")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override any setting (repeatable)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    parser.add_argument("--force", action="store_true", help="delete an existing --out and start over")
