"""The one table of dataset names: every name the command line accepts, its function, its errors."""

import inspect

import pytest

from rnnlab.cli import build_parser
from rnnlab.data import registry
from rnnlab.errors import UserError

# Every name a `rnnlab data fetch|make` command accepted before the registry existed.
FETCHED = [
    "bible-es-en",
    "emoji",
    "fashion-mnist",
    "polarity",
    "polarity-weak",
    "ptb-pos-sample",
    "shakespeare",
]
MADE = ["dates", "scenes", "shapes-vqa"]


def test_names_by_action_and_task():
    assert registry.names() == sorted(FETCHED + MADE)
    assert registry.names("fetch") == FETCHED and registry.names("make") == MADE
    assert registry.names(task="lm") == ["shakespeare"]
    assert registry.names(task="caption") == ["emoji", "scenes"]
    assert registry.names(task="vqa") == ["shapes-vqa"]
    assert registry.names(task=("classify", "tag")) == ["polarity", "polarity-weak", "ptb-pos-sample"]
    assert registry.get("dates").command == "rnnlab data make dates"


@pytest.mark.parametrize("name", FETCHED + MADE)
def test_every_entry_names_a_function_with_the_common_signature(name):
    dataset = registry.get(name)
    function = dataset.resolve()
    parameters = inspect.signature(function).parameters
    assert list(parameters)[0] == "data_root" and "progress" in parameters
    assert set(dataset.options) <= set(parameters)  # every option the CLI passes is accepted
    assert "\n" not in dataset.description and dataset.description


def _subcommand(parser, *path):
    for name in path:
        parser = next(a for a in parser._actions if a.dest in ("command", "data_command")).choices[name]
    return parser


def test_the_command_line_takes_its_names_from_the_registry():
    data = _subcommand(build_parser(), "data")
    fetch_name = next(a for a in _subcommand(data, "fetch")._actions if a.dest == "name")
    assert all(name in fetch_name.help for name in FETCHED)
    make_name = next(a for a in _subcommand(data, "make")._actions if a.dest == "name")
    assert list(make_name.choices) == MADE


def test_unknown_names_list_the_real_ones(tmp_path):
    with pytest.raises(UserError) as error:
        registry.fetch("imagenet", tmp_path)
    message = str(error.value)
    assert message.startswith("Unknown dataset 'imagenet'") and all(n in message for n in FETCHED + MADE)
    with pytest.raises(UserError, match=r"can be made are: dates, scenes, shapes-vqa\."):
        registry.make("imagenet", tmp_path)
    with pytest.raises(UserError, match="is fetched, not made; run: rnnlab data fetch shakespeare"):
        registry.make("shakespeare", tmp_path)
    with pytest.raises(UserError, match="takes the options seed, train, force, not test, val"):
        registry.make("dates", tmp_path, val=3, test=3)


def test_make_and_fetch_of_a_made_dataset(tmp_path):
    folder = registry.make("dates", tmp_path, train=30, seed=1)
    assert folder == tmp_path / "dates"
    assert len((folder / "train.tsv").read_text(encoding="utf-8").splitlines()) == 30
    # `rnnlab data fetch dates` worked before the registry: a made dataset is made with its defaults.
    again = registry.fetch("dates", tmp_path)
    assert again == folder and len((folder / "train.tsv").read_text().splitlines()) == 40_000
