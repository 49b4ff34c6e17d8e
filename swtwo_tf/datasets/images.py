"""MNIST and Fashion-MNIST: their registry entries and tf.data pipelines (chapters 01-02)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from swtwo_tf.datasets import core, registry, samples

IMAGE_SHAPE = (28, 28, 1)


@dataclass
class ImageData:
    """Train/validation/test pipelines of one image dataset (see :func:`image_datasets`)."""

    name: str
    train: object  # tf.data.Dataset of (float32 image in [0, 1], int64 label), shuffled
    validation: object
    test: object
    class_names: list[str]
    sizes: dict[str, int] = field(default_factory=dict)
    source: str = "tfds"
    #: Makes a new training pipeline that starts again from the seed's first shuffle, so
    #: several models can see exactly the same batches (``training.compare_variants``).
    fresh_train: Callable | None = None


def scale(images, labels):
    """uint8 pixels to float32 in [0, 1] (the only preprocessing the models expect)."""
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 255.0, labels


def image_datasets(
    name: str,
    *,
    batch_size: int = 64,
    validation_fraction: float = 0.1,
    seed: int = 42,
    train_size: int | None = None,
    data_dir: str | os.PathLike | None = None,
) -> ImageData:
    """Batched, cached, prefetched pipelines for ``mnist`` or ``fashion_mnist``.

    The validation set is carved from the training split with a fixed ``seed`` (a random
    permutation, so every class is represented), and never overlaps the test set. Training
    batches are reshuffled every epoch with the same seed, so a run is reproducible.

    ``train_size`` keeps at most that many training images (a fixed random subset; the
    validation and test sets stay whole). Chapter 02 trains on 10,000 images so that
    overfitting shows, and so that its comparison of techniques runs in minutes.
    """
    images = registry.names("image")
    if name not in images:
        raise ValueError(f"image_datasets() takes one of {', '.join(images)}, got {name!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if train_size is not None and (not isinstance(train_size, int) or train_size < 1):
        raise ValueError(f"train_size must be a positive int or None, got {train_size!r}")
    x, y = core.arrays(name, "train", data_dir)
    x_test, y_test = core.arrays(name, "test", data_dir)
    val_idx, train_idx = core.split_off_validation(len(x), validation_fraction, seed)
    train_idx, n_val = train_idx[:train_size], len(val_idx)

    def pipeline(images, labels, shuffle):
        return core.batched(images, labels, batch_size, shuffle=shuffle, seed=seed,
                            preprocess=scale)

    def fresh_train():
        return pipeline(x[train_idx], y[train_idx], shuffle=True)

    return ImageData(
        name=name,
        train=fresh_train(),
        validation=pipeline(x[val_idx], y[val_idx], shuffle=False),
        test=pipeline(x_test, y_test, shuffle=False),
        class_names=list(registry.get_spec(name).class_names),
        sizes={"train": len(train_idx), "validation": n_val, "test": len(x_test)},
        source=core.source(name, data_dir),
        fresh_train=fresh_train,
    )


def _pipelines(name: str, *, split: str, batch_size: int, seed: int, **options) -> ImageData:
    """The registry's pipeline builder: one split (``documented``), see :func:`image_datasets`."""
    return image_datasets(name, batch_size=batch_size, seed=seed, **options)


def _register(name: str, title: str, class_names: tuple[str, ...], *, quick_examples,
              licence: str, floors: dict) -> None:
    """Both datasets: TFDS 3.0.1 builds of 28x28 grey images, 60,000 to train, 10,000 to test."""
    registry.register(registry.DatasetSpec(
        name, title, "image", class_names=class_names,
        pipelines=functools.partial(_pipelines, name), default_model="convnet",
        tfds=registry.TfdsSource(name, "3.0.1", "storage.googleapis.com"),
        features={"image": ((28, 28, 1), "uint8"), "label": ((), "int64")},
        supervised_keys=("image", "label"), splits=("train", "test"),
        sizes={"train": 60_000, "test": 10_000}, quick_examples=quick_examples,
        sample=samples.ImageArrays(f"{name}.npz"), licence=licence, floors=floors))


_register("mnist", "MNIST handwritten digits (28x28 grey, 10 classes)",
          tuple(str(d) for d in range(10)), quick_examples={"train": 20_000, "test": 5_000},
          licence="CC BY-SA 3.0",
          floors={"convnet": (0.99, 0.95, 0.5), "seed_cnn": (0.98, 0.94, 0.5),
                  "dense_baseline": (0.965, 0.88, 0.4),
                  # chapter 06: a briefly trained CNN after int8 conversion
                  "convnet_int8": (0.985, 0.85, 0.3),
                  # chapter 11: the recipe on worker processes (quick mode: 40 steps)
                  "convnet_workers": (0.99, 0.85, 0.3)})
_register("fashion_mnist", "Fashion-MNIST clothing images (28x28 grey, 10 classes)",
          ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot"), quick_examples=5_000, licence="MIT",
          floors={"convnet": (0.92, 0.75, 0.4),
                  # chapter 02: each remedy trained on 10,000 images
                  "variant": (0.82, 0.65, 0.3)})


def poisson_batches(images, labels, *, sample_rate: float, steps: int, seed: int = 42):
    """Batches for DP-SGD (chapter 09): each of ``steps`` batches holds every example
    independently with probability ``sample_rate`` (Poisson sampling, the sampling the
    privacy accountant assumes), so batch sizes vary around ``sample_rate * len(images)``.

    ``images`` are uint8 (N, 28, 28, 1), scaled to [0, 1] here. Deterministic under
    ``seed``, and different in every pass over the dataset (every epoch of ``fit``).
    """
    import numpy as np
    import tensorflow as tf

    if not 0 < sample_rate <= 1:
        raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate!r}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    x = tf.constant(np.asarray(images))
    y = tf.constant(np.asarray(labels))

    def batch(draw):
        chosen = tf.random.stateless_uniform([len(images)], [draw, seed]) < sample_rate
        return scale(tf.boolean_mask(x, chosen), tf.boolean_mask(y, chosen))

    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(steps)
    return draws.map(batch).prefetch(core.PREFETCH_BATCHES)
