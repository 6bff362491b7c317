"""Shared fixtures: a tiny generated corpus and an in-process CLI runner."""

import random

import pytest

from rnnlab.cli import main

WORDS = "the cat sat on a mat and looked at the dog which ran away from the big red ball".split()


def make_text(lines: int = 400, seed: int = 0) -> str:
    rng = random.Random(seed)
    return (
        "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 10))) for _ in range(lines)) + "\n"
    )


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch):
    """Every test gets its own data folder (RNNLAB_DATA), never the user's."""
    root = tmp_path / "data"
    monkeypatch.setenv("RNNLAB_DATA", str(root))
    return root


@pytest.fixture
def tiny_text(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text(make_text(), encoding="utf-8")
    return path


@pytest.fixture
def cli(capsys):
    """Run `rnnlab ARGS...` in-process; return (exit code, stdout, stderr)."""

    def run(*args):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit_:  # argparse usage errors
            code = exit_.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
