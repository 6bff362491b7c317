"""Vocabularies: char and word level, unknown handling, persistence."""

import json
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.data.text.vocab import (
    EOS,
    UNK,
    Vocabulary,
    build_char_vocab,
    build_word_vocab,
    tokenize_words,
)
from rnnlab.errors import UserError

TEXTS = {
    "ascii": "To be, or not to be: that is the question.\n",
    "accents": "Ça va? Über naïve café, señor.\n",
    "cjk": "生きるべきか死ぬべきか、それが問題だ。\n",
    "emoji": "thumbs 👍🏽 family 👨‍👩‍👧 flag 🇫🇷!\n",
}


def char_vocab(text: str) -> Vocabulary:
    return build_char_vocab(Counter(text))


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_char_round_trip(name):
    text = TEXTS[name]
    vocab = char_vocab(text)
    ids = vocab.encode(text)
    assert len(ids) == len(text)  # one token per code point, not per UTF-8 byte
    assert vocab.decode(ids) == text


def test_char_vocab_sorted_by_code_point_with_counts():
    vocab = char_vocab("banana\n")
    assert vocab.tokens == ["\n", "a", "b", "n"]
    assert vocab.counts == [1, 3, 1, 2]
    assert vocab.stoi == {"\n": 0, "a": 1, "b": 2, "n": 3}
    assert len(vocab) == 4
    assert vocab.level == "char"
    assert vocab.unk_id is None and vocab.eos_id is None


def test_char_vocab_from_code_point_counts_equals_from_mapping():
    text = TEXTS["emoji"] + TEXTS["accents"]
    counts = np.bincount(np.frombuffer(text.encode("utf-32-le"), np.uint32))
    assert build_char_vocab(counts) == char_vocab(text)


def test_replacement_is_most_frequent_character_lowest_code_point_on_ties():
    assert char_vocab("aab  ").replacement == " "  # ' ' and 'a' both twice: the lower code point wins
    assert char_vocab("xxxy").replacement == "x"


@given(st.text(min_size=1, max_size=50))
@settings(max_examples=50, deadline=None)
def test_char_round_trip_any_text(text):
    vocab = char_vocab(text)
    assert vocab.decode(vocab.encode(text)) == text
    assert Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict()))) == vocab


def test_tokenize_words_rules():
    text = "Tush, 'twill not appear.\nO! don't Ça-va 2nd\n"
    assert tokenize_words(text) == [
        "Tush", ",", "'", "twill", "not", "appear", ".", EOS,
        "O", "!", "don't", "Ça", "-", "va", "2nd", EOS,
    ]  # fmt: skip
    assert tokenize_words("The the") == ["The", "the"]  # case kept
    assert tokenize_words("  \t ") == []


def test_word_vocab_order_min_count_and_max_size():
    counter = Counter(tokenize_words("b a c b a b\nz y\n"))
    vocab = build_word_vocab(counter)
    assert vocab.tokens[:2] == [UNK, EOS]
    assert vocab.tokens == [UNK, EOS, "b", "a", "c", "y", "z"]  # by count, then alphabetically
    assert vocab.counts == [0, 2, 3, 2, 1, 1, 1]
    trimmed = build_word_vocab(counter, min_count=2)
    assert trimmed.tokens == [UNK, EOS, "b", "a"]
    assert trimmed.counts[0] == 3  # <unk> stands for c, y, z
    assert build_word_vocab(counter, max_size=3).tokens == [UNK, EOS, "b"]
    assert vocab.unk_id == 0 and vocab.eos_id == 1
    with pytest.raises(UserError):
        build_word_vocab(counter, min_count=0)
    with pytest.raises(UserError):
        build_word_vocab(counter, max_size=2)


def test_word_decode_spacing():
    text = "Tush, tush! 'Twill (not) appear.\nAnd then?\n"
    vocab = build_word_vocab(Counter(tokenize_words(text)))
    assert vocab.decode(vocab.encode(text)) == "Tush, tush!' Twill (not) appear.\nAnd then?\n"
    assert vocab.decode([vocab.stoi["Tush"], vocab.eos_id, vocab.stoi["tush"]]) == "Tush\ntush"


def test_unknown_error_names_the_characters():
    vocab = char_vocab("abc")
    with pytest.raises(UserError) as error:
        vocab.encode("aЖb€Ж", what="prime")
    assert str(error.value) == (
        "The prime contains characters not in the vocabulary: 'Ж', '€'. "
        "Use --unknown skip or --unknown replace."
    )


def test_unknown_error_names_the_words_and_caps_the_list():
    vocab = build_word_vocab(Counter(["a"]))
    with pytest.raises(UserError, match=r"words not in the vocabulary: 'w0', .* and 2 more\."):
        vocab.encode(" ".join(f"w{i}" for i in range(12)))


def test_unknown_skip_and_replace():
    chars = char_vocab("aaab")
    assert chars.decode(chars.encode("aЖb", unknown="skip")) == "ab"
    assert chars.decode(chars.encode("aЖb", unknown="replace")) == "aab"  # 'a' is the most frequent
    words = build_word_vocab(Counter(["hello"]))
    assert words.encode("hello world", unknown="skip") == [words.stoi["hello"]]
    assert words.encode("hello world", unknown="replace") == [words.stoi["hello"], words.unk_id]
    with pytest.raises(UserError, match="use error, skip or replace"):
        words.encode("hello", unknown="ignore")


def test_decode_accepts_arrays_and_tensors_and_rejects_bad_ids():
    vocab = char_vocab("hello")
    ids = vocab.encode("hello")
    assert vocab.decode(np.array(ids)) == "hello"
    assert vocab.decode(torch.tensor(ids)) == "hello"
    assert vocab.decode(iter(ids)) == "hello"
    for bad in ([len(vocab)], [-1]):
        with pytest.raises(UserError, match="Cannot decode token ids"):
            vocab.decode(bad)


def test_save_load_round_trip(tmp_path):
    for vocab in (char_vocab(TEXTS["emoji"]), build_word_vocab(Counter(tokenize_words(TEXTS["ascii"])))):
        path = tmp_path / f"{vocab.level}.json"
        vocab.save(path)
        loaded = Vocabulary.load(path)
        assert loaded == vocab
        assert loaded.tokens == vocab.tokens and loaded.counts == vocab.counts
        assert loaded.replacement == vocab.replacement
        assert json.loads(path.read_text(encoding="utf-8"))["level"] == vocab.level


def test_load_and_from_dict_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        Vocabulary.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="not valid JSON"):
        Vocabulary.load(tmp_path / "bad.json")
    with pytest.raises(UserError):
        Vocabulary.from_dict({"format": "something else"})
    with pytest.raises(UserError):
        Vocabulary.from_dict({"level": "char", "tokens": "abc"})
    with pytest.raises(UserError, match="Unknown vocabulary level"):
        Vocabulary.from_dict({"level": "byte", "tokens": ["a"]})
    with pytest.raises(UserError, match="twice"):
        Vocabulary("char", ["a", "a"])
    with pytest.raises(UserError, match="must contain"):
        Vocabulary("word", ["a"])
