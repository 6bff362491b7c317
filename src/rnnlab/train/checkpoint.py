"""Checkpoints: safetensors for tensors, JSON for everything else; atomic; never pickled.

Layout inside a run folder:

    RUN/checkpoints/ckpt-00001000-3fa2c1/   one complete checkpoint
        model.safetensors     the model's weights (state_dict keys)
        state.safetensors     resume tensors: optimizer moments, RNG states, carried hidden state
        checkpoint.json       task, resolved config, vocabulary, step, metrics, non-tensor state
    RUN/checkpoints/last      text file naming the newest checkpoint folder
    RUN/checkpoints/best      text file naming the best one (lowest validation loss)

A checkpoint folder is written under a temporary name and renamed when complete, and the `last`
/`best` pointer files are replaced with `os.replace` (atomic on POSIX). A process killed at any
moment leaves the previous checkpoint and pointer intact. Folders no pointer names are removed
after each save. Loading reads JSON and safetensors only, so it never runs code from the file.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..errors import UserError

FORMAT = "rnnlab-checkpoint"
VERSION = 1
POINTERS = ("last", "best")


@dataclass
class Checkpoint:
    """A loaded checkpoint: the JSON document, the model weights and the resume tensors."""

    path: Path
    document: dict
    model_state: dict[str, torch.Tensor]
    state_tensors: dict[str, torch.Tensor]

    @property
    def step(self) -> int:
        return int(self.document["step"])


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}


def save_checkpoint(
    run_dir: Path,
    document: dict,
    model_state: dict[str, torch.Tensor],
    state_tensors: dict[str, torch.Tensor],
    pointers: tuple[str, ...] = ("last",),
) -> Path:
    """Write one checkpoint atomically and point `pointers` (last and/or best) at it."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    name = f"ckpt-{int(document['step']):08d}-{uuid.uuid4().hex[:6]}"
    tmp = root / f".tmp-{name}"
    tmp.mkdir()
    # Tied weights share storage; safetensors refuses shared tensors, so store clones.
    model_state = {k: v.clone() for k, v in _contiguous(model_state).items()}
    save_file(model_state, str(tmp / "model.safetensors"))
    save_file(_contiguous(state_tensors), str(tmp / "state.safetensors"))
    doc = {"format": FORMAT, "version": VERSION, **document}
    _fsync_write(tmp / "checkpoint.json", json.dumps(doc, indent=1, default=_json_default).encode())
    os.replace(tmp, root / name)
    for pointer in pointers:
        _fsync_write(root / f".{pointer}.tmp", name.encode())
        os.replace(root / f".{pointer}.tmp", root / pointer)
    _prune(root)
    return root / name


def _json_default(value):
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint document")


def _prune(root: Path) -> None:
    """Remove checkpoint folders that no pointer names (and stale temporary folders)."""
    keep = {(root / p).read_text().strip() for p in POINTERS if (root / p).is_file()}
    for entry in root.iterdir():
        if entry.is_dir() and entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)


def checkpoint_path(run: Path, which: str = "last") -> Path:
    """The folder of a run's `last` or `best` checkpoint (or a checkpoint folder given directly)."""
    run = Path(run)
    if (run / "checkpoint.json").is_file():
        return run
    if not run.exists():
        raise UserError(f"run folder {run} does not exist; train one with `rnnlab train ... --out {run}`.")
    pointer = run / "checkpoints" / which
    if not pointer.is_file():
        raise UserError(f"{run} has no {which!r} checkpoint; it is not a run folder, or training saved "
                        "nothing yet.")
    return run / "checkpoints" / pointer.read_text().strip()


def best_or_last(run: Path, which: str) -> str:
    """`which`, except that "best" becomes "last" for a run with no best checkpoint (yet)."""
    if which == "best":
        try:
            checkpoint_path(run, "best")
        except UserError:
            return "last"
    return which


def load_checkpoint(run: Path, which: str = "last", task: str | None = None) -> Checkpoint:
    """Load a checkpoint by run folder (its `last`/`best`) or by checkpoint folder.

    Damaged, truncated or foreign files raise a one-line `UserError`; `task` checks the kind of
    model (a captioner's checkpoint is refused where a language model is expected).
    """
    path = checkpoint_path(run, which)
    for name in ("checkpoint.json", "model.safetensors", "state.safetensors"):
        if not (path / name).is_file():
            raise UserError(f"the checkpoint in {path} is incomplete ({name} is missing); use another "
                            "checkpoint or retrain.")
    try:
        document = json.loads((path / "checkpoint.json").read_text(encoding="utf-8"))
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError("not an rnnlab checkpoint")
        model_state = load_file(str(path / "model.safetensors"))
        state_tensors = load_file(str(path / "state.safetensors"))
    except Exception as error:  # noqa: BLE001 - any parse failure means a damaged file
        detail = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise UserError(f"the checkpoint in {path} is damaged or not an rnnlab checkpoint ({detail}); "
                        "use another checkpoint or retrain.") from None
    if int(document.get("version", 0)) > VERSION:
        raise UserError(f"the checkpoint in {path} was written by a newer rnnlab (format version "
                        f"{document['version']}); upgrade rnnlab to read it.")
    if task is not None and document.get("task") != task:
        raise UserError(f"the checkpoint in {path} is for task {document.get('task')!r}, not {task!r}.")
    return Checkpoint(path, document, model_state, state_tensors)


# ---- optimizer and RNG state as tensors + JSON ------------------------------------------------


def split_optimizer_state(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split `optimizer.state_dict()` into tensors (for safetensors) and a JSON-able rest."""
    tensors, scalars = {}, {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def join_optimizer_state(tensors: dict[str, torch.Tensor], rest: dict) -> dict:
    """Inverse of `split_optimizer_state`."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for name, value in rest["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": rest["param_groups"]}


def rng_tensors() -> dict[str, torch.Tensor]:
    """The torch CPU generator's state (dropout masks, sampling) as a tensor to save."""
    return {"rng.torch": torch.get_rng_state()}


def restore_rng(tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(tensors["rng.torch"])


def prepare_run_folder(out: Path, resume: bool, force: bool) -> None:
    """Refuse to overwrite an existing run unless `force`; require a checkpoint to `resume` from."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder; choose another --out.")
    if resume:
        if not (out / "checkpoints" / "last").is_file():
            raise UserError(f"cannot resume: {out} holds no checkpoint; drop --resume to start a new run.")
        return
    if out.exists() and any(out.iterdir()) and not force:
        raise UserError(
            f"run folder {out} already exists; pass --resume to continue it or --force to start "
            "over (which deletes it)."
        )
