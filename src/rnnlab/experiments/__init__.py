"""The lectures' claims as small experiments: `rnnlab experiment NAME [--out DIR] [--quick]`.

Each experiment is one module (see `common` for what it defines), builds its own small synthetic task
in code (nothing is downloaded), runs in a few CPU minutes at one thread, and writes a table (printed
and NAME.json) and a figure (NAME.png). `benchmarks/claims.py` runs them all at full size and checks
each expected direction.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import UserError
from .common import ExperimentResult, Timer, report, write_outputs

#: experiment name -> module (relative to this package), in the order `list` shows them
EXPERIMENTS: dict[str, str] = {
    "hello": ".hello",
    "long-memory": ".long_memory",
    "clipping": ".clipping",
    "sampling": ".sampling",
    "tbptt": ".tbptt",
    "init": ".initialization",
    "bidirectional": ".bidirectional",
    "dropout": ".dropout",
    "batchnorm": ".batchnorm",
}


def get(name: str):
    """The module of the experiment `name`."""
    if name not in EXPERIMENTS:
        raise UserError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)} "
                        "(`rnnlab experiment list` describes them).")
    return importlib.import_module(EXPERIMENTS[name], __name__)


def describe() -> str:
    """One line per experiment: its name, what it does and what the lectures predict."""
    lines = []
    for name in EXPERIMENTS:
        module = get(name)
        lines.append(f"{name:<14} {module.DESCRIPTION}\n{'':<14} expected: {module.CLAIM}")
    return "\n".join(lines)


def run_experiment(name: str, out: str | Path, *, quick: bool = False, seed: int = 0,
                   verbose: bool = False) -> dict:
    """Run one experiment, write NAME.json and NAME.png into `out`, and return the result as a dict.

    The dict has the table (`table`), the claim's check (`check`: claim, holds, measured), the data
    behind the figure (`data`) and the paths written (`files`).
    """
    module = get(name)
    with Timer() as timer:
        result: ExperimentResult = module.run(quick=quick, seed=seed)
    result.seconds, result.quick, result.seed = timer.seconds, quick, seed
    write_outputs(result, Path(out), module.figure)
    if verbose:
        print(report(result))
        print(f"\nwrote {result.files['json']} and {result.files['figure']} ({result.seconds:.1f} s)")
    return result.to_dict()
