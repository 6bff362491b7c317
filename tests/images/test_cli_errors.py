"""Bad input on the image commands: one line `error: ...`, exit status 2, no traceback."""

import gzip

import numpy as np
import pytest


def assert_one_line_error(result, *needles):
    code, out, err = result
    assert code == 2, (code, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle.lower() in lines[0].lower(), (needle, lines[0])


def train(cli, data, out, *extra):
    return cli(
        "train",
        "image",
        "--data",
        data,
        "--out",
        out,
        "--model",
        "linear",
        "--steps",
        2,
        "--no-progress",
        "--set",
        "data.val_size=8",
        *extra,
    )


def test_unknown_model_and_option_mistakes(cli, small_idx_folder, tmp_path):
    assert_one_line_error(
        cli("train", "image", "--data", small_idx_folder, "--out", tmp_path / "r", "--model", "resnet"),
        "unknown image model",
        "knn, linear, mlp, cnn, rnn",
    )
    assert_one_line_error(cli("summary", "resnet"), "neither a run folder")
    assert_one_line_error(
        train(cli, small_idx_folder, tmp_path / "r", "--optimizer", "lbfgs", "--model", "mlp"), "lbfgs"
    )
    assert_one_line_error(train(cli, small_idx_folder, tmp_path / "r", "--optimizer", "adamax"), "optim.name")
    assert_one_line_error(train(cli, small_idx_folder, tmp_path / "r", "--k", "3"), "model.linear.k")
    assert_one_line_error(train(cli, small_idx_folder, tmp_path / "r", "--features", "sift"), "data.features")
    assert_one_line_error(
        train(cli, small_idx_folder, tmp_path / "r", "--model", "cnn", "--pca", "10"), "vectors"
    )
    assert_one_line_error(
        train(cli, small_idx_folder, tmp_path / "r", "--set", "data.classes=[1,1]"), "classes"
    )
    assert_one_line_error(
        train(cli, small_idx_folder, tmp_path / "r", "--set", "data.val_size=80"), "val_size"
    )
    assert_one_line_error(train(cli, small_idx_folder, tmp_path / "r", "--resume"), "cannot resume")
    assert_one_line_error(
        train(cli, small_idx_folder, tmp_path / "r", "--model", "cnn", "--encoder", tmp_path),
        "no CNN encoder",
    )
    assert not (tmp_path / "r").exists()  # nothing was written by any of these


@pytest.mark.parametrize(
    "damage, needles",
    [
        ("magic", ("wrong magic number",)),
        ("truncate", ("truncated",)),
        ("count", ("images but", "labels")),
        ("missing", ("lacks train-images-idx3-ubyte[.gz]",)),
        ("gzip", ("damaged gzip",)),
    ],
)
def test_damaged_idx_folders(cli, idx, tmp_path, damage, needles):
    folder = idx.folder(tmp_path / "idx", train_per_class=2, test_per_class=1, gz=False)
    images = folder / "train-images-idx3-ubyte"
    if damage == "magic":
        data = bytearray(images.read_bytes())
        data[2] = 0x07  # not a type code
        images.write_bytes(bytes(data))
    elif damage == "truncate":
        images.write_bytes(images.read_bytes()[:-100])
    elif damage == "count":
        (folder / "train-labels-idx1-ubyte").write_bytes(idx.bytes(np.zeros(19, np.uint8)))
    elif damage == "missing":
        images.unlink()
    else:
        images.unlink()
        (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00" * 100)[:-9])
    assert_one_line_error(train(cli, folder, tmp_path / "r"), *needles)
    assert not (tmp_path / "r").exists()


def test_missing_data_and_runs(cli, tmp_path):
    assert_one_line_error(train(cli, tmp_path / "nowhere", tmp_path / "r"), "no folder or image dataset")
    assert_one_line_error(cli("eval", tmp_path / "norun"), "does not exist")
    assert_one_line_error(cli("ensemble", tmp_path / "norun"), "does not exist")
    assert_one_line_error(cli("summary", tmp_path / "missing.yaml"), "does not exist")
