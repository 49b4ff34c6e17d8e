"""Chapter 06's code exercises (see :mod:`swtwo_tf.exercises`): the int8 arithmetic of TFLite
written by hand (a scale and zero point from a range, quantising a tensor), the latency
percentiles of a benchmark, and a model's size from its weights."""

from __future__ import annotations

import numpy as np

from swtwo_tf.exercises import Exercise, ExerciseError, close, register

#: The int8 range TFLite quantises to.
Q_MIN, Q_MAX = -128, 127

# ---------------------------------------------------------------- 06.1 scale and zero point


def scale_and_zero_point(x_min, x_max):
    """``(scale, zero_point)`` of affine int8 quantisation for values in ``[x_min, x_max]``:
    the range is widened to hold 0, its 256 levels span it, and the zero point is the int8
    value that stands for 0.0 (so 0 is exact: padding and ReLU zeros stay zero)."""
    x_min, x_max = min(0.0, float(x_min)), max(0.0, float(x_max))
    scale = (x_max - x_min) / (Q_MAX - Q_MIN)
    zero_point = int(np.clip(np.round(Q_MIN - x_min / scale), Q_MIN, Q_MAX))
    return scale, zero_point


def _uint8_zero_point(x_min, x_max):
    """A mistake: the zero point of uint8 (levels 0..255), forgetting int8 starts at -128."""
    scale, _ = scale_and_zero_point(x_min, x_max)
    return scale, int(np.round(-min(0.0, float(x_min)) / scale))


#: (x_min, x_max) the check tries: signed, all positive (a ReLU's output), all negative.
RANGES = [(-1.0, 3.0), (-0.37, 0.52), (0.0, 1.0), (0.2, 6.0), (-4.0, -0.5)]


def _check_scale_and_zero_point(answer) -> None:
    import tensorflow as tf

    x = np.random.default_rng(61).uniform(-5.0, 7.0, 200).astype(np.float32)
    for x_min, x_max in RANGES:
        got = answer(x_min, x_max)
        if not (isinstance(got, tuple | list) and len(got) == 2):
            raise ExerciseError(f"return a pair (scale, zero_point), got {got!r}")
        scale, zero = float(got[0]), got[1]
        wide_min, wide_max = min(0.0, x_min), max(0.0, x_max)
        if not np.isclose(scale, (wide_max - wide_min) / 255, rtol=1e-5):
            hint = (" (the range must be widened to include 0 first)"
                    if x_min > 0 or x_max < 0 else " (256 levels make 255 steps)")
            raise ExerciseError(f"range [{x_min}, {x_max}]: scale {scale:.6g}, expected "
                                f"{(wide_max - wide_min) / 255:.6g}{hint}")
        if int(zero) != zero or not Q_MIN <= zero <= Q_MAX:
            raise ExerciseError(f"range [{x_min}, {x_max}]: the zero point must be an int8 "
                                f"integer in [-128, 127], got {zero!r}")
        if not np.isclose(scale * (Q_MIN - zero), wide_min, atol=scale / 2 + 1e-7):
            raise ExerciseError(f"range [{x_min}, {x_max}]: with zero point {zero}, q=-128 "
                                f"stands for {scale * (Q_MIN - zero):.4g}, but it should stand "
                                f"for the range's minimum {wide_min:.4g} (int8 starts at -128, "
                                "not 0)")
        mine = scale * (np.clip(np.round(x / scale) + zero, Q_MIN, Q_MAX) - zero)
        expected = tf.quantization.fake_quant_with_min_max_args(  # TF's op on the widened
            x, min=wide_min, max=wide_max).numpy()  # range, as TFLite's calibration widens it
        close(mine, expected, f"x quantised with your scale and zero point for "
              f"[{x_min}, {x_max}] (against tf.quantization.fake_quant_with_min_max_args)",
              atol=1e-5)


# ---------------------------------------------------------------- 06.2 quantise a tensor


def quantize(x, scale, zero_point):
    """Float array ``x`` -> int8 array ``q = clip(round(x / scale) + zero_point, -128, 127)``."""
    q = np.round(np.asarray(x, dtype=np.float64) / scale) + zero_point
    return np.clip(q, Q_MIN, Q_MAX).astype(np.int8)


def _quantize_without_clipping(x, scale, zero_point):
    """A mistake: no clipping, so values outside the range wrap around in the int8 cast."""
    return (np.round(np.asarray(x, dtype=np.float64) / scale) + zero_point).astype(np.int8)


def _check_quantize(answer) -> None:
    import tensorflow as tf

    rng = np.random.default_rng(6)
    x = np.concatenate([rng.normal(0.5, 1.0, 40), [0.0, -3.0, 4.5]]).astype(np.float32)
    scale, zero = 2.0 / 255, -64  # the int8 range stands for [-0.5, 1.5]: some x fall outside
    q = np.asarray(answer(x, scale, zero))
    if q.shape != x.shape:
        raise ExerciseError(f"q has shape {q.shape}, expected the input's {x.shape}")
    if q.dtype != np.int8:
        raise ExerciseError(f"q has dtype {q.dtype}: return int8 values (.astype(np.int8))")
    if q[x == 0.0][0] != zero:
        raise ExerciseError(f"0.0 became {q[x == 0.0][0]}, expected the zero point {zero}")
    low, high = scale * (Q_MIN - zero), scale * (Q_MAX - zero)
    outside = (x < low) | (x > high)
    expected_edges = np.where(x[outside] < low, Q_MIN, Q_MAX)
    if not np.array_equal(q[outside], expected_edges):
        raise ExerciseError(f"values outside [{low:.3g}, {high:.3g}] must saturate at -128 or "
                            f"127; you give {q[outside].tolist()} for {x[outside].round(2)} "
                            "(clip before casting to int8, or they wrap around)")
    dequantized = scale * (q.astype(np.float64) - zero)
    expected = tf.quantization.fake_quant_with_min_max_args(x, min=low, max=high).numpy()
    close(dequantized, expected, "scale * (q - zero_point) (against "
          "tf.quantization.fake_quant_with_min_max_args)", atol=1e-5)


# ---------------------------------------------------------------- 06.3 latency percentiles


def latency_summary(times_ms, warmup=5):
    """``(p50, p95)`` of the call times in ``times_ms`` after dropping the first ``warmup``
    calls (tracing, memory allocation and cold caches make them slow)."""
    kept = np.asarray(times_ms, dtype=np.float64)[warmup:]
    return float(np.percentile(kept, 50)), float(np.percentile(kept, 95))


def _latency_with_warmup(times_ms, warmup=5):
    """A mistake: the warm-up calls are kept in the statistics."""
    times = np.asarray(times_ms, dtype=np.float64)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def _check_latency_summary(answer) -> None:
    rng = np.random.default_rng(3)
    steady = 0.05 + rng.gamma(2.0, 0.004, size=100)  # a fast model: ~0.06 ms per call
    times = np.concatenate([[40.0, 3.0, 1.0, 0.4, 0.2], steady])  # the first calls are slow
    got = answer(times, warmup=5)
    if not (isinstance(got, tuple | list) and len(got) == 2):
        raise ExerciseError(f"return a pair (p50, p95), got {got!r}")
    p50, p95 = float(got[0]), float(got[1])
    if np.allclose([p50, p95], _latency_with_warmup(times), rtol=1e-9):
        raise ExerciseError(f"p50 = {p50:.4g} ms, p95 = {p95:.4g} ms: the 5 warm-up calls "
                            "(40 ms, 3 ms, ...) are still in your statistics; drop the first "
                            "`warmup` times")
    expected = (float(np.percentile(steady, 50)), float(np.percentile(steady, 95)))
    if np.isclose(p50, float(np.mean(steady)), rtol=1e-6):
        raise ExerciseError("p50 is the median (np.percentile(t, 50)), not the mean")
    close([p50, p95], expected, "(p50, p95) of the 100 timed calls", atol=1e-9, rtol=1e-6)
    short = answer(np.arange(1.0, 12.0), warmup=1)  # 2..11 ms: p50 6.5, p95 10.55
    close(np.asarray(short, dtype=float), [6.5, 10.55],
          "(p50, p95) of the times 1..11 ms with warmup=1 (linear interpolation between "
          "the two nearest calls, as np.percentile does)", atol=1e-9)


# ---------------------------------------------------------------- 06.4 size from the weights


def weight_bytes(model, bytes_per_weight=4):
    """Bytes the weights of a Keras ``model`` take at ``bytes_per_weight`` bytes per number:
    every weight (trainable or not: BatchNorm's moving mean and variance ship too)."""
    return int(sum(int(np.prod(w.shape)) for w in model.weights) * bytes_per_weight)


def _trainable_bytes_only(model, bytes_per_weight=4):
    """A mistake: only the trainable weights, forgetting BatchNorm's moving statistics."""
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights) * bytes_per_weight)


def _check_weight_bytes(answer) -> None:
    import keras

    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(8, 3),
                              keras.layers.BatchNormalization(), keras.layers.Flatten(),
                              keras.layers.Dense(10)], name="tiny")
    frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    for per_weight, what in ((4, "float32"), (1, "int8"), (2, "float16")):
        got = answer(model, per_weight)
        expected = model.count_params() * per_weight
        if got == expected - frozen * per_weight:
            raise ExerciseError(f"{what}: you count only the trainable weights; the "
                                f"{frozen} non-trainable ones (BatchNorm's moving mean and "
                                "variance) are saved in the file too")
        if got != expected:
            raise ExerciseError(f"{what} ({per_weight} byte(s) per weight): you give {got!r} "
                                f"bytes, expected {expected} ({model.count_params()} weights "
                                f"x {per_weight})")


register(
    Exercise("06.1", "write scale_and_zero_point(x_min, x_max) -> (scale, zero_point) of "
             "affine int8 quantisation, with 0.0 exactly representable",
             _check_scale_and_zero_point, scale_and_zero_point, _uint8_zero_point),
    Exercise("06.2", "write quantize(x, scale, zero_point) -> the int8 array "
             "clip(round(x / scale) + zero_point, -128, 127)",
             _check_quantize, quantize, _quantize_without_clipping),
    Exercise("06.3", "write latency_summary(times_ms, warmup) -> (p50, p95) of the call times "
             "after the warm-up calls", _check_latency_summary, latency_summary,
             _latency_with_warmup),
    Exercise("06.4", "write weight_bytes(model, bytes_per_weight) -> the bytes a model's "
             "weights take", _check_weight_bytes, weight_bytes, _trainable_bytes_only),
)
