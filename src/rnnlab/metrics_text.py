"""Metrics of the sequence tasks: accuracy, macro-F1, confusion matrix, exact match, BLEU.

Plain Python on lists of labels or strings, so that the same functions score a neural model, a
baseline, or a file of predictions.
"""

from __future__ import annotations

from collections.abc import Sequence


def accuracy(predicted: Sequence, gold: Sequence) -> float:
    """Fraction of positions where predicted == gold (0.0 for empty input)."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} gold labels")
    return sum(p == g for p, g in zip(predicted, gold)) / len(gold) if gold else 0.0


def confusion_matrix(predicted: Sequence[int], gold: Sequence[int], num_classes: int) -> list[list[int]]:
    """counts[g][p]: how often class g (row, the truth) was predicted as p (column)."""
    counts = [[0] * num_classes for _ in range(num_classes)]
    for p, g in zip(predicted, gold):
        counts[g][p] += 1
    return counts


def macro_f1(predicted: Sequence[int], gold: Sequence[int], num_classes: int) -> float:
    """Unweighted mean over classes of F1 = 2PR / (P + R); a class never predicted nor present counts 0.

    Classes absent from both predictions and gold are left out of the mean (they carry no information).
    """
    counts = confusion_matrix(predicted, gold, num_classes)
    scores = []
    for c in range(num_classes):
        true_positive = counts[c][c]
        predicted_c = sum(counts[g][c] for g in range(num_classes))
        gold_c = sum(counts[c])
        if predicted_c == 0 and gold_c == 0:
            continue
        scores.append(2 * true_positive / (predicted_c + gold_c))
    return sum(scores) / len(scores) if scores else 0.0


def exact_match(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """Fraction of outputs identical to the reference (the date task's metric)."""
    return accuracy(list(predicted), list(gold))


def bleu4(predicted: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU-4 (0-100) with sacrebleu's standard tokenization ("13a") and settings.

    One reference per sentence. sacrebleu is the field's reference implementation, so the numbers
    compare with published ones.
    """
    import sacrebleu

    if not predicted:
        return 0.0
    return float(sacrebleu.corpus_bleu(list(predicted), [list(references)]).score)


def format_confusion(counts: list[list[int]], labels: Sequence[str]) -> str:
    """A confusion matrix as text: rows are the truth, columns the prediction."""
    width = max(6, *(len(str(label)) for label in labels), *(len(str(n)) for row in counts for n in row))
    lines = [" " * width + " | " + " ".join(f"{str(label):>{width}}" for label in labels) + "   <- predicted"]
    for label, row in zip(labels, counts):
        lines.append(f"{str(label):>{width}} | " + " ".join(f"{n:>{width}}" for n in row))
    return "\n".join(lines)
