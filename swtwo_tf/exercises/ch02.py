"""Chapter 02's code exercises (see :mod:`swtwo_tf.exercises`): the remedies for overfitting
written from their formulas (inverted dropout, the L2 penalty, batch normalisation in both
modes) and the convolution block the chapter's CNN is made of."""

from __future__ import annotations

import numpy as np

from swtwo_tf.exercises import Exercise, ExerciseError, close, register

# --- 02.1 inverted dropout ------------------------------------------------------------------


def inverted_dropout(x, rate, u):
    """Drop each unit of ``x`` whose uniform draw ``u`` is below ``rate``; scale the kept
    ones by 1 / (1 - rate), so that every unit keeps its expected value."""
    keep = u >= rate
    return np.where(keep, x / (1.0 - rate), 0.0)


def _dropout_unscaled(x, rate, u):
    return np.where(u >= rate, x, 0.0)  # forgot the 1 / (1 - rate)


def _check_dropout(answer) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 6)).astype("float32")
    u = rng.uniform(size=(4, 6)).astype("float32")
    for rate in (0.25, 0.5):
        got = np.asarray(answer(x, rate, u), dtype="float32")
        expected = inverted_dropout(x, rate, u)
        if got.shape == expected.shape and np.array_equal(got != 0, expected != 0):
            kept = expected != 0
            if np.allclose(got[kept], x[kept]):
                raise ExerciseError(
                    f"with rate={rate} the right units are dropped, but the kept ones are "
                    "unchanged: scale them by 1 / (1 - rate), or the layer's output shrinks "
                    "on average and inference (no dropout) sees larger values than training")
        elif got.shape == expected.shape:
            raise ExerciseError(
                f"with rate={rate} you drop other units than expected: drop unit i when "
                "u[i] < rate and keep it when u[i] >= rate (a share `rate` is dropped)")
        close(got, expected, f"inverted_dropout(x, {rate}, u)")
    close(np.asarray(answer(x, 0.0, u)), x, "inverted_dropout(x, 0.0, u) (must return x)")


# --- 02.2 the L2 penalty --------------------------------------------------------------------


def l2_penalty(weights, lam):
    """The L2 penalty added to the loss: ``lam`` times the sum of the squares of every
    weight in every array of ``weights``."""
    return lam * sum(float(np.sum(np.square(w))) for w in weights)


def _l2_mean(weights, lam):
    return lam * sum(float(np.mean(np.square(w))) for w in weights)  # mean, not sum


def _check_l2(answer) -> None:
    rng = np.random.default_rng(3)
    weights = [rng.normal(size=(3, 3, 1, 4)), rng.normal(size=(10, 5)), rng.normal(size=(5,))]
    lam = 1e-3
    got = answer(weights, lam)
    if np.ndim(got) != 0:
        raise ExerciseError(f"the penalty is one number (a scalar added to the loss); you "
                            f"return an array of shape {np.shape(got)}")
    expected = l2_penalty(weights, lam)
    if np.isclose(float(got), _l2_mean(weights, lam)):
        raise ExerciseError("you average the squares of each array; the penalty sums them "
                            "(keras.regularizers.L2 adds lam * sum(w ** 2))")
    if np.isclose(float(got), l2_penalty(weights[:1], lam)):
        raise ExerciseError("only the first array counts: add the penalty of every array")
    close(float(got), expected, "l2_penalty(weights, 1e-3)")


# --- 02.3 batch normalisation, training and inference ---------------------------------------


def batch_norm(x, gamma, beta, moving_mean, moving_var, *, training, momentum=0.9,
               epsilon=1e-3):
    """Batch normalisation of ``x`` (batch, features), as ``keras.layers.BatchNormalization``.

    Returns ``(y, new_moving_mean, new_moving_var)``. In training, normalise with the
    batch's own mean and (biased) variance and move the moving statistics towards them; in
    inference, normalise with the moving statistics and leave them as they are.
    """
    if training:
        mean, var = x.mean(axis=0), x.var(axis=0)
        moving_mean = momentum * moving_mean + (1 - momentum) * mean
        moving_var = momentum * moving_var + (1 - momentum) * var
    else:
        mean, var = moving_mean, moving_var
    y = gamma * (x - mean) / np.sqrt(var + epsilon) + beta
    return y, moving_mean, moving_var


def _batch_norm_batch_stats_always(x, gamma, beta, moving_mean, moving_var, *, training,
                                   momentum=0.9, epsilon=1e-3):
    # uses the batch's statistics in inference too
    mean, var = x.mean(axis=0), x.var(axis=0)
    if training:
        moving_mean = momentum * moving_mean + (1 - momentum) * mean
        moving_var = momentum * moving_var + (1 - momentum) * var
    return gamma * (x - mean) / np.sqrt(var + epsilon) + beta, moving_mean, moving_var


def _check_batch_norm(answer) -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(2.0, 3.0, size=(8, 5))
    gamma, beta = rng.normal(1.0, 0.2, 5), rng.normal(0.0, 0.2, 5)
    moving_mean, moving_var = rng.normal(size=5), rng.uniform(0.5, 2.0, 5)
    for training in (True, False):
        mode = "training" if training else "inference"
        out = answer(x, gamma, beta, moving_mean.copy(), moving_var.copy(), training=training,
                     momentum=0.9, epsilon=1e-3)
        if not (isinstance(out, tuple) and len(out) == 3):
            raise ExerciseError("return three things: (y, new_moving_mean, new_moving_var)")
        y, new_mean, new_var = (np.asarray(v, dtype=float) for v in out)
        ref_y, ref_mean, ref_var = batch_norm(x, gamma, beta, moving_mean, moving_var,
                                              training=training)
        if training and y.shape == ref_y.shape and np.allclose(
                y, batch_norm(x, gamma, beta, moving_mean, moving_var, training=False)[0]):
            raise ExerciseError("in training mode you normalise with the moving statistics; "
                                "use the mean and variance of this batch (over axis 0)")
        if not training and y.shape == ref_y.shape and np.allclose(
                y, batch_norm(x, gamma, beta, moving_mean, moving_var, training=True)[0]):
            raise ExerciseError("in inference mode you normalise with the batch's own "
                                "statistics; use moving_mean and moving_var, so a prediction "
                                "does not depend on the other images of the batch")
        if training and np.allclose(y, gamma * (x - x.mean(0)) / np.sqrt(
                x.var(0, ddof=1) + 1e-3) + beta):
            raise ExerciseError("you use the unbiased variance (divided by m - 1); batch norm "
                                "divides by the batch size m (np.var's default)")
        close(y, ref_y, f"y in {mode} mode")
        close(new_mean, ref_mean, f"the new moving mean in {mode} mode")
        close(new_var, ref_var, f"the new moving variance in {mode} mode")


# --- 02.4 a convolution block ---------------------------------------------------------------


def conv_block(x, filters):
    """One block of the chapter's CNN in Keras's functional style: a 3x3 convolution with
    'same' padding and no bias, batch norm, ReLU, then 2x2 max-pooling."""
    from keras import layers

    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)  # as vision.convnet's, and 02.3's
    x = layers.Activation("relu")(x)
    return layers.MaxPooling2D(2)(x)


def _conv_block_no_pool(x, filters):
    from keras import layers

    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)  # forgot the pooling


def _kind(layer) -> str:
    import keras

    name = type(layer).__name__
    if name == "ReLU" or (name == "Activation" and layer.get_config()["activation"] == "relu"):
        return "ReLU"
    if isinstance(layer, keras.layers.BatchNormalization):  # the kit's fused one too
        return "BatchNormalization"
    return name


def _check_conv_block(answer) -> None:
    import keras

    inputs = keras.Input((28, 28, 3))
    out = answer(inputs, 8)
    if not keras.ops.is_tensor(out) and not isinstance(out, keras.KerasTensor):
        raise ExerciseError("return the block's output tensor: conv_block(x, filters) takes "
                            "a Keras tensor x and returns layer(...)(x) of the last layer")
    shape = tuple(out.shape)[1:]
    if shape == (28, 28, 8):
        raise ExerciseError("the output is 28x28x8: the block must halve the image with a "
                            "2x2 max-pooling at the end")
    if shape == (13, 13, 8):
        raise ExerciseError("the output is 13x13x8: use padding='same' so the convolution "
                            "keeps the 28x28 size before pooling")
    if shape != (14, 14, 8):
        raise ExerciseError(f"for a 28x28x3 input and 8 filters the output should be 14x14x8, "
                            f"got {'x'.join(str(s) for s in shape)}")
    model = keras.Model(inputs, out)
    kinds = [_kind(layer) for layer in model.layers if type(layer).__name__ != "InputLayer"]
    want = ["Conv2D", "BatchNormalization", "ReLU", "MaxPooling2D"]
    if kinds != want:
        raise ExerciseError(f"the layers are {' -> '.join(kinds)}; the block is "
                            f"{' -> '.join(want)} (the ReLU as its own layer, after batch norm)")
    conv = model.layers[1]
    if tuple(conv.kernel_size) != (3, 3):
        raise ExerciseError(f"the convolution's kernel is {conv.kernel_size}, expected 3x3")
    if conv.get_config()["activation"] != "linear":
        raise ExerciseError("the convolution has its own activation: leave it linear, so "
                            "batch norm sees the raw sums and the ReLU comes after it")
    if conv.use_bias:
        raise ExerciseError("the convolution has a bias: batch norm subtracts the mean right "
                            "after it (and adds its own beta), so the bias is wasted; use "
                            "use_bias=False")
    if model.count_params() != 3 * 3 * 3 * 8 + 4 * 8:
        raise ExerciseError(f"the block has {model.count_params()} parameters, expected "
                            f"{3 * 3 * 3 * 8 + 4 * 8} (a 3x3x3x8 kernel and batch norm's 4 x 8)")


register(
    Exercise("02.1", "write inverted_dropout(x, rate, u): drop the units with u < rate and "
             "scale the kept ones by 1 / (1 - rate)", _check_dropout, inverted_dropout,
             _dropout_unscaled),
    Exercise("02.2", "write l2_penalty(weights, lam): lam times the sum of the squares of "
             "every weight in a list of arrays", _check_l2, l2_penalty, _l2_mean),
    Exercise("02.3", "write batch_norm(x, gamma, beta, moving_mean, moving_var, training=...): "
             "returns (y, new_moving_mean, new_moving_var) in training and inference mode",
             _check_batch_norm, batch_norm, _batch_norm_batch_stats_always),
    Exercise("02.4", "write conv_block(x, filters): Conv2D 3x3 same (no bias) -> batch norm -> "
             "ReLU -> 2x2 max-pool, in Keras's functional style", _check_conv_block,
             conv_block, _conv_block_no_pool),
)
