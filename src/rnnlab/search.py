"""Random hyperparameter search, coarse to fine, as the notes teach it.

- **Random, not grid**: with a budget of n trials, a grid tries only n^(1/d) values of each of d
  parameters; random sampling tries n values of every one, and usually only one or two matter.
- **Log space** for scale parameters (learning rate, regularisation strength): 1e-4 .. 1e-1 is sampled
  as 10^uniform(−4, −1), so each decade gets as many trials.
- **Coarse, then fine**: first a stage of short runs (an epoch or so) over wide ranges; then a stage of
  longer runs in ranges narrowed around the best coarse trial.
- **Stop early**: a trial whose loss climbs above 3× its initial loss has diverged; it is stopped
  (`train.explode_factor`) and recorded as such.

A search is described by a YAML file:

    base:                                  # a run configuration shared by every trial (like --config)
      model: {name: mlp}
      data: {path: fashion-mnist}
    space:                                 # configuration keys to sample
      optim.lr: {log: [1.0e-4, 1.0e-1]}             # log-uniform (both ends > 0)
      optim.weight_decay: {log: [1.0e-6, 1.0e-2]}
      model.mlp.dropout: {uniform: [0.0, 0.5]}      # uniform
      data.batch_size: {int: [64, 512]}             # uniform integer, both ends included
      model.mlp.hidden: {choice: [[256], [512, 256]]}
    coarse: {trials: 12, set: {train.epochs: 1}}                 # `set`: keys fixed for this stage
    fine: {trials: 6, set: {train.epochs: 4}, shrink: 0.25}      # ranges cut to 25% around the best

`run_search` writes into the search folder: trials/<stage>-<n>/ (each an ordinary run folder),
results.csv (one row per finished trial: stage, trial, status, val_accuracy, seconds, the sampled
values), search.json (the resolved space and plan) and search.png (validation accuracy against each
sampled value). Trials run in parallel processes, up to the number of CPU cores, each with its share
of the threads. The sampling is a function of the seed, so `--resume` re-creates the same plan and
runs only the trials missing from results.csv.

The search itself knows nothing about images: `random_search(space, objective, ...)` takes any
picklable `objective(params, trial) -> {"status", "val_accuracy", ...}`; `ImageTrial` is the one
`rnnlab search` uses, `quadratic_bowl` a cheap one for tests.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import multiprocessing
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserError

KINDS = ("log", "uniform", "int", "choice")
STAGES = ("coarse", "fine")
RESULT_FIELDS = ["stage", "trial", "status", "val_accuracy", "seconds", "steps", "message"]


# ---- the space -----------------------------------------------------------------------------


def parse_space(space: dict) -> dict[str, dict]:
    """Validate `{key: {log|uniform|int: [low, high]} | {choice: [...]}}` into {key: {kind, low, ...}}."""
    if not isinstance(space, dict) or not space:
        raise UserError(
            "the search file needs a `space:` mapping of configuration keys to ranges, e.g. "
            "optim.lr: {log: [1.0e-4, 1.0e-1]}."
        )
    parsed = {}
    for key, spec in space.items():
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS:
            raise UserError(
                f"search range {key}: write one of {{log: [low, high]}}, {{uniform: [low, high]}}, "
                f"{{int: [low, high]}} or {{choice: [a, b, ...]}} (got {spec!r})."
            )
        kind, value = next(iter(spec.items()))
        if kind == "choice":
            if not isinstance(value, list) or not value:
                raise UserError(f"search range {key}: choice needs a non-empty list of values.")
            parsed[key] = {"kind": "choice", "values": value}
            continue
        try:
            low, high = (float(v) for v in value)
        except (TypeError, ValueError):
            raise UserError(
                f"search range {key}: {kind} needs two numbers [low, high] (got {value!r})."
            ) from None
        if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
            raise UserError(f"search range {key}: [{low:g}, {high:g}] is empty; low must be below high.")
        if kind == "log" and low <= 0:
            raise UserError(
                f"search range {key}: log sampling needs positive ends (got [{low:g}, {high:g}]); "
                "use uniform for ranges that include 0 or negative values."
            )
        if kind == "int" and (low != int(low) or high != int(high)):
            raise UserError(f"search range {key}: int needs whole-number ends (got [{low:g}, {high:g}]).")
        parsed[key] = {"kind": kind, "low": low, "high": high}
    return parsed


def sample(spec: dict, rng: np.random.Generator):
    """One value from a parsed range."""
    kind = spec["kind"]
    if kind == "log":
        return float(10 ** rng.uniform(math.log10(spec["low"]), math.log10(spec["high"])))
    if kind == "uniform":
        return float(rng.uniform(spec["low"], spec["high"]))
    if kind == "int":
        return int(rng.integers(int(spec["low"]), int(spec["high"]) + 1))
    return copy.deepcopy(spec["values"][int(rng.integers(len(spec["values"])))])


def narrow(spec: dict, center, shrink: float) -> dict:
    """A range cut to `shrink` of its width (in log space for log ranges) around `center`, kept inside."""
    kind = spec["kind"]
    if kind == "choice":
        return {"kind": "choice", "values": [center]}  # the coarse stage chose; the fine stage keeps it
    if kind == "log":
        low, high = math.log10(spec["low"]), math.log10(spec["high"])
        half = (high - low) * shrink / 2
        c = math.log10(center)
        new_low, new_high = max(low, c - half), min(high, c + half)
        return {"kind": "log", "low": 10**new_low, "high": 10**new_high}
    half = (spec["high"] - spec["low"]) * shrink / 2
    new_low, new_high = max(spec["low"], center - half), min(spec["high"], center + half)
    if kind == "int":
        new_low, new_high = math.floor(new_low), math.ceil(new_high)
    return {"kind": kind, "low": new_low, "high": new_high}


def set_dotted(values: dict, key: str, value) -> dict:
    """values["a"]["b"]["c"] = value for key "a.b.c" (sections created as needed)."""
    node = values
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"search key {key}: {part} is not a configuration section.")
    node[parts[-1]] = value
    return values


# ---- objectives ----------------------------------------------------------------------------


def quadratic_bowl(params: dict, trial: dict) -> dict:
    """A cheap objective for testing the search: best at lr = 1e-2 (and x = 0.3 when sampled).

    "val_accuracy" = exp(−(log10 lr + 2)² − (x − 0.3)²); a learning rate above 0.1 "diverges".
    """
    lr = float(params.get("optim.lr", 1e-2))
    if lr > 0.1:
        return {"status": "diverged", "val_accuracy": None, "seconds": 0.0, "steps": 1}
    x = float(params.get("x", 0.3))
    score = math.exp(-((math.log10(lr) + 2) ** 2) - (x - 0.3) ** 2)
    return {"status": "done", "val_accuracy": score, "seconds": 0.0, "steps": 1}


@dataclass
class ImageTrial:
    """Train one image run for a search trial: base config <- stage settings <- sampled values."""

    base: dict
    folder: str

    def config_values(self, params: dict, trial: dict) -> dict:
        values = copy.deepcopy(self.base)
        for key, value in {**trial.get("set", {}), **params}.items():
            set_dotted(values, key, value)
        set_dotted(values, "train.seed", trial["seed"])
        set_dotted(values, "train.progress", False)
        return values

    def __call__(self, params: dict, trial: dict) -> dict:
        from .tasks.image import image_config, train_image

        out = Path(self.folder) / "trials" / trial["name"]
        try:
            config = image_config(self.config_values(params, trial))
            summary = train_image(config, out, force=True, test=False)
        except UserError as error:
            return {"status": "failed", "val_accuracy": None, "message": str(error)}
        diverged = summary["stop"] == "diverged"
        return {
            "status": "diverged" if diverged else "done",
            "val_accuracy": None if diverged else summary["val_accuracy"],
            "seconds": round(summary["elapsed"], 1),
            "steps": summary["step"],
        }


def _init_worker(threads: int) -> None:
    """Each worker process gets its share of the cores (torch reads OMP_NUM_THREADS when imported)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


# ---- the search ----------------------------------------------------------------------------


def plan_stage(space: dict, stage: str, trials: int, seed: int, stage_set: dict) -> list[dict]:
    """The trials of one stage: names, seeds and sampled values (a function of `seed` only)."""
    rng = np.random.default_rng([seed, STAGES.index(stage)])
    plan = []
    for i in range(trials):
        params = {key: sample(spec, rng) for key, spec in space.items()}
        plan.append(
            {
                "stage": stage,
                "trial": i,
                "name": f"{stage}-{i:03d}",
                "seed": seed * 1000 + i + 1,
                "params": params,
                "set": dict(stage_set),
            }
        )
    return plan


def _read_results(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["trial"] = int(row["trial"])
        row["val_accuracy"] = (
            float(row["val_accuracy"]) if row.get("val_accuracy") not in (None, "") else None
        )
    return rows


def _append_result(path: Path, fields: list[str], row: dict) -> None:
    new = not path.is_file()
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: _csv_value(row.get(k)) for k in fields})


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def random_search(
    space: dict,
    objective,
    out: str | Path,
    *,
    coarse_trials: int = 10,
    fine_trials: int = 5,
    coarse_set: dict | None = None,
    fine_set: dict | None = None,
    shrink: float = 0.25,
    workers: int = 1,
    seed: int = 0,
    resume: bool = False,
) -> dict:
    """Run the coarse stage, then the fine stage around the best coarse trial; return the results.

    `space` is parsed with `parse_space`; `objective(params, trial)` returns at least "status" and
    "val_accuracy" (higher is better). Results go to OUT/results.csv as trials finish, so an
    interrupted search resumes where it stopped (`resume=True`).
    """
    out = Path(out)
    parsed = parse_space(space)
    if not 0 < shrink <= 1:
        raise UserError(f"fine.shrink must be in (0, 1] (got {shrink!r}).")
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "results.csv"
    fields = RESULT_FIELDS + list(parsed)
    rows = _read_results(csv_path) if resume else []
    if not resume and csv_path.exists():
        csv_path.unlink()
    finished = {(r["stage"], r["trial"]) for r in rows}
    workers = max(1, workers)

    def run_stage(plan: list[dict]) -> None:
        todo = [t for t in plan if (t["stage"], t["trial"]) not in finished]
        if workers == 1 or len(todo) <= 1:
            for trial in todo:
                record(trial, objective(trial["params"], trial))
            return
        threads = max(1, (os.cpu_count() or 1) // workers)
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads running
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(threads,)
        ) as pool:
            futures = {pool.submit(objective, t["params"], t): t for t in todo}
            for future in as_completed(futures):
                trial = futures[future]
                try:
                    result = future.result()
                except Exception as error:  # noqa: BLE001 - one broken trial must not end the search
                    result = {"status": "failed", "val_accuracy": None, "message": str(error)[:200]}
                record(trial, result)

    def record(trial: dict, result: dict) -> None:
        row = {"stage": trial["stage"], "trial": trial["trial"], **result, **trial["params"]}
        accuracy = row.get("val_accuracy")
        row["val_accuracy"] = float(accuracy) if accuracy is not None and math.isfinite(accuracy) else None
        _append_result(csv_path, fields, row)
        rows.append(row)
        finished.add((trial["stage"], trial["trial"]))

    coarse = plan_stage(parsed, "coarse", coarse_trials, seed, coarse_set or {})
    run_stage(coarse)
    best_coarse = _best([r for r in rows if r["stage"] == "coarse"])
    fine_space = None
    if fine_trials and best_coarse is not None:
        center = {k: _typed(best_coarse[k], parsed[k]) for k in parsed}
        fine_space = {k: narrow(spec, center[k], shrink) for k, spec in parsed.items()}
        run_stage(plan_stage(fine_space, "fine", fine_trials, seed, fine_set or {}))
    (out / "search.json").write_text(
        json.dumps(
            {
                "space": parsed,
                "fine_space": fine_space,
                "seed": seed,
                "coarse_set": coarse_set,
                "fine_set": fine_set,
                "shrink": shrink,
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    rows = _read_results(csv_path)  # in file order, typed alike
    for row in rows:
        for key, spec in parsed.items():
            row[key] = _typed(row.get(key), spec)
    best = _best(rows)
    plot = None
    try:
        from .viz.images import plot_search

        plot = plot_search(rows, parsed, out / "search.png")
    except Exception as error:  # noqa: BLE001 - a missing plot must not fail a finished search
        print(f"warning: could not draw the search plot ({error}).")
    return {
        "rows": rows,
        "best": None if best is None else {**best, "params": {k: best[k] for k in parsed}},
        "done": len(rows),
        "csv": str(csv_path),
        "plot": str(plot) if plot else None,
    }


def _best(rows: list[dict]) -> dict | None:
    scored = [r for r in rows if r.get("status") == "done" and r.get("val_accuracy") is not None]
    return max(scored, key=lambda r: r["val_accuracy"]) if scored else None


def _typed(value, spec: dict):
    """A value read back from the CSV (a string) in its range's type."""
    if not isinstance(value, str):
        return value
    if spec["kind"] == "int":
        return int(float(value))
    if spec["kind"] in ("log", "uniform"):
        return float(value)
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def run_search(
    space_file: str | Path,
    out: str | Path,
    *,
    data: str | None = None,
    workers: int = 0,
    seed: int = 0,
    resume: bool = False,
    force: bool = False,
) -> dict:
    """`rnnlab search SPACE.yaml --out DIR`: a random search over image runs (see the module docstring)."""
    from .tasks.image import image_config
    from .train.config import load_yaml

    spec = load_yaml(space_file)
    unknown = set(spec) - {"base", "space", "coarse", "fine"}
    if unknown:
        raise UserError(
            f"unknown section {sorted(unknown)[0]!r} in {space_file}; the sections are base, space, "
            "coarse and fine."
        )
    base = spec.get("base") or {}
    if data:
        set_dotted(base, "data.path", data)
    space = parse_space(spec.get("space"))
    coarse = spec.get("coarse") or {}
    fine = spec.get("fine") or {}
    for name, stage in (("coarse", coarse), ("fine", fine)):
        if set(stage) - {"trials", "set", "shrink"}:
            raise UserError(f"{name}: the keys are trials, set (and shrink for fine).")
        if not isinstance(stage.get("trials", 1), int) or stage.get("trials", 1) < 0:
            raise UserError(f"{name}.trials must be a whole number ≥ 0.")
    # Every key must exist in the configuration: build one config with each range's low end.
    probe = copy.deepcopy(base)
    for key, parsed in space.items():
        set_dotted(
            probe,
            key,
            parsed["values"][0]
            if parsed["kind"] == "choice"
            else (int(parsed["low"]) if parsed["kind"] == "int" else parsed["low"]),
        )
    for key, value in {**(coarse.get("set") or {}), **(fine.get("set") or {})}.items():
        set_dotted(probe, key, value)
    image_config(probe)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (resume or force):
        raise UserError(
            f"search folder {out} already exists; pass --resume to continue it or --force to start "
            "over (which deletes it)."
        )
    if force and not resume and out.exists():
        shutil.rmtree(out)
    workers = workers or (os.cpu_count() or 1)
    objective = ImageTrial(base, str(out))
    return random_search(
        spec["space"],
        objective,
        out,
        coarse_trials=coarse.get("trials", 10),
        fine_trials=fine.get("trials", 5),
        coarse_set=coarse.get("set"),
        fine_set=fine.get("set"),
        shrink=float(fine.get("shrink", 0.25)),
        workers=workers,
        seed=seed,
        resume=resume,
    )
