"""Recipes: how a builder is trained on a dataset, and the one registry of them.

Each model module lists its recipes in a ``RECIPES`` table (``vision``, ``speech``, ``text``)
and registers it with :func:`register`; ``import swtwo_tf.models`` imports them all.
:func:`recipe_for` finds one; ``training.train_recipe`` runs one, exactly as the benchmarks do.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import keras

from swtwo_tf import config


@dataclass(frozen=True)
class Recipe:
    """How a builder is trained for a dataset: the numbers benchmarks/ and the chapters share.

    ``schedule="cosine"``: linear warm-up over the first 10 % of steps to ``learning_rate``,
    then cosine decay to 0 (:func:`swtwo_tf.training.compile_classifier`).
    ``early_stopping``: patience in epochs on validation accuracy, restoring the best epoch.
    ``quick_steps``: the step budget in quick mode, for recipes whose steps are slow
    (default: :data:`swtwo_tf.config.QUICK_STEP_BUDGET`).
    ``quick_kwargs``: builder keyword arguments that replace the recipe's in quick mode only
    (the same model code on a smaller input, such as reviews cut to fewer tokens); ``build``
    says when it uses them.
    ``from_data``: what the builder needs from the training data, as positional arguments
    (``from_data(data) -> tuple``; the text builders adapt their vocabulary on the training
    texts); None when the builder needs nothing from it.
    """

    builder: Callable[..., keras.Model]
    batch_size: int
    epochs: int
    learning_rate: float = 1e-3
    schedule: str | None = None
    early_stopping: int | None = None
    quick_steps: int | None = None
    kwargs: dict = field(default_factory=dict)
    quick_kwargs: dict = field(default_factory=dict)
    from_data: Callable | None = None

    def build(self, data=None, **overrides) -> keras.Model:
        """The uncompiled model for ``data`` (what ``datasets.pipelines`` returned); the
        ``overrides`` replace or add to the recipe's keyword arguments (and to its
        ``quick_kwargs`` in quick mode)."""
        if self.from_data is not None and data is None:
            raise ValueError(f"{self.builder.__name__} builds from the training data: "
                             "pass the data (datasets.pipelines(...)) to build()")
        args = self.from_data(data) if self.from_data is not None else ()
        kwargs = dict(self.kwargs)
        quick = {k: v for k, v in self.quick_kwargs.items() if k not in overrides}
        if quick and config.quick_mode():
            shown = ", ".join(f"{k}={v!r}" for k, v in quick.items())
            print(f"Quick mode (SWTWO_QUICK=1): {self.builder.__name__}({shown}); "
                  "the full run uses the recipe's values.")
            kwargs.update(quick)
        return self.builder(*args, **{**kwargs, **overrides})


#: (dataset, model name) -> Recipe, for every registered recipe.
RECIPES: dict[tuple[str, str], Recipe] = {}


def register(table: dict[tuple[str, str], Recipe]) -> None:
    """Add a module's ``{(dataset, model name): Recipe}`` table; ValueError on a taken key."""
    for key, recipe in table.items():
        if not isinstance(recipe, Recipe):
            raise TypeError(f"recipe {key} is a {type(recipe).__name__}, not a Recipe")
        if key in RECIPES and RECIPES[key] is not recipe:
            raise ValueError(f"a recipe for {key[0]}/{key[1]} is registered already")
        parameters = inspect.signature(recipe.builder).parameters
        unknown = sorted((set(recipe.kwargs) | set(recipe.quick_kwargs)) - set(parameters))
        if unknown and not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            raise ValueError(f"recipe {key[0]}/{key[1]}: {recipe.builder.__name__} takes no "
                             f"argument {', '.join(unknown)}")
    RECIPES.update(table)


def unregister(dataset: str, model_name: str) -> None:
    """Remove one recipe (tests that register a toy recipe clean up)."""
    recipe_for(dataset, model_name)
    del RECIPES[(dataset, model_name)]


def recipe_for(dataset: str, model_name: str) -> Recipe:
    """The recipe of ``model_name`` on ``dataset``; ValueError listing the known ones."""
    if (dataset, model_name) not in RECIPES:
        known = ", ".join(f"{d}/{m}" for d, m in RECIPES)
        raise ValueError(f"no recipe for {dataset}/{model_name}; known: {known}")
    return RECIPES[(dataset, model_name)]


def models_for(dataset: str) -> list[str]:
    """Names of the models with a recipe for ``dataset``, in registration order."""
    return [m for d, m in RECIPES if d == dataset]
