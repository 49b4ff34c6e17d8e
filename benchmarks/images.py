"""Full-mode image benchmark behind the README's results table (chapters 01-02).

    .venv/bin/python benchmarks/images.py                 # all five runs, ~40 min on 2 cores
    .venv/bin/python benchmarks/images.py --only mnist    # one dataset

Trains, in one run on this machine, each (dataset, model) recipe of
``swtwo_tf.models.vision.RECIPES`` on the real training split (10 % held out for validation)
and evaluates it once on the test split. Prints a table of test accuracy, training wall time,
epochs and parameters, and writes it to ``benchmarks/results/images.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from swtwo_tf import config, training
from swtwo_tf.models.vision import RECIPES

RESULTS = Path(__file__).resolve().parent / "results"


def run(dataset: str, model_name: str) -> dict:
    recipe = RECIPES[(dataset, model_name)]
    print(f"\n== {dataset} / {model_name}: {recipe.epochs} epochs, batch {recipe.batch_size}",
          flush=True)
    model, history, data = training.train_recipe(dataset, model_name)
    if data.source != "tfds":
        raise SystemExit(f"{dataset}: the real dataset is needed "
                         f"(swtwo datasets download {dataset})")
    _, accuracy = model.evaluate(data.test, verbose=0)
    return {"dataset": dataset, "model": model_name, "test_accuracy": round(float(accuracy), 4),
            "train_seconds": round(history.seconds, 1), "epochs": len(history.history["loss"]),
            "batch_size": recipe.batch_size, "parameters": model.count_params()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["mnist", "fashion_mnist"])
    parser.add_argument("--out", default=str(RESULTS / "images.json"))
    args = parser.parse_args()
    if config.quick_mode():
        print("SWTWO_QUICK is set: these numbers are quick-mode numbers, not the benchmark.")
    rows = [run(d, m) for d, m in RECIPES if args.only in (None, d)]
    print(f"\n{'dataset':<14} {'model':<16} {'test acc':>9} {'train time':>11} "
          f"{'epochs':>6} {'params':>9}")
    for r in rows:
        print(f"{r['dataset']:<14} {r['model']:<16} {r['test_accuracy']:>9.2%} "
              f"{r['train_seconds'] / 60:>9.1f} min {r['epochs']:>6} {r['parameters']:>9,}")
    import tensorflow as tf

    report = {
        "command": "python benchmarks/images.py" + (f" --only {args.only}" if args.only else ""),
        "date": time.strftime("%Y-%m-%d"), "mode": config.mode_name(),
        "machine": {"cpu_cores": os.cpu_count(), "platform": platform.platform(terse=True),
                    "processor": platform.processor() or platform.machine(),
                    "gpus": len(tf.config.list_physical_devices("GPU"))},
        "tensorflow": tf.__version__, "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out)
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
