"""Quality of the sequence tasks on real data, each next to its baseline, within a CPU budget.

    python benchmarks/text_tasks.py [--only classify,tag,dates,bible] [--threads 1] [--scale 1.0] [--reuse]

* classify  polarity sentence snippets (3,200 / 400 / 400): BiLSTMs with max, attention and mean pooling
            (the last with word dropout) trained on the snippets alone; the same mean-pooling BiLSTM
            trained on the snippets plus the ~49,000 sentences of the 1,500 full reviews, each labelled
            by its review (`polarity-weak`), and that run fine-tuned on the snippets alone
            (`--pretrained`); bag-of-words logistic regressions, plain and NB-weighted, on the same
            two training sets; and ensembles (probabilities averaged after temperature calibration on
            val). Every choice (checkpoints, L2, temperatures) is made on the 400 val snippets; test
            is only reported. Beside them: a bag of words whose settings 10-fold cross-validation on
            train + val picks (`CV_SETTINGS`), fitted on train + val; and 10-fold cross-validation of
            both bag-of-words models over all 4,000 snippets, a less noisy second measurement;
* tag       ptb-pos-sample (800 / 100 / 100 sentences): BiLSTM tagger with and without character
            features, against the most-frequent-tag baseline; accuracy on all and on unknown words;
* dates     40,000 generated dates -> ISO: exact match on held-out days in the trained formats and on
            two formats never trained on, greedy against beam search (5);
* bible     Spanish -> English verses, a subset (lower-cased, verses of at most 25 words on both sides,
            word level): attention against no attention, BLEU greedy and beam (5).

Each training runs at most `minutes × scale` minutes (classification: 1,200 steps, about 2.5
CPU-minutes) on `--threads` threads (default 1: the CPU is shared). Data is fetched/made first.
Prints tables; writes benchmarks/results/text_tasks-<part>.json. `--reuse` evaluates a run folder in
results/runs that was already trained with exactly the configuration asked for instead of training it
again (the table then shows the CPU minutes recorded in its checkpoint).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from rnnlab.data.fetch import fetch
from rnnlab.data.paths import data_root
from rnnlab.data.text_tasks import make_dates_dataset, read_pairs, write_pairs
from rnnlab.metrics_text import macro_f1
from rnnlab.models.classifier import BagOfWordsClassifier
from rnnlab.train.checkpoint import load_checkpoint
from rnnlab.train.config import from_dict, load_yaml, merge, to_dict
from rnnlab.train.sequence_tasks import TASKS, evaluate_run, load_task_run, translate_text
from rnnlab.train.supervised import train_supervised

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = Path(__file__).resolve().parent / "results" / "runs"


REUSE = False  # --reuse


def train(name: str, task: str, values: dict, minutes: float, threads: int) -> tuple[Path, float]:
    """Train one run from `values` into results/runs/NAME within `minutes`; return (folder, seconds)."""
    task_cls, config_cls = TASKS[task]
    values = merge(values, {"train": {"minutes": minutes, "threads": threads, "progress": False}})
    config = from_dict(config_cls, merge(to_dict(config_cls()), values))
    out = RUNS / name
    if REUSE and (out / "config.yaml").is_file():
        saved = from_dict(config_cls, merge(to_dict(config_cls()), load_yaml(out / "config.yaml")))
        if to_dict(saved) == to_dict(config):
            state = load_checkpoint(out, "last", task=task).document["train_state"]
            print(f"reusing {out} (same configuration, step {state['step']})")
            return out, state.get("cpu", state["elapsed"])
        print(f"{out} was trained with another configuration; training it again")
    start = time.perf_counter()
    train_supervised(task_cls(config), out, force=True)
    return out, time.perf_counter() - start


def attention_examples(run: Path, sources: list[str]) -> list[dict]:
    """Translate a few sources with beam 5 and draw each attention matrix into results/."""
    out = []
    for i, source in enumerate(sources):
        png = RESULTS / f"attention-{run.name}-{i}.png"
        result = translate_text(run, source, beam=5, attention_png=png)
        print(f"  {source!r} -> {result['translation']!r}  ({png.name})")
        out.append({"source": source, "translation": result["translation"], "png": str(png)})
    return out


def table(title: str, header: list[str], rows: list[list]) -> str:
    cells = [[f"{c:.4f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    out = [f"\n{title}", line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(out + [line(r) for r in cells])


def calibrated(log_probs_val: torch.Tensor, gold_val: torch.Tensor) -> float:
    """The temperature T minimising the validation NLL of softmax(log p / T) (a grid search).

    Networks trained to zero training loss are overconfident; averaging their raw probabilities with a
    linear model's lets the most confident model decide. Dividing by T first puts them on one scale.
    """
    grid = [0.5 * 1.25**k for k in range(20)]
    nll = [float(torch.nn.functional.cross_entropy(log_probs_val / t, gold_val)) for t in grid]
    return grid[nll.index(min(nll))]


# The snippets-only runs: a step budget (about 2.5 CPU-minutes each), not a wall-clock one: with other
# jobs on the machine a timed run of this size gets too few steps to say anything.
SNIPPETS = {
    "data": {"path": "polarity"},
    "train": {"steps": 1200, "eval_every": 100, "early_stopping": 10},
}
# Pretraining on polarity-weak (52,255 sentences, 16x the snippets): 12 CPU-minutes (about 4 epochs at
# batch 64); words seen twice anywhere in it are in the vocabulary, which the fine-tuned run keeps.
WEAK = {
    "data": {"path": "polarity-weak", "min_count": 2, "batch_size": 64},
    "train": {"steps": 4000, "cpu_minutes": 12.0, "eval_every": 250, "save_every": 250, "early_stopping": 0},
}
# Fine-tuning the weakly pretrained run on the snippets: a lower peak learning rate, so the first steps
# do not wash out what pretraining learned.
TUNED = merge(SNIPPETS, {"optim": {"lr": 5e-4}, "init": {"pretrained": str(RUNS / "classify-weak")}})
MEAN = {"model": {"pooling": "mean", "word_dropout": 0.1}}
CLASSIFY_CONFIGS = {
    # name: (description, training data, settings on top of the defaults)
    "max": (
        "BiLSTM, max pooling",
        "snippets",
        merge(SNIPPETS, {"model": {"pooling": "max", "word_dropout": 0.0}}),
    ),
    "attention": (
        "BiLSTM, attention pooling",
        "snippets",
        merge(SNIPPETS, {"model": {"pooling": "attention", "word_dropout": 0.0}}),
    ),
    "mean+worddrop": ("BiLSTM, mean pooling, word dropout 0.1", "snippets", merge(SNIPPETS, MEAN)),
    "weak": ("BiLSTM, mean pooling, word dropout 0.1", "snippets + weak", merge(WEAK, MEAN)),
    "weak+tuned": ("the 'weak' run fine-tuned (--pretrained, lr 5e-4)", "snippets", merge(TUNED, MEAN)),
}


def folds(count: int, k: int, seed: int):
    """k folds of range(count) after a seeded shuffle: (held-out indices sorted, the rest in shuffled
    order) for each fold."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()
    for fold in range(k):
        held = set(order[fold::k])
        yield sorted(held), [i for i in order if i not in held]


def split_scores(predicted: torch.Tensor, gold: torch.Tensor, num_classes: int) -> dict:
    """Accuracy and macro-F1 of predicted class ids against the gold ones."""
    return {
        "accuracy": float((predicted == gold).float().mean()),
        "macro_f1": macro_f1(predicted.tolist(), gold.tolist(), num_classes),
    }


def fit_on(options: dict, texts, labels, num_classes: int, fit: list[int], val: list[int], **kwargs):
    """A BagOfWordsClassifier(**options) fitted on the texts at indices `fit`, its L2 picked on those
    at `val`; `kwargs` go to `fit` (grid, prior)."""
    return BagOfWordsClassifier(**options).fit(
        [texts[i] for i in fit],
        [labels[i] for i in fit],
        num_classes,
        val=([texts[i] for i in val], [labels[i] for i in val]),
        **kwargs,
    )


def counted(options: dict, prior, num_classes: int):
    """The prior texts counted once for every fit with these options (None: no prior, or not NB)."""
    if prior is None or not options["nb"]:
        return None
    return BagOfWordsClassifier(**options).count_prior(*prior, num_classes)


def cross_validate(
    texts: list[list[str]], labels: list[int], num_classes: int, options: dict, prior=None, k: int = 10
) -> dict:
    """Accuracy of a bag of words (`options` for BagOfWordsClassifier; `prior` texts for its NB
    ratios) over `k` folds of all the snippets (a seeded shuffle): each fold is scored by a model
    fitted on the rest, whose L2 is picked on a 400-text slice of that rest. On 4,000 texts this
    measures accuracy about three times more precisely than 400 test texts."""
    accuracies, prior = [], counted(options, prior, num_classes)
    for scored, rest in folds(len(texts), k, seed=0):
        model = fit_on(options, texts, labels, num_classes, rest[400:], rest[:400], prior=prior)
        predicted = model.predict_proba([texts[i] for i in scored]).argmax(1)
        accuracies.append(float((predicted == torch.tensor([labels[i] for i in scored])).float().mean()))
    mean = sum(accuracies) / k
    spread = (sum((a - mean) ** 2 for a in accuracies) / (k - 1)) ** 0.5
    return {"accuracy": mean, "standard_error": spread / k**0.5, "folds": accuracies}


# Bag-of-words settings (BagOfWordsClassifier options) that 10-fold cross-validation on train + val
# chooses among, with the L2 strength (`select_by_cv`). First: n-grams, alpha and NB weighting.
CV_SETTINGS = tuple(
    {"ngrams": ngrams, "alpha": alpha, "nb": nb}
    for ngrams, alpha, nb in (
        (2, 1.0, True),
        (2, 1.0, False),
        (1, 1.0, True),
        (3, 1.0, True),
        (2, 0.5, True),
        (3, 0.5, True),
        (2, 0.25, True),
    )
)
# Second: NB bags of words whose ratios also count the weak review sentences (`prior`), each weighted
# `prior_weight`, with and without negation marking. These are the settings explored (by CV on
# train + val only) before this selection was declared; character n-grams were tried too and left
# out (CV 0.758 against 0.757 without them).
PRIOR_SETTINGS = tuple(
    {"ngrams": ngrams, "alpha": alpha, "nb": True, "negation": negation, "prior_weight": weight}
    for ngrams, alpha, negation, weight in (
        (3, 0.5, True, 0.0),
        (3, 0.5, True, 0.03),
        (3, 0.5, True, 0.1),
        (3, 0.5, True, 0.3),
        (3, 0.5, True, 1.0),
        (3, 0.5, False, 0.1),
        (2, 1.0, False, 0.1),
    )
)
CV_GRID = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)


def select_by_cv(
    texts: list[list[str]], labels: list[int], num_classes: int, settings, prior=None, k: int = 10
) -> dict:
    """The bag-of-words setting (one of `settings`) and L2 with the best mean accuracy over `k` folds
    of these texts (a seeded shuffle; each fold scored by a model fitted on the others), and every
    candidate's score. `prior` texts, if given, inform the NB ratios of the NB settings."""
    scores, best = {}, None
    for options in settings:
        total, counts = dict.fromkeys(CV_GRID, 0.0), counted(options, prior, num_classes)
        for held, fit in folds(len(texts), k, seed=1):
            model = fit_on(options, texts, labels, num_classes, fit, held, grid=CV_GRID, prior=counts)
            for l2, accuracy in model.val_accuracies.items():
                total[l2] += accuracy / k
        name = " ".join(f"{key}={value}" for key, value in options.items())
        for l2, accuracy in total.items():
            scores[f"{name} l2={l2:g}"] = accuracy
            if best is None or accuracy > best[0]:
                best = (accuracy, options, l2)
    accuracy, options, l2 = best
    return {**options, "l2": l2, "cv_accuracy": accuracy, "candidates": scores}


def bench_classify(args) -> dict:
    fetch("polarity")
    fetch("polarity-weak")
    runs, results = {}, {}
    for name, (_, _, values) in CLASSIFY_CONFIGS.items():
        runs[name], seconds = train(f"classify-{name}", "classify", values, None, args.threads)
        results[name] = {**evaluate_run(runs[name]), "train_seconds": seconds}
    # The bag-of-words models: fitted in each run on that run's training data (L2 picked on val).
    bows = {"snippets": results["max"], "snippets + weak": results["weak"]}
    # Ensembles: members temperature-calibrated on val, then their probabilities averaged.
    tasks = {}
    for data, run in (("snippets", runs["max"]), ("snippets + weak", runs["weak"])):
        tasks[data], _, _ = load_task_run(run)
        tasks[data].load_data(saved=tasks[data].state())
    task = tasks["snippets"]  # val and test are the same 400 + 400 snippets in both
    index = {label: i for i, label in enumerate(task.labels)}
    tokens = lambda t, split: [t.vocab.split(text) for text, _ in t.raw[split]]
    gold = {split: torch.tensor([index[label] for _, label in task.raw[split]]) for split in ("val", "test")}
    # The plain bag of words, and Wang & Manning's NBSVM (a logistic loss here): the same features
    # scaled by their naive-Bayes log-count ratios; bigrams and alpha = 1 as in their paper. L2 on val.
    # Each on the snippets alone and on the snippets + weak sentences (ratios and fit on all of it).
    members, l2 = {}, {}
    for data, t in tasks.items():
        for kind, nb in (("bag-of-words", False), ("nb-bag-of-words", True)):
            name = kind if data == "snippets" else f"{kind} (weak)"
            model = BagOfWordsClassifier(nb=nb, alpha=1.0).fit(
                tokens(t, "train"),
                [index[label] for _, label in t.raw["train"]],
                len(task.labels),
                val=(tokens(task, "val"), gold["val"].tolist()),
            )
            members[name] = {split: model.predict_proba(tokens(task, split)).log() for split in gold}
            l2[name] = model.l2
    for name in ("nb-bag-of-words", "nb-bag-of-words (weak)"):
        results[name] = {
            "l2": l2[name],
            **{
                split: split_scores(lp.argmax(1), gold[split], len(task.labels))
                for split, lp in members[name].items()
            },
        }
    for name, run in runs.items():
        t, m, _ = load_task_run(run)
        t.load_data(saved=t.state())
        members[name] = {
            split: t.probabilities(m, t.splits[split])[0].clamp_min(1e-12).log() for split in gold
        }
    temperatures = {name: calibrated(lp["val"], gold["val"]) for name, lp in members.items()}
    ensembles = {
        "snippets-only networks + bag-of-words (snippets)": [
            "bag-of-words",
            "max",
            "attention",
            "mean+worddrop",
        ],
        "fine-tuned network + bag-of-words (snippets)": ["bag-of-words", "weak+tuned"],
        "all networks above + bag-of-words (snippets)": ["bag-of-words", *runs],
        "fine-tuned network + NB bag-of-words (snippets)": ["nb-bag-of-words", "weak+tuned"],
        "all networks above + NB bag-of-words (snippets)": ["nb-bag-of-words", *runs],
        "fine-tuned network + NB bag-of-words (snippets + weak)": ["nb-bag-of-words (weak)", "weak+tuned"],
    }
    results["ensembles"] = {"temperatures": temperatures}
    for label, names in ensembles.items():
        scores = {}
        for split in gold:
            probs = sum((members[n][split] / temperatures[n]).softmax(dim=1) for n in names)
            scores[split] = float((probs.argmax(1) == gold[split]).float().mean())
        results["ensembles"][label] = {"members": names, **scores}
    # Cross-validation over all 4,000 snippets (train, val and test pooled): a second, less noisy
    # measurement of the two bag-of-words models; the held-out test above stays the reported one.
    # (train and val first: the first 3,600 are what the selection below may see)
    texts = [t for split in ("train", "val", "test") for t in tokens(task, split)]
    labels = [index[label] for split in ("train", "val", "test") for _, label in task.raw[split]]
    results["cross-validation"] = {
        name: cross_validate(texts, labels, len(task.labels), {"nb": nb, "alpha": 1.0})
        for name, nb in (("bag-of-words", False), ("nb-bag-of-words", True))
    }
    # Settings chosen by 10-fold cross-validation on train + val (3,600 snippets), then one model
    # fitted on all of them with those settings and scored on test once. First among n-grams, alpha
    # and NB weighting; then among NB settings whose ratios also count the weak review sentences
    # (the snippets removed from polarity-weak's train), each as `prior_weight` of a snippet.
    seen = len(task.raw["train"]) + len(task.raw["val"])
    snippets = {text for text, _ in task.raw["train"]}
    weak_rows = [
        (text, label) for text, label in tasks["snippets + weak"].raw["train"] if text not in snippets
    ]
    weak = ([task.vocab.split(text) for text, _ in weak_rows], [index[label] for _, label in weak_rows])
    for name, settings, prior in (
        ("cv-selected", CV_SETTINGS, None),
        ("cv-selected, weak prior", PRIOR_SETTINGS, weak),
    ):
        chosen = select_by_cv(texts[:seen], labels[:seen], len(task.labels), settings, prior)
        options = {key: chosen[key] for key in settings[0]}
        model = BagOfWordsClassifier(**options).fit(
            texts[:seen], labels[:seen], len(task.labels), grid=(chosen["l2"],), prior=prior
        )
        predicted = model.predict_proba(texts[seen:]).argmax(1)
        results[name] = {**chosen, "test": split_scores(predicted, gold["test"], len(task.labels))}
    # The chosen weak-prior setting, cross-validated like the two above (its L2 picked per fold).
    options = {key: results["cv-selected, weak prior"][key] for key in PRIOR_SETTINGS[0]}
    results["cross-validation"]["nb-bag-of-words, weak prior"] = cross_validate(
        texts, labels, len(task.labels), options, prior=weak
    )
    bag_rows = [
        ("bag-of-words LR (1-2 grams)", data, r["baseline val"], r["baseline test"])
        for data, r in bows.items()
    ]
    for name, data in (("nb-bag-of-words", "snippets"), ("nb-bag-of-words (weak)", "snippets + weak")):
        bag_rows.append(
            ("NB-weighted bag-of-words LR (1-2 grams)", data, results[name]["val"], results[name]["test"])
        )
    rows = [
        [label, data, val["accuracy"], test["accuracy"], test["macro_f1"], "-"]
        for label, data, val, test in bag_rows
    ]
    for name in ("cv-selected", "cv-selected, weak prior"):
        r = results[name]
        extras = "".join(
            (
                ", negation marked" if r.get("negation") else "",
                f", weak prior {r['prior_weight']:g}" if "prior_weight" in r else "",
            )
        )
        rows.append(
            [
                f"{'NB-weighted ' if r['nb'] else ''}bag-of-words LR (1-{r['ngrams']} grams, alpha "
                f"{r['alpha']}{extras}, L2 {r['l2']:g}: chosen by 10-fold CV, {r['cv_accuracy']:.4f})",
                "snippets, train + val" + (" (+ weak, ratios only)" if "prior_weight" in r else ""),
                "-",
                r["test"]["accuracy"],
                r["test"]["macro_f1"],
                "-",
            ]
        )
    for name, (label, data, _) in CLASSIFY_CONFIGS.items():
        r = results[name]
        rows.append(
            [
                label,
                data,
                r["val"]["accuracy"],
                r["test"]["accuracy"],
                r["test"]["macro_f1"],
                f"{r['train_seconds'] / 60:.1f}",
            ]
        )
    for label, e in results["ensembles"].items():
        if label != "temperatures":
            rows.append([f"ensemble: {label}", "-", e["val"], e["test"], "-", "-"])
    print(
        table(
            "polarity sentence snippets (3,200 train / 400 val / 400 test; weak = 49,055 sentences of "
            "1,500 full reviews, labelled by their review)",
            ["model", "training data", "val acc", "test acc", "test macro-F1", "train min"],
            rows,
        )
    )
    for name, cv in results["cross-validation"].items():
        print(
            f"10-fold cross-validation on all {len(texts):,} snippets, {name}: accuracy "
            f"{cv['accuracy']:.4f} ± {cv['standard_error']:.4f} (standard error over the folds)"
        )
    best = max(CLASSIFY_CONFIGS, key=lambda name: results[name]["val"]["accuracy"])
    print(
        f"confusion (test, {best}, the network best on val; rows truth, columns predicted, labels "
        f"{results[best]['labels']}): {results[best]['test']['confusion']}"
    )
    return results


def bench_tag(args) -> dict:
    fetch("ptb-pos-sample")
    results = {}
    for label, char in (("chars", True), ("words-only", False)):
        values = {
            "data": {"path": "ptb-pos-sample"},
            "model": {"char_features": char},
            "train": {"steps": 2500, "eval_every": 100, "early_stopping": 8},
        }
        run, seconds = train(f"tag-{label}", "tag", values, 6 * args.scale, args.threads)
        results[label] = {**evaluate_run(run), "train_seconds": seconds}
    baseline = {"val": results["chars"]["baseline val"], "test": results["chars"]["baseline test"]}
    rows = [
        [
            "most frequent tag",
            baseline["val"]["accuracy"],
            baseline["test"]["accuracy"],
            baseline["test"]["unknown_accuracy"],
            "-",
        ]
    ]
    for label, r in results.items():
        rows.append(
            [
                f"BiLSTM tagger, {label}",
                r["val"]["accuracy"],
                r["test"]["accuracy"],
                r["test"]["unknown_accuracy"],
                f"{r['train_seconds'] / 60:.1f}",
            ]
        )
    test = results["chars"]["test"]
    print(
        table(
            f"ptb-pos-sample (800 / 100 / 100 sentences; test: {test['tokens']} tokens, "
            f"{test['unknown_tokens']} unknown)",
            ["model", "val acc", "test acc", "test unknown-word acc", "train min"],
            rows,
        )
    )
    return results


def bench_dates(args) -> dict:
    make_dates_dataset()
    values = {"data": {"path": "dates"}, "train": {"steps": 6000, "eval_every": 500, "eval_limit": 1000}}
    run, seconds = train("dates", "seq2seq", values, 12 * args.scale, args.threads)
    results = {**evaluate_run(run, beam=5, length_penalty=0.0), "train_seconds": seconds}
    results["examples"] = attention_examples(
        run, ["Monday, March 25, 2019", "3/25/19", "April the 1st, 2031"]
    )
    rows = []
    for split, label in (
        ("val", "val (held-out days)"),
        ("test", "test (held-out days, trained formats)"),
        ("heldout", "two formats never trained on"),
    ):
        r = results[split]
        rows.append([label, r["examples"], r["exact_match"], r["beam5_exact_match"]])
    print(
        table(
            f"dates -> ISO, BiGRU encoder + additive attention ({seconds / 60:.1f} min, "
            f"step {results['step']})",
            ["split", "examples", "greedy exact", "beam-5 exact"],
            rows,
        )
    )
    return results


def bible_subset(max_words: int = 25) -> Path:
    """data/bible-es-en-short: the verses of at most `max_words` words on both sides."""
    source = fetch("bible-es-en")
    folder = data_root() / f"bible-es-en-short{max_words}"
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val", "test"):
        pairs = [
            (s, t)
            for s, t in read_pairs(source / f"{split}.tsv")
            if len(s.split()) <= max_words and len(t.split()) <= max_words
        ]
        write_pairs(folder / f"{split}.tsv", pairs)
    return folder


def bench_bible(args) -> dict:
    folder = bible_subset()
    results = {}
    for attention in ("additive", "none"):
        values = {
            "data": {
                "path": str(folder),
                "source_level": "word",
                "target_level": "word",
                "lowercase": True,
                "min_count": 2,
                "max_source_vocab": 8000,
                "max_target_vocab": 5000,
                "max_source_length": 40,
                "max_target_length": 40,
                "batch_size": 64,
            },
            "model": {"attention": attention, "embedding": 128, "hidden": 128, "dropout": 0.2},
            "train": {"steps": 20000, "eval_every": 500, "eval_limit": 300},
        }
        run, seconds = train(f"bible-{attention}", "seq2seq", values, 15 * args.scale, args.threads)
        results[attention] = {**evaluate_run(run, beam=5, length_penalty=0.6), "train_seconds": seconds}
        if attention != "none":
            examples = [s for s, _ in read_pairs(folder / "test.tsv")[:3]]
            results[attention]["examples"] = attention_examples(run, examples)
    rows = []
    for attention, r in results.items():
        rows.append(
            [
                attention,
                r["step"],
                f"{r['train_seconds'] / 60:.1f}",
                r["val"]["bleu4"],
                r["test"]["bleu4"],
                r["test"]["beam5_bleu4"],
            ]
        )
    counts = {s: len(read_pairs(folder / f"{s}.tsv")) for s in ("train", "val", "test")}
    print(
        table(
            f"Bible es->en, verses of ≤ 25 words ({counts['train']:,} train / {counts['test']:,} test), "
            "lower-cased words",
            [
                "attention",
                "steps",
                "train min",
                "val BLEU (greedy)",
                "test BLEU (greedy)",
                "test BLEU (beam 5)",
            ],
            rows,
        )
    )
    return results


BENCHES = {"classify": bench_classify, "tag": bench_tag, "dates": bench_dates, "bible": bench_bible}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated: " + ", ".join(BENCHES))
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every time budget")
    parser.add_argument(
        "--reuse", action="store_true", help="evaluate runs already trained with the same configuration"
    )
    args = parser.parse_args()
    global REUSE
    REUSE = args.reuse
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": args.threads,
        "processor": platform.processor() or platform.machine(),
    }
    for name in args.only.split(","):
        if name not in BENCHES:
            print(f"unknown benchmark {name!r}; choose from {', '.join(BENCHES)}", file=sys.stderr)
            return 2
        results = BENCHES[name](args)
        path = RESULTS / f"text_tasks-{name}.json"
        path.write_text(json.dumps({"machine": machine, "results": results}, indent=1, default=str))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
