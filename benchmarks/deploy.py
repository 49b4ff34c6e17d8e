"""Deployment benchmark behind chapter 06 and docs/results.md: float vs quantised TFLite.

    .venv/bin/python benchmarks/deploy.py              # train (or reuse) 4 models, measure all
    .venv/bin/python benchmarks/deploy.py --only mnist

For the MNIST CNN (``convnet``), both spoken-digit models (``rnn_classifier``, the chapter's
RNN, and ``cnn_classifier``, the simple_audio CNN) and the IMDB ``bag_of_ngrams`` model, in
one run on this machine: train the recipe in full mode with ``train_recipe`` (exactly what
chapters 01, 04 and 05 run) unless ``runs/deploy/<dataset>_<model>.keras`` holds one from an
earlier run of this script; then, with ``swtwo_tf.deploy.benchmark``, measure the Keras model
and its TFLite float32, dynamic-range and int8 variants: file size, p50/p95 latency at
batch 1 (one interpreter thread), throughput at batch 64 and test accuracy (the whole test
set; for IMDB a fixed 2,000-review sample, since its TF-IDF vectors are 50,000 floats each).
Last, the wall time of ``swtwo predict`` on one image, start-up included, with the ``.keras``
and the ``.tflite`` model. Writes ``benchmarks/results/deploy.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import common
import numpy as np

from swtwo_tf import config, datasets, deploy, files, training
from swtwo_tf.models import recipe_for

MODELS = {"mnist": ("mnist", "convnet"), "speech_rnn": ("spoken_digit", "rnn_classifier"),
          "speech_cnn": ("spoken_digit", "cnn_classifier"),
          "imdb": ("imdb_reviews", "bag_of_ngrams")}
#: Trained models, per mode (a quick-mode model is never reused by a full run).
STORE = config.REPO_ROOT / "runs" / "deploy" / config.mode_name()
TEXT_SAMPLE = 2_000


def trained(dataset: str, model_name: str):
    """``(model, data, train_seconds)``: reused from STORE, else trained and stored there.

    ``data`` is built afresh either way, after seeding everything: its shuffled training
    pipeline, read for the first time, gives the int8 calibration sample, the same whether the
    model was just trained or reused, first or after another. The pipeline a model was trained
    on has been shuffled many times, and TensorFlow's global seed changes every op seed, so
    reusing it would calibrate on a sample that depends on the order of the runs (and the text
    model's int8 accuracy depends strongly on that sample; docs/experiments.md).
    """
    path = STORE / f"{dataset}_{model_name}.keras"
    if path.is_file():
        print(f"reusing {path}", flush=True)
        model, _ = deploy.load_model(path)
        seconds = json.loads(path.with_suffix(".json").read_text())["train_seconds"]
    else:
        model, history, data = training.train_recipe(dataset, model_name)
        if data.source != "tfds":
            raise SystemExit(f"{dataset}: the real dataset is needed "
                             f"(swtwo datasets download {dataset})")
        files.atomic_save(path, model.save)
        seconds = history.seconds
        files.write_json(path.with_suffix(".json"), {"train_seconds": seconds})
    batch_size = recipe_for(dataset, model_name).batch_size
    config.seed_everything(42)
    return model, datasets.pipelines(dataset, batch_size=batch_size), seconds


def measure(key: str) -> list[dict]:
    dataset, model_name = MODELS[key]
    print(f"\n== {dataset} / {model_name}", flush=True)
    model, data, seconds = trained(dataset, model_name)
    representative = deploy.representative_inputs(data.train)
    test_x, test_y = deploy.test_arrays(data.test)
    note = ""
    if deploy.input_kind(model) == "text":  # only the numeric part converts: vectorise first
        vectorize, model = deploy.split_text_model(model)
        pick = np.random.default_rng(0).permutation(len(test_x))[:TEXT_SAMPLE]
        test_x, test_y = np.asarray(vectorize(test_x[pick])), test_y[pick]
        representative = np.asarray(vectorize(representative))
        note = f"numeric part after TextVectorization; {TEXT_SAMPLE:,}-review test sample"
    rows = deploy.benchmark(model, test_x, test_y, representative=representative)
    print(deploy.format_benchmark(rows), flush=True)
    return [{"dataset": dataset, "model": model_name, "split": row["variant"],
             "test_accuracy": row["accuracy"], "train_seconds": round(seconds, 1),
             "examples": len(test_y), "note": "; ".join(filter(None, [row["note"], note])),
             **{k: row[k] for k in ("bytes", "p50_ms", "p95_ms", "per_second")}}
            for row in rows]


def predict_startup(image: Path) -> list[dict]:
    """Wall time of ``swtwo predict`` on one image (median of 3), .keras vs .tflite."""
    model, _, _ = trained("mnist", "convnet")
    lite = files.atomic_write(STORE / "mnist_convnet.tflite", deploy.to_tflite(model))
    swtwo = str(Path(sys.executable).with_name("swtwo"))
    rows = []
    for path in (STORE / "mnist_convnet.keras", lite):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([swtwo, "predict", str(path), str(image)], check=True,
                           capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
        print(f"swtwo predict {path.name} {image.name}: {seconds:.2f} s wall", flush=True)
        rows.append({"dataset": "mnist", "model": "convnet",
                     "split": f"swtwo predict {path.suffix}", "test_accuracy": None,
                     "train_seconds": 0.0, "predict_seconds": round(seconds, 2),
                     "note": "one image, start-up included, median of 3"})
    return rows


def main() -> int:
    args = common.parse_args("deploy", __doc__.splitlines()[0], list(MODELS))
    rows = []
    for key in MODELS:
        if args.only in (None, key):
            rows += measure(key)
    if args.only in (None, "mnist"):
        rows += predict_startup(config.REPO_ROOT / "data" / "samples" / "images" / "digit_7.png")
    command = "python benchmarks/deploy.py" + (f" --only {args.only}" if args.only else "")
    common.write_report(rows, command, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
