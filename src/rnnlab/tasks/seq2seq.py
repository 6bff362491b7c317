"""many-to-many, Tx ≠ Ty: an encoder-decoder with attention (dates, translation) on the one trainer."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..data.text_tasks import (
    TaskVocab,
    read_pairs,
)
from ..data.vocab import LEVELS
from ..errors import UserError
from ..metrics_text import bleu4, exact_match
from ..models.seq2seq import Seq2Seq, Seq2SeqConfig, reorder_decoder_state
from ..train.optim import OptimConfig, ScheduleConfig
from ..train.supervised import ExampleTask, SupervisedTrainConfig
from .text_common import (
    EVAL_BATCH,
    _batches,
    _check_common,
    _fit_length,
    _pad,
    _read_splits,
    _report_too_long,
)


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
