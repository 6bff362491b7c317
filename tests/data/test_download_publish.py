"""The one download helper and the one atomic publish helper (no network: subprocess is replaced)."""

import subprocess
from pathlib import Path

import pytest

from rnnlab.data import download, publish
from rnnlab.errors import UserError


@pytest.fixture
def runs(monkeypatch):
    """Replace subprocess.run; `runs.writes` names the file a successful call writes into its -d/{tmp}."""
    calls = []

    def fake(command, cwd=None, **kwargs):
        calls.append((command, cwd))
        if fake.fail is not None:
            if isinstance(fake.fail, Exception):
                raise fake.fail
            return subprocess.CompletedProcess(command, 1, "", fake.fail)
        (Path(cwd) / fake.writes).write_bytes(b"package")
        return subprocess.CompletedProcess(command, 0, "", "")

    fake.calls, fake.fail, fake.writes = calls, None, "pkg-1.0.tar.gz"
    monkeypatch.setattr(download.subprocess, "run", fake)
    return fake


def test_pip_download_moves_the_file_into_downloads_and_is_offline_next_time(tmp_path, runs):
    path = download.pip_download("pkg==1.0", "pkg-1.0.tar.gz", tmp_path / "downloads", source=True)
    assert path == (tmp_path / "downloads" / "pkg-1.0.tar.gz").resolve() and path.read_bytes() == b"package"
    (command, cwd), = runs.calls
    assert command[1:4] == ["-m", "pip", "download"] and "--no-binary" in command and "pkg==1.0" in command
    assert command[command.index("-d") + 1] == cwd  # written into the temporary folder, then renamed
    assert [p.name for p in (tmp_path / "downloads").iterdir()] == ["pkg-1.0.tar.gz"]  # no temp left
    assert download.pip_download("pkg==1.0", "pkg-1.0.tar.gz", tmp_path / "downloads") == path
    assert len(runs.calls) == 1


def test_failures_are_one_line_and_say_what_to_do(tmp_path, runs):
    runs.fail = "Collecting pkg\nERROR: No matching distribution found for pkg==1.0\n"
    with pytest.raises(UserError) as error:
        download.pip_download("pkg==1.0", "pkg-1.0.tar.gz", tmp_path)
    message = str(error.value)
    assert "\n" not in message and message.startswith("Could not download pkg==1.0 with pip")
    assert "No matching distribution" in message and "put pkg-1.0.tar.gz into" in message
    runs.fail = FileNotFoundError("[Errno 2] No such file or directory: 'npm'")
    with pytest.raises(UserError, match="with npm .*No such file or directory: 'npm'"):
        download.npm_pack("emoji@1", "emoji-1.tgz", tmp_path)
    runs.fail, runs.writes = None, "another-name.tgz"  # the client succeeded but wrote something else
    with pytest.raises(UserError, match="emoji-1.tgz was not written"):
        download.npm_pack("emoji@1", "emoji-1.tgz", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_write_text_atomic(tmp_path):
    path = publish.write_text_atomic(tmp_path / "a.txt", "first")
    publish.write_text_atomic(path, "second\n")
    assert path.read_text() == "second\n" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def _staged(target, files):
    staging = publish.staging_folder(target)
    assert staging.parent == target.parent and staging.name.startswith(f".{target.name}.partial-")
    for name, text in files.items():
        (staging / name).write_text(text)
    return staging


def test_publish_a_new_folder_and_into_an_existing_one(tmp_path):
    target = tmp_path / "cache"
    publish.publish_folder(_staged(target, {"a.bin": "1", "meta.json": "{}"}), target, "meta.json")
    assert sorted(p.name for p in target.iterdir()) == ["a.bin", "meta.json"]
    (target / "input.txt").write_text("kept")  # a fetched corpus keeps its source beside the cache
    publish.publish_folder(_staged(target, {"a.bin": "2", "meta.json": "{2}"}), target, "meta.json")
    assert (target / "a.bin").read_text() == "2" and (target / "input.txt").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # the staging folder is gone
    with pytest.raises(ValueError, match="has no meta.json"):
        publish.publish_folder(_staged(target, {"a.bin": "3"}), target, "meta.json")


def test_a_crash_while_publishing_leaves_no_marker(tmp_path, monkeypatch):
    target = tmp_path / "cache"
    publish.publish_folder(_staged(target, {"a.bin": "1", "meta.json": "{}"}), target, "meta.json")
    staging = _staged(target, {"a.bin": "2", "b.bin": "2", "meta.json": "{2}"})
    replace = publish.os.replace

    def crash_on_b(source, destination):
        if Path(source).name == "b.bin":
            raise OSError("disk full")
        replace(source, destination)

    monkeypatch.setattr(publish.os, "replace", crash_on_b)
    with pytest.raises(OSError):
        publish.publish_folder(staging, target, "meta.json")
    # a.bin is new, b.bin is missing: without meta.json the folder does not count as complete
    assert (target / "a.bin").read_text() == "2" and not (target / "meta.json").exists()
