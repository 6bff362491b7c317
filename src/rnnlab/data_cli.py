"""`rnnlab data fetch NAME` and `rnnlab data make NAME`: thin, over `rnnlab.data.registry`.

Every dataset name, fetched or made, comes from the registry's table, so a new dataset is one entry there
and no command-line code. (`rnnlab data prepare FILE` lives in rnnlab.cli.)
"""

from __future__ import annotations

from .argtypes import positive_int as _positive_int
from .data import registry


def add_data_parsers(data_sub) -> None:
    """Add `fetch` and `make` to the sub-commands of `rnnlab data`."""
    fetch = data_sub.add_parser("fetch", help="download and convert a named dataset")
    fetch.add_argument("name", help="dataset name: " + ", ".join(registry.names("fetch")))
    fetch.set_defaults(func=cmd_data_fetch)

    made = registry.names("make")
    make = data_sub.add_parser("make", help="generate a synthetic dataset: " + ", ".join(made))
    make.add_argument(
        "name",
        choices=made,
        help="; ".join(f"{name}: {registry.get(name).description}" for name in made),
    )
    make.add_argument("--seed", type=int, default=0, help="random seed (same seed, same data)")
    make.add_argument("--train", type=_positive_int, default=40_000, help="training pairs / scenes")
    make.add_argument("--val", type=_positive_int, default=1_000, help="scenes: validation scenes")
    make.add_argument("--test", type=_positive_int, default=2_000, help="scenes: test scenes")
    make.add_argument("--force", action="store_true", help="make it again even if it exists")
    make.set_defaults(func=cmd_data_make)


def cmd_data_fetch(args) -> int:
    folder = registry.fetch(args.name)
    print(f"{args.name}: ready in {folder} (use --data {args.name})")
    return 0


def cmd_data_make(args) -> int:
    # Each dataset takes only the flags named in its registry entry (dates has no --val/--test).
    options = {option: getattr(args, option) for option in registry.get(args.name).options}
    folder = registry.make(args.name, **options)
    print(f"{args.name}: ready in {folder} (use --data {args.name})")
    return 0
