"""many-to-one: text -> label (sentiment, topics) on the one trainer, with its bag-of-words baseline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ..data.text_tasks import (
    LABELED_FORMATS,
    TaskVocab,
    read_labeled,
    resolve_task_data,
)
from ..data.vocab import LEVELS
from ..errors import UserError
from ..metrics_text import accuracy, confusion_matrix, macro_f1
from ..models.classifier import BagOfWordsClassifier, ClassifierConfig, SequenceClassifier
from ..train.optim import OptimConfig, ScheduleConfig
from ..train.supervised import ExampleTask, SupervisedTrainConfig
from .text_common import (
    _batches,
    _check_common,
    _fit_length,
    _pad,
    _read_splits,
    _report_too_long,
)
from .transfer import InitConfig, Pretrained, copy_pretrained, read_pretrained


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
