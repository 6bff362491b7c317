"""The performance suite: every speed, memory and quality figure of the performance issue in one table.

Runs the benchmark scripts below one after the other, each in its own process (so that one's memory
or threads cannot bias the next), reads the JSON each writes, and prints one table: every figure a
ratio (or a size) measured side by side within one script's run, next to its target.

| part       | script                 | what it measures                                                 |
|------------|------------------------|------------------------------------------------------------------|
| `speed`    | lm_speed.py            | trainer vs a plain nn.LSTM loop; GFLOP/s over a matmul peak      |
| `explicit` | explicit_speed.py      | hand-written BPTT (custom cells) vs the fused kernels             |
| `bf16`     | bf16.py                | bf16 autocast vs fp32: step time, bits/char after equal steps    |
| `sampling` | sampling_speed.py      | characters/s at batch 1 and 64 vs the matvec bound and nn.LSTM   |
| `corpus`   | large_corpus.py        | preparation MB/s and training's peak RSS on a 1 GB corpus        |
| `word`     | word_lm.py             | adaptive vs full softmax on a ~30k-word vocabulary               |
| `quality`  | lm_quality.py (twice)  | validation bits/char after 10 minutes, fp32 and bf16             |

    python benchmarks/suite.py [--only speed,explicit,...] [--quick] [--threads N]

The full suite takes about 45 minutes (20 of them the two 10-minute quality runs); `--quick` shrinks
every part to a smoke run of a few minutes whose figures are not meant to meet the targets. Each
script's own output goes to benchmarks/results/suite/PART.log; the table and every figure to
benchmarks/results/suite.json. Run it on an otherwise idle machine: the ratios are robust to steady
load, not to other jobs starting and stopping mid-run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
LOGS = RESULTS / "suite"


@dataclass
class Row:
    area: str
    measure: str
    value: float | None
    unit: str = ""  # "x" for ratios, else a unit name
    target: str = ""  # e.g. ">= 0.97"; empty: reported, no target
    met: bool | None = None


def check(value: float | None, op: str, bound: float) -> bool | None:
    if value is None:
        return None
    return value >= bound if op == ">=" else value <= bound


def row(area: str, measure: str, value, unit: str = "x", op: str = "", bound: float | None = None) -> Row:
    target = f"{op} {bound:g}" if op else ""
    return Row(area, measure, value, unit, target, check(value, op, bound) if op else None)


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


# --- every part: the commands it runs and how its JSON becomes rows ---------------------------------


def speed_commands(quick: bool) -> list[list[str]]:
    if quick:
        return [["lm_speed.py", "--sizes", "256", "--steps", "4", "--rounds", "1"]]
    return [["lm_speed.py", "--sizes", "256,512", "--steps", "10", "--rounds", "3"]]


def speed_rows() -> list[Row]:
    data = load("lm_speed.json")
    rows = [row("training", f"fp32 matmul peak (threads {data['threads']})", data["peak_gflops"], "GFLOP/s")]
    by = {(r["model"], r["variant"]): r for r in data["rows"]}
    for model in dict.fromkeys(r["model"] for r in data["rows"]):
        fused, explicit = by[(model, "rnnlab fused")], by[(model, "rnnlab explicit")]
        size = f"{model}, B{fused['batch']} T{fused['seq_len']}"
        rows.append(
            row("training", f"trainer / plain nn.LSTM loop, {size}", fused["vs_plain"], "x", ">=", 0.97)
        )
        rows.append(
            row(
                "training",
                f"explicit / fused trainer, {size}",
                round(explicit["tokens_per_s"] / fused["tokens_per_s"], 3),
                "x",
                ">=",
                0.8,
            )
        )
        if model.endswith("x512"):
            rows.append(
                row("training", f"achieved / peak GFLOP/s, {size}", fused["fraction_of_peak"], "x", ">=", 0.6)
            )
        else:
            rows.append(row("training", f"achieved / peak GFLOP/s, {size}", fused["fraction_of_peak"]))
    return rows


def explicit_commands(quick: bool) -> list[list[str]]:
    cells = "lstm,lstm-peephole,gru,gru-cho"
    if quick:
        return [["explicit_speed.py", "--cells", cells, "--sizes", "64x8", "--rounds", "1", "--skip-loop"]]
    return [
        ["explicit_speed.py", "--cells", cells, "--sizes", "256x32,512x64", "--rounds", "5", "--skip-loop"]
    ]


def explicit_rows() -> list[Row]:
    data = load("explicit_speed.json")
    rows = []
    for r in data["rows"]:
        if r["variant"] != "explicit" or r["vs_fused"] is None:
            continue
        label = f"{r['cell']} explicit / {r['reference']}, 2x{r['hidden']} B{r['batch']}"
        rows.append(row("explicit path", label, r["vs_fused"], "x", ">=", 0.8))
    return rows


def bf16_commands(quick: bool) -> list[list[str]]:
    return [["bf16.py", "--steps", "20" if quick else "300"]]


def bf16_rows() -> list[Row]:
    data = load("bf16.json")
    if not data["bf16_supported"]:
        return [Row("bf16", "no native bf16 on this CPU: fp32 fallback", None)]
    size = f"2x{data['hidden']} B{data['batch']}"
    return [
        row("bf16", f"step speed-up bf16 / fp32, {size}", round(data["speedup"], 3), "x", ">=", 1.8),
        row(
            "bf16",
            f"val bits/char bf16 - fp32 after {data['steps']} steps",
            round(data["bpc_difference"], 4),
            "bpc",
            "<=",
            0.01,
        ),
    ]


def sampling_commands(quick: bool) -> list[list[str]]:
    if quick:
        return [["sampling_speed.py", "--tokens", "40", "--rounds", "1"]]
    return [["sampling_speed.py", "--tokens", "300", "--rounds", "5"]]


def sampling_rows() -> list[Row]:
    data = load("sampling_speed.json")
    by = {(r["batch"], r["variant"]): r for r in data["rows"]}
    rows = []
    one = by.get((1, "rnnlab"))
    if one:
        rows.append(row("sampling", "batch 1 chars/s", one["chars_per_s"], "chars/s"))
        rows.append(row("sampling", "batch 1, fp32: of the matvec bound", one["of_bound"], "x", ">=", 0.8))
        rows.append(row("sampling", "batch 1, fp32: / naive nn.LSTM loop", one["vs_naive"], "x"))
    bf16 = by.get((1, "rnnlab bf16"))
    if bf16:
        rows.append(
            row(
                "sampling",
                "batch 1, bf16 weights: of the fp32 matvec bound",
                bf16["of_bound"],
                "x",
                ">=",
                0.8,
            )
        )
        rows.append(row("sampling", "batch 1, bf16 weights: / naive nn.LSTM loop", bf16["vs_naive"], "x"))
    many = by.get((64, "rnnlab"))
    if many:
        rows.append(row("sampling", "batch 64 chars/s", many["chars_per_s"], "chars/s"))
        rows.append(row("sampling", "batch 64: / naive nn.LSTM loop", many["vs_naive"], "x"))
    return rows


def corpus_commands(quick: bool) -> list[list[str]]:
    return [["large_corpus.py", "--gb", "0.05" if quick else "1.0", "--steps", "5" if quick else "30"]]


def corpus_rows() -> list[Row]:
    data = load("large_corpus.json")
    gb = data["corpus_bytes"] / 1e9
    return [
        row(
            "corpus", f"preparation of {gb:.2f} GB of characters", data["prepare_mb_per_s"], "MB/s", ">=", 100
        ),
        row("corpus", f"training peak RSS on {gb:.2f} GB", data["train_peak_rss_mb"], "MB", "<=", 1536),
    ]


def word_commands(quick: bool) -> list[list[str]]:
    return [["word_lm.py", "--minutes", "1" if quick else "4"]]


def word_rows() -> list[Row]:
    data = load("word_lm.json")
    by = {r["output"]: r for r in data["rows"]}
    full, adaptive = by["softmax"], by["adaptive"]
    return [
        row(
            "word LM",
            f"adaptive / full softmax tokens/s, V={data['vocab']:,}",
            round(adaptive["tokens_per_s"] / full["tokens_per_s"], 3),
            "x",
        ),
        row("word LM", "full softmax val perplexity", round(full["val_perplexity"], 1), "ppl"),
        row("word LM", "adaptive softmax val perplexity", round(adaptive["val_perplexity"], 1), "ppl"),
    ]


def quality_commands(quick: bool) -> list[list[str]]:
    minutes = "0.5" if quick else "10"
    return [
        [
            "lm_quality.py",
            "--minutes",
            minutes,
            "--json",
            str(RESULTS / "lm_quality_fp32.json"),
            "--out",
            str(RESULTS / "lm_quality_fp32_run"),
            "--set",
            "train.precision=fp32",
        ],
        [
            "lm_quality.py",
            "--minutes",
            minutes,
            "--json",
            str(RESULTS / "lm_quality_bf16.json"),
            "--out",
            str(RESULTS / "lm_quality_bf16_run"),
            "--set",
            "train.precision=auto",
        ],
    ]


def quality_rows() -> list[Row]:
    fp32, fast = load("lm_quality_fp32.json"), load("lm_quality_bf16.json")
    minutes = f"{fp32['minutes']:g} min"
    return [
        row(
            "quality",
            f"val bits/char, defaults fp32, {minutes} ({fp32['steps']} steps)",
            round(fp32["val_bpc"], 4),
            "bpc",
        ),
        row(
            "quality",
            f"val bits/char, defaults, every fast path ({fast['config']['precision']}), {minutes} "
            f"({fast['steps']} steps)",
            round(fast["val_bpc"], 4),
            "bpc",
            "<=",
            2.10,
        ),
    ]


PARTS = {
    "speed": (speed_commands, speed_rows),
    "explicit": (explicit_commands, explicit_rows),
    "bf16": (bf16_commands, bf16_rows),
    "sampling": (sampling_commands, sampling_rows),
    "corpus": (corpus_commands, corpus_rows),
    "word": (word_commands, word_rows),
    "quality": (quality_commands, quality_rows),
}


def run_part(name: str, quick: bool, threads: int) -> float:
    """Run a part's scripts, their output to LOGS/NAME.log and the terminal; returns seconds."""
    commands, _ = PARTS[name]
    LOGS.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    started = time.perf_counter()
    with open(LOGS / f"{name}.log", "w") as log:
        for command in commands(quick):
            argv = [sys.executable, str(HERE / command[0]), *command[1:]]
            print(f"[{name}] {' '.join(command)}", file=sys.stderr, flush=True)
            process = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
            )
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                sys.stderr.write(f"  {line}")
            if process.wait() != 0:
                raise RuntimeError(f"{command[0]} failed (exit {process.returncode}); see {LOGS / name}.log")
    return time.perf_counter() - started


def format_value(r: Row) -> str:
    if r.value is None:
        return "-"
    if r.unit == "x":
        return f"{r.value:.3f}"
    if abs(r.value) >= 100:
        return f"{r.value:,.0f} {r.unit}"
    return f"{r.value:.4g} {r.unit}"


def table(rows: list[Row]) -> str:
    width = max(len(r.measure) for r in rows)
    lines = [f"{'area':<14} {'measure':<{width}} {'value':>16} {'target':>10} {'met':>4}", "-" * (width + 50)]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "NO")
        lines.append(f"{r.area:<14} {r.measure:<{width}} {format_value(r):>16} {r.target:>10} {met:>4}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS))
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run of every part (minutes, not targets)"
    )
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS of every part (0: default)")
    parser.add_argument("--table-only", action="store_true", help="rebuild the table from the JSON files")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")

    seconds: dict[str, float] = {}
    load_before = os.getloadavg()[0]
    if not args.table_only:
        for name in names:
            seconds[name] = round(run_part(name, args.quick, args.threads), 1)
    rows: list[Row] = []
    for name in names:
        try:
            rows += PARTS[name][1]()
        except FileNotFoundError as error:
            rows.append(Row(name, f"not measured ({Path(error.filename).name} missing)", None))
    print(
        f"\nrnnlab performance suite ({'quick smoke run, ' if args.quick else ''}{platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load_before:.1f} at the start)\n"
    )
    print(table(rows))
    missed = [r for r in rows if r.met is False]
    print(f"\n{sum(r.met is True for r in rows)} targets met, {len(missed)} missed")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "suite.json"
    out.write_text(
        json.dumps(
            {
                "quick": args.quick,
                "cpus": os.cpu_count(),
                "load_before": load_before,
                "load_after": os.getloadavg()[0],
                "seconds": seconds,
                "rows": [asdict(r) for r in rows],
            },
            indent=1,
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
