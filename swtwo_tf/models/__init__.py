"""Model builders; each returns an uncompiled ``keras.Model``.

``vision`` (chapters 01-02), ``speech`` (chapter 04), ``text`` (chapter 05). Each module's
``RECIPES`` say how its builders are trained for the README's results table
(:func:`recipe_for` finds one); :func:`swtwo_tf.training.train_recipe` runs one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import keras


@dataclass(frozen=True)
class Recipe:
    """How a builder is trained for a dataset: the numbers benchmarks/ and the chapters share.

    ``schedule="cosine"``: linear warm-up over the first 10 % of steps to ``learning_rate``,
    then cosine decay to 0 (:func:`swtwo_tf.training.compile_classifier`).
    ``early_stopping``: patience in epochs on validation accuracy, restoring the best epoch.
    ``quick_steps``: the step budget in quick mode, for recipes whose steps are slow
    (default: :data:`swtwo_tf.config.QUICK_STEP_BUDGET`).
    """

    builder: Callable[..., keras.Model]
    batch_size: int
    epochs: int
    learning_rate: float = 1e-3
    schedule: str | None = None
    early_stopping: int | None = None
    quick_steps: int | None = None
    kwargs: dict = field(default_factory=dict)

    def build(self, *args, **overrides) -> keras.Model:
        """The uncompiled model; ``args`` go first (text builders take the training texts),
        ``overrides`` replace or add to the recipe's keyword arguments."""
        return self.builder(*args, **{**self.kwargs, **overrides})


def recipe_for(dataset: str, model_name: str) -> Recipe:
    """The recipe of ``model_name`` on ``dataset`` from its module's ``RECIPES``.

    ``vision`` for mnist and fashion_mnist, ``speech`` for spoken_digit, ``text`` for
    imdb_reviews. An unknown pair raises ``ValueError`` listing the known ones.
    """
    from swtwo_tf.models import speech, text, vision

    recipes = {**vision.RECIPES, **speech.RECIPES, **text.RECIPES}
    if (dataset, model_name) not in recipes:
        known = ", ".join(f"{d}/{m}" for d, m in recipes)
        raise ValueError(f"no recipe for {dataset}/{model_name}; known: {known}")
    return recipes[(dataset, model_name)]


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
