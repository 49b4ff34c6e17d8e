"""Model builders; each returns an uncompiled ``keras.Model``.

``vision`` (chapters 01-02), ``speech`` (chapter 04), ``text`` (chapter 05), ``modern``
(chapter 07: residual, Inception and separable networks, transfer), ``ctc`` (chapter 08:
digit strings with CTC); ``recipes``: how each builder is trained on a dataset, one registry
of them (:func:`recipe_for` finds one; :func:`swtwo_tf.training.train_recipe` runs one).
:func:`ensemble` averages trained models.
``few_labels`` (chapter 07: semi-supervised and distillation steps), ``sphinx`` (chapter 08:
PocketSphinx, the peer), ``fusion`` (chapter 10) and ``trust`` (chapter 09: attacks,
adversarial training, DP-SGD) are imported where they are used.
"""

from __future__ import annotations

import keras

from swtwo_tf.models import (  # noqa: F401  (each registers its recipes)
    ctc,
    modern,
    speech,
    text,
    vision,
)
from swtwo_tf.models.recipes import RECIPES, Recipe, models_for, recipe_for

__all__ = ["RECIPES", "Recipe", "ensemble", "models_for", "recipe_for"]


def ensemble(models: list[keras.Model], name: str = "ensemble") -> keras.Model:
    """Average the class probabilities of several trained models (chapters 02 and 05).

    The members must take the same input (28x28 images, or raw strings); they keep their
    weights and the ensemble adds none. Networks that err on different inputs cancel part of
    each other's mistakes, at the cost of running them all.
    """
    if len(models) < 2:
        raise ValueError(f"an ensemble needs at least 2 models, got {len(models)}")
    first = models[0].inputs[0]
    for model in models[1:]:
        other = model.inputs[0]
        if tuple(other.shape[1:]) != tuple(first.shape[1:]) or other.dtype != first.dtype:
            raise ValueError(f"model {model.name!r} takes {other.dtype} {tuple(other.shape)}, "
                             f"but {models[0].name!r} takes {first.dtype} {tuple(first.shape)}")
    names = [model.name for model in models]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"more than one member is named {', '.join(map(repr, twice))}: Keras "
                         "needs unique names inside one model; build each member with its "
                         "own name= (the builders take one)")
    inputs = keras.Input(shape=tuple(first.shape[1:]), dtype=first.dtype)
    outputs = keras.layers.Average()([m(inputs, training=False) for m in models])
    return keras.Model(inputs, outputs, name=name)
