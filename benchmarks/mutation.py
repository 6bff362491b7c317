"""Mutation testing (mutmut) of the modules where a silent error costs most: does the suite notice?

    python benchmarks/mutation.py                       # every module below (about an hour on 2 cores)
    python benchmarks/mutation.py --only optim,streams  # some of them
    python benchmarks/mutation.py --children 2

mutmut changes one operator, constant or call at a time (a "mutant") and runs the tests that execute
the changed function; a mutant is killed when a test fails. Each module is mutated in its own scratch
copy of the tracked files (benchmarks/results/mutation/MODULE/), with the tests that guard it, so the
runs are independent and the working tree is never touched. Prints, per module: mutants, killed
(timeouts count as killed, as mutmut counts them), survived, the score killed / (killed + survived),
and the seconds it took; writes every survivor's diff to benchmarks/results/mutation.json, so that
each can be read and either killed by a new test or explained as equivalent (no test could tell).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
MUTMUT = Path(sys.executable).parent / "mutmut"

# module: (file to mutate, mutant name pattern (None: every function), the tests that guard it)
TRAIN_TESTS = ["tests/train/test_safety.py", "tests/train/test_schedules.py", "tests/train/test_pipeline.py"]
TARGETS = {
    "metrics_text": ("src/rnnlab/metrics_text.py", None, ["tests/test_metrics_text.py"]),
    "metrics_caption": ("src/rnnlab/metrics_caption.py", None, ["tests/captioning/test_metrics.py"]),
    "streams": ("src/rnnlab/data/text/streams.py", None,
                ["tests/data/test_streams.py", "tests/tasks/test_lm_eval.py"]),
    "evaluator": ("src/rnnlab/tasks/lm.py", "rnnlab.tasks.lm.x*evaluate_lm__mutmut_*",
                  ["tests/tasks/test_lm_eval.py"]),
    "generate": ("src/rnnlab/generate.py", None,
                 ["tests/test_generate.py", "tests/captioning/test_model.py", "tests/tasks/test_models.py"]),
    "checkpoint": ("src/rnnlab/train/checkpoint.py", None,
                   ["tests/train/test_checkpoint.py", "tests/train/test_safety.py",
                    "tests/test_cli_errors.py"]),
    "optim": ("src/rnnlab/train/optim.py", None, ["tests/train/test_schedules.py"]),
    "trainer": ("src/rnnlab/train/trainer.py", None,
                [*TRAIN_TESTS, "tests/train/test_budget.py"]),
}


def scratch_copy(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)


def configure(folder: Path, path: str, tests: list[str]) -> None:
    with open(folder / "pyproject.toml", "a", encoding="utf-8") as handle:
        handle.write(
            "\n[tool.mutmut]\n"
            'source_paths = ["src"]\n'
            f"only_mutate = {json.dumps([path])}\n"
            f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
            'pytest_add_cli_args = ["-p", "no:cacheprovider"]\n'
            'process_isolation = "forkserver"\n'  # torch is not fork-safe after the suite has run
        )


def run_module(name: str, children: int) -> dict:
    path, pattern, tests = TARGETS[name]
    folder = RESULTS / "mutation" / name
    scratch_copy(folder)
    configure(folder, path, tests)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    command = [str(MUTMUT), "run", "--max-children", str(children), *([pattern] if pattern else [])]
    with open(folder / "mutmut.log", "w") as log:
        subprocess.run(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    listing = subprocess.run([str(MUTMUT), "results", "--all", "true"], cwd=folder, env=env,
                             capture_output=True, text=True).stdout
    statuses = {}
    for line in listing.splitlines():
        key, _, status = line.strip().rpartition(": ")
        if key and (pattern is None or _matches(key, pattern)):
            statuses[key] = status
    survivors = {}
    for key, status in statuses.items():
        if status == "survived":
            diff = subprocess.run([str(MUTMUT), "show", key], cwd=folder, env=env, capture_output=True,
                                  text=True).stdout
            survivors[key] = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in
                              ("---", "+++")]
    killed = sum(s in ("killed", "timeout") for s in statuses.values())
    survived = sum(s == "survived" for s in statuses.values())
    other = {s: sum(v == s for v in statuses.values()) for s in set(statuses.values())
             if s not in ("killed", "timeout", "survived")}
    return {"module": name, "file": path, "tests": tests, "mutants": len(statuses), "killed": killed,
            "survived": survived, "other": other, "score": 100 * killed / max(killed + survived, 1),
            "seconds": round(seconds), "survivors": survivors}


def _matches(key: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatch(key, pattern)


def table(rows: list[dict]) -> str:
    out = ["| module | file | mutants | killed | survived | score | seconds |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        extra = "".join(f", {n} {s}" for s, n in sorted(r["other"].items()))
        out.append(f"| {r['module']} | {r['file']} | {r['mutants']}{extra} | {r['killed']} | "
                   f"{r['survived']} | {r['score']:.1f}% | {r['seconds']} |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated modules of: {', '.join(TARGETS)}")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2, help="parallel mutant runs")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}.", file=sys.stderr)
        return 2
    if not MUTMUT.exists():
        print("mutmut is not installed; run `pip install -e '.[dev]'`.", file=sys.stderr)
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "mutation.json"
    saved = json.loads(out.read_text()) if out.is_file() else {}
    rows = []
    for name in names:
        row = run_module(name, args.children)
        saved[name] = row
        rows.append(row)
        out.write_text(json.dumps(saved, indent=1))
        print(table([row]).splitlines()[-1], flush=True)
    print()
    print(table([saved[n] for n in TARGETS if n in saved]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
