"""A trained model as files: every export format, and a training run whose outputs are ready to
serve (``swtwo export``, ``swtwo train``).
"""

from __future__ import annotations

import os
from pathlib import Path

from swtwo_tf import config
from swtwo_tf.deploy.convert import (
    CALIBRATION_SAMPLES,
    is_recurrent,
    representative_inputs,
    to_tflite,
)
from swtwo_tf.deploy.predict import check_dataset, input_kind
from swtwo_tf.deploy.savedmodel import export_savedmodel
from swtwo_tf.files import atomic_save, atomic_write, write_json

#: Export format -> (TFLite variant or None, file name beside the model).
EXPORT_FORMATS = {"keras": (None, "model_export.keras"), "savedmodel": (None, "savedmodel"),
                  "tflite": ("float32", "model.tflite"),
                  "tflite-dynamic": ("dynamic", "model_dynamic.tflite"),
                  "tflite-int8": ("int8", "model_int8.tflite")}


def export(model, fmt: str, out: str | os.PathLike, *, dataset: str | None = None,
           split: str | None = None, log=print) -> Path:
    """Write ``model`` in format ``fmt`` (:data:`EXPORT_FORMATS`) to ``out``; returns ``out``.

    ``tflite-int8`` calibrates on ``CALIBRATION_SAMPLES`` training inputs of ``dataset``
    (``split`` for its pipelines); a recurrent model, which cannot be full-integer, is refused
    by :func:`to_tflite` with the reason.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}; got {fmt!r}")
    variant, _ = EXPORT_FORMATS[fmt]
    out = Path(out)
    if fmt == "keras":
        return atomic_save(out, model.save)
    if fmt == "savedmodel":
        return export_savedmodel(model, out)
    representative = None
    if variant == "int8" and input_kind(model) != "text" and not is_recurrent(model):
        if not dataset:
            raise ValueError(f"{model.name}: int8 needs training inputs to calibrate; pass "
                             "--dataset NAME (dataset= in Python): no metrics.json beside "
                             "the model names it")
        from swtwo_tf import datasets

        check_dataset(model, dataset)
        data = datasets.pipelines(dataset, split=split)
        log(f"calibrating int8 ranges on {CALIBRATION_SAMPLES} {dataset} training inputs ...")
        representative = representative_inputs(data.train)
    log(f"converting to TFLite {variant} ...")
    return atomic_write(out, to_tflite(model, variant, representative=representative))


def train_run(dataset: str, model_name: str | None, out: str | os.PathLike, *, seed: int = 42,
              split: str | None = None, epochs: int | None = None) -> dict:
    """Train a recipe into the folder ``out``, resumably, and leave it ready to serve.

    An interrupted run in the same folder resumes from its last finished epoch (Keras's
    ``BackupAndRestore`` in ``out/backup``), keeping the best checkpoint of before
    (``out/best.keras``). Writes ``model.keras``, ``model.tflite`` (not for text models,
    which TFLite cannot read) and ``metrics.json`` (dataset, model, split, class names,
    epochs, test accuracy and loss, time, mode, data source), each atomically. Returns the
    metrics, with ``model_path`` and ``tflite_path`` (or None) added.
    """
    import keras

    from swtwo_tf import datasets, training

    spec = datasets.get_spec(dataset)
    model_name = model_name or spec.default_model
    split = spec.check_split(split)
    if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
        raise ValueError(f"epochs must be at least 1, got {epochs!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    backup = out / "backup"
    resume = backup.is_dir()
    if resume:
        print(f"resuming from the last finished epoch saved in {backup}", flush=True)
    model, history, data = training.train_recipe(
        dataset, model_name, seed=seed, split=split, epochs=epochs,
        callbacks=[keras.callbacks.BackupAndRestore(str(backup))],
        checkpoint=out / "best.keras", resume=resume)
    metrics = model.evaluate(data.test, verbose=0, return_dict=True)
    # A resumed run's History holds only the epochs it ran; the backup counted them all.
    epochs_done = len(history.history["loss"]) + (history.epoch[0] if history.epoch else 0)
    path = atomic_save(out / "model.keras", model.save)
    lite = None
    if input_kind(model) not in ("text", "digit strings"):  # swtwo predict's fast start-up
        lite = atomic_write(out / "model.tflite", to_tflite(model, "float32"))
    report = {"dataset": dataset, "model": model_name, "split": split,
              "class_names": list(data.class_names), "epochs": epochs_done,
              # a classifier's accuracy, or a digit-string recogniser's digit error rate
              **({"test_accuracy": round(float(metrics["accuracy"]), 4)} if "accuracy" in
                 metrics else {"test_der": round(float(metrics["der"]), 4)}),
              "test_loss": round(float(metrics["loss"]), 4),
              "train_seconds": round(history.seconds, 1), "mode": config.mode_name(),
              "data_source": data.source}
    write_json(out / "metrics.json", report)
    return {**report, "model_path": path, "tflite_path": lite}
