"""many-to-many, Tx = Ty: a tag per word (part of speech), a task on the one trainer."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..data.text_tasks import (
    TAGGED_FORMATS,
    TaskVocab,
    read_tagged,
)
from ..errors import UserError
from ..metrics_text import accuracy
from ..models.tagger import MostFrequentTagBaseline, SequenceTagger, TaggerConfig
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
