"""Captioning data: images with several sentences each, a vocabulary, and two datasets.

Letters: N images, C channels, H×W image size (square, S×S), L locations.

**What a user brings** (the COCO / Karpathy-split layout): a JSON file and a folder of images.

    {"images": [{"filename": "cat.jpg", "split": "train",            # train | val | test (restval: train)
                 "sentences": ["a cat on a mat", {"raw": "a grey cat"}, {"tokens": ["a", "cat"]}]},
                ...]}

Karpathy's ``dataset_coco.json`` reads as is (``filepath`` is a sub-folder, ``restval`` counts as
train). The COCO annotation layout works too: ``images`` with ``id`` and ``file_name``, and
``annotations`` with ``image_id`` and ``caption``. Images without a ``split`` are assigned one from a hash
of their file name (80 / 10 / 10), so the split never changes between runs. The image folder is
``--images DIR``, else ``images/`` beside the JSON file, else the JSON's own folder.

Every image, of any size or mode, is converted the same way (`load_image_file`): transparency is
composited on white, the colours become RGB (or grey, ``channels=1``), the centre square is cut out and
resized to S×S with a Lanczos filter. A JSON file is converted once into a cached dataset folder under
``<data_root>/prepared/`` (keyed by the JSON file's path, size and time, and the image settings).

**A cached caption dataset** is a folder:

    meta.json       format, name, image shape (C, S, S), count, splits, source; written last
    images.npy      (N, C, S, S) uint8, read back with allow_pickle=False
    captions.json   {"images": [{"filename", "split", "sentences": [str, ...], "items": [...]?}]}

``items`` (scenes only) lists the objects of an image: ``{"word", "box": [x0, y0, x1, y1], "label",
"source", "index"}``, the box in pixels with x1, y1 exclusive.

**Datasets by name** (afterwards ``--data NAME``, kept in ``<data_root>/NAME``):

* ``emoji`` (`rnnlab data fetch emoji`): the 3,786 64×64 PNGs of the npm package
  ``emoji-datasource-google@16.0.0`` (Apache-2.0), fetched with ``npm pack`` into
  ``<data_root>/downloads/``. Captions come from the Unicode name and the short names ("grinning face",
  "grinning"); the 1,875 skin-tone variants add their tones ("waving hand medium-dark skin tone").
  The split is fixed by a hash of the image file name: 80 / 10 / 10 per image, so the skin-tone
  variants of one emoji may fall into different splits (the model can learn the shape from some and
  the tone from others; a base emoji seen in no split but test can only be named in parts).
* ``scenes`` (`rnnlab data make scenes`): 1–3 Fashion-MNIST items pasted into the cells of a 2×2 grid
  on a 64×64 black canvas, with a caption that names them and their layout, and every item's box (see
  `scene_caption` for the grammar). Training scenes use Fashion-MNIST training items; validation and
  test scenes the two halves of its test items, so no test item was ever seen in training.

Data code never knows the model: it yields uint8 images, sentences and token ids.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.paths import downloads_dir, prepared_dir
from rnnlab.errors import UserError

CAPTIONS_FORMAT = "rnnlab.captions"
CAPTIONS_VERSION = 1
META_FILE = "meta.json"
SPLITS = ("train", "val", "test")

#: the CS231n names of the reserved tokens, with their ids
NULL, START, END, UNK = "<NULL>", "<START>", "<END>", "<UNK>"
SPECIALS = (NULL, START, END, UNK)
NULL_ID, START_ID, END_ID, UNK_ID = 0, 1, 2, 3

_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")


def tokenize_caption(text: str) -> list[str]:
    """Lower-cased words of a caption: letters and digits, joined by inner hyphens or apostrophes.

    "Flag: Guinea-Bissau" -> ["flag", "guinea-bissau"]; punctuation and underscores separate words.
    """
    return _WORD.findall(text.lower())


# ----- vocabulary ------------------------------------------------------------------------------------


class CaptionVocab:
    """Words with the reserved ids 0 <NULL> (padding), 1 <START>, 2 <END>, 3 <UNK>, then by frequency."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[:4]) != SPECIALS:
            raise ValueError(f"a caption vocabulary starts with {SPECIALS}")
        self.tokens = list(tokens)
        self.stoi = {token: index for index, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, captions: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None):
        """From tokenized captions: words seen at least `min_count` times, the `max_size` most frequent."""
        counts = Counter(word for caption in captions for word in caption)
        words = sorted(
            (w for w, n in counts.items() if n >= min_count and w not in SPECIALS),
            key=lambda w: (-counts[w], w),
        )
        if max_size:
            words = words[:max_size]
        return cls(list(SPECIALS) + words)

    def encode(self, words: Sequence[str]) -> list[int]:
        """Ids of words; unknown words become <UNK>."""
        return [self.stoi.get(word, UNK_ID) for word in words]

    def words(self, ids: Iterable[int]) -> list[str]:
        """The words of ids up to the first <END>, without <NULL> and <START>."""
        out = []
        for i in ids:
            i = int(i)
            if i == END_ID:
                break
            if i not in (NULL_ID, START_ID):
                out.append(self.tokens[i])
        return out

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.words(ids))

    def to_dict(self) -> dict:
        return {"tokens": self.tokens}

    @classmethod
    def from_dict(cls, values: dict) -> CaptionVocab:
        return cls(values["tokens"])


# ----- the cached dataset -------------------------------------------------------------------------


@dataclass
class CaptionData:
    """A cached caption dataset in memory: images (N, C, S, S) uint8 and one entry per image."""

    images: np.ndarray
    entries: list[dict]  # {"filename", "split", "sentences": [str], "items"?: [...]}
    name: str
    folder: Path

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.images.shape[1:])

    def split_indices(self, split: str) -> list[int]:
        return [i for i, e in enumerate(self.entries) if e["split"] == split]


def is_caption_data(folder: str | Path) -> bool:
    """Whether `folder` holds a complete cached caption dataset (meta.json is written last)."""
    folder = Path(folder)
    if not (folder / META_FILE).is_file():
        return False
    try:
        return json.loads((folder / META_FILE).read_text(encoding="utf-8")).get("format") == CAPTIONS_FORMAT
    except (OSError, ValueError):
        return False


def write_caption_data(folder: Path, images: np.ndarray, entries: list[dict], name: str, source: str) -> Path:
    """Write a cached caption dataset into `folder` atomically (a temporary folder renamed at the end)."""
    folder = Path(folder)
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(entries):
        raise ValueError(f"images must be (N, C, S, S) uint8 with one entry each, got {images.shape}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        np.save(staging / "images.npy", np.ascontiguousarray(images))
        (staging / "captions.json").write_text(
            json.dumps({"images": entries}, ensure_ascii=False), encoding="utf-8"
        )
        meta = {
            "format": CAPTIONS_FORMAT,
            "version": CAPTIONS_VERSION,
            "name": name,
            "image_shape": list(images.shape[1:]),
            "count": len(entries),
            "splits": {s: sum(e["split"] == s for e in entries) for s in SPLITS},
            "source": source,
        }
        (staging / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def open_caption_data(folder: str | Path) -> CaptionData:
    """Load a cached caption dataset, checking it against its meta.json."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != CAPTIONS_FORMAT:
            raise ValueError("not an rnnlab caption dataset")
        images = np.load(folder / "images.npy", allow_pickle=False)
        entries = json.loads((folder / "captions.json").read_text(encoding="utf-8"))["images"]
        if images.dtype != np.uint8 or images.ndim != 4 or list(images.shape[1:]) != meta["image_shape"]:
            raise ValueError("images.npy does not match meta.json")
        if len(images) != len(entries) or len(entries) != meta["count"]:
            raise ValueError("images.npy and captions.json hold different numbers of images")
        for entry in entries:
            if entry["split"] not in SPLITS or not entry["sentences"]:
                raise ValueError(f"entry {entry.get('filename')!r} has no split or no sentences")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(
            f"the caption dataset in {folder} is damaged ({error}); delete the folder and "
            "make, fetch or convert it again."
        ) from None
    return CaptionData(images, entries, str(meta.get("name", folder.name)), folder)


# ----- images of any size and mode ----------------------------------------------------------------


def _pil():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        raise UserError("reading image files needs Pillow: pip install pillow") from None
    return Image


def convert_image(image, size: int, channels: int = 3) -> np.ndarray:
    """A PIL image -> (channels, size, size) uint8: alpha on white, RGB or grey, centre square, Lanczos."""
    Image = _pil()
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    image = image.convert("RGB" if channels == 3 else "L")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if side != size:
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1).copy()  # (C, S, S)


def load_image_file(path: str | Path, size: int, channels: int = 3) -> np.ndarray:
    """Read one image file (PNG, JPEG, ...) -> (channels, size, size) uint8; one-line errors."""
    Image = _pil()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"the image {path} does not exist.")
    try:
        with Image.open(path) as image:
            image.load()
            return convert_image(image, size, channels)
    except UserError:
        raise
    except Exception as error:  # noqa: BLE001 - PIL raises many kinds for damaged files
        detail = str(error).splitlines()[0][:100] if str(error) else type(error).__name__
        raise UserError(f"{path} is not a readable image ({detail}); replace or remove it.") from None


def images_from_arrays(images: np.ndarray, size: int) -> np.ndarray:
    """Resize a batch (N, C, H, W) uint8 to (N, C, size, size) with the same filter as files."""
    if images.shape[2:] == (size, size):
        return images
    Image = _pil()
    out = np.empty((len(images), images.shape[1], size, size), dtype=np.uint8)
    for i, image in enumerate(images):
        for c in range(image.shape[0]):
            resized = Image.fromarray(image[c]).resize((size, size), Image.Resampling.LANCZOS)
            out[i, c] = np.asarray(resized, dtype=np.uint8)
    return out


# ----- a user's JSON + image folder ---------------------------------------------------------------


def _hash_split(key: str) -> str:
    """A fixed split from a hash of `key`: 80% train, 10% val, 10% test."""
    bucket = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % 10
    return "train" if bucket < 8 else ("val" if bucket == 8 else "test")


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
        split = image.get("split") or _hash_split(filename)
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

NAMED = {"emoji": "rnnlab data fetch emoji", "scenes": "rnnlab data make scenes"}


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
    if str(data) in NAMED and not given.exists():
        folder = root / str(data)
        if not is_caption_data(folder):
            raise UserError(f"the dataset {data!r} is not in {root} yet; run `{NAMED[str(data)]}` first.")
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


# ----- emoji --------------------------------------------------------------------------------------

EMOJI_PACKAGE = "emoji-datasource-google@16.0.0"
EMOJI_TARBALL = "emoji-datasource-google-16.0.0.tgz"
EMOJI_IMAGES = "package/img/google/64/"
SKIN_TONES = {
    "1F3FB": "light skin tone",
    "1F3FC": "medium-light skin tone",
    "1F3FD": "medium skin tone",
    "1F3FE": "medium-dark skin tone",
    "1F3FF": "dark skin tone",
}


def emoji_captions(name: str, short_names: Sequence[str], tones: str = "") -> list[str]:
    """The sentences of one emoji: its name, then each short name not equal to it, with the tones.

    ("WAVING HAND SIGN", ["wave"], "1F3FD") -> ["waving hand sign medium skin tone", "wave medium skin tone"]
    """
    tone_words = " and ".join(SKIN_TONES[t] for t in tones.split("-") if t in SKIN_TONES) if tones else ""
    sentences = []
    for text in [name, *short_names]:
        words = tokenize_caption(text.replace("_", " "))
        if not words:
            continue
        sentence = " ".join(words + ([tone_words] if tone_words else []))
        if sentence not in sentences:
            sentences.append(sentence)
    return sentences


def emoji_from_tarball(tarball: str | Path, progress: bool = True) -> tuple[np.ndarray, list[dict]]:
    """Every 64×64 Google emoji image of the npm tarball with its captions and fixed split."""
    Image = _pil()
    try:
        archive = tarfile.open(tarball, "r:gz")
    except (OSError, tarfile.TarError) as error:
        raise UserError(
            f"{tarball} is not a readable npm tarball ({error}); delete it and fetch again."
        ) from None
    with archive:
        try:
            listing = json.loads(archive.extractfile("package/emoji.json").read().decode("utf-8"))
        except (KeyError, AttributeError, ValueError, OSError, tarfile.TarError):
            raise UserError(
                f"{tarball} has no readable package/emoji.json; delete it and fetch again."
            ) from None
        members = {m.name: m for m in archive.getmembers() if m.name.startswith(EMOJI_IMAGES)}
        wanted = []
        for emoji in listing:
            if not isinstance(emoji, dict) or not emoji.get("name") or not emoji.get("image"):
                continue
            short = [s for s in emoji.get("short_names") or [] if isinstance(s, str)]
            wanted.append((emoji["image"], emoji["name"], short, ""))
            for tones, variant in (emoji.get("skin_variations") or {}).items():
                if isinstance(variant, dict) and variant.get("image"):
                    wanted.append((variant["image"], emoji["name"], short, tones))
        wanted = [w for w in wanted if EMOJI_IMAGES + w[0] in members]
        if not wanted:
            raise UserError(f"{tarball} holds no images under {EMOJI_IMAGES}; delete it and fetch again.")
        from tqdm import tqdm

        images = np.empty((len(wanted), 3, 64, 64), dtype=np.uint8)
        entries = []
        for i, (filename, name, short, tones) in enumerate(
            tqdm(wanted, desc="emoji", unit="img", disable=not progress, leave=False)
        ):
            data = archive.extractfile(members[EMOJI_IMAGES + filename]).read()
            try:
                with Image.open(io.BytesIO(data)) as image:
                    image.load()
                    images[i] = convert_image(image, 64, 3)
            except Exception as error:  # noqa: BLE001 - a damaged PNG inside the package
                raise UserError(f"{tarball}: {filename} is not a readable PNG ({error}).") from None
            entries.append(
                {
                    "filename": filename,
                    "split": _hash_split(filename),
                    "sentences": emoji_captions(name, short, tones),
                }
            )
    return images, entries


def _emoji_tarball(downloads: Path) -> Path:
    """The npm tarball in `downloads`, fetched with `npm pack` if it is not there yet."""
    tarball = downloads / EMOJI_TARBALL
    if tarball.is_file():
        return tarball
    downloads = downloads.resolve()  # npm runs in the temporary folder: relative paths would move
    tarball = downloads / EMOJI_TARBALL
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".npm-") as tmp:
        command = ["npm", "pack", EMOJI_PACKAGE, "--pack-destination", tmp, "--silent"]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp)
        except (OSError, subprocess.TimeoutExpired) as error:
            result = subprocess.CompletedProcess(command, 1, "", str(error))
        found = list(Path(tmp).glob("emoji-datasource-google-*.tgz"))
        if result.returncode != 0 or not found:
            lines = (result.stderr or result.stdout or "").strip().splitlines()
            reason = lines[-1].strip() if lines else "no tarball was written"
            raise UserError(
                f"could not download {EMOJI_PACKAGE} with npm (is npm installed and its registry "
                f"reachable? npm said: {reason}); retry, or put {EMOJI_TARBALL} into {downloads}."
            )
        os.replace(found[0], tarball)
    return tarball


def fetch_emoji(data_root: str | Path | None = None, progress: bool = True) -> Path:
    """``rnnlab data fetch emoji``: the cached dataset in ``<data_root>/emoji`` (made once)."""
    root = resolve_data_root(data_root)
    folder = root / "emoji"
    if is_caption_data(folder):
        try:
            open_caption_data(folder)
            return folder
        except UserError:
            pass  # damaged: convert again
    tarball = _emoji_tarball(downloads_dir(root))
    images, entries = emoji_from_tarball(tarball, progress)
    return write_caption_data(folder, images, entries, "emoji", f"npm {EMOJI_PACKAGE}")


# ----- scenes -------------------------------------------------------------------------------------

#: one word per Fashion-MNIST class (T-shirt/top, Trouser, ..., Ankle boot), so a word names an item
CLASS_WORDS = ("top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
RELATION_WORDS = ("left", "right", "above", "below")
CANVAS, CELL, ITEM = 64, 32, 28  # canvas side; 2×2 cells of 32 pixels; items of 28 pixels


def _relation(first: tuple[int, int], second: tuple[int, int]) -> str:
    """Where cell `first` (row, col) is relative to `second`, which shares its row or its column."""
    (r1, c1), (r2, c2) = first, second
    if r1 == r2:
        return "to the left of" if c1 < c2 else "to the right of"
    return "above" if r1 < r2 else "below"


def scene_caption(items: Sequence[tuple[int, int]]) -> str:
    """The caption of a scene from its items [(class, cell)], cells 0..3 row-major in the 2×2 grid.

    Grammar (a function of the image, so exact match is possible):

    * one item: "a sneaker";
    * two items, in one row or one column: the item of the lower class number first, then where it is
      relative to the other: "a bag to the right of a top", "a coat above a sandal";
    * three items (an L): the two in one row as above, then the third relative to the item of that pair
      in its column: "a top to the left of a bag and a sneaker below the top".

    Relations are "to the left of", "to the right of", "above", "below"; classes are distinct.
    """
    pos = {klass: divmod(cell, 2) for klass, cell in items}
    word = lambda klass: CLASS_WORDS[klass]
    if len(items) == 1:
        return f"a {word(items[0][0])}"
    if len(items) == 2:
        x, y = sorted(pos)
        return f"a {word(x)} {_relation(pos[x], pos[y])} a {word(y)}"
    if len(items) != 3:
        raise ValueError("a scene holds 1 to 3 items")
    rows = Counter(r for r, _ in pos.values())
    pair_row = next(r for r, n in rows.items() if n == 2)
    pair = sorted(k for k, (r, _) in pos.items() if r == pair_row)
    (third,) = [k for k in pos if k not in pair]
    anchor = next(k for k in pair if pos[k][1] == pos[third][1])
    x, y = pair
    return (
        f"a {word(x)} {_relation(pos[x], pos[y])} a {word(y)} and a {word(third)} "
        f"{_relation(pos[third], pos[anchor])} the {word(anchor)}"
    )


def generate_scenes(
    items: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator, split: str, source: str
) -> tuple[np.ndarray, list[dict]]:
    """`count` scenes from 28×28 items (M, 1, 28, 28) uint8 with labels (M,): images and entries.

    The number of items is uniform over 1..3; two items share a row or a column; three fill an L;
    classes are distinct; each item is shifted by 0..4 pixels inside its 32×32 cell.
    """
    by_class = [np.flatnonzero(labels == k) for k in range(len(CLASS_WORDS))]
    available = [k for k, found in enumerate(by_class) if len(found)]
    if len(available) < 3:
        raise UserError(f"scenes need items of at least 3 classes; these items have {len(available)}.")
    images = np.zeros((count, 1, CANVAS, CANVAS), dtype=np.uint8)
    entries = []
    lines = [(0, 1), (2, 3), (0, 2), (1, 3)]  # the rows and columns of the 2×2 grid
    for s in range(count):
        n = int(rng.integers(1, 4))
        classes = [int(k) for k in rng.choice(available, n, replace=False)]
        if n == 1:
            cells = [int(rng.integers(4))]
        elif n == 2:
            cells = list(lines[int(rng.integers(4))])
            if rng.random() < 0.5:
                cells.reverse()
        else:
            cells = [int(c) for c in rng.choice(4, 3, replace=False)]
        scene_items = []
        for klass, cell in zip(classes, cells):
            index = int(rng.choice(by_class[klass]))
            row, col = divmod(cell, 2)
            x0 = col * CELL + int(rng.integers(0, CELL - ITEM + 1))
            y0 = row * CELL + int(rng.integers(0, CELL - ITEM + 1))
            images[s, :, y0 : y0 + ITEM, x0 : x0 + ITEM] = items[index]
            scene_items.append(
                {
                    "word": CLASS_WORDS[klass],
                    "label": klass,
                    "cell": cell,
                    "box": [x0, y0, x0 + ITEM, y0 + ITEM],
                    "source": source,
                    "index": index,
                }
            )
        caption = scene_caption(list(zip(classes, cells)))
        entries.append(
            {"filename": f"{split}-{s:06d}", "split": split, "sentences": [caption], "items": scene_items}
        )
    return images, entries


def make_scenes(
    data_root: str | Path | None = None,
    *,
    seed: int = 0,
    train: int = 40_000,
    val: int = 1_000,
    test: int = 2_000,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """``rnnlab data make scenes``: generated scenes in ``<data_root>/scenes`` (Fashion-MNIST first).

    Made again when the folder holds scenes of another seed or size (or with `force`).
    """
    from rnnlab.data.images import load_image_data

    root = resolve_data_root(data_root)
    folder = root / "scenes"
    source = f"Fashion-MNIST composites, seed {seed}, {train}/{val}/{test}"
    if is_caption_data(folder) and not force:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if meta.get("source") == source:
            return folder
    fmnist = load_image_data("fashion-mnist", root)
    if fmnist.train.images.shape[1:] != (1, ITEM, ITEM):
        raise UserError("scenes need Fashion-MNIST's 28×28 grey items.")
    half = len(fmnist.test.images) // 2
    rng = np.random.default_rng(seed)
    parts = [
        generate_scenes(fmnist.train.images, fmnist.train.labels, train, rng, "train", "train"),
        generate_scenes(fmnist.test.images[:half], fmnist.test.labels[:half], val, rng, "val", "test"),
        generate_scenes(fmnist.test.images[half:], fmnist.test.labels[half:], test, rng, "test", "test"),
    ]
    for entry in parts[2][1]:  # test items index the second half of Fashion-MNIST's test set
        for item in entry["items"]:
            item["index"] += half
    images = np.concatenate([p[0] for p in parts])
    entries = [e for p in parts for e in p[1]]
    return write_caption_data(folder, images, entries, "scenes", source)


__all__ = [
    "CLASS_WORDS",
    "CaptionData",
    "CaptionVocab",
    "END_ID",
    "NULL_ID",
    "RELATION_WORDS",
    "START_ID",
    "UNK_ID",
    "convert_image",
    "emoji_captions",
    "emoji_from_tarball",
    "fetch_emoji",
    "generate_scenes",
    "images_from_arrays",
    "load_image_file",
    "make_scenes",
    "open_caption_data",
    "prepare_caption_json",
    "read_caption_json",
    "resolve_caption_data",
    "scene_caption",
    "tokenize_caption",
    "write_caption_data",
]
