"""Full-mode image benchmark behind docs/results.md (chapters 01-02).

    .venv/bin/python benchmarks/images.py                 # all five runs
    .venv/bin/python benchmarks/images.py --only mnist    # one dataset

Trains, in one run on this machine, each (dataset, model) recipe of
``swtwo_tf.models.vision.RECIPES`` on the real training split (10 % held out for validation)
and evaluates it once on the test split. Prints a table of test accuracy, training wall time,
epochs and parameters, and writes it to ``benchmarks/results/images.json``.
"""

from __future__ import annotations

import sys

import common

from swtwo_tf.models.vision import RECIPES


def main() -> int:
    args = common.parse_args("images", __doc__.splitlines()[0], ["mnist", "fashion_mnist"])
    rows = [common.run(d, m, recipe) for (d, m), recipe in RECIPES.items()
            if args.only in (None, d)]
    return common.finish(rows, "images", args)


if __name__ == "__main__":
    sys.exit(main())
