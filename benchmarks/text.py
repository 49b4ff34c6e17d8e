"""Full-mode text benchmark behind docs/results.md (chapter 05).

    .venv/bin/python benchmarks/text.py                      # the four models
    .venv/bin/python benchmarks/text.py --only bag_of_ngrams # one model

Trains, in one run on this machine, each recipe of ``swtwo_tf.models.text.RECIPES`` on the
IMDB training reviews (10 % held out for validation) and evaluates it once on the 25,000
test reviews; then the four trained models averaged (``swtwo_tf.models.ensemble``, no
further training; its time is the sum of its members'). Prints a table of test accuracy,
training wall time, epochs and parameters, and writes it to ``benchmarks/results/text.json``.
"""

from __future__ import annotations

import sys

import common

from swtwo_tf.models import ensemble
from swtwo_tf.models.text import RECIPES


def main() -> int:
    args = common.parse_args("text", __doc__.splitlines()[0], sorted(m for _, m in RECIPES))
    runs = [common.train(d, m, recipe) for (d, m), recipe in RECIPES.items()
            if args.only in (None, m)]
    rows = [row for row, _, _ in runs]
    if len(runs) > 1:
        averaged = ensemble([model for _, model, _ in runs])
        averaged.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        _, accuracy = averaged.evaluate(runs[0][2].test, verbose=0)
        rows.append({"dataset": "imdb_reviews", "model": "ensemble",
                     "test_accuracy": round(float(accuracy), 4),
                     "train_seconds": round(sum(r["train_seconds"] for r in rows), 1),
                     "epochs": 0, "batch_size": 0, "parameters": averaged.count_params()})
    return common.finish(rows, "text", args)


if __name__ == "__main__":
    sys.exit(main())
