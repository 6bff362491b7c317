"""Captioning data: images with several sentences each, a vocabulary, and two datasets.

    vocab.py         tokenize_caption, CaptionVocab (ids 0 <NULL>, 1 <START>, 2 <END>, 3 <UNK>)
    store.py         CaptionData and its cache folder (images.npy, captions.json, meta.json)
    image_files.py   image files of any size and mode -> (C, S, S) uint8
    caption_json.py  a user's COCO / Karpathy captions JSON; ``--data`` of the caption task
    emoji.py         the ``emoji`` dataset (npm emoji-datasource-google)
    scenes.py        the ``scenes`` generator (Fashion-MNIST composites with boxes)

Data code never knows the model: it yields uint8 images, sentences and token ids. The names below are
re-exported so that ``from rnnlab.data.captions import ...`` keeps working.
"""

from __future__ import annotations

from rnnlab.data import registry as _registry
from rnnlab.data.captions.caption_json import (
    default_image_folder,
    prepare_caption_json,
    read_caption_json,
    resolve_caption_data,
)
from rnnlab.data.captions.emoji import (
    EMOJI_IMAGES,
    EMOJI_PACKAGE,
    EMOJI_TARBALL,
    SKIN_TONES,
    emoji_captions,
    emoji_from_tarball,
    fetch_emoji,
)
from rnnlab.data.captions.image_files import convert_image, images_from_arrays, load_image_file
from rnnlab.data.captions.scenes import (
    CANVAS,
    CELL,
    CLASS_WORDS,
    ITEM,
    RELATION_WORDS,
    generate_scenes,
    make_scenes,
    scene_caption,
)
from rnnlab.data.captions.store import (
    CAPTIONS_FORMAT,
    CAPTIONS_VERSION,
    META_FILE,
    SPLITS,
    CaptionData,
    is_caption_data,
    open_caption_data,
    write_caption_data,
)
from rnnlab.data.captions.vocab import (
    END,
    END_ID,
    NULL,
    NULL_ID,
    SPECIALS,
    START,
    START_ID,
    UNK,
    UNK_ID,
    CaptionVocab,
    tokenize_caption,
)

#: deprecated (the names live in `rnnlab.data.registry`): caption dataset name -> the command that gets it
NAMED = {name: _registry.get(name).command for name in _registry.names(task="caption")}

__all__ = [
    "CANVAS",
    "CAPTIONS_FORMAT",
    "CAPTIONS_VERSION",
    "CELL",
    "CLASS_WORDS",
    "CaptionData",
    "CaptionVocab",
    "EMOJI_IMAGES",
    "EMOJI_PACKAGE",
    "EMOJI_TARBALL",
    "END",
    "END_ID",
    "ITEM",
    "META_FILE",
    "NULL",
    "NULL_ID",
    "RELATION_WORDS",
    "SKIN_TONES",
    "SPECIALS",
    "SPLITS",
    "START",
    "START_ID",
    "UNK",
    "UNK_ID",
    "convert_image",
    "default_image_folder",
    "emoji_captions",
    "emoji_from_tarball",
    "fetch_emoji",
    "generate_scenes",
    "images_from_arrays",
    "is_caption_data",
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
