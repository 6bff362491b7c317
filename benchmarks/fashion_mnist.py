"""Fashion-MNIST: every image model of rnnlab with its defaults, next to the dataset README's anchors.

Trains each model with `rnnlab train image --model NAME` defaults (the ones the issue's targets are
for), capped at 10 CPU-minutes of training (`train.cpu_minutes`: the CPU time of the process, so
that other jobs on a shared machine do not shorten it), one model at a time; evaluates the best
checkpoint on the 10,000 test images once; and prints a table beside the targets and the published
anchors from the README of the Debian package dataset-fashion-mnist. The ensemble row averages the CNN
run with two more CNNs trained with other seeds under the same cap, and compares with the best of the
three.

    python benchmarks/fashion_mnist.py [--only knn,linear,mlp,rnn,cnn,ensemble] [--threads 1]
                                       [--set MODEL:section.key=value ...] [--fresh]

Threads: one by default. On the shared 2-core development machine, with other jobs running, two
threads made the CNN 5× *slower* (87 against 481 images/s: each step waits at the thread barrier for
whichever thread was descheduled), and with one thread CPU-minutes equal wall-clock minutes. On an
idle machine, try --threads 2.

Each model's result is added to benchmarks/results/fashion_mnist.json as soon as it is measured (so a
long session can be run one model at a time; --fresh starts the file over), with the wall-clock and
CPU time (all threads of this process) and the machine's load average, since the machine may be shared.
Run folders go to runs/bench-fashion-mnist/ (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from common import cpu_seconds, set_values
from rnnlab.data.images import load_image_data
from rnnlab.train.image_loop import ensemble_runs, image_config, train_image

RESULTS = Path(__file__).parent / "results"
RUNS = Path("runs") / "bench-fashion-mnist"

# name -> (flags on top of the model's defaults, target test accuracy, README anchor, anchor's name)
BUDGET = {"train": {"cpu_minutes": 10.0}}  # a cap: the default epochs, or 10 CPU-minutes if they come first
MODELS = {
    "knn": ({}, 0.855, None, "sklearn KNeighborsClassifier 0.854-0.860 (benchmark site, not in the README)"),
    "linear": (BUDGET, 0.84, None, "sklearn LogisticRegression 0.842 (benchmark site, not in the README)"),
    "mlp": (BUDGET, 0.905, 0.8833, "MLP 256-128-100"),
    "rnn": (BUDGET, 0.91, 0.897, "GRU+SVM with dropout"),
    "cnn": (BUDGET, 0.935, 0.916, "2 Conv+pooling (the package's benchmark/convnet.py)"),
}
ENSEMBLE_SEEDS = (2, 3, 4, 5)  # with the cnn row's seed 1: five members


def train_one(name: str, values: dict, threads: int, seed: int = 1, suffix: str = "") -> dict:
    values = json.loads(json.dumps(values))
    values.setdefault("data", {})["path"] = "fashion-mnist"
    values.setdefault("train", {}).update(threads=threads, seed=seed, progress=False)
    config = image_config(values, model=name)
    load_before = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), cpu_seconds()
    summary = train_image(config, RUNS / f"{name}{suffix}", force=True)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return {
        "model": name,
        "seed": seed,
        "test_accuracy": summary["test_accuracy"],
        "val_accuracy": summary["val_accuracy"],
        "steps": summary["step"],
        "wall_minutes": wall / 60,
        "cpu_minutes": cpu / 60,
        "threads": threads,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "run": str(RUNS / f"{name}{suffix}"),
        "config": {k: v for k, v in values.items() if k != "data"},
    }


def parse_sets(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        model, _, override = item.partition(":")
        out.setdefault(model, []).append(override)
    return out


def table(results: dict) -> str:
    lines = [
        f"{'model':<9} {'test acc':>8} {'target':>7} {'met':>4} {'anchor':>7}  {'wall min':>8} "
        f"{'CPU min':>7} {'load':>5}  anchor (Fashion-MNIST README)",
        "-" * 108,
    ]
    for name in (*MODELS, "ensemble"):
        r = results.get(name)
        if r is None:
            continue
        if name == "ensemble":
            target = r["best_member_accuracy"] + 0.003
            anchor, anchor_name = None, f"best single CNN {100 * r['best_member_accuracy']:.2f}% + 0.3"
        else:
            _, target, anchor, anchor_name = MODELS[name]
        met = "yes" if r["test_accuracy"] >= target - 1e-9 else "NO"
        anchor_text = f"{100 * anchor:.2f}" if anchor else "-"
        lines.append(
            f"{name:<9} {100 * r['test_accuracy']:>7.2f}% {100 * target:>6.2f}% {met:>4} {anchor_text:>7}  "
            f"{r['wall_minutes']:>8.1f} {r['cpu_minutes']:>7.1f} {r['load_before']:>5.1f}  {anchor_name}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="knn,linear,mlp,rnn,cnn,ensemble")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="MODEL:section.key=value")
    parser.add_argument("--fresh", action="store_true", help="start the results file over")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_image_data("fashion-mnist")  # fetched (and cached) before any clock starts
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "fashion_mnist.json"
    saved = {} if args.fresh or not path.is_file() else json.loads(path.read_text())
    results = saved.get("results", {})
    sets = parse_sets(args.set)

    def save() -> None:
        document = {
            "machine": {
                "cpus": os.cpu_count(),
                "processor": platform.processor() or platform.machine(),
                "torch": torch.__version__,
                "threads": args.threads,
            },
            "results": results,
        }
        path.write_text(json.dumps(document, indent=1))

    for name in args.only.split(","):
        if name == "ensemble":
            members = [RUNS / "cnn"]
            if "cnn" not in results:
                raise SystemExit("the ensemble needs the cnn row first: run with --only cnn,ensemble")
            extra = []
            # members already trained by an earlier run of this script with the same settings are reused
            earlier = {m["seed"]: m for m in results.get("ensemble", {}).get("extra_members", [])}
            for seed in ENSEMBLE_SEEDS:
                values = set_values(json.loads(json.dumps(MODELS["cnn"][0])), sets.get("cnn", []))
                member = earlier.get(seed)
                wanted = json.loads(json.dumps(values))
                wanted.setdefault("train", {}).update(threads=args.threads, seed=seed, progress=False)
                if not (member and member["config"] == wanted and Path(member["run"]).exists()):
                    member = train_one("cnn", values, args.threads, seed=seed, suffix=f"-seed{seed}")
                extra.append(member)
                members.append(Path(member["run"]))
                print(f"cnn seed {seed}: {100 * member['test_accuracy']:.2f}%", flush=True)
            wall, cpu = time.perf_counter(), cpu_seconds()
            ensemble = ensemble_runs(members)
            first_three = ensemble_runs(members[:3]) if len(members) > 3 else ensemble
            results["ensemble"] = {
                "model": "ensemble",
                "members": ensemble["members"],
                "test_accuracy": ensemble["ensemble"]["accuracy"],
                "best_member_accuracy": ensemble["best_member_accuracy"],
                "gain": ensemble["gain"],
                "first_three": {
                    "test_accuracy": first_three["ensemble"]["accuracy"],
                    "best_member_accuracy": first_three["best_member_accuracy"],
                },
                "wall_minutes": sum(m["wall_minutes"] for m in extra)
                + results["cnn"]["wall_minutes"]
                + (time.perf_counter() - wall) / 60,
                "cpu_minutes": sum(m["cpu_minutes"] for m in extra)
                + results["cnn"]["cpu_minutes"]
                + (cpu_seconds() - cpu) / 60,
                "load_before": max(m["load_before"] for m in extra),
                "extra_members": extra,
            }
        else:
            values = set_values(json.loads(json.dumps(MODELS[name][0])), sets.get(name, []))
            results[name] = train_one(name, values, args.threads)
        save()
        print(f"{name}: {100 * results[name]['test_accuracy']:.2f}%", flush=True)
    print()
    print(table(results))
    print(
        f"\n{args.threads} threads on {os.cpu_count()} cores; wall and CPU minutes per row (the ensemble's "
        "include its CNNs); load is the 1-minute load average when the row started."
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
