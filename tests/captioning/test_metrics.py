"""Caption metrics: BLEU through sacrebleu, CIDEr-D by hand, relation words, attention mass in a box."""

import math

import pytest

from rnnlab.metrics_caption import (
    attention_in_box,
    bleu_scores,
    box_mass,
    cider_d,
    exact_match,
    relation_accuracy,
)


def test_bleu_matches_sacrebleu_with_a_variable_number_of_references():
    import sacrebleu

    hypotheses = ["a cat sat on the mat", "a dog ran in the park today"]
    references = [["a cat sat on the mat", "the cat sat"], ["a dog ran in a park"]]
    scores = bleu_scores(hypotheses, references)
    expected = sacrebleu.corpus_bleu(
        hypotheses, [["a cat sat on the mat", "a dog ran in a park"], ["the cat sat", None]], tokenize="none"
    )
    assert scores["bleu4"] == pytest.approx(expected.score)
    assert scores["bleu1"] >= scores["bleu2"] >= scores["bleu3"] >= scores["bleu4"]
    assert bleu_scores(["a b c d"], [["a b c d"]])["bleu4"] == pytest.approx(100.0)
    assert bleu_scores([], []) == {"bleu1": 0.0, "bleu2": 0.0, "bleu3": 0.0, "bleu4": 0.0}


def test_cider_d_by_hand():
    # Every n-gram occurs in one image's references: idf = log 2; a perfect 3-word match scores 1 on
    # orders 1-3 and 0 on order 4 (no 4-gram): 10 · 3/4.
    corpus, scores = cider_d(["a b c", "x"], [["a b c"], ["d e f"]])
    assert scores == pytest.approx([7.5, 0.0])
    assert corpus == pytest.approx(3.75)
    # "a" is in both images' references: idf 0, it counts for nothing; "b" and "a b" match.
    _, scores = cider_d(["a b", "a c"], [["a b"], ["a c"]])
    assert scores == pytest.approx([5.0, 5.0])
    # several references: the mean over them; a length gap costs exp(-δ²/2σ²) (δ in bigrams)
    _, (both,) = cider_d(["a b c"], [["a b c", "a b c"]])
    assert both == 0.0  # one image only: log|I| = 0, every weight is 0
    hypotheses, references = ["a b c x y", "z"], [["a b c"], ["z w"]]
    (_, (gaussian, _)), (_, (flat, _)) = (
        cider_d(hypotheses, references),
        cider_d(hypotheses, references, 1e12),
    )
    assert gaussian == pytest.approx(flat * math.exp(-(2**2) / (2 * 6**2)))  # 4 bigrams against 2


def test_cider_d_clips_repeated_words():
    # Two images: every reference n-gram has df 1, so each weight is tf · ln 2 (an n-gram no reference
    # has gets ln 2 too, but never matches). "a a a a" against "a b c d": unigram vectors (4L) and
    # (L, L, L, L), clipped dot min(4L, L) · L = L², norms 4L and 2L -> 1/8 (unclipped: 4L²/8L² = 1/2);
    # no bigram or longer matches; 3 bigrams each side, no length penalty: 10 · (1/8) / 4.
    _, (repeated, z) = cider_d(["a a a a", "z"], [["a b c d"], ["z y"]])
    assert repeated == pytest.approx(10 * (1 / 8) / 4, rel=1e-12)
    # "z" against "z y": unigram cosine 1/√2, 0 bigrams against 1: exp(-1/72)
    assert z == pytest.approx(10 * (1 / math.sqrt(2)) / 4 * math.exp(-1 / 72), rel=1e-12)
    # "a" once: cosine L² / (L · 2L) = 1/2, 0 bigrams against 3: exp(-9/72); repeating a word that the
    # reference has once scores less than saying it once
    _, (once, _) = cider_d(["a", "z"], [["a b c d"], ["z y"]])
    assert once == pytest.approx(10 * (1 / 2) / 4 * math.exp(-9 / 72), rel=1e-12)
    assert repeated < once


def test_exact_match_and_relation_words():
    assert exact_match(["a b", "c"], [["x", "a b"], ["d"]]) == 0.5
    accuracy, total = relation_accuracy(
        ["a top to the left of a bag and a coat below the top", "a bag above a shirt", "a dress"],
        ["a top to the left of a bag and a coat above the top", "a bag above a shirt", "a dress"],
    )
    assert (accuracy, total) == (2 / 3, 3)
    assert relation_accuracy(["a top"], ["a top to the right of a bag"]) == (0.0, 1)


def test_box_mass_and_attention_in_box():
    uniform = [0.25] * 4  # a 2×2 grid over a 4×4 image
    assert box_mass(uniform, (2, 2), (4, 4), (0, 0, 2, 4)) == pytest.approx(0.5)  # the left half
    assert box_mass([1, 0, 0, 0], (2, 2), (4, 4), (0, 0, 2, 2)) == pytest.approx(1.0)
    assert box_mass([1, 0, 0, 0], (2, 2), (4, 4), (1, 1, 3, 3)) == pytest.approx(
        0.25
    )  # a quarter of the cell
    weights = [[1, 0, 0, 0], [0.2, 0.3, 0.1, 0.4], [0, 0, 0, 1]]
    items = [{"word": "bag", "box": [0, 0, 2, 2]}, {"word": "coat", "box": [2, 2, 4, 4]}]
    assert attention_in_box(["bag", "above", "coat"], weights, items, (2, 2), (4, 4)) == pytest.approx(
        [1.0, 1.0]
    )
    assert attention_in_box(["a", "coat"], weights, items, (2, 2), (4, 4)) == pytest.approx([0.4])
    # lag 1: the α of the step before each item word (the "a" before "coat" looked at the coat)
    assert attention_in_box(["a", "coat"], [[0, 0, 0, 1], [1, 0, 0, 0]], items, (2, 2), (4, 4), lag=1) == [
        1.0
    ]


def test_bleu_of_each_order_by_hand():
    # 4 of 5 unigrams, 2 of 4 bigrams, 1 of 3 trigrams, 0 of 2 four-grams match; sacrebleu's "exp"
    # smoothing counts the k-th empty order as 1 / (2^k · total); equal lengths: no brevity penalty
    scores = bleu_scores(["a b c d e"], [["a b c x e"]])
    p = [4 / 5, 2 / 4, 1 / 3, 1 / (2 * 2)]
    assert scores == pytest.approx({f"bleu{n}": 100 * math.prod(p[:n]) ** (1 / n) for n in range(1, 5)},
                                   rel=1e-12)
    assert set(scores) == {"bleu1", "bleu2", "bleu3", "bleu4"}


def test_bleu_takes_the_words_as_they_are():
    # already tokenized captions: "19-year" is one word (sacrebleu's default tokenizer, 13a, would split
    # it after the digits and find "19" and "-" in the reference too: 4 of 5 unigrams)
    bleu1 = bleu_scores(["a 19-year old"], [["a 19-month old"]])["bleu1"]
    assert bleu1 == pytest.approx(100 * 2 / 3, rel=1e-12)


def test_bleu_counts_orders_longer_than_the_caption_as_zero():
    # a 2-word caption has no trigram: BLEU-3 and BLEU-4 are 0 (sacrebleu's effective_order would
    # instead drop the missing orders and give BLEU-2's 60.65…); the brevity penalty is exp(1 − 3/2)
    scores = bleu_scores(["a b"], [["a b c"]])
    assert scores["bleu2"] == pytest.approx(100 * math.exp(1 - 3 / 2), rel=1e-12)
    assert scores["bleu3"] == scores["bleu4"] == 0.0


def test_metrics_refuse_mismatched_lists():
    for metric in (bleu_scores, cider_d):
        with pytest.raises(ValueError, match="2 hypotheses for 1 reference lists"):
            metric(["a", "b"], [["a"]])
    assert cider_d([], []) == (0.0, [])
    assert exact_match([], []) == 0.0


def test_cider_d_document_frequencies_and_several_references():
    # Three images; "a" is in the references of two: idf(a) = ln 3 − ln 2 = A, every other n-gram
    # (or one no reference has) ln 3 = B. Image 1's caption "a x" against its two references:
    #   "a b": unigrams (a: A, x: B) · (a: A, b: B) -> A² / (A² + B²); bigrams "a x" vs "a b": 0
    #   "a x": identical: 1 on unigrams and bigrams
    # no trigram or four-gram, equal lengths: 10 · mean over orders, mean over the two references
    A, B = math.log(1.5), math.log(3)
    _, scores = cider_d(["a x", "a c", "q"], [["a b", "a x"], ["a c"], ["d e"]])
    first = 10 * ((A**2 / (A**2 + B**2) + 0) + (1 + 1)) / 4 / 2
    assert scores[0] == pytest.approx(first, rel=1e-12)
    assert scores[1] == pytest.approx(10 * 2 / 4, rel=1e-12)  # "a c" is its only reference
    assert scores[2] == 0.0
    # with n_max = 2 the mean is over two orders, and longer n-grams are not counted at all; two images,
    # every n-gram in one image's references: "x y z" against "x y w" is 2/3 on unigrams, 1/2 on bigrams
    _, two = cider_d(["a b c", "x y z"], [["a b c"], ["x y w"]], n_max=2)
    assert two == pytest.approx([10 * (1 + 1) / 2, 10 * (2 / 3 + 1 / 2) / 2], rel=1e-12)


def test_exact_match_counts_any_reference_and_relation_words_with_none():
    assert exact_match(["a b", "c", "e"], [["x", "a b"], ["d"], ["e"]]) == pytest.approx(2 / 3)
    assert relation_accuracy(["a top"], ["a top"]) == (0.0, 0)  # no relation word to get right
