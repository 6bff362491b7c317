"""The ``scenes`` dataset: Fashion-MNIST items on a canvas, with captions that name them and their layout.

``rnnlab data make scenes``: 1–3 Fashion-MNIST items pasted into the cells of a 2×2 grid on a 64×64
black canvas, with a caption that names them and their layout, and every item's box (see
`scene_caption` for the grammar). Training scenes use Fashion-MNIST training items; validation and test
scenes the two halves of its test items, so no test item was ever seen in training.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rnnlab.data.captions.store import META_FILE, is_caption_data, write_caption_data
from rnnlab.data.images.load import load_image_data
from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.errors import UserError

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

