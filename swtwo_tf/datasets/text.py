"""IMDB reviews: the registry entry and tf.data pipelines of raw reviews (chapter 05).

Pipelines yield raw strings: turning text into numbers is the model's job (each chapter 05
model holds a ``TextVectorization`` layer, see :mod:`swtwo_tf.features.text`), so a saved
model classifies text directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from swtwo_tf.datasets import core, registry, samples


@dataclass
class TextData:
    """Train/validation/test pipelines of ``(review string, 0/1 label)`` batches."""

    train: object  # tf.data.Dataset, shuffled every epoch
    validation: object
    test: object
    train_texts: np.ndarray  # the training reviews as bytes, to adapt vocabularies on
    train_labels: np.ndarray  # their 0/1 labels, in the same order (naive-Bayes weights)
    unlabelled_texts: np.ndarray  # the 50,000 unlabelled reviews (word vectors learn from them)
    class_names: list[str] = field(
        default_factory=lambda: list(registry.get_spec("imdb_reviews").class_names))
    sizes: dict[str, int] = field(default_factory=dict)
    source: str = "tfds"


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
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    x, y = core.arrays("imdb_reviews", "train", data_dir)
    x_test, y_test = core.arrays("imdb_reviews", "test", data_dir)
    source = core.source("imdb_reviews", data_dir)
    unlabelled = (core.arrays("imdb_reviews", "unsupervised", data_dir)[0]
                  if source == "tfds" else np.array([], dtype=object))
    val_idx, train_idx = core.split_off_validation(len(x), validation_fraction, seed)
    n_val = len(val_idx)

    def pipeline(texts, labels, shuffle):
        return core.batched(texts, labels, batch_size, shuffle=shuffle, seed=seed)

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


def _pipelines(*, split: str, batch_size: int, seed: int, **options) -> TextData:
    """The registry's pipeline builder: one split (``documented``), see :func:`text_datasets`."""
    return text_datasets(batch_size=batch_size, seed=seed, **options)


registry.register(registry.DatasetSpec(
    "imdb_reviews", "IMDB movie reviews (binary sentiment)", "text",
    class_names=("negative", "positive"), pipelines=_pipelines, default_model="nb_ngrams",
    tfds=registry.TfdsSource("imdb_reviews/plain_text", "1.0.0", "ai.stanford.edu"),
    features={"label": ((), "int64"), "text": ((), "string")},
    supervised_keys=("text", "label"), splits=("train", "test", "unsupervised"),
    sizes={"train": 25_000, "test": 25_000, "unsupervised": 50_000},
    # quick mode: enough reviews to learn from, fewer to score and to learn word vectors from
    quick_examples={"train": 5_000, "test": 2_000, "unsupervised": 2_500},
    sample=samples.TextLines("imdb_reviews.jsonl"), licence="research use (Maas et al. 2011)",
    floors={"bag_of_ngrams": (0.88, 0.75, 0.6), "rnn_classifier": (0.88, 0.65, 0.55),
            "transformer_classifier": (0.88, 0.65, 0.55), "nb_ngrams": (0.905, 0.85, 0.6),
            "ensemble": (0.88, 0.7, 0.55),
            # chapter 06: the bag of n-grams after TFLite conversion
            "bag_of_ngrams_tflite": (0.87, 0.7, 0.5)}))
