"""End to end through the CLI on tiny generated data: train, eval, predict, translate, resume, bad input."""

import json

import pytest

from rnnlab.train.checkpoint import load_checkpoint
from rnnlab.train.metrics import read_metrics

TINY = ["--hidden", "8", "--embedding", "8", "--batch-size", "8", "--no-progress", "--threads", "1"]


def test_classify_trains_evaluates_and_predicts(cli, reviews_csv, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli(
        "train",
        "classify",
        "--data",
        reviews_csv,
        "--out",
        run,
        "--steps",
        12,
        "--eval-every",
        6,
        "--pooling",
        "attention",
        *TINY,
    )
    assert code == 0, err
    assert "baseline (bag-of-words" in err
    for name in (
        "config.yaml",
        "metrics.jsonl",
        "baseline.json",
        "curves.png",
        "checkpoints/last",
        "checkpoints/best",
    ):
        assert (run / name).exists(), name
    events = read_metrics(run)
    assert [e["step"] for e in events if e["split"] == "val"] == [6, 12]
    for e in events:
        assert {"step", "split", "loss", "time"} <= e.keys()
    assert all({"accuracy", "macro_f1"} <= e.keys() for e in events if e["split"] == "val")

    code, out, err = cli("eval", run, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["task"] == "classify" and set(result["labels"]) == {"neg", "pos"}
    assert {"accuracy", "macro_f1", "confusion"} <= result["val"].keys()
    assert "accuracy" in result["baseline val"] and "bag-of-words" in result["baseline test"]["model"]
    code, out, err = cli("eval", run, reviews_csv)
    assert code == 0 and "file" in out and "accuracy" in out

    code, out, err = cli("predict", run, "the film was superb", "zzz boring", "--json")
    assert code == 0, err
    first, second = json.loads(out)
    assert first["label"] in ("pos", "neg") and abs(sum(first["probabilities"].values()) - 1) < 1e-5
    assert len(first["attention"]) == 4 and second["unknown"] == ["zzz"]
    code, out, err = cli("predict", run, "zzz boring", "--unknown", "error")
    assert code == 2 and err.startswith("error:") and "zzz" in err


def test_classify_resume_continues_exactly(cli, reviews_csv, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    # A constant schedule: cosine decay depends on the total number of steps, which differs here.
    flags = [
        "--data",
        reviews_csv,
        "--eval-every",
        5,
        "--save-every",
        5,
        "--set",
        "train.log_every=1",
        "--schedule",
        "constant",
        *TINY,
    ]
    assert cli("train", "classify", "--out", full, "--steps", 10, *flags)[0] == 0
    assert cli("train", "classify", "--out", part, "--steps", 5, *flags)[0] == 0
    code, _, err = cli("train", "classify", "--out", part, "--steps", 10, "--resume", *flags)
    assert code == 0, err
    losses = lambda run: [(e["step"], e["split"], round(e["loss"], 6)) for e in read_metrics(run)]
    assert losses(full) == losses(part)
    code, _, err = cli("train", "classify", "--out", part, "--steps", 10, *flags)
    assert code == 2 and "already exists" in err


def test_fine_tuning_starts_from_the_pretrained_run(cli, reviews_csv, tmp_path):
    import torch

    from rnnlab.train.checkpoint import load_checkpoint
    from rnnlab.train.sequence_tasks import load_task_run

    pretrained, tuned = tmp_path / "pretrained", tmp_path / "tuned"
    assert cli("train", "classify", "--data", reviews_csv, "--out", pretrained, "--steps", 6, *TINY)[0] == 0
    # Fine-tuning data with a word the pretraining never saw: it must stay <unk>, since the vocabulary
    # is the pretrained run's.
    small = tmp_path / "small.csv"
    small.write_text(reviews_csv.read_text().replace("superb", "zzzsuperb"), encoding="utf-8")
    flags = ["--data", small, "--out", tuned, "--pretrained", pretrained, *TINY]
    code, _, err = cli("train", "classify", *flags, "--steps", 1, "--lr", "1e-12", "--save-every", 1)
    assert code == 0, err
    source, _, _ = load_task_run(pretrained)
    target, model, _ = load_task_run(tuned, "last")
    assert target.vocab.to_dict() == source.vocab.to_dict() and "zzzsuperb" not in target.vocab.vocab.stoi
    before = load_checkpoint(pretrained, "best").model_state
    after = model.state_dict()
    assert set(before) == set(after)
    for name in before:  # one step at a learning rate of 1e-12 leaves the copied weights in place
        torch.testing.assert_close(after[name], before[name], atol=1e-6, rtol=0)

    # A different model size cannot take the weights: one sentence that says what to do.
    code, _, err = cli("train", "classify", *flags, "--steps", 1, "--force", "--hidden", "12")
    assert code == 2 and "shape" in err and "model settings" in err


def test_resume_refuses_a_different_label_set(cli, reviews_csv, tmp_path):
    run = tmp_path / "run"
    assert cli("train", "classify", "--data", reviews_csv, "--out", run, "--steps", 3, *TINY)[0] == 0
    other = tmp_path / "other.csv"
    other.write_text(reviews_csv.read_text().replace(",neg", ",bad"), encoding="utf-8")
    code, _, err = cli("train", "classify", "--data", other, "--out", run, "--steps", 6, "--resume", *TINY)
    assert code == 2 and "labels" in err and "differ from the checkpoint" in err


@pytest.mark.parametrize(
    "content, flags, message",
    [
        ("text,label\nhi,pos\nragged,pos,x\n", [], "line 3: has 3 fields but the header has 2"),
        ("text,label\nhi,pos\n", ["--label-column", "stars"], "no column 'stars'"),
        ("text,label\nhi,\n", [], "line 2: has no label"),
        (
            "text,label\n" + "\n".join(f"{'word ' * 30},pos" if i % 2 else "a b,neg" for i in range(20)),
            ["--max-length", "10", "--too-long", "error"],
            "longer than data.max_length=10",
        ),
    ],
)
def test_bad_classification_input_is_a_one_line_error(cli, tmp_path, content, flags, message):
    path = tmp_path / "bad.csv"
    path.write_text(content + "\n", encoding="utf-8")
    code, out, err = cli(
        "train", "classify", "--data", path, "--out", tmp_path / "r", "--steps", 2, *flags, *TINY
    )
    assert code == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_the_baseline_section_chooses_the_bag_of_words_and_its_prior_texts(cli, reviews_csv, tmp_path):
    prior = tmp_path / "prior.csv"  # the run's own 40 reviews (its 32 training texts count once) + 10
    extra = "\n".join(f'"superb prior{i}",pos' if i % 2 else f'"awful prior{i}",neg' for i in range(10))
    prior.write_text(reviews_csv.read_text(encoding="utf-8") + extra + "\n", encoding="utf-8")
    run = tmp_path / "run"
    options = ["nb=true", "negation=true", "ngrams=3", "alpha=0.5", f"prior={prior}", "prior_weight=0.25"]
    flags = [arg for option in options for arg in ("--set", f"baseline.{option}")]
    code, _, err = cli("train", "classify", "--data", reviews_csv, "--out", run, "--steps", 2, *flags, *TINY)
    assert code == 0, err
    baseline = json.loads((run / "baseline.json").read_text(encoding="utf-8"))
    assert baseline["model"] == (
        "bag-of-words logistic regression (1-3 grams, NB-weighted, alpha 0.5, negation marked, "
        "18 prior texts at 0.25)"
    )
    # one sentiment word decides each review: the bag of words gets all 4 test reviews right
    assert baseline["test"] == {"accuracy": 1.0, "macro_f1": 1.0, "examples": 4}
    # Bad prior settings end in one line, before anything is written: the run above is kept.
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nfine,pos\ngrim,meh\n", encoding="utf-8")
    for setting, message in (
        (f"baseline.prior={tmp_path / 'missing.csv'}", "missing.csv"),
        (f"baseline.prior={bad}", "has labels ['meh'] that the training data lacks"),
        ("baseline.prior_weight=-1", "baseline.prior_weight must be 0 or more"),
    ):
        args = ["--set", "baseline.nb=true", "--set", f"baseline.prior={prior}", "--set", setting]
        code, _, err = cli(
            "train", "classify", "--data", reviews_csv, "--out", run, "--force", "--steps", 2, *args, *TINY
        )
        assert code == 2 and message in err and err.count("\n") == 1, err
    code, _, err = cli(
        "train",
        "classify",
        "--data",
        reviews_csv,
        "--out",
        tmp_path / "r",
        "--set",
        f"baseline.prior={prior}",
        *TINY,
    )
    assert code == 2 and "set baseline.nb=true too" in err, err
    assert json.loads((run / "baseline.json").read_text(encoding="utf-8")) == baseline


def test_over_long_inputs_are_truncated_with_a_warning(cli, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text(
        "text,label\n" + "\n".join(f"{'word ' * 30},pos" if i % 2 else "a b,neg" for i in range(20)),
        encoding="utf-8",
    )
    code, _, err = cli(
        "train",
        "classify",
        "--data",
        path,
        "--out",
        tmp_path / "r",
        "--steps",
        2,
        "--max-length",
        "10",
        *TINY,
    )
    assert code == 0 and "were longer than data.max_length=10 tokens and were truncated" in err


def test_tag_trains_and_predicts(cli, tagged_txt, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli(
        "train", "tag", "--data", tagged_txt, "--out", run, "--steps", 10, "--eval-every", 5, *TINY
    )
    assert code == 0, err
    assert "most frequent tag" in err
    code, out, err = cli("eval", run, "--json")
    result = json.loads(out)
    assert {"accuracy", "unknown_accuracy"} <= result["val"].keys()
    assert result["baseline val"]["accuracy"] > 0.5
    code, out, err = cli("predict", run, "the big cat sat on a zebra")
    assert code == 0 and out.startswith("the/") and "zebra" in out


def test_seq2seq_trains_translates_and_draws_attention(cli, dates_tsv, tmp_path, data_root):
    run = tmp_path / "run"
    code, out, err = cli(
        "train",
        "seq2seq",
        "--data",
        dates_tsv,
        "--out",
        run,
        "--steps",
        6,
        "--eval-every",
        3,
        "--attention",
        "general",
        *TINY,
    )
    assert code == 0, err
    events = read_metrics(run)
    assert all({"exact_match", "bleu4"} <= e.keys() for e in events if e["split"] == "val")
    png = tmp_path / "att.png"
    code, out, err = cli("translate", run, "March 25, 2019", "--beam", 3, "--attention", png)
    assert code == 0, err
    assert png.is_file() and png.stat().st_size > 1000
    code, out, err = cli("translate", run, "März 25, 2019", "--unknown", "error")
    assert code == 2 and "'ä'" in err
    code, out, err = cli("eval", run, "--json")
    assert code == 0 and "beam5_exact_match" in json.loads(out)["val"]


def test_data_make_dates(cli, data_root):
    code, out, err = cli("data", "make", "dates", "--train", 50)
    assert code == 0, err
    folder = data_root / "dates"
    assert {p.name for p in folder.iterdir()} >= {
        "train.tsv",
        "val.tsv",
        "test.tsv",
        "heldout.tsv",
        "info.json",
    }
    assert len((folder / "train.tsv").read_text().splitlines()) == 50
    code, _, err = cli("data", "fetch", "no-such-set")
    assert code == 2 and "Unknown dataset" in err


def test_overfit_flag_memorises_a_few_examples(cli, reviews_csv, tmp_path):
    run = tmp_path / "run"
    code, out, err = cli(
        "train",
        "classify",
        "--data",
        reviews_csv,
        "--out",
        run,
        "--overfit",
        8,
        "--steps",
        40,
        "--dropout",
        0,
        "--lr",
        0.01,
        "--schedule",
        "constant",
        "--set",
        "schedule.warmup=0",
        "--eval-every",
        0,
        *TINY,
    )
    assert code == 0, err
    final = [e for e in read_metrics(run) if e["split"] == "val"][-1]
    assert final["examples"] == 8 and final["accuracy"] == 1.0 and final["loss"] < 0.1


def test_cpu_time_budget_ends_the_run(cli, reviews_csv, tmp_path):
    run = tmp_path / "cpu"
    code, _, err = cli(
        "train", "classify", "--data", reviews_csv, "--out", run, "--cpu-minutes", "0.005", *TINY
    )
    assert code == 0, err
    assert "CPU-time budget reached" in err
    val = [e for e in read_metrics(run) if e["split"] == "val"]
    assert val and 0 < val[-1]["step"] < 3000  # the final evaluation; the default step count did not end it


def test_a_tie_on_the_metric_goes_to_the_lower_loss(cli, reviews_csv, tmp_path):
    # memorising 8 examples: accuracy reaches 1.0 early and stays there while the loss keeps falling
    run = tmp_path / "run"
    flags = ["--overfit", 8, "--steps", 40, "--eval-every", 5, "--dropout", 0, "--lr", 0.01]
    code, _, err = cli("train", "classify", "--data", reviews_csv, "--out", run, *flags, *TINY)
    assert code == 0, err
    val = [e for e in read_metrics(run) if e["split"] == "val"]
    top = [e for e in val if e["accuracy"] == max(v["accuracy"] for v in val)]
    assert len(top) >= 2 and top[-1]["loss"] < top[0]["loss"]  # a tie to break
    lowest = min(top, key=lambda e: e["loss"])
    assert load_checkpoint(run, "best").step == lowest["step"] != top[0]["step"]
