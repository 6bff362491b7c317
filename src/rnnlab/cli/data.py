"""`rnnlab data prepare|fetch|make`: get datasets, by name, into the data folder.

Every dataset name, fetched or made, comes from the table of `rnnlab.data.registry`: a new dataset is
one entry there and no command-line code.
"""

from __future__ import annotations

from ..argtypes import positive_int as _positive_int
from ..data import registry
from ..errors import UserError
from .config import Parser

DATA_EPILOG = """examples:
  rnnlab data fetch shakespeare
  rnnlab data prepare mybook.txt --level word
  rnnlab data make dates
"""


def add_parsers(sub) -> None:
    import argparse

    data = sub.add_parser("data", help="fetch and prepare datasets", epilog=DATA_EPILOG,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    data_sub = data.add_subparsers(dest="data_command", required=True, parser_class=Parser)
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
    prep.set_defaults(func=cmd_prepare)
    fetch = data_sub.add_parser("fetch", help="download and convert a named dataset")
    fetch.add_argument("name", help="dataset name: " + ", ".join(registry.names("fetch")))
    fetch.set_defaults(func=cmd_fetch)
    made = registry.names("make")
    make = data_sub.add_parser("make", help="generate a synthetic dataset: " + ", ".join(made))
    make.add_argument("name", choices=made,
                      help="; ".join(f"{name}: {registry.get(name).description}" for name in made))
    make.add_argument("--seed", type=int, default=0, help="random seed (same seed, same data)")
    make.add_argument("--train", type=_positive_int, default=None,
                      help="training pairs / scenes / images (default: the dataset's own, e.g. 40000 scenes)")
    make.add_argument("--val", type=_positive_int, default=None, help="validation scenes / images")
    make.add_argument("--test", type=_positive_int, default=None, help="test scenes / images")
    make.add_argument("--force", action="store_true", help="make it again even if it exists")
    make.set_defaults(func=cmd_make)


def cmd_fetch(args) -> int:
    folder = registry.fetch(args.name)
    print(f"{args.name}: ready in {folder} (use --data {args.name})")
    return 0


def cmd_make(args) -> int:
    # Each dataset takes only the flags named in its registry entry (dates has no --val/--test).
    options = {option: getattr(args, option) for option in registry.get(args.name).options}
    options = {k: v for k, v in options.items() if v is not None}  # None: the dataset's own default
    folder = registry.make(args.name, **options)
    print(f"{args.name}: ready in {folder} (use --data {args.name})")
    return 0


def cmd_prepare(args) -> int:
    from ..data.corpus import TokenCorpus, cache_dir_for, prepare_corpus

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
