"""Data-parallel training with torchrun (2 CPU processes, gloo) equals a single-process run."""

import os
import subprocess
import sys

import pytest

from rnnlab.train.metrics import read_metrics

pytestmark = pytest.mark.slow  # torchrun starts processes: `make test-slow`

ARGS = [
    "--hidden",
    "16",
    "--layers",
    "2",
    "--embedding",
    "8",
    "--batch-size",
    "4",
    "--seq-len",
    "16",
    "--no-progress",
    "--eval-every",
    "4",
    "--save-every",
    "2",
    "--set",
    "train.log_every=1",
    "--threads",
    "1",
]


def _run(tmp_path, data, out, steps, processes, *extra):
    env = {**os.environ, "RNNLAB_DATA": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}
    rnnlab = [
        "-m",
        "rnnlab",
        "train",
        "lm",
        "--data",
        str(data),
        "--out",
        str(out),
        "--steps",
        str(steps),
        *ARGS,
        *extra,
    ]
    if processes == 1:
        command = [sys.executable, *rnnlab]
    else:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            str(processes),
            *rnnlab,
        ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def _losses(run):
    return [(e["step"], e["split"], e["loss"]) for e in read_metrics(run)]


def _assert_close(a, b):
    assert [x[:2] for x in a] == [y[:2] for y in b]
    for x, y in zip(a, b):
        assert y[2] == pytest.approx(x[2], rel=1e-5, abs=1e-6), (x, y)


#: plain SGD at a constant LR: a step moves by the gradient itself, so gradients summed over ranks
#: instead of averaged (twice as large) change grad_norm and every later loss; Adam would hide it
SGD = ("--set", "optim.name=sgd", "--set", "optim.momentum=0", "--lr", "1.0", "--schedule", "constant",
       "--set", "schedule.warmup=0")


def _grad_norms(run):
    return [e["grad_norm"] for e in read_metrics(run) if e["split"] == "train"]


def test_two_processes_equal_one(tmp_path, tiny_text):
    _run(tmp_path, tiny_text, tmp_path / "single", 8, 1, *SGD)
    _run(tmp_path, tiny_text, tmp_path / "ddp", 8, 2, *SGD)
    _assert_close(_losses(tmp_path / "single"), _losses(tmp_path / "ddp"))
    one, two = _grad_norms(tmp_path / "single"), _grad_norms(tmp_path / "ddp")
    assert len(one) == 8 and two == pytest.approx(one, rel=1e-4)
    # only rank 0 wrote: one metrics file, no duplicated events
    assert len(_losses(tmp_path / "ddp")) == len(_losses(tmp_path / "single"))


def test_resume_with_a_different_number_of_processes(tmp_path, tiny_text):
    # a constant LR, so that stopping at step 4 and continuing to 8 follows the same schedule
    constant = ("--schedule", "constant", "--set", "schedule.warmup=0")
    _run(tmp_path, tiny_text, tmp_path / "single", 8, 1, *constant)
    _run(tmp_path, tiny_text, tmp_path / "mixed", 4, 2, *constant)
    _run(tmp_path, tiny_text, tmp_path / "mixed", 8, 1, "--resume")
    _assert_close(_losses(tmp_path / "single"), _losses(tmp_path / "mixed"))


def test_batch_must_split_evenly(tmp_path, tiny_text):
    env = {**os.environ, "RNNLAB_DATA": str(tmp_path / "data")}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "rnnlab",
        "train",
        "lm",
        "--data",
        str(tiny_text),
        "--out",
        str(tmp_path / "r"),
        "--steps",
        "2",
        *ARGS[:6],
        "--batch-size",
        "3",
        "--no-progress",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "multiple of the number of processes" in result.stderr
