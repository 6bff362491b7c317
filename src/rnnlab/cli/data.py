"""`rnnlab data prepare|fetch|make`: get datasets, by name, into the data folder."""

from __future__ import annotations

from ..argtypes import positive_int as _positive_int
from ..errors import UserError
from .config import Parser

DATA_EPILOG = """examples:
  rnnlab data fetch shakespeare
  rnnlab data prepare mybook.txt --level word
  rnnlab data make dates
"""


def _fetch_emoji():
    from ..data.captions import fetch_emoji

    return fetch_emoji(progress=True)


def _make_dates(args):
    from ..data.text_tasks import make_dates_dataset

    return make_dates_dataset(seed=args.seed, train=args.train, force=args.force)


def _make_scenes(args):
    from ..data.captions import make_scenes

    return make_scenes(seed=args.seed, train=args.train, val=args.val, test=args.test, force=args.force)


#: datasets made by rnnlab itself: name -> (maker, description)
MADE = {
    "dates": (_make_dates, "human-readable dates -> ISO 8601 (seq2seq)"),
    "scenes": (_make_scenes, "Fashion-MNIST composites with captions and boxes (caption)"),
}


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
    fetch.add_argument("name", help="dataset name (rnnlab data fetch --help lists them)")
    fetch.set_defaults(func=cmd_fetch)
    make = data_sub.add_parser("make", help="generate a synthetic dataset: " + ", ".join(MADE))
    make.add_argument("name", choices=tuple(MADE), help="; ".join(f"{k}: {v[1]}" for k, v in MADE.items()))
    make.add_argument("--seed", type=int, default=0, help="random seed (same seed, same data)")
    make.add_argument("--train", type=_positive_int, default=40_000, help="training examples")
    make.add_argument("--val", type=_positive_int, default=1_000, help="scenes: validation scenes")
    make.add_argument("--test", type=_positive_int, default=2_000, help="scenes: test scenes")
    make.add_argument("--force", action="store_true", help="make it again even if it exists")
    make.set_defaults(func=cmd_make)


def cmd_fetch(args) -> int:
    if args.name == "emoji":
        folder = _fetch_emoji()
    else:
        from ..data.fetch import fetch

        folder = fetch(args.name)
    print(f"{args.name}: ready in {folder} (use --data {args.name})")
    return 0


def cmd_make(args) -> int:
    folder = MADE[args.name][0](args)
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
