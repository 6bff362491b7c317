"""The ``shapes-vqa`` dataset: six coloured shapes on a 64×64 RGB canvas, and questions about them.

``rnnlab data make shapes-vqa`` draws, per image, 6 objects of 6 distinct colours (each a square, a
circle or a triangle, 11×11 pixels, boxes never overlapping) on black, stores every object's colour,
shape, box and centre, and asks one question of every family below, in a phrasing drawn from that
family's templates (Sort-of-CLEVR, Santoro et al. 2017, with more families and phrasings):

    non-relational  shape        what shape is the X object?                   square | circle | triangle
                    horizontal   is the X object on the left or the right?     left | right  (centre x < 32)
                    vertical     is the X object at the top or the bottom?     top | bottom  (centre y < 32)
    relational      closest      what shape is the object closest to the X?    a shape
                    furthest     what shape is the object furthest from the X? a shape
                    same-shape   how many other objects have the shape of X?   0 .. 5
    counting        count        how many circles are there?                   0 .. 6
                    exists       is there a yellow square?                     yes | no

Distances are between box centres; a scene where any object has two others at the same nearest or
furthest distance is drawn again, so every answer is unique. The last phrasing of every family is
never used for train / val / test: the ``heldout`` split (its own images) asks only in those phrasings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.vqa.store import META_FILE, is_vqa_data, write_vqa_data

SIZE, OBJECT = 64, 11  # canvas side, object side (odd, so a box has a centre pixel)
COLOURS = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
}
SHAPES = ("square", "circle", "triangle")
PLURAL = {"square": "squares", "circle": "circles", "triangle": "triangles"}
#: the one answer vocabulary (fixed, whatever the data): shapes, sides, yes/no, counts 0..6
ANSWERS = (*SHAPES, "left", "right", "top", "bottom", "yes", "no", *(str(n) for n in range(7)))

#: family -> templates; ``{c}`` a colour, ``{s}`` a shape, ``{p}`` a plural shape. The last is held out.
PHRASINGS: dict[str, tuple[str, ...]] = {
    "shape": (
        "what shape is the {c} object?",
        "what is the shape of the {c} object?",
        "the {c} object is which shape?",
        "which shape does the {c} thing have?",
    ),
    "horizontal": (
        "is the {c} object on the left or the right?",
        "is the {c} object on the left or right side of the image?",
        "which side is the {c} object on, left or right?",
        "does the {c} thing lie left or right?",
    ),
    "vertical": (
        "is the {c} object at the top or the bottom?",
        "is the {c} object in the top or bottom half of the image?",
        "which half is the {c} object in, top or bottom?",
        "does the {c} thing lie at the top or bottom?",
    ),
    "closest": (
        "what shape is the object closest to the {c} object?",
        "what is the shape of the object nearest to the {c} object?",
        "the object closest to the {c} one is which shape?",
        "which shape does the thing nearest the {c} thing have?",
    ),
    "furthest": (
        "what shape is the object furthest from the {c} object?",
        "what is the shape of the object farthest from the {c} object?",
        "the object furthest from the {c} one is which shape?",
        "which shape does the thing farthest from the {c} thing have?",
    ),
    "same-shape": (
        "how many other objects have the same shape as the {c} object?",
        "how many other objects are the same shape as the {c} object?",
        "count the other objects shaped like the {c} object.",
        "what number of other things share the shape of the {c} thing?",
    ),
    "count": (
        "how many {p} are there?",
        "how many {p} are in the image?",
        "count the {p}.",
        "what number of {p} can be seen?",
    ),
    "exists": (
        "is there a {c} {s}?",
        "is there a {c} {s} in the image?",
        "does the image contain a {c} {s}?",
        "can a {c} {s} be seen?",
    ),
}
FAMILIES = tuple(PHRASINGS)
FAMILY_TYPE = {
    "shape": "non-relational",
    "horizontal": "non-relational",
    "vertical": "non-relational",
    "closest": "relational",
    "furthest": "relational",
    "same-shape": "relational",
    "count": "counting",
    "exists": "counting",
}
SPLIT_NAMES = ("train", "val", "test", "heldout")


def _mask(shape: str) -> np.ndarray:
    """The (OBJECT, OBJECT) boolean mask of a shape."""
    y, x = np.mgrid[0:OBJECT, 0:OBJECT]
    r = OBJECT // 2
    if shape == "square":
        return np.ones((OBJECT, OBJECT), dtype=bool)
    if shape == "circle":
        return (x - r) ** 2 + (y - r) ** 2 <= r * r + 1
    return np.abs(x - r) <= y / 2 + 0.5  # a triangle, apex at the top, base at the bottom row


MASKS = {shape: _mask(shape) for shape in SHAPES}


def _distances(objects: list[dict], anchor: int) -> list[tuple[int, int]]:
    """(squared centre distance, index) from object `anchor` to every other object."""
    ax, ay = objects[anchor]["center"]
    return [
        ((o["center"][0] - ax) ** 2 + (o["center"][1] - ay) ** 2, j)
        for j, o in enumerate(objects)
        if j != anchor
    ]


def _unambiguous(objects: list[dict]) -> bool:
    for anchor in range(len(objects)):
        d = sorted(dist for dist, _ in _distances(objects, anchor))
        if d[0] == d[1] or d[-1] == d[-2]:
            return False
    return True


def _by_colour(objects: list[dict], colour: str) -> int:
    return next(i for i, o in enumerate(objects) if o["colour"] == colour)


def answer_question(
    objects: list[dict], family: str, colour: str | None = None, shape: str | None = None
) -> str:
    """The answer of `family` about a scene's `objects` ({"colour", "shape", "center"}), from them alone."""
    if family == "count":
        return str(sum(o["shape"] == shape for o in objects))
    if family == "exists":
        return "yes" if any(o["colour"] == colour and o["shape"] == shape for o in objects) else "no"
    i = _by_colour(objects, colour)
    target = objects[i]
    if family == "shape":
        return target["shape"]
    if family == "horizontal":
        return "left" if target["center"][0] < SIZE / 2 else "right"
    if family == "vertical":
        return "top" if target["center"][1] < SIZE / 2 else "bottom"
    if family in ("closest", "furthest"):
        distances = sorted(_distances(objects, i))
        return objects[(distances[0] if family == "closest" else distances[-1])[1]]["shape"]
    if family == "same-shape":
        return str(sum(o["shape"] == target["shape"] for j, o in enumerate(objects) if j != i))
    raise ValueError(f"unknown question family {family!r}")


def _scene(rng: np.random.Generator) -> list[dict]:
    """Six objects, one per colour, boxes apart by at least one pixel, no distance ties."""
    while True:
        objects: list[dict] = []
        while len(objects) < len(COLOURS):
            x0, y0 = (int(v) for v in rng.integers(0, SIZE - OBJECT + 1, size=2))
            if all(abs(x0 - o["box"][0]) > OBJECT or abs(y0 - o["box"][1]) > OBJECT for o in objects):
                objects.append(
                    {
                        "box": [x0, y0, x0 + OBJECT, y0 + OBJECT],
                        "center": [x0 + OBJECT // 2, y0 + OBJECT // 2],
                    }
                )
        colours = list(COLOURS)
        for obj, colour in zip(objects, colours):
            obj["colour"] = colour
            obj["shape"] = SHAPES[int(rng.integers(len(SHAPES)))]
        if _unambiguous(objects):
            return objects


def draw(objects: list[dict]) -> np.ndarray:
    """The (3, SIZE, SIZE) uint8 image of `objects`."""
    image = np.zeros((3, SIZE, SIZE), dtype=np.uint8)
    for o in objects:
        x0, y0, x1, y1 = o["box"]
        rgb = np.array(COLOURS[o["colour"]], dtype=np.uint8)[:, None]
        image[:, y0:y1, x0:x1][:, MASKS[o["shape"]]] = rgb
    return image


def _questions(
    objects: list[dict], rng: np.random.Generator, image: str, split: str, phrasings: range
) -> list[dict]:
    rows = []
    for family in FAMILIES:
        colour = str(rng.choice(list(COLOURS)))
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        phrasing = int(rng.choice(phrasings))
        text = PHRASINGS[family][phrasing].format(c=colour, s=shape, p=PLURAL[shape])
        rows.append(
            {
                "image": image,
                "question": text,
                "answer": answer_question(objects, family, colour, shape),
                "family": family,
                "type": FAMILY_TYPE[family],
                "phrasing": phrasing,
                "split": split,
            }
        )
    return rows


def generate_shapes_vqa(counts: dict[str, int], seed: int) -> tuple[np.ndarray, list[dict], list[dict]]:
    """(images (N, 3, 64, 64) uint8, image entries, question rows) for `counts` images per split."""
    rng = np.random.default_rng(seed)
    images, entries, questions = [], [], []
    for split in SPLIT_NAMES:
        kept = range(3, 4) if split == "heldout" else range(0, 3)
        for k in range(counts.get(split, 0)):
            objects = _scene(rng)
            name = f"{split}-{k:06d}"
            images.append(draw(objects))
            entries.append({"filename": name, "split": split, "objects": objects})
            questions.extend(_questions(objects, rng, name, split, kept))
    return np.stack(images), entries, questions


def make_shapes_vqa(
    data_root: str | Path | None = None,
    *,
    seed: int = 0,
    train: int = 5_000,
    val: int = 500,
    test: int = 500,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """``rnnlab data make shapes-vqa`` into ``<data_root>/shapes-vqa`` (held-out: `test` images).

    Made again when the folder holds data of another seed or size (or with `force`).
    """
    folder = resolve_data_root(data_root) / "shapes-vqa"
    source = f"shapes-vqa generator, seed {seed}, {train}/{val}/{test}/{test}"
    if is_vqa_data(folder) and not force:
        if json.loads((folder / META_FILE).read_text(encoding="utf-8")).get("source") == source:
            return folder
    images, entries, questions = generate_shapes_vqa(
        {"train": train, "val": val, "test": test, "heldout": test}, seed
    )
    return write_vqa_data(folder, images, entries, questions, "shapes-vqa", source, families=FAMILY_TYPE)
