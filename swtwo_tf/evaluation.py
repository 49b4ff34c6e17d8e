"""Metrics and the record of what a chapter reached (``record_results`` from chapter 00 on).

``make course`` collects the recorded results into each chapter's one-page summary.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from swtwo_tf import config, tables
from swtwo_tf.files import write_json


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
    return write_json(results_dir() / f"{chapter}.json", record)


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


def accuracy_floor(dataset: str, model: str, source: str) -> float:
    """The accuracy a chapter's "check your result" cell asserts for this kind of run.

    The floors are the dataset's registry entry's (``DatasetSpec.floors``): "full" for full
    mode on the real data, "quick" for quick mode on it, "samples" for the tiny offline sample
    in either mode; a broken pipeline or model fails all three. ``source`` is ``"tfds"`` or
    ``"samples"`` (``swtwo_tf.datasets.source``). The helper, not the notebook, reads quick
    mode, so notebooks never branch on it.
    """
    from swtwo_tf.datasets import get_spec

    spec = get_spec(dataset)
    if model not in spec.floors:
        raise ValueError(f"{dataset} has no accuracy floor for {model!r}; it has "
                         f"{', '.join(spec.floors)}")
    full, quick, samples = spec.floors[model]
    if source == "samples":
        return samples
    return full if config.mode_name() == "full" else quick


#: Reports that a benchmark script writes with options (the others: ``benchmarks/<name>.py``).
RERUN = {"multimodal_scratch": "benchmarks/multimodal.py --scratch",
         "speech_seed43": "benchmarks/speech.py --seed 43 --loso-only "
                          "--out benchmarks/results/speech_seed43.json"}


def _rerun(benchmark: str) -> str:
    """The command that writes ``benchmarks/results/<benchmark>.json``."""
    return RERUN.get(benchmark, f"benchmarks/{benchmark}.py")


def _benchmark(benchmark: str) -> dict | None:
    """``benchmarks/results/<benchmark>.json`` with each row's ``machine`` beside it, the rows
    of this CPU's kind first (a report can hold AVX-512 and AVX2 rows); None if missing."""
    path = config.REPO_ROOT / "benchmarks" / "results" / f"{benchmark}.json"
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    machines = report.get("machines", {})
    here = config.cpu_kind()
    rows = []
    for row in report["results"]:
        machine = machines.get(row.get("cpu_kind"), report["machine"])
        kind = row.get("cpu_kind") or config.machine_kind(machine)
        rows.append({"command": report["command"], **row, "machine": machine, "cpu_kind": kind})
    report["results"] = sorted(rows, key=lambda row: row["cpu_kind"] != here)
    return report


def reference(benchmark: str, dataset: str, model: str, *, split: str | None = None,
              part: str | None = None) -> dict:
    """One row of ``benchmarks/results/<benchmark>.json``: the full-mode numbers a chapter
    states (``test_accuracy``, ``train_seconds``, ``epochs``, ...), with the ``machine`` that
    measured it and its ``command``; a row measured on this kind of CPU (AVX-512 or AVX2) when
    there is one. Prose rounds them; it never types them in. ``part`` picks a row that
    measures one part of a model (chapter 09: ``"explanations"``, ``"membership"``).

    KeyError names the rows there are when none matches.
    """
    report = _benchmark(benchmark)
    if report is None:
        raise FileNotFoundError(f"benchmarks/results/{benchmark}.json is missing: run "
                                + _rerun(benchmark))
    for row in report["results"]:
        if (row["dataset"], row["model"], row.get("split"), row.get("part")) == (
                dataset, model, split, part):
            return row
    have = sorted({f"{r['dataset']}/{r['model']}" + (f" [{r['split']}]" if r.get("split")
                                                     else "") for r in report["results"]})
    raise KeyError(f"{benchmark}.json has no row {dataset}/{model}"
                   + (f" [{split}]" if split else "") + f"; it has: {', '.join(have)}")


def compare_with_benchmark(benchmark: str, dataset: str, reached: dict[str, float], *,
                           split: str | None = None) -> str:
    """This run's test accuracies beside the full-mode reference from ``benchmarks/``.

    Reads ``benchmarks/results/<benchmark>.json`` (written by ``benchmarks/<benchmark>.py``)
    and returns a small text table; chapters print it in their "check your result" section.
    ``reached`` maps model names to the accuracy this run reached; ``split`` picks the rows
    of one split where a benchmark measures several (``benchmarks/speech.py``).
    """
    report = _benchmark(benchmark)
    if report is None:
        return (f"(no reference yet: run benchmarks/{benchmark}.py to create "
                f"benchmarks/results/{benchmark}.json)")
    rows = {}
    for row in report["results"]:  # this CPU kind's row first
        if row["dataset"] == dataset and row.get("split") == split:
            rows.setdefault(row["model"], row)
    machine = next(iter(rows.values()), {"machine": report["machine"]})["machine"]
    commands = sorted({r["command"] for r in rows.values()} or {report["command"]})
    # The date and CPU of each row are in docs/results.md; a lesson shows what to re-run.
    lines = [f"reference: `{command}` (docs/results.md)" for command in commands]
    kinds = sorted({r["cpu_kind"] for r in rows.values()})
    lines.append(f"full mode, {machine['cpu_cores']} CPU cores, {machine['gpus']} GPU, "
                 + "CPU kind " + " and ".join(kinds) + (f", {split} split" if split else ""))
    table = []
    for model, accuracy in reached.items():
        ref = rows.get(model)
        table.append([model, f"{ref['test_accuracy']:.2%}" if ref else None,
                      f"{ref['train_seconds'] / 60:.1f} min" if ref else None,
                      f"{accuracy:.2%}"])
    lines.append(tables.format_table(["model", "reference", "train time", "this run"], table))
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
    return tables.format_table(
        ["model", "train", "test", "gap", "params", "time"],
        [[r["model"], f"{r['train_accuracy']:.2%}", f"{r['test_accuracy']:.2%}",
          f"{r['gap'] * 100:.1f}p", f"{r['parameters']:,}",
          f"{r['train_seconds']:.0f} s" if "train_seconds" in r else None] for r in rows])


def recall_at_k(queries, query_labels, gallery, gallery_labels, *, k: int = 1) -> float:
    """Cross-modal retrieval (chapter 10): the fraction of ``queries`` (unit-length embeddings,
    one row each) whose ``k`` most similar rows of ``gallery`` (cosine similarity) include one
    with the query's label."""
    import numpy as np

    queries, gallery = np.asarray(queries), np.asarray(gallery)
    if queries.shape[1:] != gallery.shape[1:]:
        raise ValueError(f"queries {queries.shape} and gallery {gallery.shape} must be "
                         "embeddings of the same size")
    top = np.argsort(-(queries @ gallery.T), axis=1)[:, :k]
    hits = np.asarray(gallery_labels)[top] == np.asarray(query_labels)[:, None]
    return float(hits.any(axis=1).mean())


def fusion_accuracies(heads: dict, image_model, audio_model, features, labels) -> dict:
    """Accuracy of each modality's classifier alone (``"image alone"``, ``"audio alone"``) and
    of each fusion head of ``heads`` on the same ``features`` (``models.fusion.encode``)."""
    import numpy as np

    from swtwo_tf.models import fusion

    probabilities = {"image alone": fusion.single_modality(image_model, features[0]),
                     "audio alone": fusion.single_modality(audio_model, features[1])}
    for name, head in heads.items():  # a few dense layers: one call, no traced function
        probabilities[name] = np.asarray(head(list(features), training=False))
    return {name: float(np.mean(np.argmax(p, axis=1) == labels))
            for name, p in probabilities.items()}


#: Test pairs :func:`corruption_sweep` keeps in quick mode.
QUICK_SWEEP_PAIRS = 500


def corruption_sweep(heads: dict, image_model, audio_model, pairs, modality: str, kind: str,
                     severities, *, seed: int = 0) -> dict[str, list[float]]:
    """Chapter 10: :func:`fusion_accuracies` on ``pairs`` with one ``modality`` (``"image"``
    or ``"audio"``) corrupted by ``kind`` at each of ``severities`` (the other left clean):
    ``{model: [accuracy at each severity]}``. Quick mode keeps the first
    :data:`QUICK_SWEEP_PAIRS` pairs."""
    from swtwo_tf.models import fusion

    if modality not in fusion.MODALITIES:
        raise ValueError(f"modality must be one of {fusion.MODALITIES}, got {modality!r}")
    if config.quick_mode() and len(pairs) > QUICK_SWEEP_PAIRS:
        pairs = pairs.subset(range(QUICK_SWEEP_PAIRS))
    curves: dict[str, list[float]] = {}
    image = modality == "image"
    clean = (fusion.encode_audio(audio_model, pairs) if image
             else fusion.encode_images(image_model, pairs))  # the other sense, once
    for severity in severities:
        if image:
            features = [fusion.encode_images(image_model, pairs, (kind, severity), seed=seed),
                        clean]
        else:
            features = [clean, fusion.encode_audio(audio_model, pairs, (kind, severity),
                                                   seed=seed)]
        for name, accuracy in fusion_accuracies(heads, image_model, audio_model, features,
                                                pairs.labels).items():
            curves.setdefault(name, []).append(accuracy)
    return curves


def severity_below(severities, accuracies, level: float = 0.5):
    """The first of ``severities`` at which ``accuracies`` fall below ``level`` (chapter 10:
    where the image model alone falls below 50 %), or None if they never do."""
    for severity, accuracy in zip(severities, accuracies, strict=True):
        if accuracy < level:
            return severity
    return None


def gradient_norms(model, x, y) -> dict[str, float]:
    """``{layer name: L2 norm of d(loss)/d(kernel)}`` for every convolution and dense layer
    of ``model``, input side first, on one batch ``(x, y)`` (chapter 07: how much of the
    error signal reaches each depth). The loss is the mean cross-entropy."""
    import keras
    import tensorflow as tf

    kernels = [(layer.name, layer.kernel) for layer in model.layers
               if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    if not kernels:
        raise ValueError(f"{model.name!r} has no convolution or dense layer")
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            y, model(x, training=True)))
    grads = tape.gradient(loss, [kernel for _, kernel in kernels])
    return {name: float(tf.norm(g)) for (name, _), g in zip(kernels, grads, strict=True)}


#: How the spoken words of a digit are spelled, for the character error rate.
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def transcription_errors(references, hypotheses) -> dict:
    """Errors of recognised digit strings against the true ones (chapter 08), with jiwer.

    ``references`` and ``hypotheses`` are strings of digits (``"407"``; spaces ignored).
    Returns ``der``, the digit error rate, (substitutions + deletions + insertions) / digits
    said, a word error rate whose words are digits, so it can pass 1 when the recogniser
    inserts many; ``cer``, the character error rate of the same strings spelled as words
    ("four zero seven"), a softer score that counts "nine" for "five" as 2 of 4 letters;
    ``string_accuracy``, the share of strings recognised exactly; and the counts
    ``substitutions``, ``deletions``, ``insertions`` and ``digits``.
    """
    import jiwer

    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses) or not references:
        raise ValueError(f"need as many hypotheses as references (at least one), got "
                         f"{len(hypotheses)} and {len(references)}")

    def digits(text, what):
        text = str(text).replace(" ", "")
        if not text.isdigit() and text:
            raise ValueError(f"{what} must be digit strings such as '407', got {text!r}")
        return text

    refs = [digits(r, "references") for r in references]
    hyps = [digits(h, "hypotheses") for h in hypotheses]
    if not all(refs):
        raise ValueError("every reference must say at least one digit")
    words = jiwer.process_words([" ".join(r) for r in refs], [" ".join(h) for h in hyps])
    spelled = [" ".join(DIGIT_WORDS[int(c)] for c in s) for s in (*refs, *hyps)]
    count = sum(len(r) for r in refs)
    return {"der": (words.substitutions + words.deletions + words.insertions) / count,
            "cer": jiwer.cer(spelled[:len(refs)], spelled[len(refs):]),
            "string_accuracy": sum(r == h for r, h in zip(refs, hyps, strict=True)) / len(refs),
            "substitutions": words.substitutions, "deletions": words.deletions,
            "insertions": words.insertions, "digits": count}


def digit_confusions(references, hypotheses) -> dict:
    """``{(said, heard): count}`` over the substitutions of the cheapest alignment of each
    recognised digit string to the true one (jiwer's), most frequent first (chapter 08)."""
    import jiwer

    words = jiwer.process_words([" ".join(str(r).replace(" ", "")) for r in references],
                                [" ".join(str(h).replace(" ", "")) for h in hypotheses])
    counts: dict[tuple[str, str], int] = {}
    for ref, hyp, chunks in zip(words.references, words.hypotheses, words.alignments,
                                strict=True):
        for chunk in chunks:
            if chunk.type == "substitute":
                pairs = zip(ref[chunk.ref_start_idx:chunk.ref_end_idx],
                            hyp[chunk.hyp_start_idx:chunk.hyp_end_idx], strict=True)
                for pair in pairs:
                    counts[pair] = counts.get(pair, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
