"""Subcommands of this package: `rnnlab gradcheck`, `gradflow`, `diagnose` and `experiment`.

A group of `rnnlab.cli.GROUPS`; each handler calls one library function and
prints its table (or JSON). A check that fails makes the command exit 1; a user's mistake raises
`UserError` (one line, exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..argtypes import number as _float
from ..argtypes import positive_int as _positive_int
from ..errors import UserError


def _set_threads(threads: int) -> None:
    """These models are tiny: one thread is as fast as many, and leaves the other cores alone."""
    import torch

    torch.set_num_threads(threads)


def add_parsers(sub) -> None:
    gc = sub.add_parser("gradcheck", help="check every model's gradients against finite differences",
                        description="torch.autograd.gradcheck on tiny float64 versions of every model; "
                        "prints the largest relative error ‖A-N‖/(‖A‖+‖N‖) of each.")
    gc.add_argument("--model", help="a case name (cell/lstm), a group (cell, recurrent, lm) or a glob "
                    "('recurrent/*/fused'); default: all")
    gc.add_argument("--list", action="store_true", help="list the case names and exit")
    gc.add_argument("--json", action="store_true", help="print JSON instead of a table")
    gc.add_argument("--threads", type=_positive_int, default=1, help="CPU threads (default 1)")
    gc.set_defaults(func=cmd_gradcheck)

    gf = sub.add_parser("gradflow", help="the norm of ∂L_T/∂h_t back through time (vanishing/exploding)",
                        description="‖∂L_T/∂h_t‖ for t = T..1 at initialisation, with each gate block of "
                        "W_hh rescaled to the given largest singular value, or from a trained run.")
    gf.add_argument("--cell", help="rnn | lstm | gru (or any cell name) at initialisation")
    gf.add_argument("--run", help="a trained language-model run instead of a fresh cell")
    gf.add_argument("--steps", type=_positive_int, default=200, help="horizon T (default 200)")
    gf.add_argument("--spectral-radius", default=None,
                    help="largest singular values of W_hh's gate blocks, comma-separated "
                         "(default 0.5,1.0,1.5)")
    gf.add_argument("--hidden", type=_positive_int, default=64, help="H at initialisation (default 64)")
    gf.add_argument("--input-scale", type=_float, default=0.1,
                    help="standard deviation of the random inputs (default 0.1: tanh stays near its "
                         "linear range; 1.0 saturates it and everything vanishes)")
    gf.add_argument("--forget-bias", type=_float, default=1.0, help="LSTM forget-gate bias (default 1)")
    gf.add_argument("--batch", type=_positive_int, default=8, help="sequences averaged over (default 8)")
    gf.add_argument("--seed", type=int, default=0)
    gf.add_argument("--out", help="PNG path (default gradflow-CELL.png, or RUN/gradflow.png)")
    gf.add_argument("--json", action="store_true", help="print JSON instead of a table")
    gf.add_argument("--threads", type=_positive_int, default=1, help="CPU threads (default 1)")
    gf.set_defaults(func=cmd_gradflow)

    dg = sub.add_parser("diagnose", help="read a run's loss curves and say what the notes would",
                        description="Reads RUN/metrics.jsonl and reports, with the numbers behind each "
                        "verdict: exploding or flat loss (learning rate), plateau then drop "
                        "(initialisation), a growing train/val gap (overfitting), no gap (underfitting).")
    dg.add_argument("run", help="run folder (or a metrics.jsonl file)")
    dg.add_argument("--json", action="store_true", help="print JSON instead of sentences")
    dg.set_defaults(func=cmd_diagnose)

    ex = sub.add_parser("experiment", help="run one of the lectures' claims as a small experiment",
                        description="Runs a named experiment (a few CPU minutes at most; --quick: seconds) "
                        "and writes its table (NAME.json) and figure (NAME.png) into --out. "
                        "`rnnlab experiment list` lists them.")
    ex.add_argument("name", help="experiment name, or `list`")
    ex.add_argument("--out", help="output folder (default runs/experiments/NAME)")
    ex.add_argument("--quick", action="store_true", help="a tiny version that runs in seconds (for tests)")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--threads", type=_positive_int, default=1, help="CPU threads (default 1)")
    ex.set_defaults(func=cmd_experiment)


def cmd_gradcheck(args) -> int:
    from ..diagnostics.gradcheck import REGISTRY, discover_models, format_table, run_gradcheck

    _set_threads(args.threads)
    if args.list:
        discover_models()
        print("\n".join(REGISTRY))
        return 0
    results = run_gradcheck(args.model)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=1))
    else:
        print(format_table(results))
    return 0 if all(r.passed for r in results) else 1


def cmd_gradflow(args) -> int:
    from ..diagnostics.gradflow import flow_at_init, flow_from_run, format_table, parse_radii
    from ..viz.diagnostics import plot_gradflow

    _set_threads(args.threads)
    if args.run and (args.cell or args.spectral_radius):
        raise UserError("--run measures a trained model's own weights; leave out --cell and "
                        "--spectral-radius (or leave out --run to study a fresh cell).")
    if args.run:
        results = flow_from_run(args.run, args.steps, batch=args.batch, seed=args.seed)
        out = Path(args.out) if args.out else Path(args.run) / "gradflow.png"
        title = f"gradient flow in {Path(args.run).name}"
    else:
        if not args.cell:
            raise UserError("give --cell rnn|lstm|gru to study a fresh cell, or --run RUN for a trained "
                            "model.")
        radii = parse_radii(args.spectral_radius or "0.5,1.0,1.5")
        try:
            results = [flow_at_init(args.cell, args.steps, r, hidden=args.hidden, batch=args.batch,
                                    input_scale=args.input_scale, forget_bias=args.forget_bias,
                                    seed=args.seed) for r in radii]
        except ValueError as error:  # an unknown cell name
            raise UserError(f"--cell: {error}.") from None
        out = Path(args.out) if args.out else Path(f"gradflow-{results[0].settings['cell']}.png")
        cell = results[0].settings["cell"]
        title = f"gradient flow at initialisation: {cell}, inputs × {args.input_scale:g}"
    path = plot_gradflow(results, out, title)
    if args.json:
        print(json.dumps({"figure": str(path), "results": [r.to_dict() for r in results]}, indent=1))
    else:
        print(format_table(results))
        print(f"figure: {path}")
    return 0


def cmd_diagnose(args) -> int:
    from ..diagnostics.diagnose import diagnose_run, format_findings

    findings = diagnose_run(args.run)
    if args.json:
        print(json.dumps({"run": str(args.run), "findings": [f.to_dict() for f in findings]}, indent=1))
    else:
        print(format_findings(args.run, findings))
    return 0


def cmd_experiment(args) -> int:
    from ..experiments import describe, run_experiment

    if args.name == "list":
        print(describe())
        return 0
    _set_threads(args.threads)
    out = Path(args.out) if args.out else Path("runs") / "experiments" / args.name
    run_experiment(args.name, out, quick=args.quick, seed=args.seed, verbose=True)
    return 0
