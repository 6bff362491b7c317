"""Image files of any size and mode -> (C, S, S) uint8, all converted the same way.

Transparency is composited on white, the colours become RGB (or grey, ``channels=1``), the centre square
is cut out and resized to S×S with a Lanczos filter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnlab.errors import UserError


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

