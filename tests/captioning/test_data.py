"""Caption data: the JSON formats, image conversion, bad input, the vocabulary, scenes and emoji."""

import json

import numpy as np
import pytest

from rnnlab.data.captions import (
    CLASS_WORDS,
    EMOJI_TARBALL,
    CaptionVocab,
    convert_image,
    emoji_captions,
    fetch_emoji,
    generate_scenes,
    make_scenes,
    open_caption_data,
    read_caption_json,
    resolve_caption_data,
    scene_caption,
    tokenize_caption,
)
from rnnlab.errors import UserError


def test_tokenize_and_vocabulary():
    assert tokenize_caption("Flag: Guinea-Bissau") == ["flag", "guinea-bissau"]
    assert tokenize_caption("man_with_bunny ears, PARTYING!") == ["man", "with", "bunny", "ears", "partying"]
    vocab = CaptionVocab.build([["a", "cat"], ["a", "dog"], ["a", "cat"]], min_count=2)
    assert vocab.tokens == ["<NULL>", "<START>", "<END>", "<UNK>", "a", "cat"]
    assert vocab.encode(["a", "dog"]) == [4, 3]
    assert vocab.decode([1, 4, 5, 2, 4]) == "a cat"  # stops at <END>, skips <START>
    assert CaptionVocab.from_dict(vocab.to_dict()).tokens == vocab.tokens


@pytest.mark.parametrize("fmt", ["karpathy", "coco"])
def test_json_formats_and_cache(tmp_path, fmt, helpers):
    path = helpers.square_dataset(tmp_path / fmt, count=12, fmt=fmt)
    entries = read_caption_json(path)
    assert len(entries) == 12 and entries[0]["sentences"] == ["a red square on the left", "red left"]
    data = resolve_caption_data(str(path), image_size=8, progress=False)
    assert data.images.shape == (12, 3, 8, 8) and data.images.dtype == np.uint8
    again = resolve_caption_data(str(path), image_size=8, progress=False)
    assert again.folder == data.folder  # converted once
    assert resolve_caption_data(str(data.folder)).images.shape == (12, 3, 8, 8)  # the cached folder
    assert resolve_caption_data(str(path), image_size=9, progress=False).folder != data.folder


def test_karpathy_details(tmp_path):
    (tmp_path / "images" / "val2014").mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (10, 6), (0, 0, 0)).save(tmp_path / "images" / "val2014" / "x.jpg")
    document = {
        "images": [
            {
                "filepath": "val2014",
                "filename": "x.jpg",
                "split": "restval",
                "sentences": [{"tokens": ["a", "dark", "photo"], "raw": "A dark photo."}],
            }
        ]
    }
    (tmp_path / "c.json").write_text(json.dumps(document))
    (entry,) = read_caption_json(tmp_path / "c.json")
    assert entry == {"filename": "val2014/x.jpg", "split": "train", "sentences": ["A dark photo."]}


def test_image_conversion_modes():
    from PIL import Image

    transparent = Image.new("RGBA", (8, 4), (255, 0, 0, 0))  # fully transparent red: white after compositing
    assert (convert_image(transparent, 4) == 255).all()
    grey = Image.new("L", (6, 12), 100)
    out = convert_image(grey, 3, channels=3)
    assert out.shape == (3, 3, 3) and (out == 100).all()  # grey -> RGB, centre square, resized
    palette = Image.new("P", (5, 5), 0)
    assert convert_image(palette, 5, channels=1).shape == (1, 5, 5)
    wide = np.zeros((4, 8, 3), np.uint8)
    wide[:, 2:6] = 200  # the centre square is all bright
    assert (convert_image(Image.fromarray(wide), 4) == 200).all()


def write_json(tmp_path, document, name="c.json"):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


@pytest.mark.parametrize(
    "document, needle",
    [
        ("{not json", "is not valid JSON"),
        ({"pictures": []}, 'no "images" list'),
        ({"images": [{"split": "train", "sentences": ["a b"]}]}, "image 0 has no file name"),
        ({"images": [{"filename": "a.png", "split": "train"}]}, 'image 0 (a.png) has no "sentences"'),
        ({"images": [{"filename": "a.png", "sentences": []}]}, "image 0 (a.png) has no captions"),
        ({"images": [{"filename": "a.png", "sentences": ["..."]}]}, "has no captions"),
        ({"images": [{"filename": "a.png", "split": "dev", "sentences": ["x"]}]}, "has split 'dev'"),
        ({"images": [{"filename": "a.png", "sentences": [3]}]}, "neither text"),
        (
            {"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"caption": "x"}]},
            "annotation 0 needs",
        ),
        ({"images": []}, "lists no images"),
    ],
)
def test_bad_captions_json(tmp_path, document, needle):
    with pytest.raises(UserError) as error:
        read_caption_json(write_json(tmp_path, document))
    assert needle in str(error.value) and "c.json" in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_and_unreadable_images(tmp_path, helpers):
    path = helpers.square_dataset(tmp_path / "d", count=6)
    (tmp_path / "d" / "images" / "sq3.png").unlink()
    with pytest.raises(UserError, match=r"lists the image 'sq3.png', absent from"):
        resolve_caption_data(str(path), progress=False)
    (tmp_path / "d" / "images" / "sq3.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(UserError, match=r"sq3.png is not a readable image"):
        resolve_caption_data(str(path), progress=False)
    with pytest.raises(UserError, match="no file, folder or caption dataset named"):
        resolve_caption_data(str(tmp_path / "nothing.json"))
    with pytest.raises(UserError, match="rnnlab data make scenes"):
        resolve_caption_data("scenes")


def test_damaged_cache_is_one_line(tmp_path, helpers):
    path = helpers.square_dataset(tmp_path / "d", count=6)
    data = resolve_caption_data(str(path), image_size=8, progress=False)
    np.save(data.folder / "images.npy", np.zeros((2, 3, 8, 8), np.uint8))
    with pytest.raises(UserError, match="is damaged"):
        open_caption_data(data.folder)


def test_scene_caption_grammar():
    sneaker, bag, top, coat = 7, 8, 0, 4
    assert scene_caption([(sneaker, 2)]) == "a sneaker"
    # the lower class number is named first; cells are 0 1 / 2 3
    assert scene_caption([(bag, 0), (sneaker, 1)]) == "a sneaker to the right of a bag"
    assert scene_caption([(sneaker, 0), (bag, 1)]) == "a sneaker to the left of a bag"
    assert scene_caption([(coat, 3), (top, 1)]) == "a top above a coat"
    # three: the row pair, then the third relative to the pair's item in its column
    assert (
        scene_caption([(bag, 0), (top, 1), (coat, 2)])
        == "a top to the right of a bag and a coat below the bag"
    )
    assert (
        scene_caption([(bag, 0), (top, 2), (coat, 3)])
        == "a top to the left of a coat and a bag above the top"
    )


def test_generated_scenes_paste_items_in_their_boxes():
    items = np.zeros((20, 1, 28, 28), np.uint8)
    labels = np.arange(20) % 10
    for i in range(20):
        items[i, 0, 1:27, 1:27] = 10 + i
    images, entries = generate_scenes(items, labels, 30, np.random.default_rng(0), "train", "train")
    assert images.shape == (30, 1, 64, 64)
    counts = set()
    for image, entry in zip(images, entries):
        counts.add(len(entry["items"]))
        classes = [item["label"] for item in entry["items"]]
        assert len(set(classes)) == len(classes)
        for item in entry["items"]:
            x0, y0, x1, y1 = item["box"]
            assert (x1 - x0, y1 - y0) == (28, 28)
            assert (image[0, y0:y1, x0:x1] == items[item["index"], 0]).all()
            assert CLASS_WORDS[item["label"]] in entry["sentences"][0]
        assert image.sum() == sum(int(items[item["index"]].sum()) for item in entry["items"])  # no overlap
    assert counts == {1, 2, 3}


def test_make_scenes_from_fashion_mnist(data_root, helpers):
    helpers.fashion_mnist(data_root)
    folder = make_scenes(data_root, train=30, val=6, test=6, progress=False)
    data = open_caption_data(folder)
    assert [len(data.split_indices(s)) for s in ("train", "val", "test")] == [30, 6, 6]
    test_items = [item for i in data.split_indices("test") for item in data.entries[i]["items"]]
    assert all(item["source"] == "test" and item["index"] >= 30 for item in test_items)  # second half
    assert make_scenes(data_root, train=30, val=6, test=6) == folder  # cached
    make_scenes(data_root, train=20, val=6, test=6, progress=False)  # another size: made again
    assert len(open_caption_data(folder).split_indices("train")) == 20


def test_emoji_captions_and_fetch_from_a_local_tarball(data_root, helpers):
    assert emoji_captions("WAVING HAND SIGN", ["wave"], "1F3FD") == [
        "waving hand sign medium skin tone",
        "wave medium skin tone",
    ]
    assert emoji_captions("GHOST", ["ghost"]) == ["ghost"]
    helpers.emoji_tarball(data_root / "downloads")
    folder = fetch_emoji(data_root, progress=False)
    data = open_caption_data(folder)
    assert data.images.shape == (3, 3, 64, 64)
    assert [e["sentences"][0] for e in data.entries] == [
        "waving hand sign",
        "waving hand sign medium skin tone",
        "vatican city flag",
    ]
    assert (data.images[2] == 255).all()  # transparent: composited on white
    assert {e["split"] for e in data.entries} <= {"train", "val", "test"}
    assert fetch_emoji(data_root) == folder


def test_emoji_bad_tarball(data_root):
    (data_root / "downloads").mkdir(parents=True)
    (data_root / "downloads" / EMOJI_TARBALL).write_bytes(b"garbage")
    with pytest.raises(UserError, match="not a readable npm tarball"):
        fetch_emoji(data_root)
