"""tf.data pipelines for MNIST and Fashion-MNIST, and a loader for your own image files.

Used by chapters 01 (MNIST) and 02 (Fashion-MNIST) and by ``swtwo predict``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from swtwo_tf.datasets import core

IMAGE_SHAPE = (28, 28, 1)
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
}


class ImageFileError(ValueError):
    """An image file that cannot be used: missing, corrupt, or not a PNG/JPEG picture."""


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


def _arrays(name: str, split: str, data_dir) -> tuple[np.ndarray, np.ndarray]:
    ds = core.load(name, split, data_dir=data_dir, as_supervised=True)
    images, labels = [], []
    for x, y in ds.batch(10_000).as_numpy_iterator():
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


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
    import tensorflow as tf

    if name not in CLASS_NAMES:
        raise ValueError(f"image_datasets() takes 'mnist' or 'fashion_mnist', got {name!r}")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if train_size is not None and (not isinstance(train_size, int) or train_size < 1):
        raise ValueError(f"train_size must be a positive int or None, got {train_size!r}")
    x, y = _arrays(name, "train", data_dir)
    x_test, y_test = _arrays(name, "test", data_dir)
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, round(len(x) * validation_fraction))
    val_idx, train_idx = order[:n_val], order[n_val:][:train_size]
    auto = tf.data.AUTOTUNE

    def pipeline(images, labels, shuffle):
        ds = tf.data.Dataset.from_tensor_slices((images, labels)).map(scale, auto).cache()
        if shuffle:
            ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(auto)

    def fresh_train():
        return pipeline(x[train_idx], y[train_idx], shuffle=True)

    return ImageData(
        name=name,
        train=fresh_train(),
        validation=pipeline(x[val_idx], y[val_idx], shuffle=False),
        test=pipeline(x_test, y_test, shuffle=False),
        class_names=CLASS_NAMES[name],
        sizes={"train": len(train_idx), "validation": n_val, "test": len(x_test)},
        source=core.source(name, data_dir),
        fresh_train=fresh_train,
    )


def _border(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])


def load_image_file(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG/JPEG photo or scan of one digit or garment as a (28, 28, 1) float32 array.

    Like MNIST: grey, the object light on a dark background (a light background is
    inverted), cropped to the object, scaled to fit 20x20 and centred on 28x28. Raises
    :class:`ImageFileError` naming the file when it is missing, empty, corrupt or not an
    image. Used by chapter 01's "your own image" section and ``swtwo predict``.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: no such file (expected a PNG or JPEG image)")
    try:
        with Image.open(path) as img:
            img.load()
            grey = np.asarray(img.convert("L"), dtype=np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ImageFileError(
            f"{path}: cannot be read as an image ({exc.__class__.__name__}); "
            "expected a PNG or JPEG file") from None
    if np.median(_border(grey)) > 127:  # dark ink on light paper -> light on dark, like MNIST
        grey = 255.0 - grey
    grey = np.clip(grey - np.median(_border(grey)), 0, None)  # background to 0
    mask = grey > 0.2 * grey.max() if grey.max() > 0 else None
    if mask is None or not mask.any():
        raise ImageFileError(f"{path}: the image is blank (nothing to recognise)")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = grey[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    factor = 20.0 / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = np.asarray(Image.fromarray(crop.astype(np.uint8)).resize(
        size, Image.Resampling.LANCZOS), dtype=np.float32)
    canvas = np.zeros((28, 28), dtype=np.float32)
    top, left = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
    canvas /= max(canvas.max(), 1.0)
    return canvas[..., None]
