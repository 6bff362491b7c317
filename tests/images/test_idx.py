"""IDX reading and validation on hand-made bytes; the Fashion-MNIST fetch and --data resolution."""

import gzip
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rnnlab.data.images import (
    FASHION_MNIST_ENV,
    load_image_data,
    open_cache,
    parse_idx,
    read_idx,
    read_idx_folder,
    split_validation,
)
from rnnlab.data.images import fashion_mnist as fashion_mnist_module
from rnnlab.errors import UserError


def test_parse_idx_of_every_type_and_shape(idx):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data = idx.bytes(images)
    assert data[:4] == bytes([0, 0, 0x08, 3])  # the magic number 0x00000803 of idx3-ubyte
    assert data[4:16] == bytes([0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4])  # big-endian sizes
    np.testing.assert_array_equal(parse_idx(data), images)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    assert idx.bytes(labels)[:4] == bytes([0, 0, 8, 1])
    np.testing.assert_array_equal(parse_idx(idx.bytes(labels)), labels)
    for code, dtype in ((0x0B, np.int16), (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)):
        values = np.array([[-3, 1000], [5, -70000 if code != 0x0B else -7]], dtype=dtype)
        np.testing.assert_array_equal(parse_idx(idx.bytes(values, code)), values)  # big-endian decoded


def test_read_idx_gzip_or_raw(tmp_path, idx):
    array = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    (tmp_path / "raw").write_bytes(idx.bytes(array))
    (tmp_path / "compressed.gz").write_bytes(gzip.compress(idx.bytes(array)))
    (tmp_path / "compressed-without-suffix").write_bytes(gzip.compress(idx.bytes(array)))
    for name in ("raw", "compressed.gz", "compressed-without-suffix"):
        np.testing.assert_array_equal(read_idx(tmp_path / name), array)


@pytest.mark.parametrize(
    "data, needle",
    [
        (b"\x00\x00", "too short"),
        (bytes([1, 2, 8, 3]) + bytes(12), "magic"),  # not 00 00
        (bytes([0, 0, 0x42, 1]) + bytes(4), "magic"),  # unknown type code
        (bytes([0, 0, 8, 3, 0, 0, 0]), "header"),  # sizes cut off
        ("cut", "truncated"),
        ("extra", "longer"),
    ],
)
def test_corrupt_idx_bytes_are_one_line_errors(data, needle, idx):
    if isinstance(data, str):  # built from a valid file: one byte short, or one byte too many
        valid = idx.bytes(np.zeros((4, 5, 5), np.uint8))
        data = valid[:-1] if data == "cut" else valid + b"x"
    with pytest.raises(UserError) as error:
        parse_idx(data, "file.idx")
    assert needle in str(error.value) and "\n" not in str(error.value)


def test_damaged_gzip(tmp_path, idx):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(idx.bytes(np.zeros((3, 4, 4), np.uint8)))[:-12])
    with pytest.raises(UserError, match="damaged gzip"):
        read_idx(path)


def test_folder_validation(tmp_path, idx):
    folder = idx.folder(tmp_path / "ok", train_per_class=2, test_per_class=1)
    train, test = read_idx_folder(folder)
    assert train.images.shape == (20, 1, 28, 28) and train.labels.dtype == np.int64
    assert test.images.shape == (10, 1, 28, 28) and set(test.labels) == set(range(10))
    # image/label count mismatch
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx.bytes(np.zeros(9, np.uint8)))
    with pytest.raises(UserError, match="10 images but 9 labels"):
        read_idx_folder(folder)
    # a missing file
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(UserError, match="lacks t10k-labels-idx1-ubyte"):
        read_idx_folder(folder)
    # the other common spelling (train-images.idx3-ubyte) is accepted
    dotted = tmp_path / "dotted"
    dotted.mkdir()
    for path in (tmp_path / "ok").iterdir():
        (dotted / path.name.replace("-idx", ".idx")).write_bytes(path.read_bytes())
    (dotted / "t10k-labels.idx1-ubyte").write_bytes(idx.bytes(np.arange(10, dtype=np.uint8)))
    assert len(read_idx_folder(dotted)[1]) == 10


def test_fetch_from_a_folder_caches_arrays(tmp_path, monkeypatch, data_root, cli, idx):
    source = idx.folder(tmp_path / "debian", train_per_class=3, test_per_class=2)
    monkeypatch.setenv(FASHION_MNIST_ENV, str(source))
    code, out, err = cli("data", "fetch", "fashion-mnist")
    assert code == 0, err
    folder = data_root / "fashion-mnist"
    assert "ready in" in out and (folder / "meta.json").is_file()
    data = open_cache(folder)
    assert data.classes[0] == "T-shirt/top" and len(data.train) == 30 and len(data.test) == 20
    # cached: the source can go away, `--data fashion-mnist` still works
    monkeypatch.delenv(FASHION_MNIST_ENV)
    monkeypatch.setattr(fashion_mnist_module, "FASHION_MNIST_DEBIAN_DIR", tmp_path / "nowhere")
    monkeypatch.setattr(fashion_mnist_module, "_debian_fashion_mnist_dirs", lambda: [])
    assert len(load_image_data("fashion-mnist").train) == 30
    # a damaged cache is reported, not silently used
    (folder / "train_labels.npy").write_bytes(b"junk")
    with pytest.raises(UserError, match="damaged"):
        open_cache(folder)


def _not_installed(monkeypatch, tmp_path, run):
    """Fashion-MNIST neither installed nor in RNNLAB_FASHION_MNIST; `run` replaces subprocess.run."""
    monkeypatch.delenv(FASHION_MNIST_ENV, raising=False)
    monkeypatch.setattr(fashion_mnist_module, "FASHION_MNIST_DEBIAN_DIR", tmp_path / "nowhere")
    monkeypatch.setattr(fashion_mnist_module, "_debian_fashion_mnist_dirs", lambda: [])
    calls = []

    def recorded(command, **kwargs):
        calls.append(command[:2])
        return run(command, **kwargs)

    monkeypatch.setattr(fashion_mnist_module.subprocess, "run", recorded)  # no network in tests
    return calls


def test_fetch_without_the_package_says_how_to_install(tmp_path, monkeypatch, cli):
    def no_archive(command, **kwargs):
        stderr = "E: Unable to locate package dataset-fashion-mnist\n"
        return subprocess.CompletedProcess(command, 100, "", stderr)

    calls = _not_installed(monkeypatch, tmp_path, no_archive)
    code, out, err = cli("data", "fetch", "fashion-mnist")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "apt-get install dataset-fashion-mnist" in err and "Unable to locate package" in err
    assert calls == [["apt-get", "download"]]


def test_fetch_without_root_downloads_and_unpacks_the_deb(tmp_path, monkeypatch, cli, data_root, idx):
    def archive(command, cwd=None, **kwargs):
        if command[:2] == ["apt-get", "download"]:  # what apt-get writes: name_version_arch.deb
            (Path(cwd) / "dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb").write_bytes(b"deb")
        elif command[:2] == ["dpkg-deb", "-x"]:  # the package's layout, unpacked into command[3]
            assert Path(command[2]).read_bytes() == b"deb"
            idx.folder(Path(command[3]) / "usr/share/datasets/fashion-mnist", 3, 2)
        return subprocess.CompletedProcess(command, 0, "", "")

    calls = _not_installed(monkeypatch, tmp_path, archive)
    code, out, err = cli("data", "fetch", "fashion-mnist")
    assert code == 0, err
    assert "`apt-get download` (no root needed)" in err and "ready in" in out
    assert calls == [["apt-get", "download"], ["dpkg-deb", "-x"]]
    data = open_cache(data_root / "fashion-mnist")
    assert len(data.train) == 30 and len(data.test) == 20 and data.classes[9] == "Ankle boot"
    downloads = data_root / "downloads"
    assert sorted(p.name for p in downloads.iterdir()) == ["dataset-fashion-mnist.deb", "fashion-mnist"]
    assert len(list((downloads / "fashion-mnist").iterdir())) == 5  # four IDX files and source.txt
    # converted again from the unpacked files, with no apt-get or dpkg-deb
    (data_root / "fashion-mnist" / "meta.json").unlink()
    assert cli("data", "fetch", "fashion-mnist")[0] == 0 and len(calls) == 2


def test_a_deb_without_idx_files_is_one_line(tmp_path, monkeypatch, cli, data_root):
    def archive(command, cwd=None, **kwargs):
        if command[:2] == ["apt-get", "download"]:
            (Path(cwd) / "dataset-fashion-mnist_1_all.deb").write_bytes(b"deb")
        return subprocess.CompletedProcess(command, 0, "", "")

    _not_installed(monkeypatch, tmp_path, archive)
    code, out, err = cli("data", "fetch", "fashion-mnist")
    assert code == 2 and err.count("\n") == 1 and "holds no Fashion-MNIST IDX files" in err


def test_data_dir_of_idx_files_is_converted_once(idx_folder, data_root):
    first = load_image_data(idx_folder)
    assert first.folder.parent == data_root / "prepared" and first.image_shape == (1, 28, 28)
    again = load_image_data(idx_folder)
    assert again.folder == first.folder
    with pytest.raises(UserError, match="neither a cached image dataset"):
        load_image_data(idx_folder.parent)
    with pytest.raises(UserError, match="no folder or image dataset"):
        load_image_data("mnist-that-is-not-here")


def test_validation_split_is_fixed_and_disjoint(idx_folder):
    train = load_image_data(idx_folder).train
    a_train, a_val = split_validation(train, 20)
    b_train, b_val = split_validation(train, 20)
    assert len(a_val) == 20 and len(a_train) == len(train) - 20
    np.testing.assert_array_equal(a_val.images, b_val.images)
    with pytest.raises(UserError, match="val_size"):
        split_validation(train, len(train))
