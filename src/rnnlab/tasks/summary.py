"""`rnnlab summary`: every layer of a model (a run folder of image or lm, a config, a model name)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import UserError
from ..train.checkpoint import load_checkpoint
from ..train.config import apply_overrides, from_dict, merge, to_dict
from .image import (
    MODELS,
    TASK,
    _is_knn,
    build_model,
    image_config,
    load_image_model,
)


def summarize(
    target: str | Path,
    overrides: list[str] = (),
    image_shape: str | tuple = (1, 28, 28),
    num_classes: int = 10,
) -> dict:
    """Layer table of a model: a run folder (image or lm), a YAML config, or a model name.

    Returns {"title", "rows", "model"}; `format_summary` prints it.
    """
    from ..models.image_classifier import layer_table

    if isinstance(image_shape, str):
        try:
            image_shape = tuple(int(s) for s in image_shape.split(","))
            assert len(image_shape) == 3 and min(image_shape) > 0
        except (ValueError, AssertionError):
            raise UserError(f"--image-shape expects C,H,W such as 1,28,28 (got {image_shape!r}).") from None
    target_path = Path(target)
    if target_path.is_dir():
        ckpt = load_checkpoint(target_path, "last")
        task = ckpt.document.get("task", "lm")
        if task == "lm":
            return _summarize_lm_run(target_path)
        if task != TASK:
            raise UserError(f"{target} is a {task!r} run; `rnnlab summary` describes image and lm models.")
        model, document = load_image_model(target_path, "last")
        shape, title = tuple(document["image_shape"]), f"{target} ({document['config']['model']['name']})"
    else:
        if target_path.suffix in (".yaml", ".yml") or target_path.is_file():
            from ..train.config import load_yaml

            values = load_yaml(target_path)
            if values.get("task", TASK) == "lm":
                return _summarize_lm_config(values, overrides, num_classes)
            config = image_config(values, overrides)
        elif str(target) in MODELS:
            config = image_config({}, overrides, model=str(target))
        else:
            raise UserError(
                f"{target} is neither a run folder, a config file nor a model name ({', '.join(MODELS)})."
            )
        config.model.cnn.encoder = ""
        shape, title = (
            tuple(image_shape),
            f"{config.model.name} (defaults{' + overrides' if overrides else ''})",
        )
        model = build_model(config, shape, num_classes)
    example = torch.rand(2, *shape)
    if _is_knn(model):
        rows = layer_table(model.input, example)
        stored = len(model.train_labels)
        rows.append(
            {
                "layer": "(knn)",
                "type": "KNNClassifier",
                "output_shape": (2, model.num_classes),
                "params": 0,
                "formula": f"stores {stored:,} images, k = {int(model.k)}, "
                f"{model.config.distance} distance; no trained parameters",
            }
        )
    else:
        rows = layer_table(model, example)
    return {"title": title, "rows": rows, "model": model}


def _summarize_lm_run(run: Path) -> dict:
    from ..models.image_classifier import layer_table
    from ..tasks.lm import load_lm

    model, vocab, _ = load_lm(run, "last")
    tokens = torch.zeros(2, 16, dtype=torch.long)
    return {
        "title": f"{run} (language model, V={len(vocab)}, T=16)",
        "rows": layer_table(model, tokens),
        "model": model,
    }


def _summarize_lm_config(values: dict, overrides, vocab_size: int) -> dict:
    from ..models.image_classifier import layer_table
    from ..models.language_model import LanguageModel
    from ..train.config import LMRunConfig

    config = from_dict(LMRunConfig, apply_overrides(merge(to_dict(LMRunConfig()), values), list(overrides)))
    model = LanguageModel(vocab_size, config.model)
    tokens = torch.zeros(2, 16, dtype=torch.long)
    return {
        "title": f"language model (V={vocab_size} from --classes, T=16)",
        "rows": layer_table(model, tokens),
        "model": model,
    }


def format_summary(summary: dict) -> str:
    from ..models.image_classifier import format_layer_table

    return format_layer_table(summary["rows"], summary["model"], summary["title"])


