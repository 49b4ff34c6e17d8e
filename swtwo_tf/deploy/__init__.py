"""Take a trained model out of the notebook (chapter 06, ``swtwo export``, ``swtwo predict``).

- :mod:`~swtwo_tf.deploy.convert`: conversion and quantisation to TFLite (:func:`to_tflite`
  in three :data:`VARIANTS`), :func:`split_text_model` for text models;
- :mod:`~swtwo_tf.deploy.runtime`: :class:`TFLiteModel` runs a ``.tflite`` file on the
  LiteRT interpreter without importing TensorFlow;
- :mod:`~swtwo_tf.deploy.savedmodel`: :func:`export_savedmodel`, a SavedModel that takes
  raw PNG/JPEG bytes, waveforms or strings;
- :mod:`~swtwo_tf.deploy.measure`: :func:`benchmark` (size, latency, throughput and
  accuracy of every variant) and :func:`step_time` (seconds per training step under a
  precision policy or gradient accumulation);
- :mod:`~swtwo_tf.deploy.predict`: :func:`load_model` and :func:`classify`, your own files
  and sentences through a ``.keras`` or ``.tflite`` model;
- :mod:`~swtwo_tf.deploy.export`: :func:`export` in every format, and :func:`train_run`, a
  resumable training run whose folder is ready to serve (``swtwo train``).

Importing this package imports no TensorFlow; the functions that need it import it.
"""

from swtwo_tf.deploy.convert import (
    CALIBRATION_SAMPLES,
    VARIANTS,
    float_front_end,
    is_recurrent,
    representative_inputs,
    split_text_model,
    to_tflite,
)
from swtwo_tf.deploy.export import EXPORT_FORMATS, export, train_run
from swtwo_tf.deploy.measure import (
    PRECISIONS,
    accuracy,
    benchmark,
    build_with_policy,
    format_benchmark,
    keras_predictor,
    latency_ms,
    step_time,
    test_arrays,
)
from swtwo_tf.deploy.predict import (
    check_dataset,
    class_names_for,
    classify,
    input_kind,
    load_model,
)
from swtwo_tf.deploy.runtime import TFLiteModel
from swtwo_tf.deploy.savedmodel import export_savedmodel

__all__ = [
    "CALIBRATION_SAMPLES", "EXPORT_FORMATS", "PRECISIONS", "VARIANTS", "TFLiteModel",
    "accuracy", "benchmark", "build_with_policy", "check_dataset", "class_names_for",
    "classify", "export", "train_run", "export_savedmodel", "float_front_end", "format_benchmark",
    "input_kind", "is_recurrent", "keras_predictor", "latency_ms", "load_model",
    "representative_inputs", "split_text_model", "step_time", "test_arrays", "to_tflite",
]
