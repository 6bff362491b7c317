"""Readers of labelled texts, tagged sentences and pairs; the dates generator; task vocabularies."""

import datetime as dt
import json

import pytest

from rnnlab.data.text_tasks import (
    DATE_FORMATS,
    HELDOUT_FORMATS,
    TaskVocab,
    format_date,
    make_dates,
    read_labeled,
    read_pairs,
    read_tagged,
    resolve_task_data,
    split_examples,
)
from rnnlab.errors import UserError


def test_read_labeled_csv_tsv_jsonl(tmp_path):
    (tmp_path / "a.csv").write_text('\ufeffreview,stars\n"great, really",5\nbad,1\n\n', encoding="utf-8")
    assert read_labeled(tmp_path / "a.csv", "review", "stars") == [("great, really", "5"), ("bad", "1")]
    (tmp_path / "a.tsv").write_text("text\tlabel\nfine film\tpos\n", encoding="utf-8")
    assert read_labeled(tmp_path / "a.tsv") == [("fine film", "pos")]
    rows = [{"text": "ok", "label": 1}, {"text": "no", "label": 0}]
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert read_labeled(tmp_path / "a.jsonl") == [("ok", "1"), ("no", "0")]


@pytest.mark.parametrize(
    "content, message",
    [
        ("words,label\nhi,pos\n", "no column 'text'; its columns are: words, label"),
        ("text,label\nhi,pos,extra\n", "line 2: has 3 fields but the header has 2"),
        ("text,label\nhi,\n", "line 2: has no label"),
        ("text,label\n  ,pos\n", "line 2: has an empty text"),
        ("", "is empty"),
    ],
)
def test_read_labeled_bad_rows_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message) as error:
        read_labeled(path)
    assert "\n" not in str(error.value)


def test_read_labeled_can_skip_bad_rows(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,label\nhi,pos\nragged,pos,x\n,neg\nok,\nfine,neg\n", encoding="utf-8")
    assert read_labeled(path, bad_rows="skip") == [("hi", "pos"), ("fine", "neg")]


def test_read_labeled_jsonl_errors(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"body": "x", "label": 1}\n', encoding="utf-8")
    with pytest.raises(UserError, match="no field 'text'"):
        read_labeled(path)
    path.write_text('{"text": "x", "label": 1}\nnot json\n', encoding="utf-8")
    with pytest.raises(UserError, match="line 2: is not valid JSON"):
        read_labeled(path)


def test_read_tagged_slash_and_conll(tmp_path):
    (tmp_path / "s.txt").write_text("The/DT 1/2/CD cats/NNS ./.\n\nA/DT dog/NN\n", encoding="utf-8")
    assert read_tagged(tmp_path / "s.txt") == [
        (["The", "1/2", "cats", "."], ["DT", "CD", "NNS", "."]),
        (["A", "dog"], ["DT", "NN"]),
    ]
    conll = "# sent 1\n1\tThe\tthe\tDT\n2\tcat\tcat\tNN\n\n1\tRan\trun\tVBD\n"
    (tmp_path / "c.conll").write_text(conll, encoding="utf-8")
    assert read_tagged(tmp_path / "c.conll", word_column=1) == [
        (["The", "cat"], ["DT", "NN"]),
        (["Ran"], ["VBD"]),
    ]


def test_read_tagged_errors(tmp_path):
    (tmp_path / "s.txt").write_text("The/DT cat\n", encoding="utf-8")
    with pytest.raises(UserError, match="line 1: the token 'cat' is not word/TAG"):
        read_tagged(tmp_path / "s.txt", fmt="slash")
    (tmp_path / "c.txt").write_text("The\n", encoding="utf-8")
    with pytest.raises(UserError, match="line 1 has 1 columns"):
        read_tagged(tmp_path / "c.txt", fmt="conll", tag_column=3)


def test_read_pairs(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("hola\thello\n\nadiós\tgoodbye\n", encoding="utf-8")
    assert read_pairs(path) == [("hola", "hello"), ("adiós", "goodbye")]
    path.write_text("hola\thello\nsolo\n", encoding="utf-8")
    with pytest.raises(UserError, match="line 2 has 1 tab-separated fields"):
        read_pairs(path)
    assert read_pairs(path, bad_rows="skip") == [("hola", "hello")]


def test_split_and_resolve(tmp_path, data_root):
    parts = split_examples(list(range(100)), (0.8, 0.1, 0.1), seed=3)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [80, 10, 10]
    assert sorted(sum(parts.values(), [])) == list(range(100))
    assert parts == split_examples(list(range(100)), (0.8, 0.1, 0.1), seed=3)
    with pytest.raises(UserError, match="rnnlab data fetch polarity"):
        resolve_task_data("polarity")
    with pytest.raises(UserError, match="rnnlab data make dates"):
        resolve_task_data("dates")
    (tmp_path / "d").mkdir()
    with pytest.raises(UserError, match="no train"):
        resolve_task_data(tmp_path / "d")


def test_dates_are_seeded_correct_and_held_out():
    data = make_dates(seed=5, train=300, val=50, test=50, heldout=50)
    assert data == make_dates(seed=5, train=300, val=50, test=50, heldout=50)
    assert data != make_dates(seed=6, train=300, val=50, test=50, heldout=50)
    train_days = {iso for _, iso in data["train"]}
    assert not train_days & {iso for _, iso in data["test"] + data["val"]}  # unseen days
    for split in data.values():
        for _, iso in split:
            dt.date.fromisoformat(iso)
    day = dt.date(2019, 3, 25)
    assert format_date(day, "Weekday,-Month-d,-yyyy") == "Monday, March 25, 2019"
    assert format_date(day, "m/d/yy") == "3/25/19"
    assert format_date(day, "dth-of-Month-yyyy") == "25th of March 2019"
    assert len(DATE_FORMATS) >= 36 and len(set(DATE_FORMATS.values())) == len(DATE_FORMATS)
    heldout_strings = {
        format_date(dt.date.fromisoformat(iso), name)
        for name in HELDOUT_FORMATS
        for _, iso in data["heldout"]
    }
    assert {text for text, _ in data["heldout"]} <= heldout_strings
    assert not {text for text, _ in data["train"]} & heldout_strings


def test_dates_evaluation_splits_never_repeat_a_source():
    # 2,000 draws from ~5,500 test days x 2 held-out formats repeat ~150 sources when drawn with
    # replacement; each split scored must hold distinct ones
    data = make_dates(seed=0, train=100, val=2_000, test=4_000, heldout=2_000)
    for split in ("val", "test", "heldout"):
        sources = [text for text, _ in data[split]]
        assert len(sources) == len(set(sources)), split
    with pytest.raises(ValueError, match="distinct dates"):
        make_dates(seed=0, train=10, val=10, test=10, heldout=10**6)


def test_no_date_string_is_ambiguous():
    """Two different days never print the same in the formats (else exact match could not reach 100%)."""
    seen = {}
    start = dt.date(1950, 1, 1).toordinal()
    for offset in range(0, 36500, 7):
        day = dt.date.fromordinal(start + offset)
        for name in DATE_FORMATS:
            text = format_date(day, name)
            assert seen.setdefault(text, day) == day, (text, name)


def test_task_vocab_reserves_ids_and_handles_unknowns():
    vocab = TaskVocab.build(["the cat sat", "the dog"], "word")
    assert vocab.tokens[:4] == ["<pad>", "<start>", "<eos>", "<unk>"] and len(vocab) == 8
    ids = vocab.encode("the cat flew")
    assert ids[-1] == TaskVocab.unk_id and vocab.decode(ids) == "the cat <unk>"
    assert vocab.encode("the cat flew", unknown="skip") == ids[:2]
    with pytest.raises(UserError, match="never saw: 'flew'"):
        vocab.encode("the cat flew", unknown="error")
    chars = TaskVocab.build(["abc", "abd"], "char")
    assert chars.decode(chars.encode("abz")) == "ab<unk>"
    assert TaskVocab.from_dict(json.loads(json.dumps(chars.to_dict()))).tokens == chars.tokens
