"""The sequence tasks' metrics by value, against hand-counted examples and sklearn-free formulas."""

import pytest

from rnnlab.metrics_text import accuracy, bleu4, confusion_matrix, exact_match, format_confusion, macro_f1


def test_accuracy_counts_equal_positions():
    assert accuracy([1, 2, 3, 4], [1, 0, 3, 0]) == 0.5
    assert accuracy(["a"], ["a"]) == 1.0 and accuracy([], []) == 0.0
    with pytest.raises(ValueError, match="3 predictions for 2 gold labels"):
        accuracy([1, 2, 3], [1, 2])


def test_confusion_rows_are_the_truth():
    counts = confusion_matrix(predicted=[0, 1, 1, 2, 0, 1, 1], gold=[0, 0, 1, 2, 2, 1, 1], num_classes=3)
    assert counts == [[1, 1, 0], [0, 3, 0], [1, 0, 1]]


def test_macro_f1_by_hand():
    # class 0: tp 1, predicted 2, gold 2 -> F1 0.5; class 1: tp 1, predicted 2, gold 1 -> 2/3;
    # class 2: tp 1, predicted 1, gold 2 -> 2/3; class 3: never predicted nor present -> left out
    f1 = macro_f1(predicted=[0, 1, 1, 2, 0], gold=[0, 0, 1, 2, 2], num_classes=4)
    assert f1 == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3, rel=1e-15)
    # a class present but never predicted counts 0 in the mean
    assert macro_f1(predicted=[0, 0], gold=[0, 1], num_classes=2) == pytest.approx((2 / 3 + 0) / 2, rel=1e-15)
    assert macro_f1([1, 1], [1, 1], 3) == 1.0 and macro_f1([], [], 2) == 0.0


def test_exact_match_is_whole_strings():
    assert exact_match(["2001-03-03", "1999-12-31"], ["2001-03-03", "1999-12-30"]) == 0.5


def test_bleu4_is_sacrebleus_corpus_score():
    assert bleu4(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    # 4 of 5 unigrams and 2 of 4 bigrams match, no trigram (of 3) or four-gram (of 2): sacrebleu's
    # default "exp" smoothing counts the k-th empty order as 1 / (2^k · total); brevity penalty 1
    got = bleu4(["the cat sat on mat"], ["the cat lay on mat"])
    assert got == pytest.approx(100 * (4 / 5 * 2 / 4 * 1 / (2 * 3) * 1 / (4 * 2)) ** 0.25, rel=1e-9)
    # a shorter output pays the brevity penalty exp(1 − r/c)
    short = bleu4(["the cat sat on"], ["the cat sat on the mat"])
    assert short == pytest.approx(100 * 2.718281828459045 ** (1 - 6 / 4), rel=1e-9)
    assert bleu4([], []) == 0.0
    assert bleu4(["a b c d e"], ["v w x y z"]) == 0.0


def test_format_confusion_lays_out_rows_and_columns():
    text = format_confusion([[3, 1], [0, 12]], ["neg", "pos"])
    assert text.splitlines() == [
        "       |    neg    pos   <- predicted",
        "   neg |      3      1",
        "   pos |      0     12",
    ]


def test_format_confusion_widens_for_long_labels_and_counts():
    text = format_confusion([[1234567, 0], [2, 5]], ["negative", "pos"])
    assert text.splitlines() == [
        "         | negative      pos   <- predicted",
        "negative |  1234567        0",
        "     pos |        2        5",
    ]
    wide = format_confusion([[123456789, 0], [0, 1]], ["a", "b"])
    assert wide.splitlines()[1] == "        a | 123456789         0"
