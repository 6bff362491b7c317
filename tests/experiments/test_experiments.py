"""`rnnlab experiment NAME --quick`: every experiment runs in seconds and writes its table and figure."""

import json

import pytest

from rnnlab.experiments import EXPERIMENTS, run_experiment
from rnnlab.experiments.common import format_table
from rnnlab.experiments.tasks import TAG_ID, agreement_batch, grammar_text, tagging_batch


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_experiment_runs_quick_and_writes_its_files(cli, tmp_path, name):
    out = tmp_path / name
    code, stdout, err = cli("experiment", name, "--out", out, "--quick")
    assert code == 0, err
    assert "expected:" in stdout and "observed:" in stdout
    result = json.loads((out / f"{name}.json").read_text())
    assert result["name"] == name and result["quick"] is True
    check, table = result["check"], result["table"]
    assert set(check) == {"claim", "holds", "measured"} and isinstance(check["holds"], bool)
    assert table["rows"] and all(len(row) == len(table["columns"]) for row in table["rows"])
    figure = out / f"{name}.png"
    assert figure.is_file() and figure.read_bytes()[:4] == b"\x89PNG"


def test_list_names_every_experiment(cli):
    code, out, _ = cli("experiment", "list")
    assert code == 0
    for name in EXPERIMENTS:
        assert name in out
    assert out.count("expected:") == len(EXPERIMENTS)


def test_unknown_experiment_is_a_one_line_error(cli, tmp_path):
    code, _, err = cli("experiment", "transformers", "--out", tmp_path)
    assert code == 2 and err.startswith("error: unknown experiment 'transformers'")


def test_run_experiment_returns_the_result_dict(tmp_path):
    result = run_experiment("hello", tmp_path, quick=True)
    assert result["check"]["claim"].startswith("after training")
    assert result["files"]["json"].endswith("hello.json")
    assert len(result["data"]["before"]) == 4  # one distribution per input character of "hell"


def test_tasks_are_deterministic_and_say_what_they_claim():
    import torch

    tokens, labels = agreement_batch(7, 16, torch.Generator().manual_seed(0))
    assert tokens.shape == (16, 9) and torch.equal(tokens[:, 0], labels)
    again, _ = agreement_batch(7, 16, torch.Generator().manual_seed(0))
    assert torch.equal(tokens, again)
    tokens, tags = tagging_batch(12, 8, torch.Generator().manual_seed(0))
    teddy = tokens == TAG_ID["teddy"]
    following = torch.zeros_like(teddy)
    following[:, :-1] = teddy[:, :-1]
    assert teddy.any() and set(tags[teddy].tolist()) == {0, 1}  # ambiguous: both tags occur on "teddy"
    # a name's tag is fixed by the next word
    nxt = tokens[:, 1:][teddy[:, :-1]]
    assert torch.equal(tags[:, :-1][teddy[:, :-1]], (nxt == TAG_ID["roosevelt"]) | (nxt == TAG_ID["kennedy"]))
    text = grammar_text(500, seed=3)
    assert len(text) >= 500 and text == grammar_text(500, seed=3) and text.endswith(".\n")


def test_format_table_aligns_numbers_right_and_words_left():
    table = format_table(["name", "x"], [["a", 1.5], ["bbb", 10.25], ["c", True]])
    assert table.splitlines() == ["name  x", "----  -----", "a     1.5", "bbb   10.25", "c     yes"]
    numbers = format_table(["name", "x"], [["a", 1.5], ["bbb", 10.25]])
    assert numbers.splitlines() == ["name      x", "----  -----", "a       1.5", "bbb   10.25"]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_claim_holds_in_the_full_run(tmp_path, name):
    # The quick runs above only show that an experiment runs; the full run (the command's default, a
    # few CPU minutes) is where the lecture's claim must be observed.
    result = run_experiment(name, tmp_path, quick=False)
    assert result["check"]["holds"], result["check"]
