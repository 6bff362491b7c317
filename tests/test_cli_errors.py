"""Bad input: one line `error: ...`, a non-zero exit, no traceback, nothing overwritten."""

import json

import pytest

TINY = [
    "--hidden",
    "8",
    "--layers",
    "1",
    "--embedding",
    "4",
    "--batch-size",
    "2",
    "--seq-len",
    "8",
    "--no-progress",
]


def assert_one_line_error(result, *needles):
    code, out, err = result
    assert code == 2, (code, err)
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("preparing", "\r"))]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle.lower() in errors[0].lower(), (needle, errors[0])


@pytest.fixture
def trained(cli, tiny_text, tmp_path):
    run = tmp_path / "run"
    assert cli("train", "lm", "--data", tiny_text, "--out", run, "--steps", 4, *TINY)[0] == 0
    return run


def train(cli, data, out, *extra):
    return cli("train", "lm", "--data", data, "--out", out, "--steps", 2, *TINY, *extra)


def test_missing_empty_binary_and_non_utf8_files(cli, tmp_path):
    assert_one_line_error(train(cli, tmp_path / "nope.txt", tmp_path / "r"), "nope.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_one_line_error(train(cli, empty, tmp_path / "r"), "empty")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 10)
    assert_one_line_error(train(cli, binary, tmp_path / "r"), "binary")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café crème brûlée\n".encode("latin-1") * 50)
    assert_one_line_error(train(cli, latin, tmp_path / "r"), "--encoding")
    assert not (tmp_path / "r").exists()  # none of the refused runs wrote its folder
    # and the suggested fix works
    assert train(cli, latin, tmp_path / "r", "--encoding", "latin-1")[0] == 0
    assert (tmp_path / "r" / "config.yaml").is_file()


def test_text_shorter_than_one_batch(cli, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("hello world, this is short\n" * 3)
    assert_one_line_error(
        cli(
            "train",
            "lm",
            "--data",
            short,
            "--out",
            tmp_path / "r",
            "--batch-size",
            "64",
            "--seq-len",
            "128",
            "--no-progress",
        ),
        "batch",
    )


def test_vocabulary_over_the_limit(cli, tmp_path):
    text = tmp_path / "many.txt"
    text.write_text(" ".join(f"w{i}" for i in range(3000)) + "\n")
    assert_one_line_error(
        cli("data", "prepare", text, "--level", "word", "--out", tmp_path / "p", "--max-vocab", "1000"),
        "vocabulary",
    )


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--cell", "transformer"], "model.cell"),
        (["--optimizer", "adamax"], "optim.name"),
        (["--schedule", "wavy"], "schedule.name"),
        (["--lr", "0"], "optim.lr"),
        (["--lr", "-1"], "optim.lr"),
        (["--hidden", "0"], "positive integer"),
        (["--hidden", "-3"], "positive integer"),
        (["--batch-size", "0"], "positive integer"),
        (["--dropout", "1.5"], "model.dropout"),
        (["--set", "model.widht=3"], "unknown configuration key"),
        (["--set", "model.hidden=abc"], "model.hidden"),
        (["--set", "nonsense"], "section.key=value"),
        (["--set", "train.minutes=-2"], "train.minutes"),
    ],
)
def test_bad_config_values(cli, tiny_text, tmp_path, flags, needle):
    assert_one_line_error(train(cli, tiny_text, tmp_path / "r", *flags), needle)
    assert not (tmp_path / "r").exists()


def test_bad_config_file(cli, tiny_text, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    assert_one_line_error(train(cli, tiny_text, tmp_path / "r", "--config", bad), "yaml")
    assert_one_line_error(
        train(cli, tiny_text, tmp_path / "r", "--config", tmp_path / "none.yaml"), "none.yaml"
    )


def test_existing_run_folder_is_refused_and_kept(cli, tiny_text, trained):
    before = {p: p.read_bytes() for p in trained.rglob("*") if p.is_file()}
    assert_one_line_error(train(cli, tiny_text, trained), "--resume", "--force")
    assert {p: p.read_bytes() for p in trained.rglob("*") if p.is_file()} == before
    assert train(cli, tiny_text, trained, "--force")[0] == 0


def test_resume_errors(cli, tiny_text, trained, tmp_path):
    assert_one_line_error(train(cli, tiny_text, tmp_path / "fresh", "--resume"), "no checkpoint")
    assert_one_line_error(train(cli, tiny_text, trained, "--resume", "--hidden", "9"), "model.hidden")


def test_sampling_argument_errors(cli, trained):
    assert_one_line_error(cli("sample", trained, "--prime", "the", "--temperature", "0"), "temperature")
    assert_one_line_error(cli("sample", trained, "--prime", "the", "--temperature", "-1"), "temperature")
    assert_one_line_error(cli("sample", trained, "--prime", "the", "--top-p", "1.5"), "top-p")
    assert_one_line_error(cli("sample", trained, "--prime", "the", "--top-p", "0"), "top-p")
    assert_one_line_error(cli("sample", trained, "--prime", "the", "--top-k", "0"), "top-k")
    assert_one_line_error(cli("sample", trained, "--length", "-5"), "length")


def test_prime_with_unknown_characters(cli, trained):
    assert_one_line_error(
        cli("sample", trained, "--prime", "the Ж€ cat", "--length", "5"), "'Ж'", "'€'", "--unknown"
    )
    assert cli("sample", trained, "--prime", "the Ж cat", "--length", "5", "--unknown", "skip")[0] == 0
    assert cli("sample", trained, "--prime", "the Ж cat", "--length", "5", "--unknown", "replace")[0] == 0


def _checkpoint_dir(run):
    return run / "checkpoints" / (run / "checkpoints" / "last").read_text().strip()


def test_corrupt_and_truncated_checkpoints(cli, trained):
    weights = _checkpoint_dir(trained) / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    assert_one_line_error(cli("sample", trained, "--prime", "the", "--checkpoint", "last"), "damaged")
    weights.write_bytes(b"\x00" * 64)
    assert_one_line_error(cli("eval", trained, "--checkpoint", "last"), "damaged")
    weights.unlink()
    assert_one_line_error(cli("sample", trained, "--prime", "the", "--checkpoint", "last"), "incomplete")


def test_checkpoint_of_another_task(cli, trained):
    doc_path = _checkpoint_dir(trained) / "checkpoint.json"
    doc = json.loads(doc_path.read_text())
    doc["task"] = "caption"
    doc_path.write_text(json.dumps(doc))
    assert_one_line_error(cli("sample", trained, "--prime", "the", "--checkpoint", "last"), "caption")


def test_not_a_run_folder(cli, tmp_path):
    assert_one_line_error(cli("sample", tmp_path / "nothing", "--prime", "a"), "does not exist")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("eval", tmp_path / "empty"), "checkpoint")
    assert_one_line_error(cli("plot", tmp_path / "empty"), "metrics.jsonl")


def test_eval_file_errors(cli, trained, tmp_path):
    assert_one_line_error(cli("eval", trained, tmp_path / "none.txt"), "none.txt")
    odd = tmp_path / "odd.txt"
    odd.write_text("the cat 🐈 sat\n")
    assert_one_line_error(cli("eval", trained, odd), "🐈")
    assert cli("eval", trained, odd, "--unknown", "skip")[0] == 0


def test_unknown_dataset_name(cli, tmp_path):
    assert_one_line_error(cli("data", "fetch", "imagenet"), "shakespeare")
    assert_one_line_error(train(cli, "shakespeare", tmp_path / "r"), "rnnlab data fetch shakespeare")


def test_an_out_that_is_a_file_is_refused_and_kept(cli, tiny_text, tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("keep me")
    assert_one_line_error(
        cli("train", "lm", "--data", tiny_text, "--out", out, "--steps", 4, *TINY), "is not a folder"
    )
    assert out.read_text() == "keep me"
