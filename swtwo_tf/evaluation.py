"""Metrics and the record of what a chapter reached (``record_results`` from chapter 00 on).

``make course`` collects the recorded results into each chapter's one-page summary.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from swtwo_tf import config


def results_dir() -> Path:
    """Folder of the per-chapter results files (``build/results``)."""
    return config.build_dir() / "results"


def record_results(chapter: str, metrics: dict, *, notes: str = "") -> Path:
    """Write a chapter's headline numbers to ``build/results/<chapter>.json`` atomically.

    ``metrics`` maps names to numbers or short strings. The file also records the mode
    (quick/full), the time, and the machine, so a number is never read without its context.
    Returns the path written.
    """
    if not chapter or not isinstance(chapter, str):
        raise ValueError(f"chapter must be a non-empty string, got {chapter!r}")
    clean = {}
    for key, value in metrics.items():
        if hasattr(value, "item"):  # numpy / tensor scalars
            value = value.item()
        if not isinstance(value, int | float | str | bool):
            raise TypeError(f"metric {key!r} must be a number or string, got {type(value)}")
        clean[key] = value
    record = {
        "chapter": chapter,
        "mode": config.mode_name(),
        "recorded_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "cpu_cores": os.cpu_count(),
        "metrics": clean,
        "notes": notes,
    }
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{chapter}.json"
    fd, tmp = tempfile.mkstemp(suffix=".json", dir=folder)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=2)
    os.replace(tmp, path)
    return path


def predictions(model, dataset) -> tuple:
    """Run ``model`` over a batched ``(inputs, labels)`` dataset once (chapter 01 on).

    Returns ``(inputs, labels, probabilities)`` as NumPy arrays in dataset order, so errors
    can be shown next to the inputs that caused them. The dataset is read once, so inputs,
    labels and probabilities line up even if it reshuffles; the inputs then go through one
    ``model.predict`` call (a compiled graph: calling a recurrent model eagerly, batch by
    batch, is many times slower).
    """
    import numpy as np

    xs, ys = [], []
    for x, y in dataset:
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
    if not ys:
        raise ValueError("the dataset is empty: nothing to evaluate")
    import tensorflow as tf

    inputs = np.concatenate(xs)  # strings come back as bytes objects: tf.data takes them
    batches = tf.data.Dataset.from_tensor_slices(inputs).batch(len(xs[0]))
    probabilities = model.predict(batches, verbose=0)
    return inputs, np.concatenate(ys), np.asarray(probabilities)


def accuracy_by_group(labels, probabilities, groups) -> dict[str, float]:
    """Accuracy per group, e.g. per speaker (chapter 04): ``{group: accuracy}``, sorted.

    ``groups`` holds one name per example, in the order of ``labels`` and ``probabilities``.
    """
    import numpy as np

    labels, groups = np.asarray(labels), np.asarray(groups)
    if not len(labels) == len(probabilities) == len(groups):
        raise ValueError(f"labels ({len(labels)}), probabilities ({len(probabilities)}) and "
                         f"groups ({len(groups)}) must have one entry per example")
    correct = np.asarray(probabilities).argmax(axis=1) == labels
    return {str(g): float(correct[groups == g].mean()) for g in sorted(set(groups.tolist()))}


def per_class_report(labels, probabilities, class_names: list[str]) -> str:
    """Precision, recall and F1 per class as a text table (scikit-learn; chapter 01)."""
    from sklearn.metrics import classification_report

    return classification_report(labels, probabilities.argmax(axis=1),
                                 labels=list(range(len(class_names))),
                                 target_names=class_names, digits=3, zero_division=0)


def most_confident_mistakes(labels, probabilities, k: int = 12):
    """Indices of the ``k`` wrong predictions the model was surest about (chapter 01)."""
    import numpy as np

    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence)][:k]


#: Minimum test accuracy a chapter's check asserts, by what the run could reach:
#: "full" = full mode on the real data, "quick" = quick mode on the real data, and
#: "samples" = the tiny offline sample (either mode). A broken pipeline or model fails all.
FLOORS = {
    ("mnist", "convnet"): {"full": 0.99, "quick": 0.95, "samples": 0.5},
    ("mnist", "seed_cnn"): {"full": 0.98, "quick": 0.94, "samples": 0.5},
    ("mnist", "dense_baseline"): {"full": 0.965, "quick": 0.88, "samples": 0.4},
    ("fashion_mnist", "convnet"): {"full": 0.92, "quick": 0.75, "samples": 0.4},
    ("fashion_mnist", "variant"): {"full": 0.82, "quick": 0.65, "samples": 0.3},
    ("spoken_digit", "rnn_classifier"): {"full": 0.98, "quick": 0.5, "samples": 0.2},
    ("spoken_digit", "cnn_classifier"): {"full": 0.92, "quick": 0.3, "samples": 0.2},
    ("spoken_digit", "rnn_unseen_speaker"): {"full": 0.8, "quick": 0.4, "samples": 0.1},
    ("imdb_reviews", "bag_of_ngrams"): {"full": 0.88, "quick": 0.75, "samples": 0.6},
    ("imdb_reviews", "rnn_classifier"): {"full": 0.88, "quick": 0.65, "samples": 0.55},
    ("imdb_reviews", "transformer_classifier"): {"full": 0.88, "quick": 0.65, "samples": 0.55},
    ("imdb_reviews", "nb_ngrams"): {"full": 0.905, "quick": 0.85, "samples": 0.6},
    ("imdb_reviews", "ensemble"): {"full": 0.88, "quick": 0.7, "samples": 0.55},
    # chapter 06: briefly trained models (3 epochs, or 60/80 quick steps), after conversion
    ("mnist", "convnet_int8"): {"full": 0.985, "quick": 0.85, "samples": 0.3},
    ("spoken_digit", "rnn_tflite"): {"full": 0.97, "quick": 0.3, "samples": 0.15},
    ("imdb_reviews", "bag_of_ngrams_tflite"): {"full": 0.87, "quick": 0.7, "samples": 0.5},
}


def accuracy_floor(dataset: str, model: str, source: str) -> float:
    """The accuracy a chapter's "check your result" cell asserts for this kind of run.

    ``source`` is ``"tfds"`` or ``"samples"`` (``swtwo_tf.datasets.source``). The helper,
    not the notebook, reads quick mode, so notebooks never branch on it.
    """
    floors = FLOORS[(dataset, model)]
    if source == "samples":
        return floors["samples"]
    return floors[config.mode_name()]


def compare_with_benchmark(benchmark: str, dataset: str, reached: dict[str, float], *,
                           split: str | None = None) -> str:
    """This run's test accuracies beside the full-mode reference from ``benchmarks/``.

    Reads ``benchmarks/results/<benchmark>.json`` (written by ``benchmarks/<benchmark>.py``)
    and returns a small text table; chapters print it in their "check your result" section.
    ``reached`` maps model names to the accuracy this run reached; ``split`` picks the rows
    of one split where a benchmark measures several (``benchmarks/speech.py``).
    """
    path = config.REPO_ROOT / "benchmarks" / "results" / f"{benchmark}.json"
    if not path.is_file():
        return f"(no reference yet: run benchmarks/{benchmark}.py to create {path.name})"
    report = json.loads(path.read_text())
    rows = {r["model"]: r for r in report["results"]
            if r["dataset"] == dataset and r.get("split") == split}
    machine = report["machine"]
    commands = sorted({(r.get("command", report["command"]), r.get("date", report["date"]))
                       for r in rows.values()} or {(report["command"], report["date"])})
    lines = [f"reference: `{command}`, {date}" for command, date in commands]
    lines += [f"full mode, {machine['cpu_cores']} CPU cores, {machine['gpus']} GPU"
              + (f", {split} split" if split else ""),
              f"{'model':<24} {'reference':>10} {'train time':>11} {'this run':>10}"]
    for model, accuracy in reached.items():
        ref = rows.get(model)
        ref_acc = f"{ref['test_accuracy']:.2%}" if ref else "-"
        ref_time = f"{ref['train_seconds'] / 60:.1f} min" if ref else "-"
        lines.append(f"{model:<24} {ref_acc:>10} {ref_time:>11} {accuracy:>10.2%}")
    lines.append(f"(this run: {config.mode_name()} mode)")
    return "\n".join(lines)


def compare_models(models: dict, data, *, seconds: dict | None = None) -> list[dict]:
    """Accuracy of each model on the training and test sets, and the gap between (chapter 02).

    ``models`` maps row names to trained models; ``data`` is an ``images.ImageData``. Both
    accuracies are measured the same way (inference mode: no dropout, no augmentation), so
    ``gap`` = train - test measures overfitting. ``seconds`` optionally maps names to
    training wall times. Returns one dict per row; :func:`format_table` prints them.
    """
    rows = []
    for name, model in models.items():
        if not model.compiled:  # an ensemble, say: evaluate() needs the metric
            model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        train_acc = model.evaluate(data.train, verbose=0, return_dict=True)["accuracy"]
        test_acc = model.evaluate(data.test, verbose=0, return_dict=True)["accuracy"]
        row = {"model": name, "train_accuracy": float(train_acc),
               "test_accuracy": float(test_acc), "gap": float(train_acc - test_acc),
               "parameters": int(model.count_params())}
        if seconds and name in seconds:
            row["train_seconds"] = float(seconds[name])
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """Rows of :func:`compare_models` as an aligned text table (accuracies in %)."""
    if not rows:
        raise ValueError("no rows to format")
    width = max(len(r["model"]) for r in rows) + 2
    lines = [f"{'model':<{width}}{'train':>8}{'test':>8}{'gap':>7}{'params':>10}{'time':>8}"]
    for r in rows:
        time_s = f"{r['train_seconds']:.0f} s" if "train_seconds" in r else "-"
        lines.append(f"{r['model']:<{width}}{r['train_accuracy']:>8.2%}{r['test_accuracy']:>8.2%}"
                     f"{r['gap'] * 100:>6.1f}p{r['parameters']:>10,}{time_s:>8}")
    return "\n".join(lines)
