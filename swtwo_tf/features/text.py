"""Word vectors learned from unlabelled reviews, to start a text model's embedding (chapter 05).

A labelled review teaches a network what its words say about sentiment; 50,000 unlabelled
IMDB reviews can still teach which words are used alike ("superb" near "excellent", "dull"
near "boring"). :func:`word_vectors` learns that with word2vec (skip-gram, gensim), reading
the reviews through the same :func:`~swtwo_tf.datasets.text.standardize` as the models, and
:func:`embedding_matrix` lays the vectors out in a model vocabulary's order, so an
``Embedding`` layer starts from them instead of from random numbers
(``rnn_classifier`` and ``transformer_classifier`` in :mod:`swtwo_tf.models.text`).
"""

from __future__ import annotations

import time
import zlib

import numpy as np


def tokens(texts, *, batch_size: int = 5_000) -> list[list[str]]:
    """Each text standardised like the models' vectorisers, then split into words."""
    import tensorflow as tf

    from swtwo_tf.datasets.text import standardize

    words = []
    for start in range(0, len(texts), batch_size):
        batch = tf.constant(list(texts[start:start + batch_size]))
        words += [line.decode().split() for line in standardize(batch).numpy()]
    return words


def _stable_hash(word: str) -> int:
    # gensim seeds each word's starting vector from a hash of the word; Python's own hash()
    # changes from one process to the next, which would make the vectors unrepeatable.
    return zlib.crc32(word.encode())


def word_vectors(texts, *, dim: int = 64, window: int = 5, min_count: int = 3,
                 epochs: int = 5, workers: int = 2, seed: int = 42, verbose: bool = True):
    """Skip-gram word2vec vectors of every word seen ``min_count`` times in ``texts``.

    ``texts``: review strings (str or bytes), such as ``TextData.train_texts`` together with
    ``TextData.unlabelled_texts``; never test reviews. Returns gensim ``KeyedVectors``
    (``vectors["great"]`` is a ``dim``-vector, ``vectors.most_similar("great")`` its
    neighbours). With ``workers=1`` two runs with the same ``seed`` give identical vectors;
    more threads are faster but interleave their updates differently each run. Takes about
    2 minutes for 72,500 reviews on 2 CPU cores.
    """
    from gensim.models import Word2Vec

    if len(texts) == 0:
        raise ValueError("texts is empty: word2vec needs reviews to learn word vectors from")
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive int, got {dim!r}")
    start = time.perf_counter()
    sentences = tokens(texts)
    n_words = sum(len(s) for s in sentences)
    if verbose:
        print(f"word2vec: {len(sentences):,} reviews, {n_words:,} words, {epochs} epochs ...",
              flush=True)
    model = Word2Vec(vector_size=dim, window=window, min_count=min_count, sg=1, epochs=epochs,
                     workers=workers, seed=seed, hashfxn=_stable_hash)
    model.build_vocab(sentences)
    if len(model.wv) == 0:
        raise ValueError(f"no word occurs {min_count} times in the {len(texts)} texts: "
                         f"nothing to learn vectors for (lower min_count or pass more text)")
    model.train(sentences, total_examples=model.corpus_count, epochs=epochs)
    if verbose:
        print(f"word2vec: {len(model.wv):,} word vectors of {dim} numbers in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    return model.wv


def embedding_matrix(vocabulary: list[str], vectors, initial: np.ndarray) -> tuple[np.ndarray, int]:
    """``initial`` with row ``i`` replaced by the vector of ``vocabulary[i]`` where one exists.

    ``vocabulary`` is a ``TextVectorization`` vocabulary (row 0 padding and row 1 ``[UNK]``
    keep their starting values); ``vectors`` maps words to vectors (gensim ``KeyedVectors``
    or a dict). The vectors keep their own size, about 8 times a Keras embedding's random
    start: scaled down to the random start's spread, the RNN learned faster in its first 40
    steps but ended 2 points lower (87.36 % against 89.46 % in ``benchmarks/text.py``), since
    training then overwrites them sooner. Returns the matrix and how many words got a vector.
    """
    matrix = np.array(initial, dtype="float32", copy=True)
    if matrix.ndim != 2 or matrix.shape[0] < len(vocabulary):
        raise ValueError(f"the embedding has {matrix.shape[0]} rows for a vocabulary of "
                         f"{len(vocabulary)} words")
    found = 0
    for i, word in enumerate(vocabulary):
        if word in vectors:
            vector = np.asarray(vectors[word], dtype="float32")
            if vector.shape != matrix.shape[1:]:
                raise ValueError(f"word vectors have {vector.shape[-1]} numbers but the "
                                 f"embedding has {matrix.shape[1]}: build the model with "
                                 f"that dimension")
            matrix[i] = vector
            found += 1
    return matrix, found
