"""Caption metrics: BLEU-1..4 (sacrebleu), CIDEr-D, exact match, relation words, attention in box.

Plain Python on lists of tokenized captions (space-joined words), so the same functions score the
captioner, the nearest-neighbour baseline or a file of predictions. Every image may have several
reference sentences.

BLEU-n (Papineni et al. 2002) is sacrebleu's corpus BLEU with the n-gram order set to n, the
references' words as they are (``tokenize="none"``: captions are already tokenized by
`rnnlab.data.captions.tokenize_caption`) and a variable number of references per image. Numbers are
0-100 as sacrebleu reports them. (COCO's evaluation kit uses its own PTB tokenizer and a slightly
different brevity penalty, so scores compare with it only roughly.)

CIDEr-D (Vedantam et al. 2015), implemented here because no maintained package without Java exists;
it follows the COCO caption evaluation code (pycocoevalcap's cider_scorer) step by step:

    g_n(s)  = tf-idf vector of the n-grams of sentence s (n = 1..4): count × (log |I| − log max(1, df)),
              df = in how many images' reference sets the n-gram occurs, |I| = number of images scored
    sim_n   = Σ_k min(g_n(c)_k, g_n(r)_k) · g_n(r)_k / (‖g_n(c)‖ ‖g_n(r)‖)          (clipped: the "-D")
              · exp(−δ² / (2σ²)), σ = 6, δ = length difference of candidate and reference
    CIDEr-D(c, R) = 10 · mean_n mean_{r ∈ R} sim_n(c, r);  the corpus score is the mean over images.

As in that code the "length" is the number of bigrams (words − 1), and a sentence too short for any
n-gram of order n scores 0 on that order. The document frequencies come from the references of the
images scored, so the score of one caption depends on the corpus around it (use hundreds of images).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

RELATION_WORDS = ("left", "right", "above", "below")  # as in rnnlab.data.captions


def bleu_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Corpus BLEU-1..4 (0-100) of hypotheses against each image's list of references."""
    from sacrebleu.metrics import BLEU

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} reference lists")
    if not hypotheses:
        return {f"bleu{n}": 0.0 for n in range(1, 5)}
    most = max(len(r) for r in references)
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(most)]
    scores = {}
    for n in range(1, 5):
        metric = BLEU(max_ngram_order=n, tokenize="none", effective_order=False)
        scores[f"bleu{n}"] = float(metric.corpus_score(list(hypotheses), streams).score)
    return scores


def _ngrams(words: Sequence[str], n_max: int = 4) -> Counter:
    counts: Counter = Counter()
    for n in range(1, n_max + 1):
        for i in range(len(words) - n + 1):
            counts[tuple(words[i : i + n])] += 1
    return counts


def cider_d(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], sigma: float = 6.0, n_max: int = 4
) -> tuple[float, list[float]]:
    """Corpus CIDEr-D and the per-image scores (see the module docstring)."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} reference lists")
    if not hypotheses:
        return 0.0, []
    ref_counts = [[_ngrams(r.split(), n_max) for r in refs] for refs in references]
    document_frequency: Counter = Counter()
    for counts in ref_counts:
        for ngram in set(g for c in counts for g in c):
            document_frequency[ngram] += 1
    log_images = math.log(float(len(hypotheses)))

    def vectorize(counts: Counter):
        vec = [dict() for _ in range(n_max)]
        norm = [0.0] * n_max
        length = 0
        for ngram, tf in counts.items():
            n = len(ngram) - 1
            value = tf * (log_images - math.log(max(1.0, document_frequency[ngram])))
            vec[n][ngram] = value
            norm[n] += value * value
            if n == 1:  # bigrams: the reference code's "length"
                length += tf
        return vec, [math.sqrt(x) for x in norm], length

    def similarity(hyp, ref) -> list[float]:
        (vec_h, norm_h, len_h), (vec_r, norm_r, len_r) = hyp, ref
        delta = float(len_h - len_r)
        values = []
        for n in range(n_max):
            value = sum(min(v, vec_r[n].get(g, 0.0)) * vec_r[n].get(g, 0.0) for g, v in vec_h[n].items())
            if norm_h[n] != 0 and norm_r[n] != 0:
                value /= norm_h[n] * norm_r[n]
            values.append(value * math.exp(-(delta**2) / (2 * sigma**2)))
        return values

    scores = []
    for hyp, refs in zip(hypotheses, ref_counts):
        h = vectorize(_ngrams(hyp.split(), n_max))
        total = [0.0] * n_max
        for r in refs:
            for n, value in enumerate(similarity(h, vectorize(r))):
                total[n] += value
        scores.append(10.0 * (sum(total) / n_max) / len(refs))
    return sum(scores) / len(scores), scores


def exact_match(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Fraction of hypotheses equal to one of their image's references."""
    if not hypotheses:
        return 0.0
    return sum(h in refs for h, refs in zip(hypotheses, references)) / len(hypotheses)


def relation_accuracy(
    hypotheses: Sequence[str], references: Sequence[str], words: Sequence[str] = RELATION_WORDS
) -> tuple[float, int]:
    """Word accuracy on the relation words: (fraction right, number of reference relation words).

    The k-th relation word of a reference ("left" of "to the left of", "above", ...) counts as right
    when the hypothesis's k-th relation word is the same; missing ones are wrong.
    """
    kept = set(words)
    right = total = 0
    for hyp, ref in zip(hypotheses, references):
        said = [w for w in hyp.split() if w in kept]
        gold = [w for w in ref.split() if w in kept]
        total += len(gold)
        right += sum(k < len(said) and said[k] == g for k, g in enumerate(gold))
    return (right / total if total else 0.0), total


def box_mass(weights, grid_shape: tuple[int, int], image_size: tuple[int, int], box: Sequence[int]) -> float:
    """Fraction of an attention map's mass inside a pixel box.

    weights: (L,) = (h·w,) row-major α over the grid; location (i, j) covers the pixel rectangle
    [j·W/w, (j+1)·W/w) × [i·H/h, (i+1)·H/h) uniformly, so its mass counts in proportion to the part of
    that rectangle inside `box` = (x0, y0, x1, y1) (x1, y1 exclusive).
    """
    h, w = grid_shape
    H, W = image_size
    x0, y0, x1, y1 = box
    cell_h, cell_w = H / h, W / w
    total = 0.0
    for i in range(h):
        overlap_y = max(0.0, min(y1, (i + 1) * cell_h) - max(y0, i * cell_h)) / cell_h
        if not overlap_y:
            continue
        for j in range(w):
            overlap_x = max(0.0, min(x1, (j + 1) * cell_w) - max(x0, j * cell_w)) / cell_w
            total += float(weights[i * w + j]) * overlap_x * overlap_y
    return total


def attention_in_box(
    words: Sequence[str],
    weights,
    items: Sequence[dict],
    grid_shape: tuple[int, int],
    image_size: tuple[int, int],
    lag: int = 0,
) -> list[float]:
    """For each generated word that names an item of the image: the attention mass inside its box.

    words: the generated caption; weights: (len(words), L) the α of the step that produced each word;
    items: the image's [{"word", "box"}]. Words naming no item (or an item absent from the image) are
    skipped; the result has one fraction per named item word. `lag` k > 0 scores the α of the step k
    words earlier instead (a diagnostic: a decoder that feeds z_t into its memory may look ahead).
    """
    boxes = {item["word"]: item["box"] for item in items}
    return [
        box_mass(weights[t - lag], grid_shape, image_size, boxes[word])
        for t, word in enumerate(words)
        if word in boxes and t >= lag
    ]
