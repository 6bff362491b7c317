"""Image captioning as a task of the shared supervised loop (`rnnlab.train.supervised`).

The task joins the caption data (`rnnlab.data.captions`) to the captioner (`rnnlab.models.captioner`)
without either knowing the other, with the interface of `rnnlab.train.sequence_tasks`:

    load_data(data_root, saved)   images (or precomputed features), references, the vocabulary
    build_model()                 the captioner; a fresh one fits the CNN's input statistics on the
                                  training images, or loads a trained encoder (then frozen or not)
    collate / loss                teacher-forced batches of (image, one of its sentences)
    evaluate(model, examples)     free-running greedy decoding of the examples' images (never
                                  teacher-forced): BLEU-1..4, CIDEr-D, exact match; on scenes also
                                  relation-word accuracy and attention-in-box; plus the teacher-forced
                                  loss. `bleu4` chooses the best checkpoint.

An example is (image index, word ids of one sentence): an image with five sentences gives five
training examples per epoch. When no encoder weight is trained (precomputed features, or a frozen CNN)
the annotation grids are computed once, in fixed blocks of images, and kept: a frozen CNN gives the
same grid every epoch, and the blocks make the numbers independent of the batch order, so a resumed
run still continues exactly.

Run-level functions: `evaluate_run` (`rnnlab eval`), `caption_images` (`rnnlab caption`),
`nearest_neighbour_captions` (the retrieval baseline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..data.captions import (
    END_ID,
    NULL_ID,
    START_ID,
    CaptionVocab,
    images_from_arrays,
    load_image_file,
    resolve_caption_data,
    tokenize_caption,
)
from ..data.images import to_float
from ..errors import UserError
from ..metrics_caption import attention_in_box, bleu_scores, cider_d, exact_match, relation_accuracy
from ..models.captioner import Captioner, CaptionerConfig, load_pretrained_encoder, reorder_caption_state
from ..train.optim import OptimConfig, ScheduleConfig
from ..train.supervised import ExampleTask, SupervisedTrainConfig, restore_task_run, train_supervised

TASK = "caption"
EVAL_BATCH = 128
CACHE_BLOCK = 256  # images per block of the annotation cache


@dataclass
class CaptionDataConfig:
    path: str = ""  # emoji | scenes | a captions JSON (Karpathy/COCO) | a folder with captions.json
    images: str = ""  # image folder of a JSON file (default: images/ beside it, else its folder)
    features: str = ""  # precomputed features .npy/.npz, (N, D) or (N, L, D), in the JSON's image order
    image_size: int = 64  # S: images become S×S (files when converted; cached datasets are resized)
    channels: int = 3  # 3 RGB | 1 grey, for image files
    min_count: int = 1  # rarer training words become <UNK>
    max_vocab: int = 0  # keep the most frequent words only (0: all)
    max_length: int = 24  # words per caption; longer ones are cut
    batch_size: int = 64

    def __post_init__(self) -> None:
        for name in ("image_size", "min_count", "max_length", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"data.{name} must be a positive integer (got {value!r}).")
        if self.channels not in (1, 3):
            raise UserError(f"data.channels must be 1 or 3 (got {self.channels!r}).")
        if not isinstance(self.max_vocab, int) or self.max_vocab < 0:
            raise UserError(f"data.max_vocab must be ≥ 0 (got {self.max_vocab!r}).")


@dataclass
class CaptionRunConfig:
    task: str = TASK
    model: CaptionerConfig = field(default_factory=CaptionerConfig)
    data: CaptionDataConfig = field(default_factory=CaptionDataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=2e-3))
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: SupervisedTrainConfig = field(
        default_factory=lambda: SupervisedTrainConfig(steps=3000, eval_every=250, eval_limit=1000)
    )


def read_features(path: str | Path, count: int) -> np.ndarray:
    """Precomputed features (N, D) or (N, L, D) float32 from .npy or .npz (key `features` or the only one)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"the features file {path} does not exist.")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                keys = list(loaded.keys())
                key = "features" if "features" in keys else (keys[0] if len(keys) == 1 else None)
                if key is None:
                    raise ValueError(f"an .npz with several arrays needs one named 'features' (has {keys})")
                loaded = loaded[key]
        array = np.asarray(loaded, dtype=np.float32)
    except (OSError, ValueError) as error:
        raise UserError(f"{path} is not a readable .npy/.npz features file ({error}).") from None
    if array.ndim not in (2, 3) or len(array) != count:
        raise UserError(
            f"{path} holds features of shape {array.shape}; expected ({count}, D) or "
            f"({count}, L, D), one row per image of the captions file in its order."
        )
    return array


class CaptionTask(ExampleTask):
    """Image -> caption. An example is (image index, word ids of one of its sentences)."""

    name = TASK
    primary_metric = "bleu4"

    def __init__(self, config: CaptionRunConfig) -> None:
        self.config = config
        self.vocab: CaptionVocab | None = None
        self.inputs: np.ndarray | None = None  # (N, C, S, S) uint8 images or (N, ...) float32 features
        self.entries: list[dict] = []
        self.references: list[list[str]] = []  # per image: tokenized sentences, space-joined
        self.splits: dict[str, list] = {}
        self.input_shape: tuple[int, ...] = ()
        self.max_output = 0
        self.pixel_size: tuple[int, int] = (0, 0)
        self.restoring = False
        self._cache: dict[int, Tensor] = {}
        self._cache_owner: int | None = None

    # ---- data -----------------------------------------------------------------------------------

    def load_data(self, data_root=None, saved: dict | None = None, progress: bool | None = None) -> None:
        dc, ec = self.config.data, self.config.model.encoder
        progress = self.config.train.progress if progress is None else progress
        data = resolve_caption_data(
            dc.path,
            data_root,
            images_dir=dc.images or None,
            image_size=dc.image_size,
            channels=dc.channels,
            progress=progress,
        )
        self.entries = data.entries
        self.pixel_size = tuple(int(s) for s in data.images.shape[2:])
        if ec.kind == "features":
            if not dc.features:
                raise UserError("model.encoder.kind=features needs --features FILE (.npy/.npz).")
            self.inputs = read_features(dc.features, len(data.entries))
        else:
            images = data.images
            if images.shape[2] != dc.image_size or images.shape[3] != dc.image_size:
                images = images_from_arrays(images, dc.image_size)
            self.inputs = np.ascontiguousarray(images)
        self.references = [[" ".join(tokenize_caption(s)) for s in e["sentences"]] for e in self.entries]
        train_ids = [i for i, e in enumerate(self.entries) if e["split"] == "train"]
        if not train_ids or not any(e["split"] == "val" for e in self.entries):
            raise UserError(
                f"the caption data {dc.path} needs training and validation images; mark some "
                'images "split": "val".'
            )
        if saved is not None:
            self.set_state(saved)
            if tuple(self.inputs.shape[1:]) != self.input_shape:
                raise UserError(
                    f"the data's inputs are {tuple(self.inputs.shape[1:])}, the checkpoint's model "
                    f"reads {self.input_shape}."
                )
        else:
            sentences = [r.split() for i in train_ids for r in self.references[i]]
            self.vocab = CaptionVocab.build(sentences, dc.min_count, dc.max_vocab or None)
            self.input_shape = tuple(int(s) for s in self.inputs.shape[1:])
            self.max_output = min(max(len(s) for s in sentences), dc.max_length) + 1  # + <END>
        self.splits = {split: self.encode_split(split) for split in ("train", "val", "test")}

    def encode_split(self, split: str) -> list[tuple[int, list[int]]]:
        limit = self.config.data.max_length
        return [
            (i, self.vocab.encode(r.split())[:limit])
            for i, e in enumerate(self.entries)
            if e["split"] == split
            for r in self.references[i]
        ]

    def state(self) -> dict:
        return {
            "vocab": self.vocab.to_dict(),
            "input_shape": list(self.input_shape),
            "max_output": self.max_output,
        }

    def set_state(self, saved: dict) -> None:
        """The state of a checkpoint; its model's weights (the encoder's too) will come from it."""
        self.restoring = True
        self.vocab = CaptionVocab.from_dict(saved["vocab"])
        self.input_shape = tuple(int(s) for s in saved["input_shape"])
        self.max_output = int(saved["max_output"])

    # ---- model ----------------------------------------------------------------------------------

    def build_model(self) -> Captioner:
        """The captioner; a fresh one fits its CNN's input statistics or loads the trained encoder."""
        model = Captioner(len(self.vocab), self.config.model, self.input_shape)
        ec = self.config.model.encoder
        if model.encoder is not None:
            if not self.restoring:
                if ec.path:
                    pretrained = load_pretrained_encoder(ec.path, self.input_shape)
                    try:
                        model.encoder.load_state_dict(pretrained.state_dict())
                    except RuntimeError:
                        raise UserError(
                            f"the encoder in {ec.path} has other blocks than model.encoder "
                            f"(channels {ec.channels}, convs_per_block {ec.convs_per_block})."
                        ) from None
                else:
                    train = [i for i, e in enumerate(self.entries) if e["split"] == "train"]
                    model.encoder.fit_normalization(self.inputs[train])
            model.encoder.freeze(ec.freeze)
        return model

    def length(self, example) -> int:
        return len(example[1])

    def collate(self, examples: list) -> dict:
        captions = torch.full(
            (len(examples), max(len(e[1]) for e in examples) + 2), NULL_ID, dtype=torch.long
        )
        for row, (_, ids) in enumerate(examples):
            captions[row, : len(ids) + 2] = torch.tensor([START_ID, *ids, END_ID])
        return {"index": torch.tensor([e[0] for e in examples]), "captions": captions, "size": len(examples)}

    def grid(self, model: Captioner, indices) -> Tensor:
        """Annotations (B, L, D) of images `indices`: cached when no encoder weight is trained."""
        indices = [int(i) for i in indices]
        if model.encoder is None:
            return torch.from_numpy(self.inputs[indices]).float()
        if not model.encoder_frozen:
            return model.encode(to_float(self.inputs[indices]))
        if self._cache_owner != id(model):
            self._cache, self._cache_owner = {}, id(model)
        for block in sorted({i // CACHE_BLOCK for i in indices} - set(self._cache)):
            start = block * CACHE_BLOCK
            with torch.no_grad():
                self._cache[block] = model.encode(to_float(self.inputs[start : start + CACHE_BLOCK]))
        return torch.stack([self._cache[i // CACHE_BLOCK][i % CACHE_BLOCK] for i in indices])

    def loss(self, model: Captioner, batch: dict) -> Tensor:
        loss, _ = model.loss(self.grid(model, batch["index"]), batch["captions"])
        return loss

    # ---- decoding ---------------------------------------------------------------------------------

    @torch.no_grad()
    def decode_grid(
        self,
        model: Captioner,
        grid: Tensor,
        *,
        beam: int = 1,
        length_penalty: float = 0.0,
        temperature: float | None = None,
        generator: torch.Generator | None = None,
        max_length: int | None = None,
    ) -> list[tuple[list[int], float]]:
        """(word ids without <END>, score) per image of annotations (B, L, D).

        beam 1 is greedy decoding; `temperature` samples instead (from softmax(logits / T)).
        """
        from ..generate import beam_search, greedy_decode

        limit = max_length or self.max_output
        state = model.init_state(grid)
        start = torch.full((grid.shape[0],), START_ID, dtype=torch.long)
        if temperature is not None:
            found = sample_captions(model.step, state, start, limit, temperature, generator)
        elif beam == 1:
            found = greedy_decode(model.step, state, start, limit, eos_id=END_ID)
        else:
            found = beam_search(
                model.step,
                state,
                start,
                beam,
                limit,
                eos_id=END_ID,
                length_penalty=length_penalty,
                reorder_state=reorder_caption_state,
            )
        out = []
        for hypotheses in found:
            tokens, score = hypotheses[0]
            out.append((tokens[:-1] if tokens and tokens[-1] == END_ID else list(tokens), float(score)))
        return out

    def decode(self, model: Captioner, indices: list[int], beam: int = 1, **options) -> list[list[int]]:
        was_training = model.training
        model.eval()
        outputs = []
        size = EVAL_BATCH if beam == 1 else max(1, EVAL_BATCH // beam)
        for start in range(0, len(indices), size):
            grid = self.grid(model, indices[start : start + size])
            outputs += [ids for ids, _ in self.decode_grid(model, grid, beam=beam, **options)]
        model.train(was_training)
        return outputs

    @torch.no_grad()
    def attention_weights(
        self, model: Captioner, grid: Tensor, outputs: list[list[int]]
    ) -> list[Tensor | None]:
        """α (len(ids) + 1, L) of each image of `grid` reading its caption (then <END>), teacher-forced."""
        if not model.attends:
            return [None] * len(outputs)
        was_training = model.training
        model.eval()
        rows = [[START_ID, *ids, END_ID] for ids in outputs]
        captions = torch.full((len(rows), max(map(len, rows))), NULL_ID, dtype=torch.long)
        for r, ids in enumerate(rows):
            captions[r, : len(ids)] = torch.tensor(ids)
        weights = model(grid, captions[:, :-1]).weights  # (B, T, L)
        model.train(was_training)
        return [weights[r, : len(ids) + 1] for r, ids in enumerate(outputs)]

    @torch.no_grad()
    def teacher_forced_loss(self, model: Captioner, examples: list) -> float:
        was_training = model.training
        model.eval()
        total, count = 0.0, 0
        for start in range(0, len(examples), EVAL_BATCH):
            batch = self.collate(examples[start : start + EVAL_BATCH])
            nll, mask, _ = model.token_nll(self.grid(model, batch["index"]), batch["captions"])
            total += float(nll.sum())
            count += int(mask.sum())
        model.train(was_training)
        return total / max(count, 1)

    def score(self, indices: list[int], hypotheses: list[str]) -> dict:
        """Caption metrics of hypotheses for images `indices` against all their references."""
        references = [self.references[i] for i in indices]
        metrics = bleu_scores(hypotheses, references)
        metrics["cider"], _ = cider_d(hypotheses, references)
        metrics["exact_match"] = exact_match(hypotheses, references)
        if all("items" in self.entries[i] for i in indices):
            metrics["relation_accuracy"], _ = relation_accuracy(hypotheses, [r[0] for r in references])
        return metrics

    def evaluate(self, model: Captioner, examples: list, beam: int = 1, length_penalty: float = 0.0) -> dict:
        indices = list(dict.fromkeys(i for i, _ in examples))  # each image once, in order
        outputs = self.decode(model, indices, beam=beam, length_penalty=length_penalty)
        hypotheses = [self.vocab.decode(ids) for ids in outputs]
        metrics = {"loss": self.teacher_forced_loss(model, examples), **self.score(indices, hypotheses)}
        if model.attends and all("items" in self.entries[i] for i in indices):
            metrics["attention_in_box"] = self.attention_in_box(model, indices, outputs)
        metrics["examples"] = len(indices)
        return metrics

    def attention_in_box(
        self, model: Captioner, indices: list[int], outputs: list[list[int]], lag: int = 0
    ) -> float:
        """Mean over generated item words of the attention mass inside the named item's box.

        The α is that of the step that produced the word (`lag` k > 0: of the step k words earlier).
        """
        fractions = []
        image_size = self.pixel_size  # boxes are in pixels of the stored images (before any resizing)
        for start in range(0, len(indices), EVAL_BATCH):
            chunk = indices[start : start + EVAL_BATCH]
            chunk_outputs = outputs[start : start + EVAL_BATCH]
            weights = self.attention_weights(model, self.grid(model, chunk), chunk_outputs)
            for i, ids, w in zip(chunk, chunk_outputs, weights):
                words = [self.vocab.tokens[t] for t in ids]
                fractions += attention_in_box(
                    words, w, self.entries[i]["items"], model.grid_shape, image_size, lag
                )
        return float(np.mean(fractions)) if fractions else 0.0

    def baseline(self) -> dict:
        # The nearest-neighbour baseline needs the trained encoder; `rnnlab eval` reports it.
        return {}


@torch.no_grad()
def sample_captions(
    step_fn,
    state,
    start: Tensor,
    max_length: int,
    temperature: float,
    generator: torch.Generator | None = None,
) -> list[list[tuple[list[int], float]]]:
    """Temperature sampling of B captions at once; the result format of `rnnlab.generate`'s decoders."""
    from ..generate import sample_next

    tokens, batch = start, start.shape[0]
    outputs: list[list[int]] = [[] for _ in range(batch)]
    scores = [0.0] * batch
    done = [False] * batch
    for _ in range(max_length):
        logits, state = step_fn(tokens, state)
        tokens = sample_next(logits, temperature=temperature, generator=generator)  # (B,)
        log_probs = torch.log_softmax(logits.float(), dim=-1).gather(1, tokens[:, None]).squeeze(1)
        for row, token in enumerate(tokens.tolist()):
            if not done[row]:
                outputs[row].append(token)
                scores[row] += float(log_probs[row])
                done[row] = token == END_ID
        if all(done):
            break
    return [[(outputs[row], scores[row])] for row in range(batch)]


# =====================================================================================================
# runs
# =====================================================================================================


def train_caption(
    config: CaptionRunConfig,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    data_root: str | Path | None = None,
) -> dict:
    """Train a captioner into the run folder `out` with the shared supervised loop; return its summary.

    A run that starts from a trained encoder (model.encoder.path) takes that encoder's blocks
    (channels, convs per block, kernel); the saved configuration records them. A run with a CNN
    encoder writes the best checkpoint's encoder to RUN/encoder/ at the end, so that another caption
    run (or an image run) can start from it.
    """
    ec = config.model.encoder
    if ec.path and ec.kind == "cnn" and not resume:
        from ..models.cnn import CNNEncoder

        trained = CNNEncoder.load(ec.path).config
        ec.channels, ec.convs_per_block, ec.kernel = (
            list(trained.channels),
            trained.convs_per_block,
            trained.kernel,
        )
        ec.__post_init__()  # the freeze spelling against the (maybe new) number of blocks
    summary = train_supervised(CaptionTask(config), out, resume=resume, force=force, data_root=data_root)
    if ec.kind == "cnn":
        export_encoder(out)
    return summary


def export_encoder(run: str | Path) -> Path:
    """Write the CNN of a caption run's best checkpoint to RUN/encoder/, reusable as `--encoder RUN`
    (as an image run's is); returns that folder."""
    _, model, _ = load_caption_run(run, "best")
    if model.encoder is None:
        raise UserError(f"{run} reads precomputed features; it has no CNN encoder to export.")
    return model.encoder.save(Path(run) / "encoder")


def load_caption_run(run: str | Path, which: str = "best") -> tuple[CaptionTask, Captioner, dict]:
    """(task with its vocabulary, model in eval mode, checkpoint document) of a trained caption run."""
    return restore_task_run(run, which, {TASK: (CaptionTask, CaptionRunConfig)}, TASK)


@torch.no_grad()
def image_vectors(task: CaptionTask, model: Captioner, indices: list[int]) -> Tensor:
    """The encoder's image vectors (N, D) (mean annotation) of images `indices`."""
    out = [
        model.image_vector(task.grid(model, indices[s : s + EVAL_BATCH]))
        for s in range(0, len(indices), EVAL_BATCH)
    ]
    return torch.cat(out) if out else torch.zeros(0, model.feature_size)


def nearest_neighbour_captions(
    task: CaptionTask, model: Captioner, indices: list[int], space: str = "encoder"
) -> list[str]:
    """The retrieval baseline: the first sentence of the closest training image (Euclidean distance).

    space "encoder": in the model's encoder feature space (the mean annotation vector); "pixels": raw
    pixels (or the precomputed features).
    """
    train = [i for i, e in enumerate(task.entries) if e["split"] == "train"]

    def vectors(ids):
        if space == "pixels":
            return torch.from_numpy(np.asarray(task.inputs[ids], dtype=np.float32)).flatten(1)
        return image_vectors(task, model, ids)

    train_vectors = vectors(train)  # (M, D)
    captions = []
    for s in range(0, len(indices), EVAL_BATCH):
        query = vectors(indices[s : s + EVAL_BATCH])  # (B, D)
        nearest = torch.cdist(query, train_vectors).argmin(1)  # (B,)
        captions += [task.references[train[int(k)]][0] for k in nearest]
    return captions


def evaluate_run(
    run: str | Path,
    data: str | Path | None = None,
    *,
    which: str = "best",
    beam: int = 3,
    length_penalty: float = 0.0,
    baselines: bool = True,
) -> dict:
    """Metrics of a caption run on its val and test images (or on every image of the dataset `data`).

    Greedy decoding and beam search (`beam`) side by side, and the nearest-neighbour baseline (encoder
    features, and raw pixels) as rows of their own.
    """
    task, model, document = load_caption_run(run, which)
    if data is not None:
        task.config.data.path = str(data)
    task.load_data(saved=document["task_state"], progress=False)
    splits = {"val": task.splits["val"], "test": task.splits["test"]}
    if data is not None:
        splits = {"file": [e for part in task.splits.values() for e in part]}
    results = {"run": str(run), "step": document["step"], "checkpoint": document["checkpoint"], "task": TASK}
    for name, examples in splits.items():
        if not examples:
            continue
        results[name] = task.evaluate(model, examples)
        if beam > 1:
            beamed = task.evaluate(model, examples, beam=beam, length_penalty=length_penalty)
            results[name].update(
                {
                    f"beam{beam}_{k}": v
                    for k, v in beamed.items()
                    if k.startswith("bleu") or k in ("cider", "exact_match")
                }
            )
        if baselines:
            indices = list(dict.fromkeys(i for i, _ in examples))
            for space in ("encoder", "pixels"):
                hypotheses = nearest_neighbour_captions(task, model, indices, space)
                results[f"nearest-{space} {name}"] = {
                    **task.score(indices, hypotheses),
                    "examples": len(indices),
                }
    return results


def caption_images(
    run: str | Path,
    images: list[str | Path],
    *,
    which: str = "best",
    beam: int = 3,
    length_penalty: float = 0.0,
    temperature: float | None = None,
    seed: int | None = None,
    max_length: int | None = None,
    attention_png: str | Path | None = None,
) -> list[dict]:
    """Caption image files with a trained run: caption, words, score; optionally attention strips (PNG).

    With several images and `attention_png`, the strips go to NAME-1.png, NAME-2.png, ...
    """
    task, model, _ = load_caption_run(run, which)
    if model.encoder is None:
        raise UserError(
            f"{run} was trained on precomputed features; it cannot read image files. Use "
            "`rnnlab eval` on features instead."
        )
    if not images:
        raise UserError("give at least one image file to caption.")
    if attention_png and not model.attends:
        raise UserError(
            f"this model's decoder ({model.decoder_name}) has no attention; there is nothing to draw."
        )
    C, S, _ = task.input_shape
    pixels = np.stack([load_image_file(path, S, C) for path in images])  # (N, C, S, S)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    with torch.no_grad():
        grid = model.encode(to_float(pixels))
        found = task.decode_grid(
            model,
            grid,
            beam=beam,
            length_penalty=length_penalty,
            temperature=temperature,
            generator=generator,
            max_length=max_length,
        )
        weights = task.attention_weights(model, grid, [ids for ids, _ in found])
    results = []
    for k, (path, (ids, score)) in enumerate(zip(images, found)):
        words = [task.vocab.tokens[i] for i in ids]
        entry = {"image": str(path), "caption": " ".join(words), "words": words, "score": score}
        if attention_png:
            from ..viz.captions import plot_attention_strip

            target = Path(attention_png)
            if len(images) > 1:
                target = target.with_name(f"{target.stem}-{k + 1}{target.suffix or '.png'}")
            entry["attention_png"] = str(
                plot_attention_strip(pixels[k], words + ["<END>"], weights[k], model.grid_shape, target)
            )
        results.append(entry)
    return results
