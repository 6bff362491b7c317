"""Golden losses and fixture run folders, written by the code of one release to guard the next.

    python tests/golden/golden.py            # (re)write tests/golden/losses.json and tests/fixtures/
    python tests/golden/golden.py --check    # train again and compare with the saved losses

`tests/fixtures/data/` holds tiny generated data (a text, a CSV of reviews, tagged sentences, dates,
coloured squares with captions, a toy IDX image set). Every run of RUNS trains 20 steps on it with a
seed, one thread and fp32, logging every step; its first 20 training losses (and the validation
events) go to losses.json, and its run folder (checkpoints, config, metrics; no pictures) is kept
under tests/fixtures/runs/ so that later releases prove they still load, evaluate and resume the
runs that this one wrote (tests/golden/test_fixture_runs.py). tests/golden/test_golden.py trains
every run again and asserts the very same losses.

The files were written by the code of commit fe73753 (the three training loops), before the trainer
refactor; rewriting them is for a deliberate change of numbers only, said so in the commit.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures"
LOSSES = HERE / "losses.json"

STEPS = 20
COMMON = [
    "--steps",
    str(STEPS),
    "--set",
    "train.log_every=1",
    "--threads",
    "1",
    "--no-progress",
    "--seed",
    "3",
]
TEXT = ["--hidden", "8", "--embedding", "8", "--batch-size", "8", "--eval-every", "10"]
CAPTION = [
    "--image-size",
    "8",
    "--set",
    "model.encoder.channels=[4,8]",
    "--hidden",
    "16",
    "--embedding",
    "8",
    "--set",
    "model.attention_size=8",
    "--batch-size",
    "8",
    "--eval-every",
    "10",
]
IMAGE = [
    "--data",
    "data/idx",
    "--set",
    "data.val_size=16",
    "--batch-size",
    "16",
    "--precision",
    "fp32",
    "--set",
    "train.eval_every=10",
]

#: name -> `rnnlab` arguments (paths relative to the fixtures folder)
RUNS: dict[str, list[str]] = {
    "lm": [
        "train",
        "lm",
        "--data",
        "data/tiny.txt",
        "--hidden",
        "16",
        "--layers",
        "2",
        "--embedding",
        "8",
        "--dropout",
        "0.1",
        "--seq-len",
        "16",
        "--batch-size",
        "4",
        "--eval-every",
        "10",
        "--save-every",
        "10",
    ],
    "lm-word-gru": [
        "train",
        "lm",
        "--data",
        "data/tiny.txt",
        "--level",
        "word",
        "--cell",
        "gru",
        "--hidden",
        "16",
        "--layers",
        "1",
        "--embedding",
        "8",
        "--seq-len",
        "8",
        "--batch-size",
        "4",
        "--eval-every",
        "10",
        "--schedule",
        "cosine",
    ],
    "classify": [
        "train",
        "classify",
        "--data",
        "data/reviews.csv",
        "--pooling",
        "attention",
        "--dropout",
        "0.1",
        *TEXT,
    ],
    "tag": [
        "train",
        "tag",
        "--data",
        "data/tagged.txt",
        "--set",
        "model.char_embedding=4",
        "--set",
        "model.char_hidden=4",
        *TEXT,
    ],
    "seq2seq": ["train", "seq2seq", "--data", "data/dates.tsv", *TEXT],
    "caption": ["train", "caption", "--data", "data/squares/captions.json", *CAPTION],
    "caption-hard": [
        "train",
        "caption",
        "--data",
        "data/squares/captions.json",
        "--attention",
        "hard",
        *CAPTION,
    ],
    "caption-init": [
        "train",
        "caption",
        "--data",
        "data/squares/captions.json",
        "--attention",
        "init",
        *CAPTION,
    ],
    "image-cnn": [
        "train",
        "image",
        "--model",
        "cnn",
        "--channels",
        "4,8",
        "--hidden",
        "16",
        "--augment",
        "both",
        "--dropout",
        "0.2",
        *IMAGE,
    ],
    "image-mlp": ["train", "image", "--model", "mlp", "--hidden", "32", *IMAGE],
    "image-rnn": ["train", "image", "--model", "rnn", "--hidden", "16", *IMAGE],
    "image-linear-lbfgs": [
        "train",
        "image",
        "--model",
        "linear",
        "--optimizer",
        "lbfgs",
        "--lr",
        "1",
        *IMAGE,
    ],
    "image-knn": [
        "train",
        "image",
        "--model",
        "knn",
        "--data",
        "data/idx",
        "--set",
        "data.val_size=16",
        "--threads",
        "1",
        "--no-progress",
    ],
}
NO_STEPS = {"image-knn"}  # fitted, not trained: a fixture run only
#: the runs kept as fixture run folders (one per task and kind of checkpoint; under 1 MB in all)
FIXTURE_RUNS = ("lm", "classify", "tag", "seq2seq", "caption", "image-cnn", "image-knn")


# ---- tiny data ---------------------------------------------------------------------------------


def write_data(root: Path) -> None:
    """The tiny generated data every golden run reads (deterministic; about 60 KB)."""
    rng = random.Random(0)
    root.mkdir(parents=True, exist_ok=True)
    words = "the cat sat on a mat and looked at the dog which ran away from the big red ball".split()
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 10))) for _ in range(300)]
    (root / "tiny.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    good, bad = "good great fine lovely superb".split(), "bad awful dull boring poor".split()
    filler = "the film movie plot was and a it is".split()
    rows = ["text,label"]
    for i in range(60):
        label = "pos" if i % 2 == 0 else "neg"
        text = [rng.choice(filler) for _ in range(rng.randint(2, 8))]
        text.insert(rng.randint(0, len(text)), rng.choice(good if label == "pos" else bad))
        rows.append(f'"{" ".join(text)}",{label}')
    (root / "reviews.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    tags = {
        "the": "DT",
        "a": "DT",
        "cat": "NN",
        "dog": "NN",
        "mat": "NN",
        "sat": "VBD",
        "ran": "VBD",
        "on": "IN",
        "under": "IN",
        "big": "JJ",
        "red": "JJ",
    }
    sentences = []
    for _ in range(40):
        sentence = [
            rng.choice(["the", "a"]),
            *rng.sample(["big", "red"], rng.randint(0, 1)),
            rng.choice(["cat", "dog"]),
            rng.choice(["sat", "ran"]),
            rng.choice(["on", "under"]),
            rng.choice(["the", "a"]),
            "mat",
        ]
        sentences.append(" ".join(f"{w}/{tags[w]}" for w in sentence))
    (root / "tagged.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")

    months = "January February March April May June July August September October November December".split()
    pairs = []
    for _ in range(60):
        year, month, day = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
        source = rng.choice(
            [
                f"{day} {months[month - 1]} {year}",
                f"{month}/{day}/{year}",
                f"{months[month - 1]} {day}, {year}",
            ]
        )
        pairs.append(f"{source}\t{year:04d}-{month:02d}-{day:02d}")
    (root / "dates.tsv").write_text("\n".join(pairs) + "\n", encoding="utf-8")

    _write_squares(root / "squares")
    _write_idx(root / "idx")


def _write_squares(folder: Path) -> None:
    import numpy as np
    from PIL import Image

    colors = {"red": (230, 20, 20), "green": (20, 180, 20), "blue": (20, 20, 230)}
    combos = [(c, s) for s in ("left", "right") for c in colors]
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images = []
    for k in range(24):
        color, side = combos[k % len(combos)]
        pixels = np.full((16, 16, 3), 255, np.uint8)
        x = 1 if side == "left" else 9
        pixels[4:10, x : x + 6] = colors[color]
        Image.fromarray(pixels).save(folder / "images" / f"sq{k}.png")
        split = "test" if k % 6 == 5 and k >= 12 else ("val" if k % 6 == 4 and k >= 12 else "train")
        images.append(
            {
                "filename": f"sq{k}.png",
                "split": split,
                "sentences": [{"raw": f"a {color} square on the {side}"}, {"raw": f"{color} {side}"}],
            }
        )
    (folder / "captions.json").write_text(json.dumps({"images": images}), encoding="utf-8")


def _write_idx(folder: Path) -> None:
    """A toy MNIST-format set: 16×16 images of 4 classes (a bright bar at a class-specific row)."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)

    def images(per_class: int, seed: int):
        generator = np.random.default_rng(seed)
        xs, ys = [], []
        for label in range(4):
            for _ in range(per_class):
                image = generator.integers(0, 60, (16, 16)).astype(np.float64)
                row, col = 2 + label * 3, generator.integers(0, 5)
                image[row : row + 3, col : col + 8] += 180
                xs.append(np.clip(image, 0, 255).astype(np.uint8))
                ys.append(label)
        order = generator.permutation(len(ys))
        return np.stack(xs)[order], np.array(ys, dtype=np.uint8)[order]

    def idx(array) -> bytes:
        header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
        return header + np.ascontiguousarray(array, dtype=">u1").tobytes()

    train_x, train_y = images(20, 1)
    test_x, test_y = images(5, 2)
    for stem, array in (
        ("train-images-idx3-ubyte", train_x),
        ("train-labels-idx1-ubyte", train_y),
        ("t10k-images-idx3-ubyte", test_x),
        ("t10k-labels-idx1-ubyte", test_y),
    ):
        (folder / f"{stem}.gz").write_bytes(gzip.compress(idx(array), mtime=0))


# ---- training the runs -------------------------------------------------------------------------


def train_all(root: Path, names=None) -> dict[str, dict]:
    """Train RUNS in `root` (which holds data/); {name: {"train": [losses], "val": [events]}}."""
    from rnnlab.cli import main

    previous = Path.cwd()
    os.chdir(root)
    results = {}
    try:
        for name in names or RUNS:
            code = main([*RUNS[name], "--out", f"runs/{name}", *([] if name in NO_STEPS else COMMON)])
            if code != 0:
                raise RuntimeError(f"golden run {name} failed with exit status {code}")
            events = [
                json.loads(line) for line in (root / "runs" / name / "metrics.jsonl").read_text().splitlines()
            ]
            results[name] = {
                "train": [e["loss"] for e in events if e["split"] == "train"],
                "val": [
                    {k: v for k, v in e.items() if k not in ("time",) and not isinstance(v, dict | list)}
                    for e in events
                    if e["split"] == "val"
                ],
            }
    finally:
        os.chdir(previous)
    return results


def machine() -> str:
    """The CPU model and the flags that change float results (oneDNN picks kernels by them)."""
    flags, model = set(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = sorted(f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "fma"))
    return f"{model} | {' '.join(wanted)}"


def write() -> None:
    import torch

    fixtures_data = FIXTURES / "data"
    if fixtures_data.exists():
        shutil.rmtree(fixtures_data)
    write_data(fixtures_data)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "rnnlab-golden"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copytree(fixtures_data, work / "data")
    os.environ["RNNLAB_DATA"] = str(work / "cache")
    results = train_all(work)
    LOSSES.write_text(
        json.dumps({"machine": machine(), "torch": torch.__version__, "runs": results}, indent=1) + "\n",
        encoding="utf-8",
    )
    runs = FIXTURES / "runs"
    if runs.exists():
        shutil.rmtree(runs)
    for name in FIXTURE_RUNS:
        shutil.copytree(work / "runs" / name, runs / name, ignore=shutil.ignore_patterns("*.png"))
    print(f"wrote {LOSSES} and {runs}")


if __name__ == "__main__":
    if "--check" in sys.argv:
        sys.exit("use: pytest tests/golden")
    write()
