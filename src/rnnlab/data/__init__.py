"""Data, by modality; data code never knows the model (it does not import rnnlab.models or rnnlab.train).

    text/       vocabularies, prepared corpora, TBPTT streams, sequence-task readers, text datasets
    images/     IDX files, Fashion-MNIST, image sets and their cache, augmentation
    captions/   caption JSON, the caption cache, emoji, scenes
    registry.py every dataset name: fetched or made, by which function; fetch(), make(), names()
    paths.py    the data root and the folders under it
    download.py one package file from a registry (pip, npm) into <data_root>/downloads
    publish.py  caches written beside their target, fsynced and renamed into place

Deprecated modules that only re-export the new places, kept for old imports: corpus, vocab, streams
(-> text/), text_tasks (-> text/readers, text/dates, text/pattern3, text/bible, text/vocab, registry),
fetch (-> registry, text/shakespeare).
"""
