"""Tiny generated data for the sequence-task tests; every test runs on one thread."""

import random

import pytest
import torch

POSITIVE = "good great fine lovely superb wonderful".split()
NEGATIVE = "bad awful dull boring poor terrible".split()
FILLER = "the film movie plot was and a it is".split()


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_reviews(n: int = 40, seed: int = 0) -> list[tuple[str, str]]:
    """Short texts whose label is given by one sentiment word among fillers."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 8))]
        words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE if label == "pos" else NEGATIVE))
        rows.append((" ".join(words), label))
    return rows


def write_csv(path, rows, header=("text", "label")) -> None:
    lines = [",".join(header)] + [f'"{text}",{label}' for text, label in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


TAGS = {
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


def make_tagged(n: int = 24, seed: int = 0) -> list[str]:
    """word/TAG lines: "the big cat sat on a red mat" and the like."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        words = [
            rng.choice(["the", "a"]),
            *rng.sample(["big", "red"], rng.randint(0, 1)),
            rng.choice(["cat", "dog"]),
            rng.choice(["sat", "ran"]),
            rng.choice(["on", "under"]),
            rng.choice(["the", "a"]),
            "mat",
        ]
        lines.append(" ".join(f"{w}/{TAGS[w]}" for w in words))
    return lines


@pytest.fixture
def reviews_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    write_csv(path, make_reviews())
    return path


@pytest.fixture
def tagged_txt(tmp_path):
    path = tmp_path / "tagged.txt"
    path.write_text("\n".join(make_tagged()) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def dates_tsv(tmp_path):
    from rnnlab.data.text_tasks import make_dates, write_pairs

    path = tmp_path / "dates.tsv"
    write_pairs(path, make_dates(seed=1, train=24, val=0, test=0, heldout=0)["train"])
    return path
