"""Run a ``.tflite`` model on the LiteRT interpreter (``ai-edge-litert``) behind a ``predict``
like Keras's (chapter 06, ``swtwo predict``, ``swtwo evaluate``).

This module imports only the standard library, NumPy and ``ai_edge_litert``, never
TensorFlow or Keras (a test checks it): that is what lets ``swtwo predict`` with a
``.tflite`` file start in a fraction of the time TensorFlow takes to import.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np


def _without_info_lines(function, *args):
    """Call ``function`` with the C++ runtime's ``INFO:`` lines (LiteRT announces its XNNPACK
    delegate on stderr) held back; warnings and errors still reach stderr."""
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


def _ready_interpreter(content: bytes, num_threads: int):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content, num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


class TFLiteModel:
    """A ``.tflite`` model (a path or bytes) behind a ``predict`` like Keras's.

    ``num_threads`` defaults to 1: the latency of one request on one core, the number a phone
    or a busy server sees. Inputs and outputs are floats whatever the variant: quantised
    edges are converted here with the scale and zero point stored in the model.

    Attributes: ``path`` (``None`` for bytes), ``size`` (bytes), ``input_shape`` (one
    example's shape, without the batch), ``input_dtype`` (the model's input dtype as a
    string, ``"float32"`` or ``"int8"``), ``batch_size`` (fixed batch, or ``None`` for any),
    ``interpreter`` (the LiteRT interpreter, for a look inside).
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
        self.input_dtype = np.dtype(self.input["dtype"]).name
        signature = self.input.get("shape_signature", self.input["shape"])
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
