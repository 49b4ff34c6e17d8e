"""Full-mode speech benchmark behind docs/results.md (chapter 04).

    .venv/bin/python benchmarks/speech.py                        # 2 models x 6 splits
    .venv/bin/python benchmarks/speech.py --only rnn_classifier  # one model

Trains, in one run on this machine, each recipe of ``swtwo_tf.models.speech.RECIPES`` on the
Free Spoken Digit Dataset, once per split:

- ``documented``: FSDD's own split (takes 0-4 of every speaker and digit are the test set);
- ``speaker:<name>`` for each of the five speakers: leave that speaker out of training and
  test on all 500 of their recordings (leave-one-speaker-out, LOSO).

On each split the two models are also averaged (``swtwo_tf.models.ensemble``, no further
training). 10 % of the training part is held out for validation (early stopping). Prints a
table of test accuracy per split, the LOSO mean and worst speaker, training time per fold
and parameters, and writes every fold and the LOSO summaries to
``benchmarks/results/speech.json``.
"""

from __future__ import annotations

import sys

import common
import numpy as np

from swtwo_tf import tables
from swtwo_tf.datasets import speech
from swtwo_tf.models import ensemble
from swtwo_tf.models.speech import RECIPES


def main() -> int:
    args = common.parse_args("speech", __doc__.splitlines()[0], sorted(m for _, m in RECIPES))
    rec = speech.recordings()
    if rec.source != "tfds":
        raise SystemExit("spoken_digit: the real dataset is needed "
                         "(swtwo datasets download spoken_digit)")
    splits = ["documented"] + [f"speaker:{s}" for s in sorted(set(rec.speakers))]
    chosen = [(d, m) for d, m in RECIPES if args.only in (None, m)]
    folds = []
    for split in splits:
        runs = [common.train(d, m, RECIPES[(d, m)], split=split, recordings=rec)
                for d, m in chosen]
        folds += [row for row, _, _ in runs]
        if len(runs) > 1:
            folds.append(ensemble_row(runs, split))
    rows = []
    for name in dict.fromkeys(r["model"] for r in folds):
        mine = [r for r in folds if r["model"] == name]
        rows += mine + [loso_summary(mine)]
    print_table(rows)
    command = "python benchmarks/speech.py" + (f" --only {args.only}" if args.only else "")
    common.write_report(rows, command, args.out)
    return 0


def ensemble_row(runs: list, split: str) -> dict:
    """The fold's models averaged (``swtwo_tf.models.ensemble``): no further training, so its
    time is the sum of its members'."""
    members = [row for row, _, _ in runs]
    averaged = ensemble([model for _, model, _ in runs])
    averaged.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _, accuracy = averaged.evaluate(runs[0][2].test, verbose=0)
    print(f"-> ensemble of {', '.join(r['model'] for r in members)}: {accuracy:.2%}", flush=True)
    return {"dataset": members[0]["dataset"], "model": "ensemble", "split": split,
            "test_accuracy": round(float(accuracy), 4),
            "train_seconds": round(sum(r["train_seconds"] for r in members), 1),
            "epochs": 0, "batch_size": 0, "parameters": averaged.count_params()}


def loso_summary(folds: list[dict]) -> dict:
    """One model's leave-one-speaker-out folds as a mean and a worst speaker."""
    loso = [r for r in folds if r["split"].startswith("speaker:")]
    accuracies = [r["test_accuracy"] for r in loso]
    worst = min(loso, key=lambda r: r["test_accuracy"])
    summary = {**{k: loso[0][k] for k in ("dataset", "model", "batch_size", "parameters")},
               "split": "loso_mean", "test_accuracy": round(float(np.mean(accuracies)), 4),
               "worst_speaker": worst["split"], "worst_accuracy": worst["test_accuracy"],
               "train_seconds": round(float(np.mean([r["train_seconds"] for r in loso])), 1),
               "epochs": round(float(np.mean([r["epochs"] for r in loso])), 1)}
    print(f"-> {summary['model']}: leave-one-speaker-out mean {summary['test_accuracy']:.2%}, "
          f"worst {summary['worst_speaker']} {summary['worst_accuracy']:.2%}", flush=True)
    return summary


def print_table(rows: list[dict]) -> None:
    print("\n" + tables.format_table(
        ["model", "split", "test acc", "train time", "epochs", "params", "note"],
        [[r["model"], r["split"], f"{r['test_accuracy']:.2%}",
          f"{r['train_seconds'] / 60:.1f} min", r["epochs"], f"{r['parameters']:,}",
          f"worst: {r['worst_speaker']} {r['worst_accuracy']:.2%}; time is per fold"
          if r["split"] == "loso_mean" else ""] for r in rows], align="llrrrrl"))


if __name__ == "__main__":
    sys.exit(main())
