"""Visual question answering as a task of the shared supervised loop (`rnnlab.train.supervised`).

The task joins the VQA data (`rnnlab.data.vqa`) to the model (`rnnlab.models.vqa`):

    load_data(data_root, saved)   images, questions tokenized into a vocabulary of training words
                                  (ids 0 <pad>, 1 <unk>), the fixed answer vocabulary
    build_model()                 the VQA model; a fresh CNN fits its input statistics on the training
                                  images, or loads a trained encoder (``model.encoder``), frozen or not
    collate / loss                padded question batches (lengths kept: the RNN is ragged), CE loss
    evaluate(model, examples)     accuracy, overall, per family and per type; `accuracy` picks the best

Run-level functions: `evaluate_run` (`rnnlab eval`: val, test and held-out phrasings, plus the
most-frequent-answer-per-family baseline) and `answer_question` (`rnnlab ask`).
"""

from __future__ import annotations

import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..data.captions import load_image_file
from ..data.images import to_float
from ..data.vqa import ANSWERS, resolve_vqa_data, tokenize_question
from ..errors import UserError
from ..models.vqa import VQAConfig, VQAModel
from ..train.optim import OptimConfig, ScheduleConfig
from ..train.supervised import ExampleTask, SupervisedTrainConfig, restore_task_run, train_supervised

TASK = "vqa"
PAD, UNK = "<pad>", "<unk>"
EVAL_BATCH = 256


@dataclass
class VQADataConfig:
    path: str = "shapes-vqa"  # shapes-vqa | a cached VQA folder | a JSON of {image, question, answer}
    batch_size: int = 64

    def __post_init__(self) -> None:
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise UserError(f"data.batch_size must be a positive integer (got {self.batch_size!r}).")


@dataclass
class EncoderStart:
    path: str = ""  # a trained CNN (an image run, or an encoder folder) to start from
    freeze: str = "none"  # all | none | block numbers


@dataclass
class VQARunConfig:
    task: str = TASK
    model: VQAConfig = field(default_factory=VQAConfig)
    encoder: EncoderStart = field(default_factory=EncoderStart)
    data: VQADataConfig = field(default_factory=VQADataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=2e-3))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: SupervisedTrainConfig = field(
        default_factory=lambda: SupervisedTrainConfig(steps=3000, eval_every=250, eval_limit=2000)
    )


class VQATask(ExampleTask):
    """(image, question) -> answer. An example is (image index, word ids, answer id, family)."""

    name = TASK
    primary_metric = "accuracy"

    def __init__(self, config: VQARunConfig) -> None:
        self.config = config
        self.words: list[str] = []
        self.answers: list[str] = list(ANSWERS)
        self.families: dict[str, str] = {}
        self.image_shape: tuple[int, ...] = ()
        self.images: np.ndarray | None = None
        self.splits: dict[str, list] = {}
        self.restoring = False

    # ---- data -----------------------------------------------------------------------------------

    def load_data(self, data_root=None, saved: dict | None = None, progress: bool | None = None) -> None:
        data = resolve_vqa_data(self.config.data.path, data_root)
        self.images = np.ascontiguousarray(data.images)
        self.train_image_ids = [i for i, e in enumerate(data.entries) if e["split"] == "train"]
        if saved is not None:
            self.set_state(saved)
        else:
            train = data.split("train")
            if not train or not data.split("val"):
                raise UserError(
                    f"the VQA data {self.config.data.path} needs training and validation questions."
                )
            counts = Counter(w for q in train for w in tokenize_question(q["question"]))
            self.words = [PAD, UNK, *sorted(counts)]
            extra = sorted({q["answer"] for q in train} - set(ANSWERS))
            self.answers = [*ANSWERS, *extra]
            self.families = dict(data.families)
            self.image_shape = tuple(int(s) for s in data.images.shape[1:])
        index = data.image_index()
        self.splits = {s: self.encode(data.split(s), index) for s in ("train", "val", "test", "heldout")}

    def encode(self, questions: list[dict], index: dict[str, int]) -> list[tuple]:
        ids = {w: i for i, w in enumerate(self.words)}
        answers = {a: i for i, a in enumerate(self.answers)}
        return [
            (
                index[q["image"]],
                [ids.get(w, 1) for w in tokenize_question(q["question"])] or [1],
                answers.get(q["answer"], -1),
                q["family"],
            )
            for q in questions
        ]

    def encode_question(self, text: str) -> tuple[list[int], list[str]]:
        """Word ids of `text` and the words not in the vocabulary (read as <unk>)."""
        ids = {w: i for i, w in enumerate(self.words)}
        tokens = tokenize_question(text)
        return [ids.get(w, 1) for w in tokens], [w for w in tokens if w not in ids]

    def state(self) -> dict:
        return {
            "words": self.words,
            "answers": self.answers,
            "families": self.families,
            "image_shape": list(self.image_shape),
        }

    def set_state(self, saved: dict) -> None:
        self.restoring = True
        self.words, self.answers = list(saved["words"]), list(saved["answers"])
        self.families = dict(saved["families"])
        self.image_shape = tuple(int(s) for s in saved["image_shape"])

    # ---- model ----------------------------------------------------------------------------------

    def build_model(self) -> VQAModel:
        model = VQAModel(self.config.model, len(self.words), len(self.answers), self.image_shape)
        if model.uses_image:
            ec = self.config.encoder
            if not self.restoring:
                if ec.path:
                    from ..models.captioner import load_pretrained_encoder

                    pretrained = load_pretrained_encoder(ec.path, self.image_shape)
                    try:
                        model.encoder.load_state_dict(pretrained.state_dict())
                    except RuntimeError:
                        raise UserError(
                            f"the encoder in {ec.path} has other blocks than model.cnn."
                        ) from None
                else:
                    model.encoder.fit_normalization(self.images[self.train_image_ids])
            model.encoder.freeze(ec.freeze)
        return model

    def length(self, example) -> int:
        return len(example[1])

    def collate(self, examples: list, pad_to: int = 0) -> dict:
        T = max(pad_to, max(len(e[1]) for e in examples))
        questions = torch.zeros((len(examples), T), dtype=torch.long)
        for row, e in enumerate(examples):
            questions[row, : len(e[1])] = torch.tensor(e[1])
        return {
            "images": to_float(self.images[[e[0] for e in examples]]),
            "questions": questions,
            "lengths": torch.tensor([len(e[1]) for e in examples]),
            "answers": torch.tensor([e[2] for e in examples]),
            "size": len(examples),
        }

    def logits(self, model: VQAModel, batch: dict) -> Tensor:
        return model(batch["images"], batch["questions"], batch["lengths"])

    def loss(self, model: VQAModel, batch: dict) -> Tensor:
        return nn.functional.cross_entropy(self.logits(model, batch), batch["answers"], ignore_index=-1)

    def initial_loss(self):
        return float(np.log(len(self.answers))), f"ln {len(self.answers)} answers"

    # ---- evaluation -------------------------------------------------------------------------------

    @torch.no_grad()
    def predict(self, model: VQAModel, examples: list) -> tuple[list[int], float]:
        was = model.training
        model.eval()
        predictions, total = [], 0.0
        for start in range(0, len(examples), EVAL_BATCH):
            batch = self.collate(examples[start : start + EVAL_BATCH])
            logits = self.logits(model, batch)
            total += float(
                nn.functional.cross_entropy(logits, batch["answers"], ignore_index=-1, reduction="sum")
            )
            predictions += logits.argmax(-1).tolist()
        model.train(was)
        return predictions, total / max(1, len(examples))

    def score(self, examples: list, predictions: list[int]) -> dict:
        right = [int(p == e[2]) for e, p in zip(examples, predictions)]
        by_family, by_type = defaultdict(list), defaultdict(list)
        for e, r in zip(examples, right):
            by_family[e[3]].append(r)
            by_type[self.families.get(e[3], "other")].append(r)
        return {
            "accuracy": float(np.mean(right)) if right else 0.0,
            "examples": len(examples),
            "family": {k: float(np.mean(v)) for k, v in sorted(by_family.items())},
            "type": {k: float(np.mean(v)) for k, v in sorted(by_type.items())},
        }

    def evaluate(self, model: VQAModel, examples: list) -> dict:
        predictions, loss = self.predict(model, examples)
        return {"loss": loss, **self.score(examples, predictions)}

    def family_prior(self) -> dict[str, int]:
        """The most frequent training answer of every family (the baseline's answers)."""
        counts: dict[str, Counter] = defaultdict(Counter)
        for e in self.splits["train"]:
            counts[e[3]][e[2]] += 1
        return {family: c.most_common(1)[0][0] for family, c in counts.items()}

    def baseline(self) -> dict:
        prior = self.family_prior()
        scored = {}
        for split in ("val", "test", "heldout"):
            examples = self.splits.get(split) or []
            if examples:
                scored[split] = self.score(examples, [prior.get(e[3], -1) for e in examples])
        return {"model": "most frequent answer per family", **scored}


# =====================================================================================================
# runs
# =====================================================================================================


def train_vqa(config: VQARunConfig, out, *, resume=False, force=False, data_root=None) -> dict:
    """Train a VQA model into the run folder `out`; return the trainer's summary."""
    if config.encoder.path and not resume:
        from ..models.cnn import CNNEncoder

        trained = CNNEncoder.load(config.encoder.path).config
        cnn = config.model.cnn
        cnn.channels, cnn.convs_per_block, cnn.kernel = (
            list(trained.channels),
            trained.convs_per_block,
            trained.kernel,
        )
    return train_supervised(VQATask(config), out, resume=resume, force=force, data_root=data_root)


def load_vqa_run(run: str | Path, which: str = "best") -> tuple[VQATask, VQAModel, dict]:
    """(task with its vocabularies, model in eval mode, checkpoint document) of a trained VQA run."""
    return restore_task_run(run, which, {TASK: (VQATask, VQARunConfig)}, TASK)


def evaluate_run(run: str | Path, data: str | Path | None = None, *, which: str = "best", **_) -> dict:
    """`rnnlab eval RUN`: accuracy on val, test and the held-out phrasings, with the family baseline."""
    task, model, document = load_vqa_run(run, which)
    if data is not None:
        task.config.data.path = str(data)
    task.load_data(saved=document["task_state"])
    results = {"run": str(run), "step": document["step"], "checkpoint": document["checkpoint"], "task": TASK}
    for split in ("val", "test", "heldout"):
        if task.splits.get(split):
            results[split] = task.evaluate(model, task.splits[split])
    baseline = task.baseline()
    for split in ("val", "test", "heldout"):
        if split in baseline:
            results[f"family-prior {split}"] = baseline[split]
    return results


@torch.no_grad()
def ask(
    run: str | Path,
    image: str | Path,
    question: str,
    *,
    which: str = "best",
    unknown: str = "warn",
    top: int = 3,
) -> dict:
    """`rnnlab ask RUN IMAGE QUESTION`: {"answer", "top": [(answer, probability)], "unknown": [words]}."""
    if not question.strip():
        raise UserError('the question is empty; ask something, e.g. "what shape is the red object?"')
    image = Path(image)
    if not image.is_file():
        raise UserError(f"the image {image} does not exist.")
    task, model, _ = load_vqa_run(run, which)
    ids, unknown_words = task.encode_question(question)
    if unknown_words:
        if unknown == "error":
            raise UserError(f"words not in the run's vocabulary: {', '.join(unknown_words)}.")
        warnings.warn(f"words not in the vocabulary, read as <unk>: {', '.join(unknown_words)}", stacklevel=2)
    if not ids:
        raise UserError("the question has no words.")
    C, S, _ = task.image_shape
    pixels = load_image_file(image, S, C)[None]
    logits = model(to_float(pixels), torch.tensor([ids]), torch.tensor([len(ids)]))
    probs = torch.softmax(logits[0], -1)
    values, order = probs.topk(min(top, len(task.answers)))
    ranked = [(task.answers[i], float(v)) for v, i in zip(values.tolist(), order.tolist())]
    return {"answer": ranked[0][0], "top": ranked, "unknown": unknown_words}
