"""Chapter 07's code exercises (see :mod:`swtwo_tf.exercises`): a bottleneck residual unit,
the weights of a standard and a depthwise-separable convolution by hand, and the soft targets
of distillation."""

from __future__ import annotations

import numpy as np

from swtwo_tf.exercises import Exercise, ExerciseError, close, register

# ---------------------------------------------------------------- 07.1 bottleneck unit


def bottleneck_unit(x, filters, strides=1):
    """1x1 to ``filters // 4`` channels, 3x3 (with the stride), 1x1 back to ``filters``
    (no ReLU before the sum), plus the input or its projection (as in
    ``modern.residual_unit``: a 2x2 average pool when strided, then a 1x1), then ReLU."""
    from keras import layers

    from swtwo_tf.models.modern import conv_bn

    f = conv_bn(x, filters // 4, 1)
    f = conv_bn(f, filters // 4, 3, strides)
    f = conv_bn(f, filters, 1, activation=False)
    s = x
    if strides != 1:
        s = layers.AveragePooling2D(strides, padding="same")(s)
    if strides != 1 or x.shape[-1] != filters:
        s = conv_bn(s, filters, 1, activation=False)
    return layers.Activation("relu")(layers.Add()([f, s]))


def _no_shortcut(x, filters, strides=1):
    """A mistake: the three convolutions without the shortcut."""
    from keras import layers

    from swtwo_tf.models.modern import conv_bn

    f = conv_bn(x, filters // 4, 1)
    f = conv_bn(f, filters // 4, 3, strides)
    return layers.Activation("relu")(conv_bn(f, filters, 1, activation=False))


def _check_bottleneck(answer) -> None:
    import keras

    x = keras.Input((8, 8, 32))
    unit = keras.Model(x, answer(x, 32))
    convs = [layer for layer in unit.layers if isinstance(layer, keras.layers.Conv2D)]
    sizes = [layer.kernel.shape[0] for layer in convs]
    if sizes != [1, 3, 1]:
        raise ExerciseError(f"the unit's convolutions have kernel sizes {sizes}; a bottleneck "
                            "has 1x1, 3x3, 1x1 (and no projection when the shape is kept)")
    widths = [layer.kernel.shape[-1] for layer in convs]
    if widths != [8, 8, 32]:
        raise ExerciseError(f"the convolutions have {widths} filters; for filters=32 they "
                            "should reduce to 32 // 4 = 8, then expand back to 32")
    norms = [layer for layer in unit.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        raise ExerciseError("no batch norm: build the unit from modern.conv_bn")
    # switch F off and shift it: its last batch norm gives -1 everywhere, so the unit must
    # give ReLU(x - 1) (a ReLU before the sum would turn the -1 into 0 and give ReLU(x))
    norms[-1].gamma.assign(np.zeros(32, "float32"))
    norms[-1].beta.assign(-np.ones(32, "float32"))
    sample = np.random.default_rng(0).normal(size=(2, 8, 8, 32)).astype("float32")
    if not np.allclose(unit(sample, training=False), np.maximum(sample - 1, 0), atol=1e-5):
        raise ExerciseError("with F's last batch norm set to give -1 everywhere the unit "
                            "should return ReLU(x - 1): is the input added back, after F's "
                            "last batch norm (activation=False) and before the only ReLU?")
    y = keras.Input((8, 8, 16))
    down = keras.Model(y, answer(y, 32, strides=2))
    if tuple(down.output.shape[1:]) != (4, 4, 32):
        raise ExerciseError(f"with strides=2 and 16 -> 32 channels the output should be "
                            f"(4, 4, 32), got {tuple(down.output.shape[1:])}: the shortcut "
                            "needs a projection (a 2x2 average pool, then a 1x1 convolution)")


# ---------------------------------------------------------------- 07.2 weights by hand


def conv_weights(k, c_in, c_out):
    """``(k * k * c_in * c_out, k * k * c_in + c_in * c_out)``."""
    return k * k * c_in * c_out, k * k * c_in + c_in * c_out


def _forgot_depthwise(k, c_in, c_out):
    """A mistake: the separable count without the depthwise filters."""
    return k * k * c_in * c_out, c_in * c_out


def _check_conv_weights(answer) -> None:
    import keras

    for k, c_in, c_out in ((3, 16, 32), (5, 8, 64), (1, 4, 4)):
        x = keras.Input((10, 10, c_in))
        standard = keras.layers.Conv2D(c_out, k, use_bias=False)
        separable = keras.layers.SeparableConv2D(c_out, k, use_bias=False)
        standard(x), separable(x)  # calling a layer once creates its weights
        expected = (standard.count_params(), separable.count_params())
        got = tuple(int(n) for n in answer(k, c_in, c_out))
        if got != expected:
            raise ExerciseError(f"for k={k}, {c_in} -> {c_out} channels you give {got}, Keras "
                                f"counts {expected} (standard, separable)")


# ---------------------------------------------------------------- 07.3 soft targets


def soft_targets(teacher_logits, temperature):
    """``softmax(t / T)`` row by row, computed stably."""
    z = np.asarray(teacher_logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


def _divided_probabilities(teacher_logits, temperature):
    """A mistake: the probabilities divided by T, not the logits."""
    z = np.asarray(teacher_logits, dtype=np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p = p / p.sum(axis=1, keepdims=True)
    return p / temperature


def _check_soft_targets(answer) -> None:
    import keras

    logits = np.random.default_rng(3).normal(0, 4, (5, 10))
    for temperature in (1.0, 4.0, 20.0):
        expected = np.asarray(keras.ops.softmax(logits / temperature))
        got = np.asarray(answer(logits, temperature), dtype=np.float64)
        if got.shape == expected.shape and not np.allclose(got.sum(axis=1), 1, atol=1e-5):
            raise ExerciseError(f"at T={temperature} your rows sum to {got.sum(axis=1)[:2]}...: "
                                "soft targets are probabilities; divide the logits, not the "
                                "probabilities, by T")
        close(got, expected, f"the soft targets at T={temperature}", atol=1e-6)
    big = np.array([[1000.0, 0.0, -1000.0]])
    if not np.all(np.isfinite(np.asarray(answer(big, 1.0), dtype=np.float64))):
        raise ExerciseError("logits of +-1000 give inf or nan: subtract each row's maximum "
                            "before the exponential")


register(
    Exercise("07.1", "a bottleneck residual unit: 1x1 reduce, 3x3, 1x1 expand, shortcut",
             _check_bottleneck, bottleneck_unit, _no_shortcut),
    Exercise("07.2", "weights of a standard and a depthwise-separable convolution by hand",
             _check_conv_weights, conv_weights, _forgot_depthwise),
    Exercise("07.3", "the teacher's soft targets softmax(t / T)", _check_soft_targets,
             soft_targets, _divided_probabilities),
)
