"""The bag-of-words baseline: plain and naive-Bayes-weighted (NBSVM-style) logistic regression."""

import math

import torch

from rnnlab.models.classifier import BagOfWordsClassifier

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
