"""Visual question answering data: images, questions and one fixed answer vocabulary.

    shapes.py   the ``shapes-vqa`` generator (6 coloured shapes on 64×64 RGB, 8 question families)
    store.py    VQAData and its cache folder (images.npy, questions.json, meta.json); a user's JSON

Data code never knows the model: it yields uint8 images, question strings, answers and families.
"""

from __future__ import annotations

from rnnlab.data.vqa.shapes import (
    ANSWERS,
    COLOURS,
    FAMILIES,
    FAMILY_TYPE,
    PHRASINGS,
    SHAPES,
    answer_question,
    generate_shapes_vqa,
    make_shapes_vqa,
)
from rnnlab.data.vqa.store import (
    VQA_FORMAT,
    VQA_SPLITS,
    VQAData,
    is_vqa_data,
    open_vqa_data,
    read_vqa_json,
    resolve_vqa_data,
    tokenize_question,
    write_vqa_data,
)

__all__ = [
    "ANSWERS",
    "COLOURS",
    "FAMILIES",
    "FAMILY_TYPE",
    "PHRASINGS",
    "SHAPES",
    "VQAData",
    "VQA_FORMAT",
    "VQA_SPLITS",
    "answer_question",
    "generate_shapes_vqa",
    "is_vqa_data",
    "make_shapes_vqa",
    "open_vqa_data",
    "read_vqa_json",
    "resolve_vqa_data",
    "tokenize_question",
    "write_vqa_data",
]
