"""Chapter 01's code exercises (see :mod:`swtwo_tf.exercises`): a convolution, a max-pool and
a padded, strided convolution written by hand, then the course's CNN as a ``keras.Sequential``."""

from __future__ import annotations

import numpy as np

from swtwo_tf.exercises import Exercise, ExerciseError, close, register

# ---------------------------------------------------------------- 01.1 a convolution by hand


def conv2d_single_channel(image, kernel):
    """Slide ``kernel`` (k x k) over ``image`` (h x w), no padding, stride 1: each output
    pixel is the sum of the window times the kernel (what Keras's Conv2D computes)."""
    k_h, k_w = kernel.shape
    out = np.zeros((image.shape[0] - k_h + 1, image.shape[1] - k_w + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i:i + k_h, j:j + k_w] * kernel)
    return out


def _conv2d_flipped(image, kernel):
    """A mistake: the textbook convolution, which flips the kernel (scipy's convolve2d)."""
    return conv2d_single_channel(image, kernel[::-1, ::-1])


def _check_conv2d(answer) -> None:
    import keras

    rng = np.random.default_rng(1)
    image = rng.normal(size=(6, 7)).astype("float32")
    kernel = rng.normal(size=(3, 3)).astype("float32")
    layer = keras.layers.Conv2D(1, 3, use_bias=False)
    layer.build((1, 6, 7, 1))
    layer.set_weights([kernel[:, :, None, None]])
    expected = keras.ops.convert_to_numpy(layer(image[None, :, :, None]))[0, :, :, 0]
    actual = np.asarray(answer(image, kernel), dtype="float64")
    if actual.shape == expected.shape and np.allclose(
            actual, conv2d_single_channel(image, kernel[::-1, ::-1]), atol=1e-4):
        raise ExerciseError("you flipped the kernel: Keras's Conv2D multiplies each window by "
                            "the kernel as it is (a cross-correlation), without flipping it")
    if actual.shape != expected.shape:
        raise ExerciseError(f"a 6x7 image and a 3x3 kernel give a {expected.shape} output "
                            f"without padding (n - k + 1 per side), you give {actual.shape}")
    close(actual, expected, "the convolved image", atol=1e-4)


# ---------------------------------------------------------------- 01.2 max-pooling by hand


def max_pool(image, size=2):
    """Non-overlapping ``size`` x ``size`` max-pooling of a 2-D ``image``; rows and columns
    that do not fill a whole window are dropped (Keras's MaxPooling2D, padding="valid")."""
    h, w = image.shape[0] // size, image.shape[1] // size
    windows = image[:h * size, :w * size].reshape(h, size, w, size)
    return windows.max(axis=(1, 3))


def _mean_pool(image, size=2):
    """A mistake: the average of each window instead of its maximum."""
    h, w = image.shape[0] // size, image.shape[1] // size
    return image[:h * size, :w * size].reshape(h, size, w, size).mean(axis=(1, 3))


def _check_max_pool(answer) -> None:
    import keras

    rng = np.random.default_rng(2)
    for shape, size in [((6, 6), 2), ((7, 5), 2), ((9, 9), 3)]:
        image = rng.normal(size=shape).astype("float32")
        pooled = keras.layers.MaxPooling2D(size)(image[None, :, :, None])
        expected = keras.ops.convert_to_numpy(pooled)[0, :, :, 0]
        actual = np.asarray(answer(image, size))
        if actual.shape != expected.shape:
            raise ExerciseError(f"a {shape} image pooled in {size}x{size} windows gives "
                                f"{expected.shape} (leftover rows/columns are dropped), "
                                f"you give {actual.shape}")
        if np.allclose(actual, _mean_pool(image, size), atol=1e-5):
            raise ExerciseError("you average each window: max-pooling keeps its largest value")
        close(actual, expected, f"the {shape} image pooled with size {size}")


# ---------------------------------------------------------------- 01.3 padding and stride


def conv2d_padded(image, kernel, p, s):
    """``kernel`` slid over ``image`` with ``p`` zeros of padding on every side and stride
    ``s``: the output side is (n + 2p - k) // s + 1 (what ZeroPadding2D(p) followed by
    Conv2D(strides=s) computes)."""
    padded = np.pad(image, p)
    k = kernel.shape[0]
    side = (image.shape[0] + 2 * p - k) // s + 1
    out = np.zeros((side, side))
    for i in range(side):
        for j in range(side):
            window = padded[i * s:i * s + k, j * s:j * s + k]
            out[i, j] = np.sum(window * kernel)
    return out


def _conv2d_padded_one_side(image, kernel, p, s):
    """A mistake: the zeros added above and left only, so the image grows by p, not 2p."""
    padded = np.pad(image, ((p, 0), (p, 0)))
    k = kernel.shape[0]
    side = (padded.shape[0] - k) // s + 1
    out = np.zeros((side, side))
    for i in range(side):
        for j in range(side):
            out[i, j] = np.sum(padded[i * s:i * s + k, j * s:j * s + k] * kernel)
    return out


#: (n, k, p, s) the check tries; "same" padding of a 3x3 kernel is p=1.
PADDED_CASES = [(6, 3, 1, 1), (7, 3, 1, 2), (8, 5, 2, 2), (9, 3, 0, 3)]


def _check_conv2d_padded(answer) -> None:
    import keras

    rng = np.random.default_rng(3)
    for n, k, p, s in PADDED_CASES:
        image = rng.normal(size=(n, n)).astype("float32")
        kernel = rng.normal(size=(k, k)).astype("float32")
        conv = keras.layers.Conv2D(1, k, strides=s, use_bias=False)
        model = keras.Sequential([keras.Input((n, n, 1)), keras.layers.ZeroPadding2D(p), conv])
        conv.set_weights([kernel[:, :, None, None]])
        expected = keras.ops.convert_to_numpy(model(image[None, :, :, None]))[0, :, :, 0]
        actual = np.asarray(answer(image, kernel, p, s), dtype="float64")
        what = f"n={n}, k={k}, p={p}, s={s}"
        if actual.shape != expected.shape:
            raise ExerciseError(f"{what}: the output is {expected.shape} (o = (n + 2p - k) // s "
                                f"+ 1: p zeros on both sides, the stride divides, rounded "
                                f"down), you give {actual.shape}")
        close(actual, expected, f"the output for {what}", atol=1e-4)


# ---------------------------------------------------------------- 01.4 the course's CNN


def my_seed_cnn():
    """The course's CNN written out: one 3x3 convolution of 32 filters (same padding, ReLU),
    2x2 max-pooling, a dense layer of 128 ReLU units and a softmax over the 10 digits."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def _seed_cnn_valid_padding():
    """A mistake: the convolution without padding="same", so every shape after it shrinks."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


#: Layer settings the check compares, by layer kind.
_SETTINGS = ("filters", "kernel_size", "strides", "padding", "pool_size", "units")


def _describe(layer) -> dict:
    config = layer.get_config()
    found = {key: config[key] for key in _SETTINGS if key in config}
    if "activation" in config:
        found["activation"] = config["activation"]
    return found


def _check_seed_cnn(answer) -> None:
    import keras

    from swtwo_tf.models import vision

    model = answer()
    if not isinstance(model, keras.Model):
        raise ExerciseError(f"return the model (a keras.Sequential), not {type(model).__name__}")
    expected = vision.seed_cnn()
    kinds = [type(layer).__name__ for layer in model.layers]
    want = [type(layer).__name__ for layer in expected.layers]
    if kinds != want:
        raise ExerciseError(f"the layers are {kinds}, expected {want}")
    if tuple(model.input_shape[1:]) != tuple(expected.input_shape[1:]):
        raise ExerciseError(f"the input is {model.input_shape[1:]}, expected 28x28 grey "
                            f"images {expected.input_shape[1:]}")
    for index, (mine, theirs) in enumerate(zip(model.layers, expected.layers, strict=True)):
        got, ref = _describe(mine), _describe(theirs)
        for key in ref:
            if got.get(key) != ref[key]:
                hint = (": without padding a 3x3 kernel shrinks 28x28 to 26x26"
                        if key == "padding" else "")
                raise ExerciseError(f"layer {index} ({kinds[index]}): {key} is "
                                    f"{got.get(key)!r}, expected {ref[key]!r}{hint}")
        if tuple(mine.output.shape) != tuple(theirs.output.shape):
            raise ExerciseError(f"layer {index} ({kinds[index]}) outputs "
                                f"{tuple(mine.output.shape)[1:]}, expected "
                                f"{tuple(theirs.output.shape)[1:]}")
    if model.count_params() != expected.count_params():
        raise ExerciseError(f"{model.count_params():,} parameters, expected "
                            f"{expected.count_params():,}")


register(
    Exercise("01.1", "write conv2d_single_channel(image, kernel): a 3x3 convolution by hand "
             "(no padding, stride 1), equal to Keras's Conv2D with the same kernel.",
             _check_conv2d, conv2d_single_channel, _conv2d_flipped),
    Exercise("01.2", "write max_pool(image, size): non-overlapping max-pooling of a 2-D "
             "array, equal to Keras's MaxPooling2D.",
             _check_max_pool, max_pool, _mean_pool),
    Exercise("01.3", "write conv2d_padded(image, kernel, p, s): a convolution with p zeros of "
             "padding on every side and stride s, equal to ZeroPadding2D(p) + Conv2D(strides=s).",
             _check_conv2d_padded, conv2d_padded, _conv2d_padded_one_side),
    Exercise("01.4", "write the course's CNN as a keras.Sequential: Conv2D 32 3x3 same + ReLU, "
             "MaxPooling 2, Flatten, Dense 128 + ReLU, Dense 10 softmax.",
             _check_seed_cnn, my_seed_cnn, _seed_cnn_valid_padding),
)
