"""Text into numbers for the chapter 05 models: standardisation, vectorisers, word vectors.

- :func:`standardize` and :func:`vectorizer`: the ``TextVectorization`` every text model
  keeps inside itself, so a saved model takes raw strings (:mod:`swtwo_tf.models.text`);
  :func:`check_sentences` checks text a user gives to classify.
- Word vectors learned from unlabelled reviews, to start a text model's embedding. A
  labelled review teaches a network what its words say about sentiment; unlabelled reviews
  can still teach which words are used alike ("superb" near "excellent", "dull" near
  "boring"). :func:`word_vectors` learns that with word2vec (skip-gram, gensim), reading the
  reviews through the same :func:`standardize` as the models, and :func:`embedding_matrix`
  lays the vectors out in a model vocabulary's order, so an ``Embedding`` layer starts from
  them instead of from random numbers (``rnn_classifier`` and ``transformer_classifier``).
"""

from __future__ import annotations

import re
import string
import time
import zlib

import numpy as np

#: Punctuation removed by :func:`standardize` (the apostrophe stays: "don't" is one word).
PUNCTUATION = string.punctuation.replace("'", "")


class TextInputError(ValueError):
    """Text the models cannot classify: empty, blank, or not a string."""


def _register(fn):
    import keras

    return keras.saving.register_keras_serializable(package="swtwo")(fn)


@_register
def standardize(text):
    """Lower-case, drop the reviews' HTML line breaks (``<br />``) and punctuation.

    Unicode separators and control characters (some reviews hold U+0085 "next line") become
    spaces too: inside a token they would break the vocabulary file a saved model keeps.
    A ``tf.Tensor`` of strings in, the same shape out. Registered with Keras as
    ``swtwo>standardize``, so a saved model that uses it as its ``TextVectorization``
    standardisation loads again by name.
    """
    import tensorflow as tf

    text = tf.strings.lower(text)
    text = tf.strings.regex_replace(text, r"<br\s*/?>|[\p{Z}\p{C}]", " ")
    return tf.strings.regex_replace(text, f"[{re.escape(PUNCTUATION)}]", " ")


def vectorizer(
    train_texts,
    *,
    max_tokens: int = 20_000,
    output_mode: str = "int",
    ngrams: int | None = None,
    sequence_length: int | None = None,
    sparse: bool = False,
    name: str | None = None,
):
    """A ``keras.layers.TextVectorization`` using :func:`standardize`, adapted on ``train_texts``.

    ``output_mode="int"`` gives token ids (padded/cut to ``sequence_length``) for the RNN and
    the Transformer; ``"tf_idf"`` with ``ngrams=2`` gives the bag-of-n-grams vector, and
    ``"multi_hot"`` with ``sparse=True`` a ``tf.SparseTensor`` of which n-grams occur, cheap
    even for a vocabulary of hundreds of thousands (``nb_ngrams``). Pass the
    training texts only (``TextData.train_texts``): a vocabulary that has seen test reviews
    leaks information about them.
    """
    import keras
    import tensorflow as tf

    if len(train_texts) == 0:
        raise ValueError("train_texts is empty: the vocabulary needs training text to adapt on")
    layer = keras.layers.TextVectorization(
        max_tokens=max_tokens, standardize=standardize, output_mode=output_mode, ngrams=ngrams,
        output_sequence_length=sequence_length, sparse=sparse, name=name)
    layer.adapt(tf.data.Dataset.from_tensor_slices(train_texts).batch(1_000))
    return layer


def check_sentences(sentences) -> list[str]:
    """Validate text to classify: a string or a list of non-blank strings (chapter 05, CLI).

    Returns the list; raises :class:`TextInputError` saying which entry is wrong.
    """
    if isinstance(sentences, str):
        sentences = [sentences]
    if not isinstance(sentences, list | tuple) or not sentences:
        raise TextInputError(
            f"expected a string or a non-empty list of strings, got {type(sentences).__name__}")
    for i, text in enumerate(sentences):
        if not isinstance(text, str):
            raise TextInputError(f"text #{i} is a {type(text).__name__}, expected a string")
        if not text.strip():
            raise TextInputError(f"text #{i} is empty: there is nothing to classify")
    return list(sentences)


def tokens(texts, *, batch_size: int = 5_000) -> list[list[str]]:
    """Each text standardised like the models' vectorisers, then split into words."""
    import tensorflow as tf

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
    more threads are faster but interleave their updates differently each run.
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
    or a dict). The vectors keep their own size, larger than a Keras embedding's random start:
    scaled down to the random start's spread, training would overwrite what they know
    sooner. Returns the matrix and how many words got a vector.
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
