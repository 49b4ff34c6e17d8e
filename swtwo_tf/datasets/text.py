"""tf.data pipelines of raw IMDB reviews, the text standardisation, and a vectoriser factory.

Used by chapter 05 (text classification), ``benchmarks/text.py`` and ``swtwo predict --text``.
Pipelines yield raw strings: turning text into numbers is the model's job
(:mod:`swtwo_tf.models.text` puts a ``TextVectorization`` layer inside each model), so a
saved model classifies text directly.
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass, field

import numpy as np

from swtwo_tf.datasets import core

CLASS_NAMES = ["negative", "positive"]
#: Punctuation removed by :func:`standardize` (the apostrophe stays: "don't" is one word).
PUNCTUATION = string.punctuation.replace("'", "")


class TextInputError(ValueError):
    """Text the models cannot classify: empty, blank, or not a string."""


@dataclass
class TextData:
    """Train/validation/test pipelines of ``(review string, 0/1 label)`` batches."""

    train: object  # tf.data.Dataset, shuffled every epoch
    validation: object
    test: object
    train_texts: np.ndarray  # the training reviews as bytes, to adapt vocabularies on
    train_labels: np.ndarray  # their 0/1 labels, in the same order (naive-Bayes weights)
    unlabelled_texts: np.ndarray  # the 50,000 unlabelled reviews (word vectors learn from them)
    class_names: list[str] = field(default_factory=lambda: list(CLASS_NAMES))
    sizes: dict[str, int] = field(default_factory=dict)
    source: str = "tfds"


def _arrays(split: str, data_dir) -> tuple[np.ndarray, np.ndarray]:
    ds = core.load("imdb_reviews", split, data_dir=data_dir, as_supervised=True)
    texts, labels = [], []
    for x, y in ds.batch(5_000).as_numpy_iterator():
        texts.append(x)
        labels.append(y)
    return np.concatenate(texts), np.concatenate(labels)


def text_datasets(
    *,
    batch_size: int = 64,
    validation_fraction: float = 0.1,
    seed: int = 42,
    data_dir: str | os.PathLike | None = None,
) -> TextData:
    """Batched pipelines of raw IMDB reviews and labels (0 negative, 1 positive).

    The validation set is carved from the 25,000 training reviews with a fixed ``seed`` and
    never overlaps the 25,000 test reviews; training batches are reshuffled every epoch with
    the same seed. ``train_texts`` holds the training reviews only (``train_labels`` their
    labels): adapt vocabularies on it, never on validation or test text. ``unlabelled_texts``
    holds IMDB's 50,000 unlabelled reviews (the ``unsupervised`` split, other films than the
    test reviews'; empty for the offline sample), from which word vectors can be learned.
    """
    import tensorflow as tf

    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    x, y = _arrays("train", data_dir)
    x_test, y_test = _arrays("test", data_dir)
    source = core.source("imdb_reviews", data_dir)
    unlabelled = (_arrays("unsupervised", data_dir)[0] if source == "tfds"
                  else np.array([], dtype=object))
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, round(len(x) * validation_fraction))
    val_idx, train_idx = order[:n_val], order[n_val:]

    def pipeline(texts, labels, shuffle):
        ds = tf.data.Dataset.from_tensor_slices((texts, labels)).cache()
        if shuffle:
            ds = ds.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    return TextData(
        train=pipeline(x[train_idx], y[train_idx], shuffle=True),
        validation=pipeline(x[val_idx], y[val_idx], shuffle=False),
        test=pipeline(x_test, y_test, shuffle=False),
        train_texts=x[train_idx],
        train_labels=y[train_idx],
        unlabelled_texts=unlabelled,
        sizes={"train": len(train_idx), "validation": n_val, "test": len(x_test),
               "unlabelled": len(unlabelled)},
        source=source,
    )


def _register(fn):
    import keras

    return keras.saving.register_keras_serializable(package="swtwo")(fn)


@_register
def standardize(text):
    """Lower-case, drop the reviews' HTML line breaks (``<br />``) and punctuation.

    Unicode separators and control characters (some reviews hold U+0085 "next line") become
    spaces too: inside a token they would break the vocabulary file a saved model keeps.
    A ``tf.Tensor`` of strings in, the same shape out. Registered with Keras, so a saved model
    that uses it as its ``TextVectorization`` standardisation loads again by name.
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
