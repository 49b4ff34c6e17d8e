"""Exercises whose answer is code, with a check the learner runs on their own answer.

Each chapter's module (``ch00`` ... ``ch06``) registers its :class:`Exercise` objects. A
notebook's exercise cell asks for a function (a layer, a step, a metric); the learner writes
it and runs ``exercises.check("04.2", my_gru_step)``, which says what is wrong or that it
passed. ``exercises.solution("04.2")`` shows the hidden reference answer. The tests run every
solution through its check, and every exercise's deliberately wrong answer too (it must fail).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ExerciseError(AssertionError):
    """A check found the answer wrong; the message says how, in the learner's terms."""


@dataclass(frozen=True)
class Exercise:
    """One code exercise.

    ``checker(answer)`` returns None when the answer is right and raises
    :class:`ExerciseError` saying what is wrong otherwise. ``solution`` is the reference
    answer (shown by :func:`solution`), ``wrong`` a plausible mistake the checker must reject.
    """

    id: str
    task: str
    checker: Callable[[Any], None]
    solution: Callable
    wrong: Callable


_EXERCISES: dict[str, Exercise] = {}


def register(*exercises: Exercise) -> None:
    for ex in exercises:
        chapter, _, number = ex.id.partition(".")
        if not (len(chapter) == 2 and chapter.isdigit() and number.isdigit()):
            raise ValueError(f"exercise id must look like '04.2', got {ex.id!r}")
        if ex.id in _EXERCISES:
            raise ValueError(f"exercise {ex.id} is registered twice")
        _EXERCISES[ex.id] = ex


def get(exercise_id: str) -> Exercise:
    _load_all()
    if exercise_id not in _EXERCISES:
        raise KeyError(f"no exercise {exercise_id!r}; there are {', '.join(ids())}")
    return _EXERCISES[exercise_id]


def ids(chapter: str | None = None) -> list[str]:
    """Every exercise id, in order; ``chapter="04"`` gives one chapter's."""
    _load_all()
    found = sorted(_EXERCISES, key=lambda i: tuple(int(p) for p in i.split(".")))
    return [i for i in found if chapter is None or i.startswith(f"{chapter}.")]


def check(exercise_id: str, answer) -> bool:
    """Run the exercise's check on ``answer``; print what is wrong, or that it passed.

    Returns True when the answer passes. Never raises for a wrong answer, so an unfinished
    exercise cell does not stop the notebook; an answer that itself raises is reported with
    the line of the learner's code that failed.
    """
    ex = get(exercise_id)
    try:
        ex.checker(answer)
    except NotImplementedError:
        print(f"{exercise_id}: not written yet. Task: {ex.task}")
        return False
    except ExerciseError as err:
        print(f"{exercise_id}: not yet. {err}")
        return False
    except Exception as err:  # the learner's code raised: show where
        # The innermost frame of the learner's own code: not the kit, not a library.
        frames = traceback.extract_tb(err.__traceback__)
        mine = [f for f in frames if "swtwo_tf" not in f.filename
                and "site-packages" not in f.filename]
        if not mine:
            print(f"{exercise_id}: the check failed on this answer: {type(err).__name__}: "
                  f"{err}. Task: {ex.task}")
            return False
        where = mine[-1]
        print(f"{exercise_id}: your code raised {type(err).__name__}: {err} "
              f"(at {where.filename}:{where.lineno}: {where.line})")
        return False
    print(f"{exercise_id}: passed. {ex.task}")
    return True


def solution(exercise_id: str, *, display: bool = True):
    """Show the reference answer of an exercise (the hidden solution) and return it."""
    from swtwo_tf import lesson

    return lesson.show(get(exercise_id).solution, display=display)


def close(actual, expected, what: str, *, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Raise :class:`ExerciseError` unless ``actual`` has ``expected``'s shape and values."""
    import numpy as np

    actual = np.asarray(actual)
    expected = np.asarray(expected)
    if actual.shape != expected.shape:
        raise ExerciseError(f"{what} has shape {actual.shape}, expected {expected.shape}")
    if not np.allclose(actual, expected, atol=atol, rtol=rtol):
        worst = np.unravel_index(np.argmax(np.abs(actual - expected)), actual.shape)
        raise ExerciseError(f"{what} differs: at index {tuple(int(i) for i in worst)} you give "
                            f"{actual[worst]:.6g}, expected {expected[worst]:.6g}")


def _load_all() -> None:
    """Import every chapter's module (each registers its exercises once)."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("ch"):
            importlib.import_module(f"{__name__}.{info.name}")
