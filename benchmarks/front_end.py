"""How much of the speech CNN's TFLite call is its float log-mel front end (chapter 06).

    .venv/bin/python benchmarks/front_end.py

The int8 speech model keeps its front end (``deploy.float_front_end``: log-mel, normalisation)
in float32, so that part bounds what int8 can save. Converts ``cnn_classifier`` whole and cut
after its front end, both float32, and prints the p50/p95 latency of one recording on one
interpreter thread (``deploy.latency_ms``, 300 calls). Weights do not change the time, so the
model is not trained and the run takes seconds. Prints only; nothing is written.
"""

from __future__ import annotations

import common
import keras
import numpy as np

from swtwo_tf import deploy
from swtwo_tf.datasets.speech import LENGTH
from swtwo_tf.models import speech


def main() -> None:
    common.hold_lock()
    model = speech.cnn_classifier()
    last = [layer for layer in model.layers if layer.name in deploy.float_front_end(model)][-1]
    parts = {"front end only": keras.Model(model.inputs, last.output), "whole model": model}
    wave = (np.random.default_rng(0).standard_normal((1, LENGTH)) * 0.1).astype(np.float32)
    for name, part in parts.items():
        lite = deploy.TFLiteModel(deploy.to_tflite(part))
        p50, p95 = deploy.latency_ms(lite.predict, wave, runs=300)
        print(f"{name:<15} float32 TFLite p50 {p50:.3f} ms  p95 {p95:.3f} ms", flush=True)


if __name__ == "__main__":
    main()
