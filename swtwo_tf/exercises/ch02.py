"""Chapter 02's code exercises (see :mod:`swtwo_tf.exercises`)."""

from __future__ import annotations

from swtwo_tf.exercises import Exercise, ExerciseError, close, register  # noqa: F401

register()
