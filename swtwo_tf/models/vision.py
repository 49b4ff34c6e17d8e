"""CNN builders for 28x28 grey images (chapters 01 and 02). Each returns an uncompiled model
whose input is a float32 image in [0, 1] and whose output is 10 class probabilities.

- :func:`seed_cnn`: the course seed document's network, exactly.
- :func:`classic_convnet`: the well-known Keras "simple MNIST convnet" example.
- :func:`convnet`: the kit's own small CNN (batch norm, dropout, augmentation), the one that
  reaches the chapters' targets on a 2-core CPU.
- :func:`dense_baseline`: a two-layer perceptron, chapter 01's starting point.
"""

from __future__ import annotations

import keras
from keras import layers

INPUT_SHAPE = (28, 28, 1)
AUGMENTATIONS = ("digits", "clothes", None)


def augmentation(kind: str = "digits", seed: int | None = 42) -> keras.Sequential:
    """Random geometric changes, active only in training (Keras preprocessing layers).

    ``"digits"``: small rotation, shift and zoom (a rotated 6 is still a 6, a mirrored one
    is not). ``"clothes"``: horizontal flips and small shifts (a mirrored shoe is a shoe).
    """
    if kind == "digits":
        steps = [layers.RandomRotation(0.03, fill_mode="constant", seed=seed),
                 layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed),
                 layers.RandomZoom(0.1, fill_mode="constant", seed=seed)]
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
    """The seed document's CNN: Conv2D 32x3x3 same + ReLU, MaxPool 2, Dense 128 + ReLU, Dense 10.

    It was trained there with Adam 1e-3, batch 64, 10 epochs. 804,554 parameters, almost
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


def _conv_bn(x, filters: int, kernel: int = 3, l2: float = 0.0):
    regularizer = keras.regularizers.L2(l2) if l2 else None
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False,
                      kernel_regularizer=regularizer)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def convnet(
    augment: str | None = "digits",
    *,
    width: int = 32,
    dropout: float = 0.3,
    batch_norm: bool = True,
    l2: float = 0.0,
    name: str = "convnet",
) -> keras.Model:
    """The kit's CNN: two conv blocks (conv-BN-ReLU x2, max-pool), dense head, dropout.

    Args:
        augment: ``"digits"``, ``"clothes"`` or None (see :func:`augmentation`).
        width: filters of the first block (the second has twice as many).
        dropout: dropout rate after each block and in the head (0 turns it off).
        batch_norm: False swaps batch norm for plain biased convolutions (chapter 02 measures
            what it buys).
        l2: L2 weight penalty on the convolutions (chapter 02).
    """
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {augment!r}")
    inputs = keras.Input(INPUT_SHAPE)
    x = augmentation(augment)(inputs) if augment else inputs
    for filters in (width, 2 * width):
        for _ in range(2):
            if batch_norm:
                x = _conv_bn(x, filters, l2=l2)
            else:
                x = layers.Conv2D(filters, 3, padding="same", activation="relu",
                                  kernel_regularizer=keras.regularizers.L2(l2) if l2 else None)(x)
        x = layers.MaxPooling2D(2)(x)
        if dropout:
            x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, use_bias=not batch_norm)(x)
    if batch_norm:
        x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)
