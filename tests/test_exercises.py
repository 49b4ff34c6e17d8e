"""Every code exercise: its solution passes its own check, its known mistake fails it, and
each chapter has at least three (issue #21: exercises that make the learner build)."""

from __future__ import annotations

import pytest

from swtwo_tf import exercises
from swtwo_tf.exercises import Exercise, ExerciseError

CHAPTERS = ["00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11"]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_chapter_has_three_code_exercises(chapter):
    assert len(exercises.ids(chapter)) >= 3, exercises.ids(chapter)


@pytest.mark.parametrize("exercise_id", exercises.ids())
def test_solution_passes_and_mistake_fails(exercise_id, capsys):
    ex = exercises.get(exercise_id)
    ex.checker(ex.solution)  # raises if the reference answer is wrong
    with pytest.raises(ExerciseError):
        ex.checker(ex.wrong)
    assert exercises.check(exercise_id, ex.solution) is True
    assert exercises.check(exercise_id, ex.wrong) is False
    assert "not yet" in capsys.readouterr().out


def test_check_reports_unwritten_and_crashing_answers(capsys):
    some = exercises.ids()[0]

    def unwritten(*args, **kwargs):
        raise NotImplementedError

    def crashing(*args, **kwargs):
        return 1 / 0

    assert exercises.check(some, unwritten) is False
    assert "not written yet" in capsys.readouterr().out
    assert exercises.check(some, crashing) is False
    out = capsys.readouterr().out
    assert "ZeroDivisionError" in out and "test_exercises.py" in out


def test_ids_are_checked():
    bad = Exercise("4.2", "x", lambda a: None, lambda: None, lambda: None)
    with pytest.raises(ValueError, match="04.2"):
        exercises.register(bad)
    with pytest.raises(KeyError, match="no exercise '99.9'"):
        exercises.get("99.9")


def test_solution_shows_the_reference_source(capsys):
    some = exercises.ids()[0]
    assert exercises.solution(some, display=False) is exercises.get(some).solution
    assert "def " in capsys.readouterr().out


def test_close_names_the_first_difference():
    exercises.close([1.0, 2.0], [1.0, 2.0], "x")
    with pytest.raises(ExerciseError, match=r"index \(1,\)"):
        exercises.close([1.0, 2.5], [1.0, 2.0], "x")
    with pytest.raises(ExerciseError, match="shape"):
        exercises.close([1.0], [1.0, 2.0], "x")


def test_an_answer_the_check_cannot_use_is_reported_as_such(capsys):
    some = exercises.ids()[0]
    assert exercises.check(some, 42) is False  # not a function: the check itself fails
    out = capsys.readouterr().out
    assert "the check failed on this answer" in out and "your code raised" not in out


def test_a_bottleneck_with_a_relu_before_the_sum_is_rejected():
    """07.1: F must end in a batch norm (no ReLU) before the input is added back."""
    from keras import layers

    from swtwo_tf.models.modern import conv_bn

    def relu_before_sum(x, filters, strides=1):
        f = conv_bn(conv_bn(conv_bn(x, filters // 4, 1), filters // 4, 3, strides), filters, 1)
        s = x
        if strides != 1 or x.shape[-1] != filters:
            s = conv_bn(layers.AveragePooling2D(strides, padding="same")(x), filters, 1,
                        activation=False)
        return layers.Activation("relu")(layers.Add()([f, s]))

    with pytest.raises(ExerciseError, match="ReLU"):
        exercises.get("07.1").checker(relu_before_sum)


def test_a_conv_block_with_the_kits_fused_batch_norm_passes():
    """02.4: a learner copying ``vision.convnet`` writes ``FusedBatchNormalization``; it is
    batch norm, so the check accepts it."""
    from keras import layers

    from swtwo_tf.layers.normalization import FusedBatchNormalization

    def fused_block(x, filters):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.Activation("relu")(FusedBatchNormalization()(x))
        return layers.MaxPooling2D(2)(x)

    exercises.get("02.4").checker(fused_block)
