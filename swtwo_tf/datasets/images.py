"""MNIST and Fashion-MNIST: their registry entries and tf.data pipelines (chapters 01-02)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from swtwo_tf import config
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


def _arrays(name: str, split: str, data_dir=None):
    """``core.arrays``, kept in memory (read-only) when the real dataset is found: a chapter
    that builds several pipelines from one dataset (07 cuts tasks from it, and trains four
    networks on it) reads it once, not each time for seconds."""
    folder = core.locate(name, data_dir)
    if folder is None:  # the sample fallback: read (and warn) every time
        return core.arrays(name, split, data_dir)
    return _cached_arrays(name, split, str(folder), config.quick_mode())


@functools.lru_cache(maxsize=4)
def _cached_arrays(name: str, split: str, folder: str, quick: bool):
    """Keyed by the folder and the mode: quick mode's loaders take subsets."""
    x, y = core.arrays(name, split, folder)
    x.flags.writeable = y.flags.writeable = False
    return x, y


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
    x, y = _arrays(name, "train", data_dir)
    x_test, y_test = _arrays(name, "test", data_dir)
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
                  "convnet_workers": (0.99, 0.85, 0.3),
                  # chapter 07: FixMatch from 10 labels per digit (quick mode: 16 steps)
                  "few_labels": (0.95, 0.35, 0.1)})
_register("fashion_mnist", "Fashion-MNIST clothing images (28x28 grey, 10 classes)",
          ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot"), quick_examples=5_000, licence="MIT",
          floors={"convnet": (0.92, 0.75, 0.4),
                  # chapter 02: each remedy trained on 10,000 images
                  "variant": (0.82, 0.65, 0.3),
                  # chapter 07: each network of the architecture table (quick mode: 20
                  # steps of narrow versions, the separable one barely past chance), the
                  # distilled student, the best of the three ways to learn the two-class
                  # task B from 50 labels per class (quick mode: 8 steps, so only the
                  # network from scratch learns; chance is 0.5)
                  "architecture": (0.9, 0.15, 0.1), "student": (0.75, 0.2, 0.1),
                  "transfer": (0.8, 0.6, 0.3)})


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
    return core.ready(draws.map(batch))


def balanced_subset(labels, per_class: int, *, seed: int = 42):
    """Indices of ``per_class`` examples of every class in ``labels``, drawn at random under
    ``seed`` (the same draw every time), sorted. ValueError if a class has fewer."""
    import numpy as np

    labels = np.asarray(labels)
    if not isinstance(per_class, int) or isinstance(per_class, bool) or per_class < 1:
        raise ValueError(f"per_class must be a positive int, got {per_class!r}")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < per_class:
            raise ValueError(f"class {label} has {len(members)} examples, fewer than "
                             f"per_class={per_class}")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def class_subset(name: str, classes, *, per_class: int | None = None, batch_size: int = 64,
                 seed: int = 42, data_dir: str | os.PathLike | None = None) -> ImageData:
    """Pipelines of ``name`` restricted to ``classes`` (chapter 07's transfer tasks), with the
    labels renumbered ``0 .. len(classes) - 1`` in the order given.

    The validation set is carved from the training split exactly as :func:`image_datasets`
    carves it (so it never meets the test split). ``per_class`` keeps that many training
    images of each class (a balanced, seeded draw) and no validation set: with 50 labelled
    images a learner has no 600 more to validate on.
    """
    import numpy as np

    class_names = list(registry.get_spec(name).class_names)
    classes = [int(c) for c in classes]
    if not classes or len(set(classes)) != len(classes) or not all(
            0 <= c < len(class_names) for c in classes):
        raise ValueError(f"classes must be distinct class numbers of {name} "
                         f"(0-{len(class_names) - 1}), got {classes!r}")
    x, y = _arrays(name, "train", data_dir)
    x_test, y_test = _arrays(name, "test", data_dir)
    val_idx, train_idx = core.split_off_validation(len(x), 0.1, seed)
    renumber = np.full(len(class_names), -1)
    renumber[classes] = np.arange(len(classes))

    def keep(idx, labels):
        return idx[renumber[labels[idx]] >= 0]

    train_idx, val_idx = keep(train_idx, y), keep(val_idx, y)
    test_idx = keep(np.arange(len(y_test)), y_test)
    if per_class is not None:
        train_idx = train_idx[balanced_subset(y[train_idx], per_class, seed=seed)]
        val_idx = val_idx[:0]

    def pipeline(images, labels, idx, shuffle):
        return core.batched(images[idx], renumber[labels[idx]], batch_size, shuffle=shuffle,
                            seed=seed, preprocess=scale) if len(idx) else None

    return ImageData(
        name=f"{name}[{','.join(map(str, classes))}]",
        train=pipeline(x, y, train_idx, True),
        validation=pipeline(x, y, val_idx, False),
        test=pipeline(x_test, y_test, test_idx, False),
        class_names=[class_names[c] for c in classes],
        sizes={"train": len(train_idx), "validation": len(val_idx), "test": len(test_idx)},
        source=core.source(name, data_dir),
        fresh_train=lambda: pipeline(x, y, train_idx, True),
    )


@dataclass
class FewLabels:
    """A training split with a few labels (chapter 07): ``labelled`` images and labels, every
    other training image ``unlabelled`` (its labels kept in ``hidden_labels``, only to measure
    how good a pseudo-label is, never to train), and the test pipeline."""

    labelled: tuple  # (uint8 images, int labels)
    unlabelled: object  # uint8 images
    hidden_labels: object
    test: object
    class_names: list[str]
    source: str = "tfds"

    def train(self, batch_size: int = 64, *, unlabelled_ratio: int = 0, steps: int = 100,
              seed: int = 42):
        """``steps`` batches (one epoch of ``fit``): with ``unlabelled_ratio=0``, batches of
        labelled ``(image, label)`` drawn over and over; with ``mu > 0``, batches of
        ``((labelled images, mu * batch_size unlabelled images), labels)`` for a
        semi-supervised ``train_step`` (``models.few_labels.SemiSupervised``). Images are
        scaled to [0, 1]; every epoch draws new batches, the same ones for the same ``seed``."""
        import tensorflow as tf

        if not isinstance(unlabelled_ratio, int) or unlabelled_ratio < 0:
            raise ValueError(f"unlabelled_ratio must be an int >= 0, got {unlabelled_ratio!r}")
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive int, got {steps!r}")

        def endless(*arrays, size, salt):
            ds = tf.data.Dataset.from_tensor_slices(arrays).cache()
            n = len(arrays[0])
            return ds.shuffle(n, seed=seed + salt, reshuffle_each_iteration=True).repeat() \
                .batch(size, drop_remainder=True)

        x_l, y_l = self.labelled
        labelled = endless(x_l, y_l, size=batch_size, salt=0).map(scale)
        if not unlabelled_ratio:
            ds = labelled
        else:
            unlabelled = endless(self.unlabelled, size=unlabelled_ratio * batch_size, salt=1)
            ds = tf.data.Dataset.zip(labelled, unlabelled).map(
                lambda xy, u: ((xy[0], tf.cast(u[0], tf.float32) / 255.0), xy[1]))
        return core.ready(ds.take(steps))


def few_labels(name: str = "mnist", per_class: int = 10, *, batch_size: int = 256,
               seed: int = 42, data_dir: str | os.PathLike | None = None) -> FewLabels:
    """``per_class`` labelled training images of each class (a balanced, seeded draw), the
    rest of the training split unlabelled, and the test split (batches of ``batch_size``)."""
    import numpy as np

    x, y = _arrays(name, "train", data_dir)
    x_test, y_test = _arrays(name, "test", data_dir)
    chosen = balanced_subset(y, per_class, seed=seed)
    rest = np.setdiff1d(np.arange(len(y)), chosen)
    return FewLabels(
        labelled=(x[chosen], y[chosen]), unlabelled=x[rest], hidden_labels=y[rest],
        test=core.batched(x_test, y_test, batch_size, preprocess=scale),
        class_names=list(registry.get_spec(name).class_names),
        source=core.source(name, data_dir))
