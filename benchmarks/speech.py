"""Full-mode speech benchmark behind the README's results table (chapter 04).

    .venv/bin/python benchmarks/speech.py                       # 2 models x 6 splits, ~1 h
    .venv/bin/python benchmarks/speech.py --only rnn_classifier # one model

Trains, in one run on this machine, each recipe of ``swtwo_tf.models.speech.RECIPES`` on the
Free Spoken Digit Dataset, once per split:

- ``documented``: FSDD's own split (takes 0-4 of every speaker and digit are the test set);
- ``speaker:<name>`` for each of the five speakers: leave that speaker out of training and
  test on all 500 of their recordings (leave-one-speaker-out, LOSO).

10 % of the training part is held out for validation (early stopping). Prints a table of test
accuracy per split, the LOSO mean and worst speaker, training time per fold and parameters,
and writes every fold and the LOSO summary to ``benchmarks/results/speech.json``.
"""

from __future__ import annotations

import sys

import common
import numpy as np

from swtwo_tf.datasets import speech
from swtwo_tf.models.speech import RECIPES


def main() -> int:
    args = common.parse_args("speech", __doc__.splitlines()[0], sorted(m for _, m in RECIPES))
    rec = speech.recordings()
    if rec.source != "tfds":
        raise SystemExit("spoken_digit: the real dataset is needed "
                         "(swtwo datasets download spoken_digit)")
    splits = ["documented"] + [f"speaker:{s}" for s in sorted(set(rec.speakers))]
    rows = []
    for (dataset, model_name), recipe in RECIPES.items():
        if args.only not in (None, model_name):
            continue
        folds = [common.train(dataset, model_name, recipe, split=split, recordings=rec)[0]
                 for split in splits]
        loso = [r for r in folds if r["split"].startswith("speaker:")]
        accuracies = [r["test_accuracy"] for r in loso]
        summary = {"dataset": dataset, "model": model_name, "split": "loso_mean",
                   "test_accuracy": round(float(np.mean(accuracies)), 4),
                   "worst_speaker": min(loso, key=lambda r: r["test_accuracy"])["split"],
                   "worst_accuracy": min(accuracies),
                   "train_seconds": round(float(np.mean([r["train_seconds"] for r in loso])), 1),
                   "epochs": round(float(np.mean([r["epochs"] for r in loso])), 1),
                   "batch_size": recipe.batch_size, "parameters": loso[0]["parameters"]}
        print(f"-> {model_name}: leave-one-speaker-out mean {summary['test_accuracy']:.2%}, "
              f"worst {summary['worst_speaker']} {summary['worst_accuracy']:.2%}", flush=True)
        rows += folds + [summary]
    print_table(rows)
    command = "python benchmarks/speech.py" + (f" --only {args.only}" if args.only else "")
    common.write_report(rows, command, args.out)
    return 0


def print_table(rows: list[dict]) -> None:
    print(f"\n{'model':<16} {'split':<18} {'test acc':>9} {'train time':>11} {'epochs':>6} "
          f"{'params':>8}")
    for r in rows:
        extra = (f"  (worst: {r['worst_speaker']} {r['worst_accuracy']:.2%}; time is per fold)"
                 if r["split"] == "loso_mean" else "")
        print(f"{r['model']:<16} {r['split']:<18} {r['test_accuracy']:>9.2%} "
              f"{r['train_seconds'] / 60:>7.1f} min {r['epochs']:>6} {r['parameters']:>8,}{extra}")


if __name__ == "__main__":
    sys.exit(main())
