"""shapes-vqa: determinism, stored attributes against the pixels, answers recomputed by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlab.data import registry
from rnnlab.data.vqa import (
    ANSWERS,
    FAMILIES,
    PHRASINGS,
    answer_question,
    generate_shapes_vqa,
    make_shapes_vqa,
    open_vqa_data,
    read_vqa_json,
)
from rnnlab.data.vqa.shapes import COLOURS, draw
from rnnlab.errors import UserError

COUNTS = {"train": 6, "val": 2, "test": 2, "heldout": 2}


def test_registered_for_the_vqa_task():
    assert registry.names(task="vqa") == ["shapes-vqa"]
    assert registry.get("shapes-vqa").action == "make"


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = (generate_shapes_vqa(COUNTS, seed) for seed in (3, 3, 4))
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]
    assert not np.array_equal(a[0], c[0])


def test_objects_match_the_pixels_and_never_overlap():
    images, entries, _ = generate_shapes_vqa(COUNTS, 0)
    assert images.shape == (12, 3, 64, 64) and images.dtype == np.uint8
    for image, entry in zip(images, entries):
        objects = entry["objects"]
        assert sorted(o["colour"] for o in objects) == sorted(COLOURS)
        for i, o in enumerate(objects):
            x0, y0, x1, y1 = o["box"]
            rgb = np.array(COLOURS[o["colour"]])
            inside = (image[:, y0:y1, x0:x1] == rgb[:, None, None]).all(0)
            filled = inside.sum()
            assert filled == {"square": 121}.get(o["shape"], filled) and filled > 40
            assert (image == rgb[:, None, None]).all(0).sum() == filled  # no pixel of it outside its box
            for p in objects[i + 1 :]:
                assert x1 <= p["box"][0] or p["box"][2] <= x0 or y1 <= p["box"][1] or p["box"][3] <= y0


def test_hand_checked_scene():
    # red square at the top left, its nearest the green circle, its furthest the cyan triangle
    objects = [
        {"colour": "red", "shape": "square", "center": [5, 5]},
        {"colour": "green", "shape": "circle", "center": [20, 5]},
        {"colour": "blue", "shape": "square", "center": [5, 40]},
        {"colour": "yellow", "shape": "triangle", "center": [40, 40]},
        {"colour": "magenta", "shape": "circle", "center": [33, 10]},
        {"colour": "cyan", "shape": "triangle", "center": [58, 58]},
    ]
    ask = lambda family, colour=None, shape=None: answer_question(objects, family, colour, shape)
    assert ask("shape", "yellow") == "triangle"
    assert ask("horizontal", "magenta") == "right" and ask("horizontal", "blue") == "left"
    assert ask("vertical", "blue") == "bottom" and ask("vertical", "green") == "top"
    assert ask("closest", "red") == "circle" and ask("furthest", "red") == "triangle"
    assert ask("closest", "cyan") == "triangle"  # yellow at distance² 648
    assert ask("same-shape", "red") == "1" and ask("same-shape", "cyan") == "1"
    assert ask("count", shape="circle") == "2" and ask("count", shape="square") == "2"
    assert ask("exists", "yellow", "square") == "no" and ask("exists", "yellow", "triangle") == "yes"


def _independent(objects, q):
    """The answer recomputed from the stored attributes and the question's own words."""
    words = q["question"].rstrip("?.").split()
    colour = next((w for w in words if w in COLOURS), None)
    shape = next((w.rstrip("s") for w in words if w.rstrip("s") in ("square", "circle", "triangle")), None)
    by = {o["colour"]: o for o in objects}
    family = q["family"]
    if family == "count":
        return str(len([o for o in objects if o["shape"] == shape]))
    if family == "exists":
        return "yes" if by[colour]["shape"] == shape else "no"
    o = by[colour]
    if family == "shape":
        return o["shape"]
    if family == "horizontal":
        return "left" if o["center"][0] < 32 else "right"
    if family == "vertical":
        return "top" if o["center"][1] < 32 else "bottom"
    if family == "same-shape":
        return str(len([p for p in objects if p["shape"] == o["shape"]]) - 1)
    d = {
        p["colour"]: np.hypot(p["center"][0] - o["center"][0], p["center"][1] - o["center"][1])
        for p in objects
        if p is not o
    }
    pick = min(d, key=d.get) if family == "closest" else max(d, key=d.get)
    return by[pick]["shape"]


def test_every_stored_answer_recomputed_independently():
    _, entries, questions = generate_shapes_vqa(COUNTS, 1)
    objects = {e["filename"]: e["objects"] for e in entries}
    assert len(questions) == 12 * len(FAMILIES)
    for q in questions:
        assert q["answer"] in ANSWERS
        assert q["answer"] == _independent(objects[q["image"]], q), q


def test_heldout_phrasings_never_in_training():
    _, _, questions = generate_shapes_vqa({"train": 40, "heldout": 5}, 0)
    train = {q["question"] for q in questions if q["split"] == "train"}
    held = [q for q in questions if q["split"] == "heldout"]
    assert all(q["phrasing"] == len(PHRASINGS[q["family"]]) - 1 for q in held)
    assert all(q["phrasing"] < len(PHRASINGS[q["family"]]) - 1 for q in questions if q["split"] == "train")
    templates = {PHRASINGS[q["family"]][q["phrasing"]] for q in questions if q["split"] == "train"}
    assert not templates & {PHRASINGS[f][-1] for f in FAMILIES}
    assert not train & {q["question"] for q in held}


def test_make_writes_a_folder_read_back_without_pickle(tmp_path):
    folder = make_shapes_vqa(tmp_path, train=4, val=2, test=2, progress=False)
    data = open_vqa_data(folder)
    assert data.image_shape == (3, 64, 64) and len(data.entries) == 10
    assert {s: len(data.split(s)) for s in ("train", "val", "test", "heldout")} == {
        "train": 32,
        "val": 16,
        "test": 16,
        "heldout": 16,
    }
    assert len({q["image"] for q in data.split("train")} & {q["image"] for q in data.split("test")}) == 0
    assert make_shapes_vqa(tmp_path, train=4, val=2, test=2) == folder  # already there
    (folder / "questions.json").write_text("{}", encoding="utf-8")
    with pytest.raises(UserError, match="damaged"):
        open_vqa_data(folder)


def test_user_json_and_image_folder(tmp_path):
    from PIL import Image

    objects = [{"colour": "red", "shape": "circle", "box": [2, 2, 13, 13]}]
    for name in ("a.png", "b.png"):
        Image.fromarray(draw(objects).transpose(1, 2, 0)).save(tmp_path / name)
    rows = [
        {"image": "a.png", "question": "What shape is the red object?", "answer": "circle", "split": "train"},
        {"image": "b.png", "question": "Is it red?", "answer": "Yes", "split": "val"},
    ]
    (tmp_path / "qa.json").write_text(json.dumps(rows), encoding="utf-8")
    data = read_vqa_json(tmp_path / "qa.json")
    assert data.images.shape == (2, 3, 64, 64) and [q["answer"] for q in data.questions] == ["circle", "yes"]
    (tmp_path / "bad.json").write_text(json.dumps([{"image": "a.png", "question": " ", "answer": "x"}]))
    with pytest.raises(UserError, match="empty question"):
        read_vqa_json(tmp_path / "bad.json")
