"""Sampling: argmax vs sampling at several temperatures, from one small character model.

At test time the lecture's language model either takes the most likely character (argmax, greedy) or
samples from softmax(logits / temperature). Greedy text is the most likely locally but repeats itself:
the model's favourite sentence again and again; sampling is more varied and, as the temperature rises,
less likely and eventually ungrammatical. We train an LSTM on sentences from a small grammar
(`tasks.grammar_text`) and measure, over 8 samples of 300 characters per setting:

    distinct 4-grams   unique character 4-grams / all 4-grams, pooled over the samples (diversity)
    repeated lines     the fraction of complete lines that repeat an earlier line of the same sample
    real words         the fraction of generated words that the grammar can produce
    log-likelihood     mean log p(character) under the model at temperature 1, nats per character
"""

from __future__ import annotations

import torch

from ..generate import generate
from ..models.language_model import LanguageModel, LanguageModelConfig
from .common import ExperimentResult, train_char_lm
from .tasks import _GRAMMAR, encode_chars, grammar_text

NAME = "sampling"
DESCRIPTION = "argmax vs sampling at temperatures 0.5-1.5: distinct n-grams, repetition, likelihood"
CLAIM = ("greedy decoding has the highest likelihood but the least diversity and the most repetition; as the "
         "temperature rises, distinct 4-grams increase and the likelihood falls (both monotonically)")

SETTINGS = [("argmax", None), ("T=0.5", 0.5), ("T=0.8", 0.8), ("T=1.0", 1.0), ("T=1.5", 1.5)]
WORDS = {w for rules in _GRAMMAR.values() for rule in rules for w in rule if w not in _GRAMMAR}


def distinct_ngrams(texts: list[str], n: int = 4) -> float:
    grams = [t[i : i + n] for t in texts for i in range(len(t) - n + 1)]
    return len(set(grams)) / max(len(grams), 1)


def repeated_lines(text: str) -> float:
    """The fraction of complete lines (not the unfinished last one) that repeat an earlier line."""
    lines = [line for line in text.split("\n")[:-1] if line.strip()]
    seen, repeats = set(), 0
    for line in lines:
        repeats += line in seen
        seen.add(line)
    return repeats / max(len(lines), 1)


def real_words(text: str) -> float:
    words = text.replace(".", " ").split()[:-1]  # the last word may be cut off
    return sum(w in WORDS for w in words) / max(len(words), 1)


@torch.no_grad()
def log_likelihood(model: LanguageModel, prime: list[int], samples: torch.Tensor) -> float:
    """Mean log p(sample character) at temperature 1, given the prime; samples (B, L)."""
    B = samples.shape[0]
    tokens = torch.cat([torch.tensor(prime).expand(B, len(prime)), samples], dim=1)  # (B, P + L)
    logits, _ = model(tokens[:, :-1])
    logp = logits.log_softmax(-1).gather(-1, tokens[:, 1:, None]).squeeze(-1)  # (B, P + L - 1)
    return float(logp[:, len(prime) - 1 :].mean())


def run(quick: bool = False, seed: int = 0) -> ExperimentResult:
    torch.manual_seed(seed)
    ids, alphabet = encode_chars(grammar_text(5_000 if quick else 60_000, seed=seed))
    model = LanguageModel(len(alphabet), LanguageModelConfig(cell="lstm", embedding=32,
                                                             hidden=32 if quick else 128, layers=1))
    curves = train_char_lm(model, ids, 20 if quick else 800, seed=seed)
    prime = [alphabet.index("\n")]
    length, count = (60, 4) if quick else (300, 8)
    rows, data = [], {"settings": {}, "loss_curve": curves["losses"], "alphabet": alphabet}
    for name, temperature in SETTINGS:
        steps = generate(model, prime, length, greedy=temperature is None, temperature=temperature or 1.0,
                         seed=seed, batch_size=count)
        samples = torch.stack(list(steps), dim=1)  # (B, L)
        texts = ["".join(alphabet[int(t)] for t in row) for row in samples]
        stats = {"distinct_4grams": distinct_ngrams(texts),
                 "repeated_lines": sum(map(repeated_lines, texts)) / len(texts),
                 "real_words": sum(map(real_words, texts)) / len(texts),
                 "log_likelihood": log_likelihood(model, prime, samples)}
        data["settings"][name] = {**stats, "example": texts[0]}
        rows.append([name, stats["distinct_4grams"], stats["repeated_lines"], stats["real_words"],
                     stats["log_likelihood"], texts[0][:40].replace("\n", " / ")])
    order = [data["settings"][name] for name, _ in SETTINGS]
    likelihood_falls = all(a["log_likelihood"] > b["log_likelihood"] for a, b in zip(order, order[1:]))
    diversity_rises = all(a["distinct_4grams"] < b["distinct_4grams"] for a, b in zip(order, order[1:]))
    greedy, t1 = data["settings"]["argmax"], data["settings"]["T=1.0"]
    repeats_most = greedy["repeated_lines"] > t1["repeated_lines"]
    likelihoods = ", ".join(f"{n} {s['log_likelihood']:.3f}" for n, s in data["settings"].items())
    diversity = ", ".join(f"{s['distinct_4grams']:.3f}" for s in order)
    measured = (f"log-likelihood {likelihoods}; distinct 4-grams {diversity}; repeated lines argmax "
                f"{greedy['repeated_lines']:.2f} vs T=1.0 {t1['repeated_lines']:.2f}")
    return ExperimentResult(NAME, DESCRIPTION, CLAIM,
                            ["decoding", "distinct 4-grams", "repeated lines", "real words", "log p / char",
                             "sample"], rows, likelihood_falls and diversity_rises and repeats_most,
                            measured, data)


def figure(result: ExperimentResult, path):
    from ..viz.diagnostics import plot_sampling

    return plot_sampling(result.data, path)
