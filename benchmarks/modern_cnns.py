"""Modern CNNs benchmark behind chapter 07 and docs/results.md: architectures, transfer, few labels.

    .venv/bin/python benchmarks/modern_cnns.py
    .venv/bin/python benchmarks/modern_cnns.py --only few_labels

In one run on this machine, exactly as chapter 07 does in full mode:

- ``architectures``: chapter 02's convnet (the anchor row), the ResNet, the Inception network
  and the separable network trained on Fashion-MNIST with their recipes; test accuracy,
  parameters, multiply-adds, training wall and CPU time, float32 TFLite latency on one image.
  The trained ResNet is kept in ``build/benchmarks/modern_cnns/resnet.keras`` for the parts
  that reuse it (``distillation`` and ``cross`` train and keep it when it is missing);
- ``transfer``: a ResNet trained on Fashion-MNIST task A (``modern.TASK_A``), then task B from
  10, 50 and 200 labelled images per class: from scratch, frozen features, fine-tuned;
- ``cross``: the same at 50 labels per class across datasets: the Fashion-MNIST ResNet on
  MNIST, and a ResNet trained on MNIST (``modern.PRETRAIN_EPOCHS``) on Fashion-MNIST;
- ``few_labels``: MNIST with 10 labels per digit: labels only, pseudo-labels, FixMatch
  (``training.train_few_labels``);
- ``distillation``: the student CNN trained on labels with its recipe, and the same student
  distilled from the ResNet.

Prints the chapter's targets (met or not) and writes rows to
``benchmarks/results/modern_cnns.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import common
import keras

from swtwo_tf import config, models, tables, training
from swtwo_tf.datasets import images
from swtwo_tf.deploy import measure
from swtwo_tf.models import few_labels, modern, vision

PARTS = ("architectures", "transfer", "cross", "few_labels", "distillation")
ARCHITECTURES = ("convnet", "resnet", "inception_net", "separable_net")
METHODS = ("from scratch", "frozen features", "fine-tuned")
KEPT = config.build_dir() / "benchmarks" / "modern_cnns"


def architectures() -> list[dict]:
    rows = []
    for name in ARCHITECTURES:
        print(f"\n== fashion_mnist / {name}", flush=True)
        model, history, data = training.train_recipe("fashion_mnist", name, verbose=2)
        test_x, test_y = measure.test_arrays(data.test)
        row = measure.architecture_row(model, history, test_x, test_y)
        rows.append({**row, "dataset": "fashion_mnist", "model": name,
                     "epochs": len(history.history["loss"])})
        print(f"-> {row['test_accuracy']:.2%}, {row['train_cpu_seconds'] / 60:.1f} CPU min",
              flush=True)
        if name == "resnet":
            KEPT.mkdir(parents=True, exist_ok=True)
            model.save(KEPT / "resnet.keras")
    print("\n" + measure.format_architectures(rows))
    return rows


def fashion_resnet():
    """The ResNet of the architecture table: kept by ``architectures``, else trained now."""
    path = KEPT / "resnet.keras"
    if path.is_file():
        print(f"(the Fashion-MNIST ResNet from {path})", flush=True)
        return keras.saving.load_model(path)
    print("\n== fashion_mnist / resnet (for the parts that reuse it)", flush=True)
    model, _, data = training.train_recipe("fashion_mnist", "resnet", verbose=2)
    print(f"-> {model.evaluate(data.test, verbose=0)[1]:.2%}", flush=True)
    KEPT.mkdir(parents=True, exist_ok=True)
    model.save(KEPT / "resnet.keras")
    return model


def pretrain(dataset: str, classes, augment: str, name: str):
    """A ResNet trained on ``classes`` of ``dataset`` for ``modern.PRETRAIN_EPOCHS``."""
    print(f"\n== pretraining {name}: {dataset} classes {list(classes)}", flush=True)
    config.seed_everything(42)
    task = images.class_subset(dataset, classes, batch_size=256)
    base = modern.resnet(augment, classes=len(classes), name=name)
    training.compile_classifier(base, learning_rate=3e-3, schedule="cosine",
                                epochs=modern.PRETRAIN_EPOCHS,
                                steps_per_epoch=int(task.train.cardinality()))
    history = training.fit(base, task.train, task.validation, epochs=modern.PRETRAIN_EPOCHS)
    accuracy = base.evaluate(task.test, verbose=0)[1]
    print(f"-> {accuracy:.2%} on its test images", flush=True)
    return base, {"base_test_accuracy": round(float(accuracy), 4),
                  "base_train_cpu_seconds": round(history.cpu_seconds, 1)}


def _curve_rows(rows, dataset: str, model: str, base_info: dict, seconds: float) -> list:
    return [{"dataset": dataset, "model": model, "split": f"{r['labels per class']} per class",
             **{f"{m} accuracy": round(float(r[m]), 4) for m in METHODS}, **base_info,
             "curve_seconds": round(seconds, 1)} for r in rows]


def transfer() -> list[dict]:
    base, info = pretrain("fashion_mnist", modern.TASK_A, "clothes", "task_a_resnet")
    start = time.perf_counter()
    rows = training.transfer_curve(base, "fashion_mnist", modern.TASK_B, build=modern.resnet)
    return _curve_rows(rows, "fashion_mnist", "task B", info, time.perf_counter() - start)


def cross() -> list[dict]:
    out = []
    fashion = fashion_resnet()
    start = time.perf_counter()
    rows = training.transfer_curve(fashion, "mnist", range(10), counts=(50,),
                                   build=modern.resnet, augment="digits")
    out += _curve_rows(rows, "mnist", "from fashion_mnist", {}, time.perf_counter() - start)
    digits, info = pretrain("mnist", range(10), "digits", "mnist_resnet")
    start = time.perf_counter()
    rows = training.transfer_curve(digits, "fashion_mnist", range(10), counts=(50,),
                                   build=modern.resnet)
    out += _curve_rows(rows, "fashion_mnist", "from mnist", info, time.perf_counter() - start)
    return out


def few_label_rows() -> list[dict]:
    data = images.few_labels("mnist", per_class=10)
    rows = []
    for method in training.FEW_LABEL_METHODS:
        print(f"\n== mnist, 10 labels per digit: {method}", flush=True)
        _, history = training.train_few_labels(data, method, verbose=2)
        rows.append({"dataset": "mnist", "model": method, "labels": len(data.labelled[1]),
                     "test_accuracy": round(float(history.history["val_accuracy"][-1]), 4),
                     "train_seconds": round(history.seconds, 1),
                     "train_cpu_seconds": round(history.cpu_seconds, 1),
                     **training.FEW_LABELS})
    return rows


def distillation() -> list[dict]:
    teacher = fashion_resnet()
    recipe = models.recipe_for("fashion_mnist", "student_cnn")
    print("\n== fashion_mnist / student_cnn on labels", flush=True)
    alone, alone_history, data = training.train_recipe("fashion_mnist", "student_cnn",
                                                       verbose=2)
    print("\n== fashion_mnist / student_cnn distilled from the ResNet", flush=True)
    config.seed_everything(42)
    distiller = few_labels.Distiller(modern.student_cnn(name="student_distilled"), teacher,
                                     augment=vision.augmentation("clothes"))
    training.compile_classifier(distiller, learning_rate=recipe.learning_rate,
                                schedule=recipe.schedule, epochs=recipe.epochs,
                                steps_per_epoch=int(data.train.cardinality()))
    history = training.fit(distiller, data.train, data.validation, epochs=recipe.epochs)
    test_x, test_y = measure.test_arrays(data.test)
    rows = []
    for name, model, hist in (("student alone", alone, alone_history),
                              ("student distilled", distiller.student, history)):
        row = measure.architecture_row(model, hist, test_x, test_y)
        rows.append({**row, "dataset": "fashion_mnist", "model": name,
                     "teacher_parameters": teacher.count_params(),
                     "teacher_test_accuracy": round(float(
                         teacher.evaluate(data.test, verbose=0)[1]), 4)})
    print("\n" + measure.format_architectures(rows))
    return rows


RUNS = {"architectures": architectures, "transfer": transfer, "cross": cross,
        "few_labels": few_label_rows, "distillation": distillation}


def targets(rows: list[dict]) -> list[list]:
    """Chapter 07's targets, each with the numbers it reads and whether it is met."""
    by = {(r["dataset"], r["model"], r.get("split")): r for r in rows}
    out = []
    anchor = by.get(("fashion_mnist", "convnet", None))
    modern_rows = [by[k] for k in by if k[0] == "fashion_mnist" and k[1] in ARCHITECTURES[1:]]
    if anchor and modern_rows:
        best = max(modern_rows, key=lambda r: r["test_accuracy"])
        met = (best["test_accuracy"] >= 0.945 and best["test_accuracy"] > anchor["test_accuracy"]
               and best["train_cpu_seconds"] <= anchor["train_cpu_seconds"])
        out.append(["best architecture >= 94.5 %, ahead of the convnet at no more CPU time",
                    f"{best['model']} {best['test_accuracy']:.2%} in "
                    f"{best['train_cpu_seconds'] / 60:.1f} CPU min; convnet "
                    f"{anchor['test_accuracy']:.2%} in {anchor['train_cpu_seconds'] / 60:.1f}",
                    "met" if met else "NOT met"])
    b50 = by.get(("fashion_mnist", "task B", "50 per class"))
    if b50:
        tuned, scratch = b50["fine-tuned accuracy"], b50["from scratch accuracy"]
        gain = tuned - scratch
        out.append(["task B, 50 labels per class: fine-tuned >= scratch + 10 points",
                    f"{tuned:.1%} vs {scratch:.1%} ({gain * 100:+.1f})",
                    "met" if gain >= 0.10 else "NOT met"])
    fix, alone = by.get(("mnist", "FixMatch", None)), by.get(("mnist", "labels only", None))
    if fix and alone:
        met = fix["test_accuracy"] >= 0.97 and fix["train_seconds"] <= 900
        out.append(["MNIST, 100 labels: semi-supervised >= 97 % in <= 15 min",
                    f"FixMatch {fix['test_accuracy']:.2%} in {fix['train_seconds'] / 60:.1f} "
                    f"min; labels only {alone['test_accuracy']:.2%}", "met" if met else "NOT met"])
    student = by.get(("fashion_mnist", "student distilled", None))
    plain = by.get(("fashion_mnist", "student alone", None))
    if student and plain:
        gain = student["test_accuracy"] - plain["test_accuracy"]
        ratio = student["teacher_parameters"] / student["parameters"]
        out.append(["distilled student >= labels-only + 1 point, >= 5x fewer parameters",
                    f"{student['test_accuracy']:.2%} vs {plain['test_accuracy']:.2%} "
                    f"({gain * 100:+.2f}); {ratio:.0f}x fewer",
                    "met" if gain >= 0.01 and ratio >= 5 else "NOT met"])
    return out


def print_targets(path) -> None:
    rows = json.loads(Path(path).read_text())["results"]
    print("\n" + tables.format_table(["target", "measured", ""], targets(rows), align="lll"))


def main() -> int:
    args = common.parse_args("modern_cnns", __doc__.splitlines()[0], list(PARTS))
    rows = []
    for part in PARTS:
        if args.only in (None, part):
            rows += RUNS[part]()
    command = "python benchmarks/modern_cnns.py" + (f" --only {args.only}" if args.only else "")
    report = common.write_report(rows, command, args.out)
    print_targets(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
