"""`rnnlab ensemble`: average the class probabilities of trained image runs (and their snapshots)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..errors import UserError
from ..train.config import from_dict, to_dict
from .image import (
    ImageDataConfig,
    ImageRunConfig,
    bf16_wanted,
    classification_metrics,
    load_image_data,
    load_image_model,
    load_splits,
    predict,
    select_classes,
)


def ensemble_runs(
    runs: list[str | Path], *, data: str | Path | None = None, snapshots: bool = False, split: str = "test"
) -> dict:
    """Average the class probabilities of several trained image runs (and their snapshots).

    The notes: train several independent models (different seeds) and average their predictions at
    test time, for a couple of percent; snapshots of one run are a cheaper ensemble. Every member is a
    run's best checkpoint, plus RUN/snapshots/*.safetensors with `snapshots`. Returns each member's and
    the ensemble's accuracy and loss on `split` ("test", or "val" of the runs' own data).
    """
    return ensemble_splits(runs, (split,), data=data, snapshots=snapshots)[split]


def ensemble_splits(
    runs: list[str | Path],
    splits: tuple[str, ...] = ("test",),
    *,
    data: str | Path | None = None,
    snapshots: bool = False,
) -> dict[str, dict]:
    """`ensemble_runs` on several splits at once, {split: result}: the members load once.

    With `data` (another IDX folder or cache) every split is that data's test split.
    """
    from safetensors.torch import load_file

    if not runs:
        raise UserError("ensemble needs at least one run folder.")
    members: list[tuple[str, nn.Module, ImageRunConfig]] = []
    documents = []
    for run in runs:
        model, document = load_image_model(run, "best")
        member_config = from_dict(ImageRunConfig, document["config"])
        members.append((str(run), model, member_config))
        documents.append(document)
        if snapshots:
            for path in sorted((Path(run) / "snapshots").glob("step-*.safetensors")):
                snap, _ = load_image_model(run, "best", state=load_file(str(path)))
                members.append((f"{run}@{path.stem}", snap, member_config))
    first = documents[0]
    for run, document in zip(runs, documents):
        if document["classes"] != first["classes"] or document["image_shape"] != first["image_shape"]:
            raise UserError(
                f"{run} classifies other classes or image sizes than {runs[0]}; an ensemble needs "
                "models of the same task."
            )
    config = from_dict(ImageRunConfig, first["config"])
    if data is None:
        data_config = from_dict(ImageDataConfig, {**to_dict(config.data), "path": first["data"]})
        loaded = load_splits(data_config)
        sets = {split: loaded.test if split == "test" else loaded.val for split in splits}
    else:
        dataset = load_image_data(data)
        test = select_classes(dataset.test, config.data.classes) if config.data.classes else dataset.test
        sets = {split: test for split in splits}
    classes = first["classes"]
    return {split: _score_ensemble(members, images, classes, split) for split, images in sets.items()}


def _score_ensemble(members: list, images, classes: list[str], split: str) -> dict:
    """Each member's and the averaged probabilities' accuracy and loss on `images`."""
    results = []
    total = None
    for name, model, member_config in members:
        bf16 = bf16_wanted(member_config.train.precision)
        probs = predict(model, images.images, bf16=bf16, flip=member_config.data.tta_flip)
        metrics = classification_metrics(probs, images.labels, len(classes))
        results.append({"member": name, "accuracy": metrics["accuracy"], "loss": metrics["loss"]})
        total = probs if total is None else total + probs
    ensemble = classification_metrics(total / len(members), images.labels, len(classes))
    best = max(r["accuracy"] for r in results)
    return {
        "split": split,
        "images": len(images),
        "members": results,
        "ensemble": {
            "accuracy": ensemble["accuracy"],
            "loss": ensemble["loss"],
            "per_class_accuracy": dict(zip(classes, ensemble["per_class_accuracy"])),
        },
        "best_member_accuracy": best,
        "gain": ensemble["accuracy"] - best,
    }


def format_ensemble(result: dict) -> str:
    width = max(len(r["member"]) for r in result["members"] + [{"member": "ensemble"}])
    lines = [
        f"{result['split']} set, {result['images']:,} images",
        f"{'member':<{width}}  {'accuracy':>9}  {'loss':>7}",
    ]
    for r in result["members"]:
        lines.append(f"{r['member']:<{width}}  {100 * r['accuracy']:>8.2f}%  {r['loss']:>7.4f}")
    e = result["ensemble"]
    lines.append(
        f"{'ensemble':<{width}}  {100 * e['accuracy']:>8.2f}%  {e['loss']:>7.4f}   "
        f"({100 * result['gain']:+.2f} points over the best member)"
    )
    return "\n".join(lines)
