"""Runs of the text tasks: load, evaluate, predict (classify, tag) and translate (seq2seq)."""

from __future__ import annotations

import json
from pathlib import Path

from ..data.text_tasks import TaskVocab
from ..errors import UserError
from ..train.supervised import restore_task_run
from .classify import ClassifyRunConfig, ClassifyTask
from .seq2seq import Seq2SeqRunConfig, Seq2SeqTask
from .tag import TagRunConfig, TagTask

TASKS = {
    "classify": (ClassifyTask, ClassifyRunConfig),
    "tag": (TagTask, TagRunConfig),
    "seq2seq": (Seq2SeqTask, Seq2SeqRunConfig),
}


def load_task_run(run: str | Path, which: str = "best", task: str | None = None):
    """(task object with vocabularies, model in eval mode, checkpoint document) of a trained run."""
    return restore_task_run(run, which, TASKS, task)


def evaluate_run(
    run: str | Path,
    data: str | Path | None = None,
    *,
    which: str = "best",
    beam: int = 5,
    length_penalty: float = 0.6,
) -> dict:
    """The task's metrics on the run's val/test (and heldout) splits, or on the file `data`.

    Classification adds the confusion matrix and the bag-of-words baseline; tagging the most-frequent-tag
    baseline; seq2seq reports greedy decoding and beam search (`beam`, `length_penalty`) side by side.
    """
    task, model, document = load_task_run(run, which)
    results = {
        "run": str(run),
        "step": document["step"],
        "checkpoint": document["checkpoint"],
        "task": task.name,
    }
    if data is None:
        task.load_data(saved=document["task_state"])
        splits = {k: v for k, v in task.splits.items() if k != "train"}
    else:
        if task.name == "classify":
            splits = {"file": task.encode_examples(task.read(data), "file")}
        elif task.name == "tag":
            splits = {"file": task.encode_sentences(task.read(data), "file")}
        else:
            splits = {"file": task.encode_pairs(task.read(data), "file")}
    for name, examples in splits.items():
        if not examples:
            continue
        if task.name == "seq2seq":
            greedy = task.evaluate(model, examples)
            results[name] = greedy
            if beam > 1:
                beamed = task.evaluate(model, examples, beam=beam, length_penalty=length_penalty)
                results[name].update(
                    {f"beam{beam}_exact_match": beamed["exact_match"], f"beam{beam}_bleu4": beamed["bleu4"]}
                )
        else:
            results[name] = task.evaluate(model, examples)
        if task.name == "classify":
            results[name]["confusion"] = task.confusion(model, examples)
    if task.name == "classify":
        results["labels"] = task.labels
    baseline_file = Path(run) / "baseline.json"
    if data is None and baseline_file.is_file():
        # One row per split, named so that `rnnlab eval`'s table shows them under the model's rows.
        baseline = json.loads(baseline_file.read_text(encoding="utf-8"))
        for split in [k for k, v in baseline.items() if isinstance(v, dict)]:
            results[f"baseline {split}"] = {"model": baseline["model"], **baseline[split]}
    return results


def predict_text(
    run: str | Path, texts: list[str], *, which: str = "best", unknown: str = "replace", top: int = 5
) -> list[dict]:
    """Classify texts (or tag them, for a tagger run): label, probabilities, most attended tokens."""
    task, model, _ = load_task_run(run, which)
    if task.name == "seq2seq":
        raise UserError(f"{run} is a seq2seq run; use `rnnlab translate {run} TEXT`.")
    results = []
    for text in texts:
        if not text.strip():
            raise UserError("the text to predict is empty; give some words.")
        if task.name == "tag":
            words = text.split()
            example = task.encode_sentences([(words, [task.tags[0]] * len(words))], "input")[0]
            predicted, _ = task.predict(model, [example])
            unknown_words = [w for w, i in zip(words, example[0]) if i == TaskVocab.unk_id]
            results.append(
                {
                    "text": text,
                    "tags": [task.tags[i] for i in predicted[0]],
                    "words": words,
                    "unknown": unknown_words,
                }
            )
            continue
        if task.config.data.lowercase:
            text = text.lower()
        tokens = task.vocab.split(text)
        ids = task.vocab.encode_tokens(tokens, unknown, what="text")
        if not ids:
            raise UserError("none of the text's tokens are known to the model; nothing to classify.")
        ids = ids[: task.config.data.max_length or None]
        probs, weights = task.probabilities(model, [(ids, 0, text)])
        entry = {
            "text": text,
            "label": task.labels[int(probs[0].argmax())],
            "probabilities": {label: float(p) for label, p in zip(task.labels, probs[0])},
            "unknown": [t for t in tokens if t not in task.vocab.stoi],
        }
        if weights[0] is not None:
            kept = [t for t in tokens if t in task.vocab.stoi] if unknown == "skip" else tokens
            order = weights[0].argsort(descending=True)[:top].tolist()
            entry["attention"] = [(kept[i], float(weights[0][i])) for i in order]
        results.append(entry)
    return results


def translate_text(
    run: str | Path,
    text: str,
    *,
    which: str = "best",
    beam: int = 5,
    length_penalty: float = 0.6,
    unknown: str = "replace",
    max_length: int | None = None,
    attention_png: str | Path | None = None,
) -> dict:
    """Translate one text with a seq2seq run: the output, its score, optionally the attention PNG.

    Unknown source tokens become <unk> ("replace"), are dropped ("skip") or refused ("error"). An
    output <unk> is replaced by the source token the decoder attended to most at that step (Luong
    et al.'s unknown-word replacement), when the model has attention.
    """
    task, model, _ = load_task_run(run, which, task="seq2seq")
    if not text.strip():
        raise UserError("the text to translate is empty.")
    if task.config.data.lowercase:
        text = text.lower()
    tokens = task.source.split(text)
    ids = task.source.encode_tokens(tokens, unknown, what="source text")
    if not ids:
        raise UserError("none of the source's tokens are known to the model; nothing to translate.")
    kept = [t for t in tokens if t in task.source.stoi] if unknown == "skip" else tokens
    output = task.decode(model, [ids], beam=beam, length_penalty=length_penalty, max_length=max_length)[0]
    weights = task.attention_matrix(model, ids, output)  # (T + 1, L)
    pieces = [task.target.tokens[i] for i in output]
    if model.use_attention:
        pieces = [
            kept[int(weights[t].argmax())] if i == TaskVocab.unk_id else piece
            for t, (i, piece) in enumerate(zip(output, pieces))
        ]
    if task.target.level == "char":
        translation = "".join(pieces)
    else:
        vocab = task.target.vocab
        translation = vocab.decode([vocab.stoi.get(p, vocab.unk_id) for p in pieces]) if pieces else ""
        if any(p not in vocab.stoi for p in pieces):  # copied source words: join by hand
            translation = " ".join(pieces)
    result = {
        "source": text,
        "translation": translation,
        "tokens": pieces,
        "unknown": [t for t in tokens if t not in task.source.stoi],
    }
    if attention_png:
        from ..viz.attention import plot_attention

        if not model.use_attention:
            raise UserError("this model has no attention (model.attention = none); there is nothing to plot.")
        target_labels = pieces + ["<eos>"]
        result["attention_png"] = str(
            plot_attention(weights[: len(target_labels)], kept, target_labels, attention_png)
        )
    return result
