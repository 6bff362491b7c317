"""The `rnnlab` command line: thin; each subcommand calls one library function.

One module per command group, listed once in GROUPS (a static table: nothing registers itself by
being imported):

    data        rnnlab data prepare FILE | data fetch NAME | data make NAME      (cli/data.py)
    lm          rnnlab train lm …, rnnlab sample RUN …                           (cli/lm.py)
    text        rnnlab train classify|tag|seq2seq …, predict, translate          (cli/text.py)
    image       rnnlab train image …, summary, ensemble, search                  (cli/image.py)
    caption     rnnlab train caption …, caption                                  (cli/caption.py)
    runs        rnnlab eval RUN [DATA], rnnlab plot RUN (any task)               (cli/runs.py)
    diagnostics rnnlab gradcheck, gradflow, diagnose, experiment                 (cli/diagnostics.py)

Every `train` subcommand resolves its configuration with `config.config_from_args`. A user's mistake
ends with one line, `error: ...`, and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import UserError
from . import caption, data, diagnostics, image, lm, runs, text, vqa
from .config import Parser

EXAMPLES = """examples:
  rnnlab data fetch shakespeare
  rnnlab train lm --data shakespeare --out runs/shakespeare --minutes 10
  rnnlab sample runs/shakespeare --prime "ROMEO:" --length 500 --temperature 0.8 --seed 1
  rnnlab eval runs/shakespeare
  rnnlab plot runs/shakespeare
"""

#: the command groups, in the order `rnnlab --help` lists them
GROUPS = (data, lm, text, image, caption, vqa, runs, diagnostics)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="rnnlab", description="Recurrent neural networks from the equations to trained "
                    "models.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"rnnlab {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    train = sub.add_parser("train", help="train a model")
    train_sub = train.add_subparsers(dest="task", required=True, parser_class=Parser)
    for group in GROUPS:
        if hasattr(group, "add_train_parsers"):
            group.add_train_parsers(train_sub)
        if hasattr(group, "add_parsers"):
            group.add_parsers(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rnnlab")
    except PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
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
