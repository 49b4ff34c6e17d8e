"""Keras model -> TFLite flatbuffer, in three :data:`VARIANTS` (chapter 06, ``swtwo export``).

- ``float32``: the same numbers as the Keras model;
- ``dynamic``: weights stored as int8, activations float;
- ``int8``: full-integer, weights and activations int8, calibrated on a representative
  sample of training inputs (:func:`representative_inputs`). The model still takes and
  returns floats, converted at its edges; an audio model's feature front end stays float
  (:func:`float_front_end`).

What TFLite cannot take, and what this module does about it:

- Recurrent layers (GRU/LSTM): Keras 3 writes them as a ``while`` loop over time whose
  tensor lists TFLite only accepts with a fixed batch size, so recurrent models are converted
  for a fixed batch (:func:`to_tflite` ``batch_size``). The converter's calibrator cannot
  make a full-integer int8 version of that loop (it crashes the process), so ``int8`` raises
  a clear error for them; ``dynamic`` works.
- TFLite's FFT op is slow on a CPU: :func:`to_tflite` converts a copy of the model whose
  log-mel layers compute the spectrum as one matrix product
  (``layers.audio.with_spectrum(model, "matrix")``), the same numbers up to float32
  rounding. The model itself, and training, keep ``tf.signal.stft``.
- Text vectorisation (string splitting, n-grams, vocabulary lookup) has no TFLite ops.
  :func:`split_text_model` cuts a text model after its ``TextVectorization``: the numeric
  part converts and quantises like any other model, the vectoriser stays in TensorFlow.

Write the bytes with :func:`swtwo_tf.files.atomic_write`; run them with
:class:`swtwo_tf.deploy.runtime.TFLiteModel`.
"""

from __future__ import annotations

import numpy as np

from swtwo_tf.deploy.runtime import TFLiteModel

#: TFLite variants :func:`to_tflite` makes, smallest change first.
VARIANTS = ("float32", "dynamic", "int8")
#: How many training inputs calibrate a full-integer model (the converter's advice: 100-500).
CALIBRATION_SAMPLES = 200


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


def float_front_end(model) -> list[str]:
    """Names of the layers the ``int8`` variant keeps in float32: the audio feature front end
    (``LogMelSpectrogram``, ``MFCC``, ``UtteranceNormalization``).

    Eight bits cannot hold a waveform (a quiet recording moves by less than one int8 step of
    a [-1, 1] scale) nor a power spectrum's range of 10^8 before its logarithm: quantised,
    the features lose what tells digits apart (chapter 06 shows it). The network after the
    features is quantised in full."""
    from swtwo_tf.layers import audio

    return [layer.name for layer in audio.front_end_layers(model)]


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

    Returns the ``.tflite`` bytes. Raises ``ValueError`` for what cannot be converted (string
    input, int8 of a recurrent model, int8 without ``representative``) and ``RuntimeError``
    if an ``int8`` conversion quantised part of an audio front end.
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
    from swtwo_tf.layers import audio

    converted = audio.with_spectrum(model, "matrix")  # TFLite's RFFT op is slow on a CPU
    if batch_size is not None:
        converted = _fixed_batch(converted, batch_size)
    return _convert(converted, variant, representative, batch_size)


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
