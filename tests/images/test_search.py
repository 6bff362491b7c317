"""Random search on a toy objective: sampling, coarse-to-fine narrowing, early stops, resume, processes."""

import csv
import math

import numpy as np
import pytest
import yaml

from rnnlab.errors import UserError
from rnnlab.search import narrow, parse_space, quadratic_bowl, random_search, sample

SPACE = {"optim.lr": {"log": [1e-5, 1.0]}, "x": {"uniform": [-1.0, 1.0]}}


def test_log_sampling_covers_every_decade_alike():
    spec = parse_space({"lr": {"log": [1e-4, 1e-1]}})["lr"]
    rng = np.random.default_rng(0)
    values = np.array([sample(spec, rng) for _ in range(3000)])
    assert values.min() >= 1e-4 and values.max() <= 1e-1
    decades = np.histogram(np.log10(values), bins=[-4, -3, -2, -1])[0]
    assert decades.min() > 900  # about 1000 per decade, not 90% in the top one
    ints = parse_space({"n": {"int": [2, 4]}})["n"]
    assert {sample(ints, rng) for _ in range(100)} == {2, 3, 4}
    choice = parse_space({"h": {"choice": [[64], [128, 64]]}})["h"]
    assert sample(choice, rng) in ([64], [128, 64])


@pytest.mark.parametrize(
    "space, needle",
    [
        ({"lr": {"log": [0.0, 1.0]}}, "positive"),
        ({"lr": {"log": [-1e-3, 1e-1]}}, "positive"),
        ({"lr": {"log": [1e-2, 1e-3]}}, "empty"),
        ({"x": {"uniform": [1.0, 1.0]}}, "empty"),
        ({"x": {"choice": []}}, "non-empty"),
        ({"x": {"normal": [0, 1]}}, "one of"),
        ({"x": {"int": [1.5, 3]}}, "whole"),
        ({}, "space"),
    ],
)
def test_bad_ranges_are_one_line_errors(space, needle):
    with pytest.raises(UserError) as error:
        parse_space(space)
    assert needle in str(error.value) and "\n" not in str(error.value)


def test_narrowing_stays_inside_the_range():
    spec = parse_space({"lr": {"log": [1e-6, 1e-1]}})["lr"]
    fine = narrow(spec, 1e-2, 0.2)  # a fifth of 5 decades: one decade around 1e-2
    assert math.isclose(fine["low"], 10**-2.5) and math.isclose(fine["high"], 10**-1.5)
    edge = narrow(spec, 1e-1, 0.2)
    assert math.isclose(edge["high"], 1e-1) and math.isclose(edge["low"], 10**-1.5)


def test_coarse_then_fine_finds_the_bowl(tmp_path):
    result = random_search(
        SPACE, quadratic_bowl, tmp_path, coarse_trials=20, fine_trials=10, shrink=0.2, seed=3
    )
    rows = result["rows"]
    coarse = [r for r in rows if r["stage"] == "coarse"]
    fine = [r for r in rows if r["stage"] == "fine"]
    assert len(coarse) == 20 and len(fine) == 10
    best_coarse = max((r for r in coarse if r["val_accuracy"] is not None), key=lambda r: r["val_accuracy"])
    for r in fine:  # sampled within a fifth of each range around the best coarse trial
        assert abs(math.log10(r["optim.lr"]) - math.log10(best_coarse["optim.lr"])) <= 0.5 + 1e-9
        assert abs(r["x"] - best_coarse["x"]) <= 0.2 + 1e-9
    assert result["best"]["val_accuracy"] >= best_coarse["val_accuracy"]
    assert abs(math.log10(result["best"]["params"]["optim.lr"]) + 2) < 0.5
    # learning rates above 0.1 "diverge": recorded, never the best
    assert any(r["status"] == "diverged" for r in coarse)
    assert (tmp_path / "search.png").stat().st_size > 0 and (tmp_path / "search.json").is_file()
    with open(tmp_path / "results.csv") as handle:
        header = next(csv.reader(handle))
    assert header[:4] == ["stage", "trial", "status", "val_accuracy"] and "optim.lr" in header


class CountingBowl:
    """The bowl, but each call leaves a file behind, so the test can count the trials run."""

    def __init__(self, folder):
        self.folder = folder

    def __call__(self, params, trial):
        (self.folder / f"{trial['name']}.ran").write_text("")
        return quadratic_bowl(params, trial)


def test_resume_runs_only_the_missing_trials(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    first = random_search(SPACE, CountingBowl(calls), tmp_path / "s", coarse_trials=6, fine_trials=0, seed=1)
    assert len(list(calls.iterdir())) == 6
    # lose the last two rows, as if the search had been killed
    lines = (tmp_path / "s" / "results.csv").read_text().splitlines(keepends=True)
    (tmp_path / "s" / "results.csv").write_text("".join(lines[:-2]))
    for path in calls.iterdir():
        path.unlink()
    again = random_search(
        SPACE, CountingBowl(calls), tmp_path / "s", coarse_trials=6, fine_trials=3, seed=1, resume=True
    )
    assert len(list(calls.iterdir())) == 2 + 3  # the two lost coarse trials and the fine stage
    key = lambda r: (r["stage"], r["trial"])  # noqa: E731
    same = {key(r): r["optim.lr"] for r in first["rows"]}
    assert all(math.isclose(same[key(r)], r["optim.lr"]) for r in again["rows"] if key(r) in same)


def test_trials_run_in_parallel_processes(tmp_path):
    result = random_search(SPACE, quadratic_bowl, tmp_path, coarse_trials=4, fine_trials=0, workers=2, seed=0)
    serial = random_search(SPACE, quadratic_bowl, tmp_path / "serial", coarse_trials=4, fine_trials=0, seed=0)
    key = lambda r: (r["stage"], r["trial"])  # noqa: E731
    assert sorted((key(r), r["val_accuracy"]) for r in result["rows"]) == sorted(
        (key(r), r["val_accuracy"]) for r in serial["rows"]
    )


def test_image_search_end_to_end(cli, small_idx_folder, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(
        yaml.safe_dump(
            {
                "base": {"model": {"name": "linear"}, "data": {"val_size": 16}},
                "space": {"optim.lr": {"log": [1e-3, 1e-1]}, "model.linear.reg": {"log": [1e-6, 1e-2]}},
                "coarse": {"trials": 2, "set": {"train.epochs": 1}},
                "fine": {"trials": 1, "set": {"train.epochs": 2}},
            }
        )
    )
    out = tmp_path / "search"
    code, stdout, err = cli("search", space, "--data", small_idx_folder, "--out", out, "--workers", 1)
    assert code == 0, err
    assert "best validation accuracy" in stdout
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["coarse-000", "coarse-001", "fine-000"]
    assert (out / "search.png").is_file()
    # no trial looked at the test set
    assert "test" not in (out / "trials" / "fine-000" / "metrics.jsonl").read_text()
    code, _, err = cli("search", space, "--data", small_idx_folder, "--out", out)
    assert code == 2 and "already exists" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"space": {"optim.lr": {"log": [0, 1]}}}))
    code, _, err = cli("search", bad, "--data", small_idx_folder, "--out", tmp_path / "bad")
    assert code == 2 and err.startswith("error:") and "positive" in err and err.count("\n") == 1
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump({"space": {"optim.learning_rate": {"log": [1e-3, 1]}}}))
    code, _, err = cli("search", typo, "--data", small_idx_folder, "--out", tmp_path / "typo")
    assert code == 2 and "learning_rate" in err
