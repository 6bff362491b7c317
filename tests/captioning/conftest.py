"""Tiny generated caption data for the captioning tests (never the real emoji or Fashion-MNIST)."""

import io
import json
import tarfile

import numpy as np
import pytest
import torch

COLORS = {"red": (230, 20, 20), "green": (20, 180, 20), "blue": (20, 20, 230)}


@pytest.fixture(autouse=True)
def one_thread():
    """Tests run on one thread: the machine is shared with timing-sensitive benchmarks."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def square_image(color: str, side: str, size: int = 16) -> np.ndarray:
    """(size, size, 3) uint8: a coloured square on the left or right half of a white image."""
    image = np.full((size, size, 3), 255, np.uint8)
    x = 1 if side == "left" else size // 2 + 1
    image[size // 4 : size // 4 + size // 2 - 2, x : x + size // 2 - 2] = COLORS[color]
    return image


def square_entries(count: int = 24) -> list[tuple[str, str]]:
    """(color, side) of `count` images, cycling through the six combinations."""
    combos = [(c, s) for s in ("left", "right") for c in COLORS]
    return [combos[k % len(combos)] for k in range(count)]


def write_square_dataset(folder, count: int = 24, size: int = 16, fmt: str = "karpathy", sentences: int = 2):
    """A captions JSON + images/ folder of PNGs: "a red square on the left" (and "red left")."""
    from PIL import Image

    images_dir = folder / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for k, (color, side) in enumerate(square_entries(count)):
        Image.fromarray(square_image(color, side, size)).save(images_dir / f"sq{k}.png")
        split = "test" if k % 6 == 5 and k >= 12 else ("val" if k % 6 == 4 and k >= 12 else "train")
        entries.append(
            (f"sq{k}.png", split, [f"a {color} square on the {side}", f"{color} {side}"][:sentences])
        )
    if fmt == "karpathy":
        document = {
            "images": [
                {"filename": f, "split": s, "sentences": [{"raw": t} for t in texts]}
                for f, s, texts in entries
            ]
        }
    else:  # COCO: images with ids, captions as annotations
        document = {
            "images": [{"id": k, "file_name": f, "split": s} for k, (f, s, _) in enumerate(entries)],
            "annotations": [
                {"image_id": k, "caption": t} for k, (_, _, texts) in enumerate(entries) for t in texts
            ],
        }
    path = folder / "captions.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.fixture
def squares(tmp_path):
    return write_square_dataset(tmp_path / "squares")


def fake_fashion_mnist(root, per_class: int = 6, seed: int = 0):
    """A tiny cached 'fashion-mnist' (28×28 items whose class is a bar at a class-specific row)."""
    from rnnlab.data.images import FASHION_MNIST_CLASSES, ImageSet, write_cache

    rng = np.random.default_rng(seed)

    def part(n):
        labels = rng.permutation(np.repeat(np.arange(10), n))
        images = rng.integers(0, 40, (len(labels), 1, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, 0, 2 + 2 * label : 4 + 2 * label, 4:24] = 250
        return ImageSet(images, labels.astype(np.int64))

    return write_cache(
        root / "fashion-mnist",
        part(per_class),
        part(per_class),
        FASHION_MNIST_CLASSES,
        "fashion-mnist",
        "test",
    )


def fake_emoji_tarball(downloads):
    """An npm tarball with emoji.json and three 64×64 PNGs (one emoji with a skin-tone variant)."""
    from PIL import Image

    from rnnlab.data.captions import EMOJI_IMAGES, EMOJI_TARBALL

    listing = [
        {
            "name": "WAVING HAND SIGN",
            "short_names": ["wave"],
            "image": "1f44b.png",
            "skin_variations": {"1F3FD": {"image": "1f44b-1f3fd.png"}},
        },
        {"name": "Vatican City Flag", "short_names": ["flag-va"], "image": "1f1fb-1f1e6.png"},
        {"name": "NO IMAGE", "short_names": ["none"], "image": "absent.png"},
    ]
    downloads.mkdir(parents=True, exist_ok=True)
    with tarfile.open(downloads / EMOJI_TARBALL, "w:gz") as archive:
        files = {"package/emoji.json": json.dumps(listing).encode()}
        for k, name in enumerate(("1f44b.png", "1f44b-1f3fd.png", "1f1fb-1f1e6.png")):
            buffer = io.BytesIO()
            Image.new("RGBA", (64, 64), (40 * k, 0, 0, 0 if k == 2 else 255)).save(buffer, format="PNG")
            files[EMOJI_IMAGES + name] = buffer.getvalue()
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@pytest.fixture
def helpers():
    """The helpers above, for tests (test modules cannot import conftest under --import-mode=importlib)."""

    class Helpers:
        square_dataset = staticmethod(write_square_dataset)
        square_image = staticmethod(square_image)
        square_entries = staticmethod(square_entries)
        fashion_mnist = staticmethod(fake_fashion_mnist)
        emoji_tarball = staticmethod(fake_emoji_tarball)

    return Helpers
