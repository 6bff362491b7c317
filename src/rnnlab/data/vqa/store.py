"""A cached VQA dataset: images, questions with answers and families, on disk and in memory.

**A cached VQA dataset** is a folder:

    meta.json        format, name, image shape (C, S, S), counts, splits, families, source; written last
    images.npy       (N, C, S, S) uint8, read back with allow_pickle=False
    questions.json   {"images": [{"filename", "split", "objects"?: [...]}],
                      "questions": [{"image", "question", "answer", "family", "type", "split", ...}]}

A user's dataset is a JSON list of rows ``{"image": file, "question": str, "answer": str}`` (optionally
``"split"`` and ``"family"``) beside an image folder: `read_vqa_json` converts it into the same folder
layout, every image once; images without a split are split 80/10/10 by a hash of their file name.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnlab.data import registry
from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.publish import publish_folder, staging_folder
from rnnlab.errors import UserError

VQA_FORMAT = "rnnlab.vqa"
VQA_VERSION = 1
META_FILE = "meta.json"
VQA_SPLITS = ("train", "val", "test", "heldout")
_TOKEN = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def tokenize_question(text: str) -> list[str]:
    """Lower-cased words and punctuation: "What shape is the red object?" -> [..., "object", "?"]."""
    return _TOKEN.findall(text.lower())


@dataclass
class VQAData:
    """A cached VQA dataset in memory."""

    images: np.ndarray  # (N, C, S, S) uint8
    entries: list[dict]  # one per image: {"filename", "split", "objects"?}
    questions: list[dict]  # {"image", "question", "answer", "family", "type", "split", ...}
    families: dict[str, str]  # family -> type (relational | non-relational | counting | other)
    name: str
    folder: Path

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.images.shape[1:])

    def image_index(self) -> dict[str, int]:
        return {e["filename"]: i for i, e in enumerate(self.entries)}

    def split(self, split: str) -> list[dict]:
        return [q for q in self.questions if q["split"] == split]


def is_vqa_data(folder: str | Path) -> bool:
    """Whether `folder` holds a complete cached VQA dataset (meta.json is written last)."""
    try:
        return json.loads((Path(folder) / META_FILE).read_text(encoding="utf-8")).get("format") == VQA_FORMAT
    except (OSError, ValueError):
        return False


def write_vqa_data(
    folder: Path,
    images: np.ndarray,
    entries: list[dict],
    questions: list[dict],
    name: str,
    source: str,
    families: dict[str, str],
) -> Path:
    """Write a cached VQA dataset into `folder` atomically (staged beside it, meta.json last)."""
    folder = Path(folder)
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(entries):
        raise ValueError(f"images must be (N, C, S, S) uint8 with one entry each, got {images.shape}")
    staging = staging_folder(folder)
    try:
        np.save(staging / "images.npy", np.ascontiguousarray(images))
        (staging / "questions.json").write_text(
            json.dumps({"images": entries, "questions": questions}, ensure_ascii=False), encoding="utf-8"
        )
        meta = {
            "format": VQA_FORMAT,
            "version": VQA_VERSION,
            "name": name,
            "image_shape": list(images.shape[1:]),
            "count": len(entries),
            "questions": len(questions),
            "splits": {s: sum(q["split"] == s for q in questions) for s in VQA_SPLITS},
            "families": families,
            "source": source,
        }
        (staging / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        publish_folder(staging, folder, META_FILE)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def open_vqa_data(folder: str | Path) -> VQAData:
    """Load a cached VQA dataset, checking it against its meta.json (one-line error when damaged)."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != VQA_FORMAT:
            raise ValueError("not an rnnlab VQA dataset")
        images = np.load(folder / "images.npy", allow_pickle=False)
        document = json.loads((folder / "questions.json").read_text(encoding="utf-8"))
        entries, questions = document["images"], document["questions"]
        if images.dtype != np.uint8 or images.ndim != 4 or list(images.shape[1:]) != meta["image_shape"]:
            raise ValueError("images.npy does not match meta.json")
        if len(images) != len(entries) or len(questions) != meta["questions"]:
            raise ValueError("images.npy and questions.json do not match meta.json")
        names = {e["filename"] for e in entries}
        for q in questions:
            if q["split"] not in VQA_SPLITS or q["image"] not in names or not q["question"].strip():
                raise ValueError(f"question {q.get('question')!r} has no split, image or text")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(
            f"the VQA dataset in {folder} is damaged ({error}); delete the folder, make or convert it again."
        ) from None
    return VQAData(
        images, entries, questions, dict(meta["families"]), str(meta.get("name", folder.name)), folder
    )


def _hash_split(key: str) -> str:
    bucket = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % 10
    return "train" if bucket < 8 else ("val" if bucket == 8 else "test")


def read_vqa_json(path: str | Path, image_folder: str | Path | None = None, size: int = 64) -> VQAData:
    """A user's VQA JSON (rows of image file, question, answer) and its image folder, cached beside it.

    The cache is ``<json stem>.vqa-<size>/`` next to the JSON, made again when the JSON is newer.
    """
    from rnnlab.data.captions.image_files import load_image_file

    path = Path(path)
    folder = Path(image_folder) if image_folder else path.parent
    cache = path.with_name(f"{path.stem}.vqa-{size}")
    if is_vqa_data(cache) and (cache / META_FILE).stat().st_mtime >= path.stat().st_mtime:
        return open_vqa_data(cache)
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read the VQA JSON {path}: {error}") from None
    if not isinstance(rows, list) or not rows:
        raise UserError(f"{path} must hold a JSON list of {{image, question, answer}} rows.")
    files: dict[str, str] = {}
    questions = []
    for n, row in enumerate(rows):
        if not isinstance(row, dict) or not all(
            isinstance(row.get(k), str) for k in ("image", "question", "answer")
        ):
            raise UserError(f"{path}: row {n} needs string fields image, question and answer.")
        if not row["question"].strip():
            raise UserError(f"{path}: row {n} has an empty question.")
        split = row.get("split") or files.get(row["image"]) or _hash_split(row["image"])
        if split not in VQA_SPLITS:
            raise UserError(f"{path}: row {n} has split {split!r}; use one of {', '.join(VQA_SPLITS)}.")
        files.setdefault(row["image"], split)
        family = str(row.get("family", "all"))
        questions.append(
            {
                "image": row["image"],
                "question": row["question"],
                "answer": row["answer"].strip().lower(),
                "family": family,
                "type": str(row.get("type", "other")),
                "split": split,
            }
        )
    images = np.stack([load_image_file(folder / name, size) for name in files])
    entries = [{"filename": name, "split": split} for name, split in files.items()]
    families = {q["family"]: q["type"] for q in questions}
    write_vqa_data(cache, images, entries, questions, path.stem, f"user JSON {path.name}", families)
    return open_vqa_data(cache)


def resolve_vqa_data(data: str, data_root: str | Path | None = None) -> VQAData:
    """``--data`` of the VQA task: a dataset name (made when missing), a cached folder, or a user JSON."""
    if data in registry.names(task="vqa"):
        folder = resolve_data_root(data_root) / data
        if not is_vqa_data(folder):
            raise UserError(f"the dataset {data!r} is not there yet; run: {registry.get(data).command}")
        return open_vqa_data(folder)
    path = Path(data)
    if path.is_dir() and is_vqa_data(path):
        return open_vqa_data(path)
    if path.is_file() and path.suffix == ".json":
        return read_vqa_json(path)
    raise UserError(
        f"--data {data!r} is neither a VQA dataset name ({', '.join(registry.names(task='vqa'))}), "
        "a cached VQA folder nor a JSON of {image, question, answer} rows."
    )
