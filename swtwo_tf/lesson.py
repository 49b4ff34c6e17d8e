"""Show, then reuse: a chapter displays the Keras code of each model before it calls it.

The package holds every model builder once. A notebook calls :func:`show` on a builder (or on
``training.fit``) and the learner reads its source, highlighted, with the file it lives in;
the next cell calls it. To edit it, ``%load -s NAME FILE`` (printed under the source) copies
the function into a cell of the learner's own notebook session, where it can be changed and
re-run. ``tests/test_lessons.py`` checks that every model a chapter trains is shown first and
that no notebook defines a second copy of a package builder.
"""

from __future__ import annotations

import inspect
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def source(obj) -> tuple[str, Path, int]:
    """``(source text, file, first line)`` of a function or class; a ``Recipe`` shows its
    builder. Raises TypeError naming ``obj`` when it has no Python source (a built-in)."""
    target = getattr(obj, "builder", obj)
    target = inspect.unwrap(target)
    try:
        lines, first = inspect.getsourcelines(target)
        path = Path(inspect.getsourcefile(target))
    except (TypeError, OSError) as err:
        raise TypeError(f"show() needs a Python function or class, got {obj!r}: {err}") from None
    return "".join(lines), path, first


def recipe_line(recipe) -> str:
    """One comment line with what a ``Recipe`` passes to its builder and trains it with."""
    arguments = ", ".join(f"{key}={value!r}" for key, value in recipe.kwargs.items())
    settings = [f"batch {recipe.batch_size}", f"{recipe.epochs} epochs",
                f"learning rate {recipe.learning_rate:g}"]
    if recipe.schedule:
        settings.append(f"{recipe.schedule} schedule")
    if recipe.early_stopping:
        settings.append(f"early stopping after {recipe.early_stopping} epochs without gain")
    return f"# the recipe: {recipe.builder.__name__}({arguments}); {', '.join(settings)}"


def show(obj, *, display: bool = True):
    """Display the highlighted source of ``obj`` (a builder, ``training.fit``, a layer class)
    and return ``obj`` unchanged, so a cell can read ``build = lesson.show(vision.convnet)``.

    Outside a notebook (or with ``display=False``) the source is printed as plain text.
    """
    text, path, first = source(obj)
    try:
        shown = path.resolve().relative_to(REPO_ROOT)
    except ValueError:
        shown = path
    name = getattr(inspect.unwrap(getattr(obj, "builder", obj)), "__name__", "")
    footer = (f"# from {shown}, line {first}; to edit a copy in this session: "
              f"%load -s {name} {path}")
    if hasattr(obj, "builder"):  # a Recipe: what the code above is trained with
        footer = recipe_line(obj) + "\n" + footer
    if display:
        try:
            from IPython import get_ipython
            from IPython.display import Code
            from IPython.display import display as ipy_display
        except ImportError:  # pragma: no cover - IPython ships with the kit
            get_ipython = None
        if get_ipython is not None and get_ipython() is not None:
            ipy_display(Code(text + footer, language="python"))
            return obj
    print(text + footer)
    return obj
