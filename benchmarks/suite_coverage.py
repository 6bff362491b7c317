"""Branch coverage of the test suite, per package of rnnlab (pytest-cov).

    python benchmarks/suite_coverage.py            # the default suite (what `make test` runs)
    python benchmarks/suite_coverage.py --slow     # the default and the slow tests together
    python benchmarks/suite_coverage.py --from FILE  # only tabulate an existing coverage JSON report

Prints one row per package (rnnlab.nn, rnnlab.train, …; the modules directly under rnnlab/ as
"(top level)"): statements, lines covered, branches, branches covered, and coverage.py's combined
figure, (covered lines + covered branches) / (lines + branches). Writes the table and the raw report
to benchmarks/results/coverage.json. Coverage says what the tests run, not what they check: the
mutation score (benchmarks/mutation.py) says that.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"


def package_of(path: str) -> str:
    parts = Path(path).parts
    inside = parts[parts.index("rnnlab") + 1:]
    return f"rnnlab.{inside[0]}" if len(inside) > 1 else "(top level)"


def tabulate(report: dict) -> list[dict]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for path, data in report["files"].items():
        summary = data["summary"]
        row = totals[package_of(path)]
        for key in ("num_statements", "covered_lines", "num_branches", "covered_branches"):
            row[key] += summary[key]
        row["files"] += 1
    everything = defaultdict(int)
    rows = []
    for name in sorted(totals, key=lambda n: (n == "(top level)", n)):
        row = totals[name]
        for key, value in row.items():
            everything[key] += value
        rows.append(_row(name, row))
    rows.append(_row("all", everything))
    return rows


def _row(name: str, t: dict) -> dict:
    lines, branches = t["num_statements"], t["num_branches"]
    return {
        "package": name,
        "files": t["files"],
        "statements": lines,
        "lines_pct": 100 * t["covered_lines"] / max(lines, 1),
        "branches": branches,
        "branches_pct": 100 * t["covered_branches"] / max(branches, 1),
        "combined_pct": 100 * (t["covered_lines"] + t["covered_branches"]) / max(lines + branches, 1),
    }


def table(rows: list[dict]) -> str:
    out = ["| package | files | statements | lines | branches | branches covered | combined |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['package']} | {r['files']} | {r['statements']} | {r['lines_pct']:.1f}% | "
                   f"{r['branches']} | {r['branches_pct']:.1f}% | {r['combined_pct']:.1f}% |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", action="store_true", help="include the slow-marked tests")
    parser.add_argument("--from", dest="source", help="tabulate this coverage JSON instead of running")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    raw = RESULTS / "coverage-raw.json"
    seconds = None
    if args.source:
        raw = Path(args.source)
    else:
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--cov=rnnlab",
                   "--cov-branch", f"--cov-report=json:{raw}", "--cov-report="]
        if args.slow:
            command += ["-m", "slow or not slow"]
        start = time.perf_counter()
        code = subprocess.run(command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}).returncode
        seconds = time.perf_counter() - start
        if code != 0:
            print(f"the test suite failed (exit {code}); coverage of a failing suite is not reported.")
            return code
    report = json.loads(raw.read_text())
    rows = tabulate(report)
    print(table(rows))
    if seconds is not None:
        which = "with" if args.slow else "without"
        print(f"\nsuite under coverage: {seconds:.0f} s ({which} the slow tests)")
    (RESULTS / "coverage.json").write_text(json.dumps(
        {"rows": rows, "slow_included": args.slow, "seconds": seconds}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
