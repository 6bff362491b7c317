"""End to end through the CLI on a tiny generated text: train, checkpoint, resume, sample, eval."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

from rnnlab.train.metrics import read_metrics

# A tiny, fast model: every pipeline test trains this for a few steps.
TINY = [
    "--hidden",
    "16",
    "--layers",
    "1",
    "--embedding",
    "8",
    "--batch-size",
    "4",
    "--seq-len",
    "16",
    "--no-progress",
]


def test_train_writes_a_complete_run(cli, tiny_text, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli(
        "train", "lm", "--data", tiny_text, "--out", run, "--steps", 30, "--eval-every", 10, *TINY
    )
    assert code == 0, err
    assert "ln V" in err  # the step-0 sanity check
    for name in (
        "config.yaml",
        "vocab.json",
        "metrics.jsonl",
        "curves.png",
        "checkpoints/last",
        "checkpoints/best",
    ):
        assert (run / name).exists(), name
    events = read_metrics(run)
    train = [e for e in events if e["split"] == "train"]
    val = [e for e in events if e["split"] == "val"]
    assert [e["step"] for e in val] == [10, 20, 30]
    for e in events:
        assert {"step", "split", "loss", "time", "bpc", "perplexity"} <= e.keys()
        assert math.isclose(e["bpc"], e["loss"] / math.log(2))
    assert all("tokens_per_s" in e and e["tokens_per_s"] > 0 for e in train)
    assert train[-1]["loss"] < train[0]["loss"]  # it learns


def test_sample_eval_and_plot(cli, tiny_text, tmp_path):
    run = tmp_path / "run"
    assert cli("train", "lm", "--data", tiny_text, "--out", run, "--steps", 20, *TINY)[0] == 0
    code, out, err = cli("sample", run, "--prime", "the cat", "--length", 40, "--seed", 3)
    assert code == 0, err
    assert out.startswith("the cat") and len(out.rstrip("\n")) == len("the cat") + 40
    assert cli("sample", run, "--prime", "the cat", "--length", 40, "--seed", 3)[1] == out  # seeded
    for flags in (
        ["--greedy"],
        ["--top-k", "3"],
        ["--top-p", "0.9"],
        ["--beam", "3"],
        ["--temperature", "0.5"],
        ["--precision", "auto"],  # bf16 weight copies where the CPU supports them, else fp32
    ):
        code, text, err = cli("sample", run, "--prime", "the", "--length", 10, *flags)
        assert code == 0 and text.startswith("the"), (flags, err)
    code, out, _ = cli("sample", run, "--prime", "a", "--length", 200, "--stop", "t ", "--seed", 1)
    generated = out[1:-1]  # without the prime and the final newline
    assert code == 0 and generated.endswith("t ") and generated.count("t ") == 1

    code, out, err = cli("eval", run, tiny_text, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["file"]["tokens"] == len(tiny_text.read_text()) and result["file"]["bpc"] > 0
    code, out, _ = cli("eval", run)
    assert code == 0 and "val" in out and "test" in out and "perplexity" in out
    (run / "curves.png").unlink()
    assert cli("plot", run)[0] == 0 and (run / "curves.png").exists()


def test_overfit_drives_the_loss_near_zero(cli, tiny_text, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli(
        "train",
        "lm",
        "--data",
        tiny_text,
        "--out",
        run,
        "--overfit",
        1,
        "--steps",
        200,
        "--hidden",
        64,
        "--layers",
        1,
        "--batch-size",
        2,
        "--seq-len",
        16,
        "--lr",
        "0.01",
        "--schedule",
        "constant",
        "--eval-every",
        0,
        "--no-progress",
    )
    assert code == 0, err
    train = [e for e in read_metrics(run) if e["split"] == "train"]
    assert train[-1]["loss"] < 0.05, train[-1]


def _losses(run):
    return [(e["step"], e["split"], e["loss"]) for e in read_metrics(run)]


@pytest.mark.slow  # a child process killed mid-run: `make test-slow`
def test_resume_after_sigkill_continues_exactly(tmp_path, tiny_text):
    """A run killed (SIGKILL) after a checkpoint and resumed logs the same losses as one never killed."""
    args = [
        "train",
        "lm",
        "--data",
        str(tiny_text),
        "--steps",
        "60",
        "--save-every",
        "10",
        "--eval-every",
        "20",
        "--dropout",
        "0.1",
        "--layers",
        "2",
        "--set",
        "train.log_every=1",
        *TINY,
    ]
    env = {**os.environ, "RNNLAB_DATA": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "rnnlab"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run([*command, *args, "--out", str(full)], env=env, check=True, capture_output=True)

    process = subprocess.Popen(
        [*command, *args, "--out", str(killed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    pointer = killed / "checkpoints" / "last"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if pointer.is_file() and int(pointer.read_text().split("-")[1]) >= 20:
            break
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = int(pointer.read_text().split("-")[1])
    assert 0 < killed_at < 60, "the run should be killed mid-way; make it longer if this machine is fast"

    subprocess.run(
        [*command, *args, "--out", str(killed), "--resume"], env=env, check=True, capture_output=True
    )
    assert _losses(killed) == _losses(full)
    assert [e["step"] for e in read_metrics(killed) if e["split"] == "train"] == list(range(1, 61))


def test_resume_continues_to_a_raised_step_count(cli, tiny_text, tmp_path):
    run = tmp_path / "run"
    assert cli("train", "lm", "--data", tiny_text, "--out", run, "--steps", 20, *TINY)[0] == 0
    code, _, err = cli("train", "lm", "--out", run, "--resume", "--steps", 30, "--no-progress")
    assert code == 0, err
    assert max(e["step"] for e in read_metrics(run)) == 30


def test_config_file_and_overrides(cli, tiny_text, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  cell: gru\n  hidden: 12\noptim:\n  name: momentum\n  lr: 0.05\n")
    run = tmp_path / "run"
    code, _, err = cli(
        "train",
        "lm",
        "--data",
        tiny_text,
        "--out",
        run,
        "--steps",
        5,
        "--config",
        config,
        "--set",
        "model.hidden=10",
        "--set",
        "schedule.name=step",
        *TINY[4:],
    )
    assert code == 0, err
    saved = (run / "config.yaml").read_text()
    assert "cell: gru" in saved and "hidden: 10" in saved and "name: momentum" in saved


def test_every_cell_and_optimizer_trains(cli, tiny_text, tmp_path):
    for i, (cell, optimizer) in enumerate(
        [
            ("rnn", "sgd"),
            ("rnn-relu", "nesterov"),
            ("lstm-peephole", "adagrad"),
            ("gru-cho", "rmsprop"),
            ("gru", "adamw"),
        ]
    ):
        code, _, err = cli(
            "train",
            "lm",
            "--data",
            tiny_text,
            "--out",
            tmp_path / f"r{i}",
            "--steps",
            3,
            "--cell",
            cell,
            "--optimizer",
            optimizer,
            *TINY,
        )
        assert code == 0, (cell, optimizer, err)


def test_word_level_with_adaptive_softmax(cli, tiny_text, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli(
        "train",
        "lm",
        "--data",
        tiny_text,
        "--level",
        "word",
        "--out",
        run,
        "--steps",
        20,
        "--set",
        "model.output=adaptive",
        "--set",
        "model.cutoffs=[5,10]",
        *TINY,
    )
    assert code == 0, err
    train = [e for e in read_metrics(run) if e["split"] == "train"]
    assert train[-1]["loss"] < train[0]["loss"]
    code, out, err = cli("sample", run, "--prime", "the cat", "--length", 5, "--seed", 1)
    assert code == 0 and out.startswith("the cat"), err
    assert cli("eval", run, "--json")[0] == 0


def test_adaptive_log_probs_are_a_distribution():
    import torch

    from rnnlab.models.language_model import LanguageModel, LanguageModelConfig

    model = LanguageModel(
        50, LanguageModelConfig(hidden=16, embedding=8, output="adaptive", cutoffs=[10, 30])
    )
    logits, state = model.step(torch.tensor([1, 2]))
    torch.testing.assert_close(logits.exp().sum(-1), torch.ones(2))
    outputs, _ = model(torch.tensor([[1, 2, 3]]))
    full = model.output_logits(outputs)  # (1, 3, 50) log-probs
    nll = -full.gather(2, torch.tensor([[[2], [3], [4]]])).mean()
    torch.testing.assert_close(model.loss(outputs, torch.tensor([[2, 3, 4]])), nll)


def test_cpu_time_budget_ends_the_run_and_resumes_its_clock(cli, tiny_text, tmp_path):
    run = tmp_path / "cpu"
    code, _, err = cli("train", "lm", "--data", tiny_text, "--out", run, "--cpu-minutes", "0.01", *TINY)
    assert code == 0, err
    assert "CPU-time budget reached" in err
    from rnnlab.train.checkpoint import load_checkpoint

    spent = load_checkpoint(run, "last").document["train_state"]["cpu"]
    assert spent >= 0.6  # 0.01 CPU-minutes
    # a resumed run counts from the CPU seconds already spent: with the budget used up it stops at once
    steps = load_checkpoint(run, "last").step
    code, _, err = cli("train", "lm", "--out", run, "--resume", "--no-progress")
    assert code == 0, err
    assert load_checkpoint(run, "last").step == steps
