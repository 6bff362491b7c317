"""What a user brings (the COCO / Karpathy-split layout): a JSON file and a folder of images; and
``--data`` of the caption task.

    {"images": [{"filename": "cat.jpg", "split": "train",            # train | val | test (restval: train)
                 "sentences": ["a cat on a mat", {"raw": "a grey cat"}, {"tokens": ["a", "cat"]}]},
                ...]}

Karpathy's ``dataset_coco.json`` reads as is (``filepath`` is a sub-folder, ``restval`` counts as
train). The COCO annotation layout works too: ``images`` with ``id`` and ``file_name``, and
``annotations`` with ``image_id`` and ``caption``. Images without a ``split`` are assigned one from a hash
of their file name (80 / 10 / 10), so the split never changes between runs. The image folder is
``--images DIR``, else ``images/`` beside the JSON file, else the JSON's own folder.

A JSON file is converted once (`load_image_file` for every image) into a cached dataset folder under
``<data_root>/prepared/`` (keyed by the JSON file's path, size and time, and the image settings).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from rnnlab.data import registry
from rnnlab.data.captions.image_files import load_image_file
from rnnlab.data.captions.store import (
    CAPTIONS_VERSION,
    SPLITS,
    CaptionData,
    hash_split,
    is_caption_data,
    open_caption_data,
    write_caption_data,
)
from rnnlab.data.captions.vocab import tokenize_caption
from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.paths import prepared_dir
from rnnlab.errors import UserError


def _sentence_text(sentence, where: str) -> str:
    if isinstance(sentence, str):
        return sentence
    if isinstance(sentence, dict):
        if isinstance(sentence.get("raw"), str):
            return sentence["raw"]
        if isinstance(sentence.get("tokens"), list):
            return " ".join(str(t) for t in sentence["tokens"])
    raise UserError(f"{where} has a sentence that is neither text nor {{'raw': ...}} / {{'tokens': [...]}}.")


def read_caption_json(path: str | Path) -> list[dict]:
    """Read a Karpathy- or COCO-style captions JSON into entries {"filename", "split", "sentences"}.

    Every problem is a one-line `UserError` that names the file and the entry.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"the captions file {path} does not exist.")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not valid JSON ({str(error).splitlines()[0][:100]}).") from None
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise UserError(
            f'{path} has no "images" list; expected {{"images": [{{"filename", "split", '
            '"sentences"}}, ...]}} (Karpathy) or COCO\'s images + annotations.'
        )
    coco: dict = {}
    if "annotations" in document:
        if not isinstance(document["annotations"], list):
            raise UserError(f'{path}: "annotations" must be a list of {{"image_id", "caption"}}.')
        for k, note in enumerate(document["annotations"]):
            if (
                not isinstance(note, dict)
                or "image_id" not in note
                or not isinstance(note.get("caption"), str)
            ):
                raise UserError(f'{path}: annotation {k} needs "image_id" and a "caption" text.')
            coco.setdefault(note["image_id"], []).append(note["caption"])
    entries = []
    for k, image in enumerate(document["images"]):
        if not isinstance(image, dict):
            raise UserError(f"{path}: image {k} is not an object.")
        filename = image.get("filename", image.get("file_name"))
        if not isinstance(filename, str) or not filename:
            raise UserError(f'{path}: image {k} has no file name ("filename" or "file_name").')
        if image.get("filepath"):
            filename = f"{image['filepath']}/{filename}"
        where = f"{path}: image {k} ({filename})"
        if "annotations" in document:
            if "id" not in image:
                raise UserError(f'{where} has no "id" for its annotations.')
            sentences = coco.get(image["id"], [])
        else:
            sentences = image.get("sentences")
            if not isinstance(sentences, list):
                raise UserError(f'{where} has no "sentences" list.')
            sentences = [_sentence_text(s, where) for s in sentences]
        sentences = [s.strip() for s in sentences if tokenize_caption(s)]
        if not sentences:
            raise UserError(f"{where} has no captions; give it at least one sentence or remove it.")
        split = image.get("split") or hash_split(filename)
        split = "train" if split == "restval" else split
        if split not in SPLITS:
            raise UserError(f"{where} has split {split!r}; use train, val, test or restval.")
        entries.append({"filename": filename, "split": split, "sentences": sentences})
    if not entries:
        raise UserError(f"{path} lists no images.")
    return entries


def default_image_folder(json_path: Path) -> Path:
    folder = json_path.parent / "images"
    return folder if folder.is_dir() else json_path.parent


def prepare_caption_json(
    json_path: str | Path,
    images_dir: str | Path | None = None,
    *,
    image_size: int = 64,
    channels: int = 3,
    data_root: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Convert a captions JSON and its images once into a cached dataset folder; return the folder."""
    json_path = Path(json_path).expanduser()
    if channels not in (1, 3):
        raise UserError(f"data.channels must be 1 (grey) or 3 (RGB), got {channels!r}.")
    if image_size < 8:
        raise UserError(f"data.image_size must be at least 8 pixels, got {image_size!r}.")
    folder = Path(images_dir).expanduser() if images_dir else default_image_folder(json_path)
    stat = json_path.stat() if json_path.is_file() else None
    stamp = (
        f"{json_path.resolve()}:{stat.st_size if stat else 0}:{stat.st_mtime_ns if stat else 0}:"
        f"{folder.resolve()}:{image_size}:{channels}:{CAPTIONS_VERSION}"
    )
    cache = (
        prepared_dir(data_root) / f"captions-{json_path.stem}-{hashlib.sha1(stamp.encode()).hexdigest()[:10]}"
    )
    if is_caption_data(cache):
        return cache
    entries = read_caption_json(json_path)
    if not folder.is_dir():
        raise UserError(f"the image folder {folder} does not exist; pass --images DIR.")
    missing = [e["filename"] for e in entries if not (folder / e["filename"]).is_file()]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise UserError(
            f"{json_path} lists the image {missing[0]!r}{more}, absent from {folder}; add the "
            "file(s) or remove the entries."
        )
    from tqdm import tqdm

    images = np.empty((len(entries), channels, image_size, image_size), dtype=np.uint8)
    for i, entry in enumerate(
        tqdm(entries, desc=f"images of {json_path.name}", unit="img", disable=not progress, leave=False)
    ):
        images[i] = load_image_file(folder / entry["filename"], image_size, channels)
    return write_caption_data(cache, images, entries, json_path.stem, str(json_path.resolve()))


# ----- --data resolution -------------------------------------------------------------------------

def resolve_caption_data(
    data: str,
    data_root: str | Path | None = None,
    *,
    images_dir: str | None = None,
    image_size: int = 64,
    channels: int = 3,
    progress: bool = True,
) -> CaptionData:
    """Turn ``--data`` into a `CaptionData`.

    * ``emoji`` / ``scenes``: ``<data_root>/NAME``, made or fetched by name beforehand;
    * a cached caption folder (meta.json): opened;
    * a captions JSON file, or a folder holding ``captions.json``: converted once (see the module doc).
    """
    if not str(data):
        raise UserError("no caption data: pass --data emoji, --data scenes, or a captions JSON file.")
    root = resolve_data_root(data_root)
    given = Path(data).expanduser()
    if str(data) in registry.names(task="caption") and not given.exists():
        folder = root / str(data)
        if not is_caption_data(folder):
            command = registry.get(str(data)).command
            raise UserError(f"the dataset {data!r} is not in {root} yet; run `{command}` first.")
        return open_caption_data(folder)
    if given.is_dir():
        if is_caption_data(given):
            return open_caption_data(given)
        if (given / "captions.json").is_file():
            given = given / "captions.json"
        else:
            raise UserError(
                f"the folder {given} holds neither a cached caption dataset (meta.json) nor a "
                "captions.json file."
            )
    if not given.exists():
        raise UserError(
            f"no file, folder or caption dataset named {str(data)!r}; give a captions JSON file, "
            "a folder, or emoji / scenes."
        )
    folder = prepare_caption_json(
        given, images_dir, image_size=image_size, channels=channels, data_root=root, progress=progress
    )
    return open_caption_data(folder)

