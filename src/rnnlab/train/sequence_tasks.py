"""The three sequence tasks as objects the supervised loop drives: classify, tag, seq2seq.

A task joins a data reader to a model without either knowing the other. It has a typed run
configuration (model / data / optim / schedule / train sections, like the language model's) and:

    load_data(data_root, saved)  read and encode the splits; vocabularies and labels are built from
                                 the training split, or taken from `saved` (a checkpoint's task_state)
    state()                      the JSON-able vocabularies and labels saved in every checkpoint
    build_model()                the model, sized by the vocabularies
    length(example), collate(examples) -> batch of padded tensors, loss(model, batch)
    evaluate(model, examples)    {"loss", metrics...}; `primary_metric` chooses the best checkpoint
    baseline()                   the simple baseline on the same split (bag of words, most frequent tag)

Token id 0 is padding everywhere; `lengths` (B,) say how much of each row is real.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ..data.text_tasks import (
    LABELED_FORMATS,
    TAGGED_FORMATS,
    TaskVocab,
    read_labeled,
    read_pairs,
    read_tagged,
    resolve_task_data,
    split_examples,
)
from ..data.vocab import LEVELS
from ..errors import UserError
from ..metrics_text import accuracy, bleu4, confusion_matrix, exact_match, macro_f1
from ..models.classifier import BagOfWordsClassifier, ClassifierConfig, SequenceClassifier
from ..models.seq2seq import Seq2Seq, Seq2SeqConfig, reorder_decoder_state
from ..models.tagger import MostFrequentTagBaseline, SequenceTagger, TaggerConfig
from .optim import OptimConfig, ScheduleConfig
from .supervised import ExampleTask, SupervisedTrainConfig, restore_task_run
from .transfer import InitConfig, Pretrained, copy_pretrained, read_pretrained

TOO_LONG = ("truncate", "error")
EVAL_BATCH = 128


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _check_common(section, name: str) -> None:
    """Validation shared by the data sections."""
    if not isinstance(section.batch_size, int) or section.batch_size < 1:
        raise UserError(f"data.batch_size must be a positive integer (got {section.batch_size!r}).")
    if section.too_long not in TOO_LONG:
        raise UserError(f"data.too_long must be truncate or error (got {section.too_long!r}).")
    if section.bad_rows not in ("error", "skip"):
        raise UserError(f"data.bad_rows must be error or skip (got {section.bad_rows!r}).")
    if not isinstance(section.min_count, int) or section.min_count < 1:
        raise UserError(f"data.min_count must be a positive integer (got {section.min_count!r}).")
    split = [float(f) for f in section.split]
    if len(split) != 3 or any(f < 0 for f in split) or not 0.99 <= sum(split) <= 1.01:
        raise UserError(f"data.split must be three fractions summing to 1, like 0.8,0.1,0.1 (got {split}).")
    section.split = split


def _fit_length(ids: list, limit: int, counter: list) -> list:
    """Cut `ids` to `limit` items (0: no limit), counting the cuts in counter[0]."""
    if limit and len(ids) > limit:
        counter[0] += 1
        return ids[:limit]
    return ids


def _report_too_long(count: int, total: int, what: str, limit: int, policy: str, key: str) -> None:
    if not count:
        return
    if policy == "error":
        raise UserError(
            f"{count} of {total} {what} are longer than data.{key}={limit} tokens; raise the "
            f"limit with --set data.{key}=N, or pass --set data.too_long=truncate."
        )
    warn(f"{count} of {total} {what} were longer than data.{key}={limit} tokens and were truncated.")


def _pad(rows: list[list[int]], value: int = 0) -> tuple[Tensor, Tensor]:
    """Right-pad lists of ids into (B, T) with their lengths (B,)."""
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    out = torch.full((len(rows), int(lengths.max())), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out, lengths


def _batches(items: list, size: int = EVAL_BATCH):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _read_splits(path: str, data_root, reader, split: list[float]) -> dict[str, list]:
    """{split: examples} from --data: a folder's split files, or one file cut by `split` (seeded)."""
    files = resolve_task_data(path, data_root)
    if "all" in files:
        return split_examples(reader(files["all"]), split, seed=0)
    return {name: reader(file) for name, file in files.items()}


# =====================================================================================================
# classify
# =====================================================================================================


@dataclass
class ClassifyDataConfig:
    path: str = ""  # CSV/TSV/JSONL file, a folder with train/val/test files, or a dataset name
    format: str = "auto"  # auto (by extension) | csv | tsv | jsonl
    text_column: str = "text"
    label_column: str = "label"
    encoding: str = "utf-8"
    level: str = "word"  # word | char tokens
    lowercase: bool = False
    min_count: int = 1  # rarer training tokens become <unk>
    max_vocab: int | None = None  # keep the most frequent tokens only
    max_length: int = 400  # tokens per text; longer ones are truncated or refused (0: no limit)
    too_long: str = "truncate"  # truncate (with a warning) | error
    bad_rows: str = "error"  # error | skip: ragged rows, missing labels, empty texts
    split: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])  # when --data is one file
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.format not in LABELED_FORMATS:
            raise UserError(f"data.format must be one of {', '.join(LABELED_FORMATS)} (got {self.format!r}).")
        if self.level not in LEVELS:
            raise UserError(f"data.level must be char or word (got {self.level!r}).")
        _check_common(self, "classify")


@dataclass
class BagOfWordsConfig:
    """The bag-of-words baseline fitted beside every classify run (`BagOfWordsClassifier`)."""

    ngrams: int = 2  # word n-grams 1..ngrams
    nb: bool = False  # scale the features by their naive-Bayes log-count ratios (NBSVM)
    alpha: float = 1.0  # the ratios' smoothing count
    negation: bool = False  # mark the words after "not", "n't", "never", ... up to punctuation
    prior: str = ""  # more labelled texts (file, folder or dataset name; its train split) in --data's
    # format and columns, counted in the NB ratios only
    prior_weight: float = 0.1  # what one prior text counts, against 1 for a training text

    def __post_init__(self) -> None:
        if not isinstance(self.ngrams, int) or self.ngrams < 1:
            raise UserError(f"baseline.ngrams must be a positive integer (got {self.ngrams!r}).")
        if not self.alpha > 0:
            raise UserError(f"baseline.alpha must be positive (got {self.alpha!r}).")
        if not self.prior_weight >= 0:
            raise UserError(f"baseline.prior_weight must be 0 or more (got {self.prior_weight!r}).")
        if self.prior and not self.nb:
            raise UserError("baseline.prior only informs the naive-Bayes ratios: set baseline.nb=true too.")


@dataclass
class ClassifyRunConfig:
    task: str = "classify"
    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    data: ClassifyDataConfig = field(default_factory=ClassifyDataConfig)
    baseline: BagOfWordsConfig = field(default_factory=BagOfWordsConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=2e-3))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: SupervisedTrainConfig = field(
        default_factory=lambda: SupervisedTrainConfig(steps=1500, eval_every=100)
    )
    init: InitConfig = field(default_factory=InitConfig)  # --pretrained RUN: fine-tune (train/transfer.py)


class ClassifyTask(ExampleTask):
    """Text -> label. An example is (token ids, label id, text)."""

    name = "classify"
    primary_metric = "accuracy"

    def __init__(self, config: ClassifyRunConfig) -> None:
        self.config = config
        self.vocab: TaskVocab | None = None
        self.labels: list[str] = []
        self.splits: dict[str, list] = {}
        self.raw: dict[str, list[tuple[str, str]]] = {}
        self.pretrained: Pretrained | None = None  # set by load_data for a fresh fine-tuning run
        self.prior: list[tuple[str, str]] = []  # baseline.prior's rows, read by load_data for a fresh run

    # ---- data -----------------------------------------------------------------------------------

    def read(self, path: str | Path) -> list[tuple[str, str]]:
        dc = self.config.data
        examples = read_labeled(
            path, dc.text_column, dc.label_column, fmt=dc.format, encoding=dc.encoding, bad_rows=dc.bad_rows
        )
        if not examples:
            raise UserError(f"{path} holds no usable examples.")
        return [(text.lower() if dc.lowercase else text, label) for text, label in examples]

    def load_data(self, data_root=None, saved: dict | None = None) -> None:
        dc = self.config.data
        self.raw = _read_splits(dc.path, data_root, self.read, dc.split)
        train_labels = sorted({label for _, label in self.raw["train"]})
        if saved is not None:
            self.set_state(saved)
            if train_labels != self.labels:
                raise UserError(
                    f"the data's labels {train_labels} differ from the checkpoint's {self.labels}; "
                    "train a new run for a new label set."
                )
        else:
            if len(train_labels) < 2:
                raise UserError(
                    f"the training data has only the label {train_labels}; a classifier needs two or more."
                )
            self.labels = train_labels
            self.prior = self._read_prior(data_root)
            if self.config.init.pretrained:
                # Fine-tuning keeps the pretrained vocabulary: words met only in the pretraining
                # corpus keep their embeddings instead of becoming <unk>.
                self.pretrained = read_pretrained(self.config.init.pretrained)
                self.vocab = TaskVocab.from_dict(self.pretrained.task_state["vocab"])
            else:
                self.vocab = TaskVocab.build(
                    [t for t, _ in self.raw["train"]], dc.level, dc.min_count, dc.max_vocab
                )
        self.splits = {name: self.encode_examples(rows, name) for name, rows in self.raw.items()}

    def encode_examples(self, rows: list[tuple[str, str]], split: str = "data") -> list:
        dc = self.config.data
        index = {label: i for i, label in enumerate(self.labels)}
        unseen = sorted({label for _, label in rows if label not in index})
        if unseen:
            raise UserError(
                f"the {split} split has labels the training split lacks: {', '.join(unseen)}; "
                f"the model knows {', '.join(self.labels)}."
            )
        cut = [0]
        examples = [
            (_fit_length(self.vocab.encode(text), dc.max_length, cut), index[label], text)
            for text, label in rows
        ]
        _report_too_long(cut[0], len(rows), f"{split} texts", dc.max_length, dc.too_long, "max_length")
        return examples

    def state(self) -> dict:
        return {"vocab": self.vocab.to_dict(), "labels": self.labels}

    def set_state(self, saved: dict) -> None:
        self.vocab = TaskVocab.from_dict(saved["vocab"])
        self.labels = list(saved["labels"])

    # ---- model --------------------------------------------------------------------------------

    def build_model(self) -> SequenceClassifier:
        model = SequenceClassifier(len(self.vocab), len(self.labels), self.config.model)
        if self.pretrained is not None:
            same = list(self.pretrained.task_state["labels"]) == self.labels
            copy_pretrained(model, self.pretrained, same_labels=same, head=self.config.init.head)
        return model

    def length(self, example) -> int:
        return len(example[0])

    def collate(self, examples: list) -> dict:
        tokens, lengths = _pad([e[0] for e in examples])
        return {
            "tokens": tokens,
            "lengths": lengths,
            "labels": torch.tensor([e[1] for e in examples]),
            "size": len(examples),
        }

    def loss(self, model, batch: dict) -> Tensor:
        logits, _ = model(batch["tokens"], batch["lengths"])
        return model.loss(logits, batch["labels"])

    @torch.no_grad()
    def probabilities(self, model, examples: list) -> tuple[Tensor, list[Tensor | None]]:
        """Class probabilities (N, C) and per-example attention weights (None without attention)."""
        was_training = model.training
        model.eval()
        probs, weights = [], []
        for chunk in _batches(examples):
            batch = self.collate(chunk)
            logits, w = model(batch["tokens"], batch["lengths"])
            probs.append(logits.softmax(dim=1))
            for row, n in enumerate(batch["lengths"].tolist()):
                weights.append(None if w is None else w[row, :n])
        model.train(was_training)
        return torch.cat(probs), weights

    def evaluate(self, model, examples: list) -> dict:
        probs, _ = self.probabilities(model, examples)
        gold = [e[1] for e in examples]
        predicted = probs.argmax(dim=1).tolist()
        loss = float(-probs[torch.arange(len(gold)), torch.tensor(gold)].clamp_min(1e-12).log().mean())
        return {
            "loss": loss,
            "accuracy": accuracy(predicted, gold),
            "macro_f1": macro_f1(predicted, gold, len(self.labels)),
            "examples": len(gold),
        }

    def confusion(self, model, examples: list) -> list[list[int]]:
        probs, _ = self.probabilities(model, examples)
        return confusion_matrix(probs.argmax(dim=1).tolist(), [e[1] for e in examples], len(self.labels))

    def _read_prior(self, data_root=None) -> list[tuple[str, str]]:
        """baseline.prior's (text, label) rows — a file, or a folder's or dataset's train split — less
        the texts that are also training texts (those count once, as training texts). Read with the
        run's data, so a bad file stops the run before anything is written."""
        bc = self.config.baseline
        if not bc.prior:
            return []
        files = resolve_task_data(bc.prior, data_root)
        rows = self.read(files.get("all") or files["train"])
        unknown = sorted({label for _, label in rows} - set(self.labels))
        if unknown:
            raise UserError(
                f"baseline.prior {bc.prior} has labels {unknown} that the training data lacks; "
                "give it only the run's labels."
            )
        train = {text for text, _ in self.raw["train"]}
        return [(text, label) for text, label in rows if text not in train]

    def baseline(self) -> dict:
        """Bag-of-words logistic regression fitted on train (L2 picked on val), scored on the others;
        the `baseline` section of the config chooses its features."""

        def tokens(rows):
            return [self.vocab.split(text) for text, _ in rows]

        bc = self.config.baseline
        index = {label: i for i, label in enumerate(self.labels)}
        train, val = self.raw["train"], self.raw["val"]
        options = {k: getattr(bc, k) for k in ("ngrams", "nb", "alpha", "negation", "prior_weight")}
        prior = (tokens(self.prior), [index[label] for _, label in self.prior]) if self.prior else None
        model = BagOfWordsClassifier(**options).fit(
            tokens(train),
            [index[label] for _, label in train],
            len(self.labels),
            val=(tokens(val), [index[label] for _, label in val]),
            prior=prior,
        )
        described = [f"1-{bc.ngrams} grams" if bc.ngrams > 1 else "unigrams"]
        described += [f"NB-weighted, alpha {bc.alpha:g}"] if bc.nb else []
        described += ["negation marked"] if bc.negation else []
        described += [f"{len(self.prior):,} prior texts at {bc.prior_weight:g}"] if self.prior else []
        results = {"model": f"bag-of-words logistic regression ({', '.join(described)})", "l2": model.l2}
        for name, rows in self.raw.items():
            if name == "train":
                continue
            gold = [index[label] for _, label in rows]
            predicted = model.predict_proba(tokens(rows)).argmax(dim=1).tolist()
            results[name] = {
                "accuracy": accuracy(predicted, gold),
                "macro_f1": macro_f1(predicted, gold, len(self.labels)),
                "examples": len(gold),
            }
        return results


# =====================================================================================================
# tag
# =====================================================================================================


@dataclass
class TagDataConfig:
    path: str = ""  # word/TAG or CoNLL file, a folder with train/val/test files, or a dataset name
    format: str = "auto"  # auto | slash | conll
    word_column: int = 0  # CoNLL columns, counted from 0 (negative: from the end)
    tag_column: int = -1
    encoding: str = "utf-8"
    lowercase: bool = False  # lower-case the word lookup (the character features keep the case)
    min_count: int = 1
    max_length: int = 200  # words per sentence (0: no limit)
    too_long: str = "truncate"
    bad_rows: str = "error"
    split: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    batch_size: int = 16

    def __post_init__(self) -> None:
        if self.format not in TAGGED_FORMATS:
            raise UserError(f"data.format must be one of {', '.join(TAGGED_FORMATS)} (got {self.format!r}).")
        _check_common(self, "tag")


@dataclass
class TagRunConfig:
    task: str = "tag"
    model: TaggerConfig = field(default_factory=TaggerConfig)
    data: TagDataConfig = field(default_factory=TagDataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=3e-3))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: SupervisedTrainConfig = field(
        default_factory=lambda: SupervisedTrainConfig(steps=1500, eval_every=100)
    )


class TagTask(ExampleTask):
    """Words -> one tag each. An example is (word ids, char ids per word, tag ids, words)."""

    name = "tag"
    primary_metric = "accuracy"
    MAX_WORD_CHARS = 30  # longer words keep their first 30 characters for the character features

    def __init__(self, config: TagRunConfig) -> None:
        self.config = config
        self.words: TaskVocab | None = None
        self.chars: TaskVocab | None = None
        self.tags: list[str] = []
        self.splits: dict[str, list] = {}
        self.raw: dict[str, list] = {}

    def read(self, path) -> list:
        dc = self.config.data
        return read_tagged(
            path, fmt=dc.format, word_column=dc.word_column, tag_column=dc.tag_column, encoding=dc.encoding
        )

    def load_data(self, data_root=None, saved: dict | None = None) -> None:
        dc = self.config.data
        self.raw = _read_splits(dc.path, data_root, self.read, dc.split)
        train = self.raw["train"]
        if saved is not None:
            self.set_state(saved)
            train_tags = sorted({t for _, tags in train for t in tags})
            if train_tags != self.tags:
                raise UserError("the data's tag set differs from the checkpoint's; train a new run for it.")
        else:
            self.tags = sorted({t for _, tags in train for t in tags})
            self.words = TaskVocab.build(
                [[self._key(w) for w in words] for words, _ in train], "word", dc.min_count, pretokenized=True
            )
            self.chars = TaskVocab.build([w for words, _ in train for w in words], "char")
        self.splits = {name: self.encode_sentences(rows, name) for name, rows in self.raw.items()}

    def _key(self, word: str) -> str:
        return word.lower() if self.config.data.lowercase else word

    def encode_sentences(self, rows: list, split: str = "data") -> list:
        dc = self.config.data
        index = {t: i for i, t in enumerate(self.tags)}
        cut, examples = [0], []
        for words, tags in rows:
            words = _fit_length(list(words), dc.max_length, cut)
            word_ids = self.words.encode_tokens([self._key(w) for w in words])
            char_ids = [self.chars.encode_tokens(list(w[: self.MAX_WORD_CHARS])) for w in words]
            tag_ids = [index.get(t, -1) for t in tags[: len(words)]]  # -1: a tag the model never saw
            examples.append((word_ids, char_ids, tag_ids, words))
        _report_too_long(cut[0], len(rows), f"{split} sentences", dc.max_length, dc.too_long, "max_length")
        return examples

    def state(self) -> dict:
        return {"words": self.words.to_dict(), "chars": self.chars.to_dict(), "tags": self.tags}

    def set_state(self, saved: dict) -> None:
        self.words = TaskVocab.from_dict(saved["words"])
        self.chars = TaskVocab.from_dict(saved["chars"])
        self.tags = list(saved["tags"])

    def build_model(self) -> SequenceTagger:
        return SequenceTagger(
            len(self.words), len(self.chars), len(self.tags), self.config.model, unk_id=TaskVocab.unk_id
        )

    def length(self, example) -> int:
        return len(example[0])

    def collate(self, examples: list) -> dict:
        words, lengths = _pad([e[0] for e in examples])
        tags, _ = _pad([[t if t >= 0 else -100 for t in e[2]] for e in examples], value=-100)
        B, T = words.shape
        longest = max(len(c) for e in examples for c in e[1])
        chars = torch.zeros(B, T, longest, dtype=torch.long)
        char_lengths = torch.zeros(B, T, dtype=torch.long)
        for b, e in enumerate(examples):
            for t, c in enumerate(e[1]):
                chars[b, t, : len(c)] = torch.tensor(c)
                char_lengths[b, t] = len(c)
        return {
            "words": words,
            "lengths": lengths,
            "chars": chars,
            "char_lengths": char_lengths,
            "tags": tags,
            "size": B,
        }

    def _forward(self, model, batch):
        return model(batch["words"], batch["lengths"], batch["chars"], batch["char_lengths"])

    def loss(self, model, batch: dict) -> Tensor:
        return model.loss(self._forward(model, batch), batch["tags"])

    @torch.no_grad()
    def predict(self, model, examples: list) -> tuple[list[list[int]], float]:
        """Predicted tag ids per sentence, and the mean loss over tokens with known tags."""
        was_training = model.training
        model.eval()
        predictions, total, count = [], 0.0, 0
        for chunk in _batches(examples):
            batch = self.collate(chunk)
            logits = self._forward(model, batch)  # (B, T, Y)
            known = batch["tags"] != -100
            if known.any():
                total += float(model.loss(logits, batch["tags"])) * int(known.sum())
                count += int(known.sum())
            best = logits.argmax(dim=2)
            predictions += [best[b, :n].tolist() for b, n in enumerate(batch["lengths"].tolist())]
        model.train(was_training)
        return predictions, total / max(count, 1)

    def _scores(self, predicted: list[list], examples: list) -> dict:
        flat_p, flat_g, unk_p, unk_g = [], [], [], []
        for pred, e in zip(predicted, examples):
            for p, g, word_id in zip(pred, e[2], e[0]):
                flat_p.append(p)
                flat_g.append(g)
                if word_id == TaskVocab.unk_id:
                    unk_p.append(p)
                    unk_g.append(g)
        return {
            "accuracy": accuracy(flat_p, flat_g),
            "unknown_accuracy": accuracy(unk_p, unk_g),
            "tokens": len(flat_g),
            "unknown_tokens": len(unk_g),
        }

    def evaluate(self, model, examples: list) -> dict:
        predicted, loss = self.predict(model, examples)
        return {"loss": loss, **self._scores(predicted, examples)}

    def baseline(self) -> dict:
        """Most frequent training tag per word (overall most frequent for unknown words)."""
        base = MostFrequentTagBaseline().fit(self.raw["train"])
        index = {t: i for i, t in enumerate(self.tags)}
        results = {"model": "most frequent tag per word"}
        for name, examples in self.splits.items():
            if name == "train":
                continue
            predicted = [[index.get(t, -1) for t in base.predict(e[3])] for e in examples]
            scores = self._scores(predicted, examples)
            results[name] = {
                k: scores[k] for k in ("accuracy", "unknown_accuracy", "tokens", "unknown_tokens")
            }
        return results


# =====================================================================================================
# seq2seq
# =====================================================================================================


@dataclass
class Seq2SeqDataConfig:
    path: str = ""  # TSV of source<TAB>target, a folder with train/val/test files, or a dataset name
    encoding: str = "utf-8"
    source_level: str = "char"  # char | word
    target_level: str = "char"
    lowercase: bool = False  # both sides
    min_count: int = 1
    max_source_vocab: int | None = None
    max_target_vocab: int | None = None
    max_source_length: int = 100  # tokens (0: no limit)
    max_target_length: int = 100
    too_long: str = "truncate"  # truncate (with a warning) | error
    bad_rows: str = "error"
    limit: int = 0  # use only the first N training pairs (0: all)
    split: list[float] = field(default_factory=lambda: [0.9, 0.05, 0.05])
    batch_size: int = 64

    def __post_init__(self) -> None:
        for name in ("source_level", "target_level"):
            if getattr(self, name) not in LEVELS:
                raise UserError(f"data.{name} must be char or word (got {getattr(self, name)!r}).")
        _check_common(self, "seq2seq")


@dataclass
class Seq2SeqRunConfig:
    task: str = "seq2seq"
    model: Seq2SeqConfig = field(default_factory=Seq2SeqConfig)
    data: Seq2SeqDataConfig = field(default_factory=Seq2SeqDataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=3e-3))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: SupervisedTrainConfig = field(
        default_factory=lambda: SupervisedTrainConfig(steps=3000, eval_every=250, eval_limit=500)
    )


class Seq2SeqTask(ExampleTask):
    """Source text -> target text. An example is (source ids, target ids, source text, target text)."""

    name = "seq2seq"

    def __init__(self, config: Seq2SeqRunConfig) -> None:
        self.config = config
        self.source: TaskVocab | None = None
        self.target: TaskVocab | None = None
        self.max_output = 0  # decoding stops after this many tokens
        self.splits: dict[str, list] = {}
        self.raw: dict[str, list] = {}

    @property
    def primary_metric(self) -> str:
        # A date is right or wrong as a whole; a translation is scored by n-gram overlap.
        return "exact_match" if self.config.data.target_level == "char" else "bleu4"

    def read(self, path) -> list:
        dc = self.config.data
        pairs = read_pairs(path, encoding=dc.encoding, bad_rows=dc.bad_rows)
        return [(s.lower(), t.lower()) if dc.lowercase else (s, t) for s, t in pairs]

    def load_data(self, data_root=None, saved: dict | None = None) -> None:
        dc = self.config.data
        self.raw = _read_splits(dc.path, data_root, self.read, dc.split)
        if dc.limit:
            self.raw["train"] = self.raw["train"][: dc.limit]
        train = self.raw["train"]
        if saved is not None:
            self.set_state(saved)
        else:
            self.source = TaskVocab.build(
                [s for s, _ in train], dc.source_level, dc.min_count, dc.max_source_vocab
            )
            self.target = TaskVocab.build(
                [t for _, t in train], dc.target_level, dc.min_count, dc.max_target_vocab
            )
            longest = max(len(self.target.split(t)) for _, t in train)
            self.max_output = min(longest, dc.max_target_length or longest) + 10
        self.splits = {name: self.encode_pairs(rows, name) for name, rows in self.raw.items()}

    def encode_pairs(self, rows: list, split: str = "data") -> list:
        dc = self.config.data
        cut_source, cut_target, examples = [0], [0], []
        for s, t in rows:
            source = _fit_length(self.source.encode(s), dc.max_source_length, cut_source)
            target = _fit_length(self.target.encode(t), dc.max_target_length, cut_target)
            if source and target:
                examples.append((source, target, s, t))
        _report_too_long(
            cut_source[0],
            len(rows),
            f"{split} sources",
            dc.max_source_length,
            dc.too_long,
            "max_source_length",
        )
        _report_too_long(
            cut_target[0],
            len(rows),
            f"{split} targets",
            dc.max_target_length,
            dc.too_long,
            "max_target_length",
        )
        return examples

    def state(self) -> dict:
        return {
            "source": self.source.to_dict(),
            "target": self.target.to_dict(),
            "max_output": self.max_output,
        }

    def set_state(self, saved: dict) -> None:
        self.source = TaskVocab.from_dict(saved["source"])
        self.target = TaskVocab.from_dict(saved["target"])
        self.max_output = int(saved["max_output"])

    def build_model(self) -> Seq2Seq:
        return Seq2Seq(len(self.source), len(self.target), self.config.model)

    def length(self, example) -> int:
        return len(example[0])

    def collate(self, examples: list) -> dict:
        source, source_lengths = _pad([e[0] for e in examples])
        target_in, _ = _pad([[TaskVocab.start_id] + e[1] for e in examples])
        target_out, _ = _pad([e[1] + [TaskVocab.eos_id] for e in examples])
        return {
            "source": source,
            "source_lengths": source_lengths,
            "target_in": target_in,
            "target_out": target_out,
            "size": len(examples),
        }

    def loss(self, model, batch: dict) -> Tensor:
        logits, _ = model(batch["source"], batch["source_lengths"], batch["target_in"])
        return model.loss(logits, batch["target_out"])

    @torch.no_grad()
    def decode(
        self,
        model,
        sources: list[list[int]],
        beam: int = 1,
        length_penalty: float = 0.0,
        max_length: int | None = None,
    ) -> list[list[int]]:
        """The best output ids (without <eos>) for each source; beam 1 is greedy decoding."""
        from ..generate import beam_search, greedy_decode

        was_training = model.training
        model.eval()
        outputs = []
        for chunk in _batches(sources, EVAL_BATCH if beam == 1 else max(1, EVAL_BATCH // beam)):
            source, lengths = _pad(chunk)
            state = model.encode(source, lengths)
            start = torch.full((len(chunk),), TaskVocab.start_id, dtype=torch.long)
            limit = max_length or self.max_output
            if beam == 1:
                found = greedy_decode(model.step, state, start, limit, eos_id=TaskVocab.eos_id)
            else:
                found = beam_search(
                    model.step,
                    state,
                    start,
                    beam,
                    limit,
                    eos_id=TaskVocab.eos_id,
                    length_penalty=length_penalty,
                    reorder_state=reorder_decoder_state,
                )
            for hypotheses in found:
                tokens = hypotheses[0][0]
                outputs.append(tokens[:-1] if tokens and tokens[-1] == TaskVocab.eos_id else tokens)
        model.train(was_training)
        return outputs

    @torch.no_grad()
    def attention_matrix(self, model, source: list[int], output: list[int]) -> Tensor:
        """Attention weights (len(output) + 1, len(source)) of the decoder reading `output` (then <eos>)."""
        model.eval()
        src, lengths = _pad([source])
        target_in = torch.tensor([[TaskVocab.start_id] + output])
        _, weights = model(src, lengths, target_in, teacher_forcing=1.0)
        return weights[0]  # (T, L)

    @torch.no_grad()
    def teacher_forced_loss(self, model, examples: list) -> float:
        was_training = model.training
        model.eval()
        total, count = 0.0, 0
        for chunk in _batches(examples):
            batch = self.collate(chunk)
            n = int((batch["target_out"] != 0).sum())
            total += float(self.loss(model, batch)) * n
            count += n
        model.train(was_training)
        return total / max(count, 1)

    def evaluate(self, model, examples: list, beam: int = 1, length_penalty: float = 0.0) -> dict:
        outputs = self.decode(model, [e[0] for e in examples], beam, length_penalty)
        predicted = [self.target.decode(ids) for ids in outputs]
        references = [self.target.decode(e[1]) for e in examples]
        return {
            "loss": self.teacher_forced_loss(model, examples),
            "exact_match": exact_match(predicted, references),
            "bleu4": bleu4(predicted, references),
            "examples": len(examples),
        }

    def baseline(self) -> dict:
        return {}


# =====================================================================================================
# runs: load, evaluate, predict, translate
# =====================================================================================================

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
