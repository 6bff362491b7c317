"""The bag-of-words baseline: plain and naive-Bayes-weighted (NBSVM-style) logistic regression."""

import math
from collections import Counter

import pytest
import torch

from rnnlab.models.classifier import BagOfWordsClassifier, mark_negation

TEXTS = [
    "a good film".split(),
    "good fun".split(),
    "a great good cast".split(),
    "a bad film".split(),
    "bad and dull".split(),
    "dull cast".split(),
]
LABELS = [1, 1, 1, 0, 0, 0]


def test_nb_ratios_are_the_log_count_ratios_of_each_feature():
    model = BagOfWordsClassifier(ngrams=1, nb=True, alpha=1.0).fit(TEXTS, LABELS, 2)
    vocabulary = sorted({w for t in TEXTS for w in t})
    assert list(model.features) == [(w,) for w in vocabulary]
    positive = {w: sum(w in t for t, y in zip(TEXTS, LABELS) if y == 1) + 1 for w in vocabulary}
    negative = {w: sum(w in t for t, y in zip(TEXTS, LABELS) if y == 0) + 1 for w in vocabulary}
    p_total, q_total = sum(positive.values()), sum(negative.values())
    expected = [math.log((positive[w] / p_total) / (negative[w] / q_total)) for w in vocabulary]
    assert model.ratios.shape == (1, len(vocabulary) + 1)
    torch.testing.assert_close(model.ratios[0, :-1], torch.tensor(expected))
    assert model.ratios[0, -1] == 1.0  # the bias column is not scaled
    assert model.ratios[0, vocabulary.index("good")] > 0 > model.ratios[0, vocabulary.index("bad")]


def test_nb_weighting_fits_and_predicts_both_ways():
    for nb in (False, True):
        model = BagOfWordsClassifier(nb=nb).fit(TEXTS, LABELS, 2, val=(TEXTS, LABELS))
        probs = model.predict_proba([["good", "cast"], ["dull", "film"], ["unseen", "words"]])
        assert probs.shape == (3, 2)
        torch.testing.assert_close(probs.sum(1), torch.ones(3))
        assert probs[0].argmax() == 1 and probs[1].argmax() == 0


def test_nb_with_three_classes_is_one_against_the_rest():
    texts = TEXTS + ["so so film".split(), "so so".split(), "middling so".split()]
    labels = LABELS + [2, 2, 2]
    model = BagOfWordsClassifier(ngrams=1, nb=True).fit(texts, labels, 3, grid=(1e-4,))
    assert model.ratios.shape == (3, len(model.features) + 1) and model.weight.shape[0] == 3
    predicted = model.predict_proba(texts).argmax(1).tolist()
    assert predicted == labels
    assert model.predict_proba([["so", "middling"]]).argmax() == 2


def test_fit_records_the_validation_accuracy_of_every_l2_and_keeps_the_best():
    val = ([["good", "film"], ["bad", "cast"], ["a", "dull", "cast"], ["fun", "and", "dull"]], [1, 0, 1, 0])
    grid = (1e-4, 1e-2, 1.0)
    model = BagOfWordsClassifier().fit(TEXTS, LABELS, 2, val=val, grid=grid)
    assert list(model.val_accuracies) == list(grid)
    for l2 in grid:  # each recorded value is that L2's own fit scored on val
        alone = BagOfWordsClassifier().fit(TEXTS, LABELS, 2, grid=(l2,))
        predicted = alone.predict_proba(val[0]).argmax(1)
        assert model.val_accuracies[l2] == float((predicted == torch.tensor(val[1])).float().mean())
    assert model.l2 == max(grid, key=model.val_accuracies.get)  # the first of the best
    refit = model.fit(TEXTS, LABELS, 2, grid=(1e-3,))  # no val: nothing recorded, the one L2 kept
    assert refit.val_accuracies == {} and refit.l2 == 1e-3


def test_mark_negation_marks_words_up_to_the_end_of_the_clause():
    tokens = "it isn't funny or smart , but never dull . not".split()
    assert mark_negation(tokens) == [
        "it", "isn't", "funny_NEG", "or_NEG", "smart_NEG", ",", "but", "never", "dull_NEG", ".", "not",
    ]  # fmt: skip
    assert mark_negation("a good film".split()) == ["a", "good", "film"]
    model = BagOfWordsClassifier(negation=True).fit([["not", "good"], ["good"]], [0, 1], 2, grid=(1e-3,))
    assert set(model.features) == {("not",), ("good_NEG",), ("not", "good_NEG"), ("good",)}


def test_prior_texts_add_their_weighted_counts_to_the_ratios_and_nothing_else():
    prior = (["good good".split(), "a bad cast".split(), "awful film".split()], [1, 0, 0])
    alone = BagOfWordsClassifier(ngrams=1, nb=True).fit(TEXTS, LABELS, 2, grid=(1e-3,))
    model = BagOfWordsClassifier(ngrams=1, nb=True, prior_weight=0.25)
    model.fit(TEXTS, LABELS, 2, grid=(1e-3,), prior=prior)
    assert model.features == alone.features  # "awful" is only in the prior: not a feature
    vocabulary = list(model.features)
    counts = {1: Counter(), 0: Counter()}  # texts holding each word, the prior ones weighted 0.25
    for texts, labels, weight in ((TEXTS, LABELS, 1.0), (*prior, 0.25)):
        for tokens, label in zip(texts, labels):
            for word in set(tokens):
                counts[label][(word,)] += weight
    p = torch.tensor([counts[1][w] + 1.0 for w in vocabulary])
    q = torch.tensor([counts[0][w] + 1.0 for w in vocabulary])
    torch.testing.assert_close(model.ratios[0, :-1], torch.log((p / p.sum()) / (q / q.sum())))
    assert model.ratios[0, vocabulary.index(("cast",))] < alone.ratios[0, vocabulary.index(("cast",))]
    # weight 0 is no prior at all; a prior needs the NB weighting
    zero = BagOfWordsClassifier(ngrams=1, nb=True, prior_weight=0.0).fit(
        TEXTS, LABELS, 2, grid=(1e-3,), prior=prior
    )
    assert torch.equal(zero.ratios, alone.ratios) and torch.equal(zero.weight, alone.weight)
    with pytest.raises(ValueError, match="nb=True"):
        BagOfWordsClassifier().fit(TEXTS, LABELS, 2, prior=prior)


def test_a_prior_counted_once_fits_like_its_texts_and_must_match_the_settings():
    prior = (["good good".split(), "a bad cast".split(), "awful film".split()], [1, 0, 0])
    model = BagOfWordsClassifier(ngrams=2, nb=True, negation=True)
    counts = model.count_prior(*prior, 2)
    from_texts = BagOfWordsClassifier(ngrams=2, nb=True, negation=True).fit(TEXTS, LABELS, 2, prior=prior)
    model.fit(TEXTS, LABELS, 2, prior=counts)
    assert torch.equal(model.ratios, from_texts.ratios) and torch.equal(model.weight, from_texts.weight)
    with pytest.raises(ValueError, match="counted with ngrams=2, negation=True"):
        BagOfWordsClassifier(ngrams=1, nb=True, negation=True).fit(TEXTS, LABELS, 2, prior=counts)
