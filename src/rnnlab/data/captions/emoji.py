"""The ``emoji`` dataset: Google's emoji images named by their Unicode names.

``rnnlab data fetch emoji``: the 3,786 64×64 PNGs of the npm package ``emoji-datasource-google@16.0.0``
(Apache-2.0), fetched with ``npm pack`` into ``<data_root>/downloads/``. Captions come from the Unicode
name and the short names ("grinning face", "grinning"); the 1,875 skin-tone variants add their tones
("waving hand medium-dark skin tone"). The split is fixed by a hash of the image file name: 80 / 10 / 10
per image, so the skin-tone variants of one emoji may fall into different splits (the model can learn the
shape from some and the tone from others; a base emoji seen in no split but test can only be named in
parts).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rnnlab.data.captions.image_files import _pil, convert_image
from rnnlab.data.captions.store import hash_split, is_caption_data, open_caption_data, write_caption_data
from rnnlab.data.captions.vocab import tokenize_caption
from rnnlab.data.download import npm_pack
from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.paths import downloads_dir
from rnnlab.errors import UserError

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
                    "split": hash_split(filename),
                    "sentences": emoji_captions(name, short, tones),
                }
            )
    return images, entries


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
    tarball = npm_pack(EMOJI_PACKAGE, EMOJI_TARBALL, downloads_dir(root))
    images, entries = emoji_from_tarball(tarball, progress)
    return write_caption_data(folder, images, entries, "emoji", f"npm {EMOJI_PACKAGE}")

