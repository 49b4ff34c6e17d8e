"""What a model costs: size, latency, throughput and accuracy of every TFLite variant in one
run (:func:`benchmark`), and seconds per training step under a precision policy or gradient
accumulation (:func:`step_time`). Chapter 06 and ``benchmarks/deploy.py``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from swtwo_tf import config
from swtwo_tf.deploy.convert import VARIANTS, is_recurrent, to_tflite
from swtwo_tf.deploy.runtime import TFLiteModel
from swtwo_tf.tables import format_table

#: The dtype policies :func:`build_with_policy` accepts.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def test_arrays(dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, labels)`` of a whole batched dataset as NumPy arrays (for the TFLite runs)."""
    xs, ys = zip(*((np.asarray(x), np.asarray(y)) for x, y in dataset), strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def latency_ms(predict, x: np.ndarray, *, runs: int = 100, warmup: int = 5) -> tuple:
    """``(p50, p95)`` milliseconds of ``predict(x)`` over ``runs`` calls, after ``warmup``."""
    for _ in range(warmup):
        predict(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predict(x)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def keras_predictor(model):
    """``predict(x)`` for a Keras model as one compiled graph call (no ``model.predict``
    overhead), the fair float reference for the TFLite variants."""
    import tensorflow as tf

    call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return lambda x: np.asarray(call(x))


def _throughput(predict, x, *, runs: int) -> float:
    predict(x)
    start = time.perf_counter()
    for _ in range(runs):
        predict(x)
    return len(x) * runs / (time.perf_counter() - start)


def benchmark(model, test_x, test_y, *, representative=None, runs: int = 100,
              variants=VARIANTS, num_threads: int = 1, log=print) -> list[dict]:
    """Measure ``model`` as Keras and as each TFLite variant, in one run.

    ``test_x``/``test_y``: NumPy inputs and labels of the test set (for a text model, its
    vectorised input: see :func:`~swtwo_tf.deploy.convert.split_text_model`).
    ``representative``: training inputs for the int8 calibration. A variant the converter
    cannot make gets a row with its reason in ``note`` and no numbers.

    Each row: ``variant``, ``bytes``, ``p50_ms`` and ``p95_ms`` (batch 1), ``per_second``
    (throughput at batch 64), ``accuracy``, ``note``. :func:`format_benchmark` prints them.
    """
    test_x = np.asarray(test_x, dtype=np.float32)
    test_y = np.asarray(test_y)
    one, batch = test_x[:1], test_x[:64]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        keras_file = Path(tmp) / "model.keras"
        model.save(keras_file)
        predict = keras_predictor(model)
        p50, p95 = latency_ms(predict, one, runs=runs)
        start = time.perf_counter()
        probabilities = np.concatenate([predict(test_x[i:i + 256])
                                        for i in range(0, len(test_x), 256)])
        seconds = time.perf_counter() - start
        rows.append({"variant": "keras (TensorFlow)", "bytes": keras_file.stat().st_size,
                     "p50_ms": p50, "p95_ms": p95,
                     "per_second": _throughput(predict, batch, runs=max(3, runs // 10)),
                     "accuracy": float(np.mean(probabilities.argmax(-1) == test_y)),
                     "note": f"all threads; test set in {seconds:.1f} s"})
    recurrent = is_recurrent(model)
    for variant in variants:
        log(f"converting to TFLite {variant} ...")
        try:
            content = to_tflite(model, variant, representative=representative)
        except ValueError as exc:
            rows.append({"variant": f"tflite {variant}", "bytes": None, "p50_ms": None,
                         "p95_ms": None, "per_second": None, "accuracy": None,
                         "note": str(exc)})
            continue
        lite = TFLiteModel(content, num_threads=num_threads)
        p50, p95 = latency_ms(lite.predict, one, runs=runs)
        per_second = _throughput(lite.predict, batch, runs=max(3, runs // 10))
        accuracy = float(np.mean(lite.predict(test_x).argmax(-1) == test_y))
        note = f"{num_threads} thread" + ("s" if num_threads > 1 else "")
        if recurrent:
            note += "; batch fixed at 1: batch 64 is 64 calls"
        rows.append({"variant": f"tflite {variant}", "bytes": len(content), "p50_ms": p50,
                     "p95_ms": p95, "per_second": per_second, "accuracy": accuracy,
                     "note": note})
    return rows


def format_benchmark(rows: list[dict]) -> str:
    """The :func:`benchmark` rows as a text table, with size and speed relative to TFLite
    float32; a variant that was not made is listed under the table with its reason."""
    base = next((r for r in rows if r["variant"] == "tflite float32" and r["bytes"]), None)
    header = ["variant", "size", "smaller", "p50 ms", "p95 ms", "faster", "per s @64",
              "accuracy"]
    cells, missing = [], []
    for r in rows:
        if r["bytes"] is None:
            cells.append([r["variant"], "not made", *[None] * 6])
            missing.append(f"{r['variant']} not made: {r['note']}")
            continue
        cells.append([r["variant"], f"{r['bytes'] / 1e3:.0f} KB",
                      f"{base['bytes'] / r['bytes']:.1f}x" if base else None,
                      f"{r['p50_ms']:.2f}", f"{r['p95_ms']:.2f}",
                      f"{base['p50_ms'] / r['p50_ms']:.1f}x" if base else None,
                      f"{r['per_second']:.0f}", f"{r['accuracy']:.2%}"])
    return "\n".join([format_table(header, cells), *missing])


def build_with_policy(build, precision: str = "float32"):
    """Build a model under a Keras dtype policy, then restore the global policy.

    ``"mixed_float16"`` / ``"mixed_bfloat16"`` compute in 16 bits and keep the weights in
    float32: twice the speed and half the activation memory on GPUs with tensor cores (float16)
    or TPUs and recent CPUs with bfloat16 units. Keras adds loss scaling for float16 itself
    when the model is compiled. ``build`` is a no-argument callable returning the model.
    """
    import keras

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        return build()
    finally:
        keras.config.set_dtype_policy(previous)


def step_time(build, train, *, batch_size: int = 64, precision: str = "float32",
              accumulate: int | None = None, steps: int = 30, warmup: int = 3,
              seed: int = 42) -> dict:
    """Seconds per training step of a freshly built model, its mean training loss over the
    timed steps, and how many weight updates the optimizer made (chapter 06's measured
    comparison of precisions and gradient accumulation).

    ``build`` is a no-argument model builder, ``train`` a batched ``(inputs, labels)``
    dataset, re-batched to ``batch_size``. Trains ``warmup`` steps (graph tracing) and then
    ``steps`` steps, timed. Not capped by quick mode: ``steps`` is already small.
    """
    from swtwo_tf.training import build_before_tracing, compile_classifier

    config.seed_everything(seed)
    model = build_with_policy(build, precision)
    compile_classifier(model, learning_rate=1e-3, accumulate=accumulate)
    batches = train.unbatch().batch(batch_size, drop_remainder=True).repeat().take(
        warmup + steps)
    build_before_tracing(model, batches)  # one trace of the train step, not two
    model.fit(batches.take(warmup), epochs=1, verbose=0, shuffle=False)
    start = time.perf_counter()
    history = model.fit(batches.skip(warmup), epochs=1, verbose=0, shuffle=False)
    seconds = (time.perf_counter() - start) / steps
    return {"precision": precision, "accumulate": accumulate or 1, "seconds_per_step": seconds,
            "train_loss": float(history.history["loss"][-1]),
            "weight_updates": int(model.optimizer.iterations.numpy())}


def accuracy(model, dataset) -> float:
    """Accuracy of a Keras model or a :class:`TFLiteModel` on a batched ``(inputs, labels)``
    dataset (``swtwo evaluate``)."""
    if isinstance(model, TFLiteModel):
        x, y = test_arrays(dataset)
        return float(np.mean(model.predict(x).argmax(-1) == y))
    if not model.compiled:
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return float(model.evaluate(dataset, verbose=0, return_dict=True)["accuracy"])


def architecture_row(model, history, test_x, test_y, *, runs: int = 50) -> dict:
    """One row of chapter 07's architecture table: test accuracy, parameters, multiply-adds
    per image (``models.modern.multiply_adds``), training wall and CPU time (``history`` from
    ``training.fit``), and the float32 TFLite model's latency on one image (one thread; not
    in quick mode, where converting each network would take longer than training it)."""
    from swtwo_tf.models.modern import multiply_adds

    probabilities = model.predict(np.asarray(test_x, np.float32), batch_size=500, verbose=0)
    latency = None
    if config.quick_mode():
        print(f"Quick mode (SWTWO_QUICK=1): {model.name}'s TFLite latency is not measured.")
    else:
        lite = TFLiteModel(to_tflite(model, "float32"), num_threads=1)
        latency = latency_ms(lite.predict, np.asarray(test_x[:1], np.float32), runs=runs)[0]
    return {"model": model.name,
            "test_accuracy": float(np.mean(probabilities.argmax(-1) == np.asarray(test_y))),
            "parameters": int(model.count_params()), "multiply_adds": multiply_adds(model),
            "train_seconds": float(history.seconds),
            "train_cpu_seconds": float(history.cpu_seconds),
            "tflite_ms": latency}


def format_architectures(rows: list[dict]) -> str:
    """:func:`architecture_row` rows as an aligned text table."""
    if not rows:
        raise ValueError("no rows to format")
    return format_table(
        ["model", "test acc", "params", "multiply-adds", "train CPU", "TFLite 1 image"],
        [[r["model"], f"{r['test_accuracy']:.2%}", f"{r['parameters']:,}",
          f"{r['multiply_adds'] / 1e6:.1f} M", f"{r['train_cpu_seconds'] / 60:.1f} min",
          f"{r['tflite_ms']:.2f} ms" if r["tflite_ms"] is not None else "-"] for r in rows],
        align="lrrrrr")
