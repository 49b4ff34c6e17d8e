"""CNN builders for 28x28 grey images (chapters 01 and 02). Each returns an uncompiled model
whose input is a float32 image in [0, 1] and whose output is 10 class probabilities.

- :func:`seed_cnn`: the network of the course's source text, exactly.
- :func:`classic_convnet`: the well-known Keras "simple MNIST convnet" example.
- :func:`convnet`: the kit's own small CNN (batch norm, dropout, augmentation), the one that
  reaches the chapters' targets on a 2-core CPU.
- :func:`dense_baseline`: a two-layer perceptron, chapter 01's starting point.
"""

from __future__ import annotations

import keras
from keras import layers

from swtwo_tf.layers.images import RandomAffine
from swtwo_tf.layers.normalization import FusedBatchNormalization
from swtwo_tf.models.recipes import Recipe, register

INPUT_SHAPE = (28, 28, 1)
AUGMENTATIONS = ("digits", "clothes", None)


def augmentation(kind: str = "digits", seed: int | None = 42) -> keras.Sequential:
    """Random geometric changes, active only in training.

    ``"digits"``: a small rotation (up to 3 % of a turn), zoom and shift (up to 10 %) of each
    image, composed into one resampling (``RandomAffine``; a rotated 6 is still a 6, a
    mirrored one is not). ``"clothes"``: horizontal flips and small shifts, Keras's
    preprocessing layers (a mirrored shoe is a shoe).
    """
    if kind == "digits":
        steps = [RandomAffine(rotation=0.03, zoom=0.1, shift=0.1, seed=seed)]
    elif kind == "clothes":
        steps = [layers.RandomFlip("horizontal", seed=seed),
                 layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=seed)]
    else:
        raise ValueError(f"augmentation kind must be 'digits' or 'clothes', got {kind!r}")
    return keras.Sequential(steps, name=f"augment_{kind}")


def dense_baseline(hidden: int = 128, name: str = "dense_baseline") -> keras.Model:
    """Flatten the pixels into a 784-vector, one hidden layer, softmax: no notion of space."""
    return keras.Sequential([
        keras.Input(INPUT_SHAPE),
        layers.Flatten(),
        layers.Dense(hidden, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ], name=name)


def seed_cnn(name: str = "seed_cnn") -> keras.Model:
    """The CNN of the course's source text: Conv2D 32x3x3 same + ReLU, MaxPool 2, Dense 128 +
    ReLU, Dense 10.

    The source text trains it with Adam 1e-3, batch 64, 10 epochs. 804,554 parameters, almost
    all in the first dense layer.
    """
    return keras.Sequential([
        keras.Input(INPUT_SHAPE),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ], name=name)


def classic_convnet(name: str = "classic_convnet") -> keras.Model:
    """The Keras example "Simple MNIST convnet": Conv32, pool, Conv64, pool, Dropout 0.5.

    Its recipe: Adam, batch 128, 15 epochs, 10 % validation; 34,826 parameters.
    """
    return keras.Sequential([
        keras.Input(INPUT_SHAPE),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ], name=name)


def convnet(
    augment: str | None = "digits",
    *,
    filters: tuple[int, ...] = (16, 32, 64),
    convs_per_block: int | tuple[int, ...] = 1,
    dropout: float = 0.25,
    batch_norm: bool = True,
    stem_batch_norm: bool = True,
    fused_batch_norm: bool = True,
    l2: float = 0.0,
    name: str = "convnet",
) -> keras.Model:
    """The kit's CNN: blocks of (conv 3x3 -> batch norm -> ReLU) x n, max-pool, dropout.

    Sized for a 2-core CPU: few filters early (where the image is large), more later.

    Args:
        augment: ``"digits"``, ``"clothes"`` or None (see :func:`augmentation`).
        filters: filters of each block; each block halves the image size.
        convs_per_block: convolutions before each pooling: one number for every block, or
            one per block (chapter 01's MNIST recipe puts one in the first block).
        dropout: rate after each block and in the dense head (0 turns it off).
        batch_norm: False uses plain biased convolutions (chapter 02 measures what BN buys).
        stem_batch_norm: False skips batch norm in the first block only, where the image is
            largest and normalising it costs the most CPU time for the least benefit.
        fused_batch_norm: the convolutions' batch norm is ``FusedBatchNormalization`` (Keras's
            layer and formula on TensorFlow's one-kernel op, a faster step); False uses
            ``keras.layers.BatchNormalization`` itself (chapter 02 times the two).
        l2: L2 weight penalty on convolutions and the dense head (chapter 02).
    """
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {augment!r}")
    if isinstance(convs_per_block, int):
        convs_per_block = (convs_per_block,) * len(filters)
    if len(convs_per_block) != len(filters) or min(convs_per_block, default=0) < 1:
        raise ValueError(f"convs_per_block must be a positive int or one positive int per "
                         f"block of filters={filters}, got {convs_per_block!r}")
    regularizer = keras.regularizers.L2(l2) if l2 else None
    inputs = keras.Input(INPUT_SHAPE)
    x = augmentation(augment)(inputs) if augment else inputs
    norm = FusedBatchNormalization if fused_batch_norm else layers.BatchNormalization
    for block, (width, convs) in enumerate(zip(filters, convs_per_block, strict=True)):
        normalise = batch_norm and (stem_batch_norm or block > 0)
        for _ in range(convs):
            x = layers.Conv2D(width, 3, padding="same", use_bias=not normalise,
                              kernel_regularizer=regularizer)(x)
            if normalise:
                x = norm(momentum=0.9)(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
        if dropout:
            x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, use_bias=not batch_norm, kernel_regularizer=regularizer)(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=0.9)(x)
    x = layers.Activation("relu")(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


#: (dataset, model) -> the recipe behind docs/results.md (``benchmarks/images.py``); how each
#: was chosen is recorded in docs/experiments.md.
RECIPES: dict[tuple[str, str], Recipe] = {
    # The course's source text: Adam 1e-3, batch 64, 10 epochs.
    ("mnist", "seed_cnn"): Recipe(seed_cnn, batch_size=64, epochs=10),
    # The Keras example: Adam (1e-3), batch 128, 15 epochs.
    ("mnist", "classic_convnet"): Recipe(classic_convnet, batch_size=128, epochs=15),
    ("fashion_mnist", "classic_convnet"): Recipe(classic_convnet, batch_size=128, epochs=15),
    # The kit's CNN, sized for a 2-core CPU: one convolution in the first block and none of its
    # batch norm (the 28x28 maps make both cost the most), two in the others.
    ("mnist", "convnet"): Recipe(convnet, batch_size=256, epochs=8, learning_rate=3e-3,
                                 schedule="cosine",
                                 kwargs={"augment": "digits", "convs_per_block": (1, 2, 2),
                                         "dropout": 0.1, "stem_batch_norm": False}),
    # Fashion-MNIST needs more filters and two convolutions per block (a small VGG), and more
    # epochs. Its steps are the slowest of the kit's: quick mode gives it 72, at half the
    # width (a quarter of the arithmetic; chapter 07's table trains it for 20, beside three
    # other networks).
    ("fashion_mnist", "convnet"): Recipe(
        convnet, batch_size=256, epochs=16, learning_rate=3e-3, schedule="cosine",
        kwargs={"augment": "clothes", "filters": (32, 64, 128), "convs_per_block": 2,
                "dropout": 0.1},
        quick_steps=72, quick_kwargs={"filters": (16, 32, 64)}),
}
register(RECIPES)
