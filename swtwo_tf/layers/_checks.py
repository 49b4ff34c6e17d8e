"""Argument checks shared by the layers: each raises a ``ValueError`` naming the argument."""

from __future__ import annotations

import numbers


def integer(name: str, value, *, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is a whole number of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        expected = {0: "a non-negative int", 1: "a positive int"}.get(minimum,
                                                                      f"an int >= {minimum}")
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def number(name: str, value) -> int | float:
    """``value`` as a plain ``int`` or ``float`` (what a config holds) if it is a real number,
    not a bool nor NaN."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value:
        raise ValueError(f"{name} must be a number, got {value!r}")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def positive(name: str, value) -> int | float:
    """``value`` as a plain number if it is above 0."""
    if number(name, value) <= 0:
        raise ValueError(f"{name} must be above 0, got {value!r}")
    return number(name, value)


def interval(low_name: str, low, high_name: str, high) -> tuple[int | float, int | float]:
    """``(low, high)`` as plain numbers if both are numbers and ``low <= high``."""
    low, high = number(low_name, low), number(high_name, high)
    if low > high:
        raise ValueError(f"{low_name} must be at most {high_name}, got {low_name}={low!r}, "
                         f"{high_name}={high!r}")
    return low, high


def rate(name: str, value) -> float:
    """``value`` as a ``float`` if it is a dropout rate, in [0, 1)."""
    if not 0 <= number(name, value) < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def seed(value) -> int | None:
    """A random seed: ``None`` or an int."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"seed must be None or an int, got {value!r}")
    return int(value)
