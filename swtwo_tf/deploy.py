"""Take a trained model out of the notebook: SavedModel with raw inputs, TFLite, quantisation,
and a size/latency/accuracy benchmark (chapter 06, ``swtwo export``, ``swtwo predict``).

- :func:`export_savedmodel`: a SavedModel whose ``serve`` signature takes what a user has:
  encoded PNG/JPEG bytes for the image models, a float waveform at 8 kHz for the speech
  models, strings for the text models. Preprocessing travels with the model.
- :func:`to_tflite`: TFLite flatbuffers in three :data:`VARIANTS`: ``float32``; ``dynamic``
  (weights stored as int8, activations float); ``int8`` (full-integer: weights and
  activations int8, calibrated on a representative sample of training inputs; the model
  still takes and returns floats, converted at its edges; an audio model's feature front end
  stays float, see :func:`float_front_end`).
- :class:`TFLiteModel`: runs a ``.tflite`` file with the LiteRT interpreter
  (``ai-edge-litert``), without importing TensorFlow: this is what lets ``swtwo predict``
  answer in well under 2 seconds.
- :func:`benchmark`: for every variant, file size, p50/p95 latency at batch 1, throughput at
  batch 64 and test accuracy, in one run.

What TFLite cannot take, and what this module does about it (chapter 06 explains):

- Recurrent layers (GRU/LSTM): Keras 3 writes them as a ``while`` loop over time whose
  tensor lists TFLite only accepts with a fixed batch size, so recurrent models are converted
  for a fixed batch (:func:`to_tflite` ``batch_size``). Full-integer int8 of that loop is not
  supported by the converter in TensorFlow 2.21 (its calibrator crashes the process), so
  ``int8`` raises a clear error for them; ``dynamic`` works.
- TFLite's FFT op is slow on a CPU (0.19 of the speech CNN's 0.43 ms): :func:`to_tflite`
  converts inside ``audio.matrix_dft``, so the log-mel spectrum is one matrix product in the
  flatbuffer, the same numbers within 3e-6. Training keeps ``tf.signal.stft``.
- Text vectorisation (string splitting, n-grams, vocabulary lookup) has no TFLite ops.
  :func:`split_text_model` cuts a text model after its ``TextVectorization``: the numeric
  part converts and quantises like any other model, the vectoriser stays in TensorFlow.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

#: TFLite variants :func:`to_tflite` makes, smallest change first.
VARIANTS = ("float32", "dynamic", "int8")
#: How many training inputs calibrate a full-integer model (the converter's advice: 100-500).
CALIBRATION_SAMPLES = 200


# --- what kind of model is this -------------------------------------------------------------

def input_kind(model) -> str:
    """``"text"``, ``"audio"`` or ``"image"``: what a course model takes, from its input spec.

    ``model`` is a Keras model or a :class:`TFLiteModel`."""
    from swtwo_tf.datasets.speech import LENGTH

    if isinstance(model, TFLiteModel):
        shape, dtype, name = model.input_shape, str(model.input["dtype"]), model.path
    else:
        spec = model.inputs[0]
        shape, dtype, name = tuple(spec.shape[1:]), str(spec.dtype), model.name
    if "string" in dtype:
        return "text"
    if shape == (LENGTH,):
        return "audio"
    if len(shape) in (2, 3):
        return "image"
    raise ValueError(f"model {name} takes {shape} {dtype} per example: not an image, audio "
                     "or text model of this course")


def representative_inputs(dataset, count: int = CALIBRATION_SAMPLES) -> np.ndarray:
    """The first ``count`` inputs of a batched ``(inputs, labels)`` dataset as one array:
    calibration data for :func:`to_tflite` ``"int8"`` (take it from training data)."""
    parts, total = [], 0
    for x, _ in dataset:
        parts.append(np.asarray(x))
        total += len(parts[-1])
        if total >= count:
            break
    if not parts:
        raise ValueError("the dataset is empty: no inputs to calibrate int8 with")
    return np.concatenate(parts)[:count]


def test_arrays(dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(inputs, labels)`` of a whole batched dataset as NumPy arrays (for the TFLite runs)."""
    xs, ys = zip(*((np.asarray(x), np.asarray(y)) for x, y in dataset), strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def is_recurrent(model) -> bool:
    """True when ``model`` (or a model nested in it) has a GRU/LSTM/SimpleRNN layer."""
    import keras

    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional):
            return True
    return False


def split_text_model(model):
    """``(vectorizer, numeric_model)`` for a chapter 05 model: the ``TextVectorization`` layer
    that turns strings into numbers, and the rest of the network as a model of its own.

    ``numeric_model(vectorizer(texts))`` equals ``model(texts)``. Only the numeric part can be
    converted to TFLite (string ops have no TFLite kernels).
    """
    import keras

    found = [layer for layer in model.layers
             if isinstance(layer, keras.layers.TextVectorization)]
    if len(found) != 1:
        raise ValueError(f"model {model.name!r} has {len(found)} TextVectorization layers; "
                         "expected exactly one (a chapter 05 text model)")
    vectorize = found[0]
    numeric = keras.Model(vectorize.output, model.outputs[0], name=f"{model.name}_numeric")
    return vectorize, numeric


# --- TFLite ---------------------------------------------------------------------------------

def _fixed_batch(model, batch_size: int):
    """The same layers and weights behind an input of exactly ``batch_size`` rows."""
    import keras

    spec = model.inputs[0]
    inputs = keras.Input(batch_shape=(batch_size, *spec.shape[1:]), dtype=spec.dtype)
    return keras.Model(inputs, model(inputs, training=False), name=model.name)


def to_tflite(model, variant: str = "float32", *, representative=None,
              batch_size: int | None = None) -> bytes:
    """Convert a trained Keras ``model`` to a TFLite flatbuffer (chapter 06, ``swtwo export``).

    Args:
        variant: one of :data:`VARIANTS`.
        representative: for ``"int8"``: an array of typical inputs (training data, never test
            data); the first :data:`CALIBRATION_SAMPLES` fix the int8 ranges of every tensor.
        batch_size: fix the batch dimension (required in effect for recurrent models, where
            it defaults to 1); ``None`` keeps it variable.

    Returns the ``.tflite`` bytes; write them with :func:`save_bytes`. Raises
    ``RuntimeError`` if an ``int8`` conversion quantised part of an audio front end.
    """
    import tensorflow as tf

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    if "string" in str(model.inputs[0].dtype):
        raise ValueError(f"model {model.name!r} takes strings, and TFLite has no string "
                         "vectorisation ops: convert the numeric part of "
                         "deploy.split_text_model(model) instead")
    recurrent = is_recurrent(model)
    if variant == "int8" and recurrent:
        raise ValueError(f"model {model.name!r} has recurrent layers: full-integer int8 of "
                         "their time loop is not supported by the TFLite converter in "
                         f"TensorFlow {tf.__version__}; use the 'dynamic' variant")
    if variant == "int8" and representative is None:
        raise ValueError("the int8 variant needs representative= training inputs to "
                         "calibrate the activations' ranges")
    if recurrent and batch_size is None:
        batch_size = 1
    from swtwo_tf.features import audio

    with audio.matrix_dft(model):  # TFLite's RFFT is slow; see LogMelSpectrogram
        return _convert(model if batch_size is None else _fixed_batch(model, batch_size),
                        variant, representative, batch_size)


def _convert(model, variant: str, representative, batch_size: int | None) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "int8":
        sample = np.asarray(representative, dtype=np.float32)[:CALIBRATION_SAMPLES]
        if len(sample) == 0:
            raise ValueError("representative is empty: give some training inputs")
        step = batch_size or 1
        usable = len(sample) - len(sample) % step or len(sample)

        def calibration():
            for start in range(0, usable, step):
                yield [sample[start:start + step]]

        converter.representative_dataset = calibration
        keep = float_front_end(model)
        if keep:
            return _quietly(_quantize_all_but, model, converter, keep, calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return _quietly(converter.convert)


def _quietly(function, *args):
    """Call ``function`` without the SavedModel listing Keras prints while converting."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args)


def _ready_interpreter(content: bytes, num_threads: int):
    interpreter = _interpreter_class()(model_content=content, num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


def _without_info_lines(function, *args):
    """Call ``function`` with the C++ runtime's ``INFO:`` lines (LiteRT announces its XNNPACK
    delegate on stderr) held back; warnings and errors still reach stderr."""
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (some notebook front ends): leave it be
        return function(*args)
    with tempfile.TemporaryFile(mode="w+b") as log:
        os.dup2(log.fileno(), 2)
        try:
            return function(*args)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            log.seek(0)
            kept = [line for line in log.read().decode(errors="replace").splitlines(True)
                    if not line.startswith("INFO: ")]
            if kept:
                sys.stderr.write("".join(kept))


def float_front_end(model) -> list[str]:
    """Names of the layers the ``int8`` variant keeps in float32: the audio feature front end
    (``LogMelSpectrogram``, ``MFCC``, ``UtteranceNormalization``).

    Eight bits cannot hold a waveform (a quiet recording moves by less than one int8 step of
    a [-1, 1] scale) nor a power spectrum's range of 10^8 before its logarithm: quantising
    them too took a quick-mode speech CNN from 51.6 % to 26.8 % test accuracy. The network
    after the features is quantised in full."""
    from swtwo_tf.features import audio

    return [layer.name for layer in audio.front_end_layers(model)]


def _quantize_all_but(model, converter, layer_names: list[str], calibration) -> bytes:
    """Integer-quantise every op except those of ``layer_names`` (TFLite's selective
    quantisation through its quantisation debugger)."""
    import tensorflow as tf

    float_model = TFLiteModel(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    names = [t["name"] for t in float_model.interpreter.get_tensor_details()]
    denied = [n for n in names if any(f"/{layer}" in n for layer in layer_names)]
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=denied)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=calibration, debug_options=options)
    content = debugger.get_nondebug_quantized_model()
    details = TFLiteModel(content).interpreter.get_tensor_details()
    quantised = [t["name"] for t in details if t["dtype"] == np.int8
                 and any(f"/{layer}" in t["name"] for layer in layer_names)]
    if quantised:  # the denylist matches names, and a fused or multi-output op can slip by
        raise RuntimeError(f"int8 conversion quantised {len(quantised)} tensor(s) of the "
                           f"layers it must keep float ({', '.join(layer_names)}), first "
                           f"{quantised[0]!r}: the model would lose its accuracy")
    return content


def save_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` atomically (a temporary file in the same folder, renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a model file is for sharing
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the runtime ships separately from TensorFlow since 2.20
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter
    return Interpreter


class TFLiteModel:
    """A ``.tflite`` model (a path or bytes) behind a ``predict`` like Keras's (chapter 06).

    Runs on the LiteRT interpreter without importing TensorFlow. ``num_threads`` defaults to
    1: the latency of one request on one core, the number a phone or a busy server sees.
    Inputs and outputs are floats whatever the variant: quantised edges are converted here
    with the scale and zero point stored in the model.
    """

    def __init__(self, source: str | os.PathLike | bytes, *, num_threads: int = 1):
        if isinstance(source, bytes):
            content, self.path = source, None
        else:
            self.path = Path(source)
            if not self.path.is_file():
                raise ValueError(f"{self.path}: no such file (expected a .tflite model)")
            content = self.path.read_bytes()
        self.size = len(content)
        try:
            self.interpreter = _without_info_lines(_ready_interpreter, content, num_threads)
        except (ValueError, RuntimeError) as exc:
            name = self.path or "model bytes"
            raise ValueError(f"{name}: not a TFLite model ({str(exc).splitlines()[0][:160]})"
                             ) from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        signature = self.input.get("shape_signature", self.input["shape"])
        #: The fixed batch size, or ``None`` when the model takes any batch.
        self.batch_size = None if signature[0] == -1 else int(signature[0])
        self.input_shape = tuple(int(d) for d in self.input["shape"][1:])
        self._rows = int(self.input["shape"][0])

    def _run(self, x: np.ndarray) -> np.ndarray:
        if len(x) != self._rows:
            self.interpreter.resize_tensor_input(self.input["index"], [len(x), *self.input_shape])
            self.interpreter.allocate_tensors()
            self._rows = len(x)
        scale, zero = self.input["quantization"]
        if scale:  # integer input: quantise
            info = np.iinfo(self.input["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        self.interpreter.set_tensor(self.input["index"], x.astype(self.input["dtype"]))
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.output["index"])
        scale, zero = self.output["quantization"]
        return (y.astype(np.float32) - zero) * scale if scale else y.astype(np.float32)

    def predict(self, x, batch_size: int = 64) -> np.ndarray:
        """Class probabilities for every row of ``x`` (a NumPy array of model inputs)."""
        x = np.asarray(x, dtype=np.float32)
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"inputs of shape {tuple(x.shape[1:])} per example; the model "
                             f"takes {self.input_shape}")
        step = self.batch_size or batch_size
        outputs = []
        for start in range(0, len(x), step):
            chunk = x[start:start + step]
            rows = len(chunk)
            if self.batch_size and rows < step:  # a fixed-batch model: pad the last chunk
                chunk = np.concatenate([chunk, np.zeros((step - rows, *chunk.shape[1:]),
                                                        np.float32)])
            outputs.append(self._run(chunk)[:rows])
        return np.concatenate(outputs)


# --- SavedModel with raw inputs -------------------------------------------------------------

def image_from_bytes(data):
    """A TensorFlow version of ``images.load_image_file`` for one encoded PNG/JPEG (a scalar
    string tensor): grey, light-on-dark, cropped to the object, fitted in 20x20 and centred on
    28x28, scaled to [0, 1]. Runs inside the exported SavedModel (chapter 06)."""
    import tensorflow as tf

    grey = tf.cast(tf.io.decode_image(data, channels=1, expand_animations=False)[..., 0],
                   tf.float32)

    def border_median(a):
        edge = tf.sort(tf.concat([a[0], a[-1], a[:, 0], a[:, -1]], 0))
        return edge[tf.shape(edge)[0] // 2]

    grey = tf.cond(border_median(grey) > 127, lambda: 255.0 - grey, lambda: grey)
    grey = tf.nn.relu(grey - border_median(grey))
    peak = tf.reduce_max(grey)
    mask = grey > 0.2 * peak
    rows = tf.where(tf.reduce_any(mask, axis=1))[:, 0]
    cols = tf.where(tf.reduce_any(mask, axis=0))[:, 0]

    def fitted():
        crop = grey[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        size = tf.cast(tf.shape(crop), tf.float32)
        factor = 20.0 / tf.reduce_max(size)
        new = tf.maximum(1, tf.cast(tf.round(size * factor), tf.int32))
        small = tf.clip_by_value(tf.image.resize(crop[..., None], new, method="lanczos3"),
                                 0.0, 255.0)
        top, left = (28 - new[0]) // 2, (28 - new[1]) // 2
        canvas = tf.pad(small, [[top, 28 - new[0] - top], [left, 28 - new[1] - left], [0, 0]])
        return canvas / tf.maximum(tf.reduce_max(canvas), 1.0)

    blank = tf.logical_or(peak <= 0, tf.size(rows) == 0)
    image = tf.cond(blank, lambda: tf.zeros([28, 28, 1]), fitted)
    return tf.ensure_shape(image, [28, 28, 1])


def export_savedmodel(model, path: str | os.PathLike) -> Path:
    """Write ``model`` as a SavedModel whose ``serve`` signature takes raw input (chapter 06).

    - image models: ``serve(images)``, a batch of encoded PNG/JPEG files as strings
      (``tf.io.read_file``), preprocessed as :func:`image_from_bytes` does;
    - speech models: ``serve(waveforms)``, float32 ``(batch, samples)`` at 8 kHz in [-1, 1],
      any number of samples (padded with silence or cut to the model's 1 s);
    - text models: ``serve(texts)``, a batch of strings.

    Returns the folder. Load it with ``tf.saved_model.load(path).serve(...)``, from Python,
    TensorFlow Serving or any TensorFlow runtime, without this package.
    """
    import keras
    import tensorflow as tf

    kind = input_kind(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    if kind == "image":
        def serve(images):
            x = tf.map_fn(image_from_bytes, images, fn_output_signature=tf.float32)
            return model(x, training=False)
        spec = tf.TensorSpec([None], tf.string, name="images")
    elif kind == "audio":
        from swtwo_tf.datasets.speech import LENGTH

        def serve(waveforms):
            x = waveforms[:, :LENGTH]
            x = tf.pad(x, [[0, 0], [0, LENGTH - tf.shape(x)[1]]])
            return model(tf.ensure_shape(x, [None, LENGTH]), training=False)
        spec = tf.TensorSpec([None, None], tf.float32, name="waveforms")
    else:
        def serve(texts):
            return model(texts, training=False)
        spec = tf.TensorSpec([None], tf.string, name="texts")
    archive.add_endpoint("serve", serve, input_signature=[spec])
    path = Path(path)
    if path.exists():
        raise ValueError(f"{path} exists: choose a new folder for the SavedModel")
    tmp = path.with_name(path.name + ".partial")
    archive.write_out(str(tmp), verbose=False)
    tmp.replace(path)
    return path


# --- measuring ------------------------------------------------------------------------------

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


def benchmark(model, test_x, test_y, *, representative=None, runs: int = 100,
              variants=VARIANTS, num_threads: int = 1, log=print) -> list[dict]:
    """Measure ``model`` as Keras and as each TFLite variant, in one run (chapter 06).

    ``test_x``/``test_y``: NumPy inputs and labels of the test set (for a text model, its
    vectorised input: see :func:`split_text_model`). ``representative``: training inputs for
    the int8 calibration. A variant the converter cannot make gets a row with its reason in
    ``note`` and no numbers.

    Each row: ``variant``, ``bytes``, ``p50_ms`` and ``p95_ms`` (batch 1), ``per_second``
    (throughput at batch 64), ``accuracy``, ``note``.
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


def _throughput(predict, x, *, runs: int) -> float:
    predict(x)
    start = time.perf_counter()
    for _ in range(runs):
        predict(x)
    return len(x) * runs / (time.perf_counter() - start)


def format_benchmark(rows: list[dict]) -> str:
    """The benchmark rows as a text table, with size and speed relative to TFLite float32."""
    base = next((r for r in rows if r["variant"] == "tflite float32" and r["bytes"]), None)
    lines = [f"{'variant':<20} {'size':>9} {'smaller':>8} {'p50 ms':>8} {'p95 ms':>8} "
             f"{'faster':>7} {'per s @64':>10} {'accuracy':>9}"]
    for r in rows:
        if r["bytes"] is None:
            lines.append(f"{r['variant']:<20} not made: {r['note']}")
            continue
        smaller = f"{base['bytes'] / r['bytes']:.1f}x" if base else "-"
        faster = f"{base['p50_ms'] / r['p50_ms']:.1f}x" if base else "-"
        lines.append(f"{r['variant']:<20} {r['bytes'] / 1e3:>7.0f}KB {smaller:>8} "
                     f"{r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} {faster:>7} "
                     f"{r['per_second']:>10.0f} {r['accuracy']:>9.2%}")
    return "\n".join(lines)
