"""Where a training step's time goes, per kind of layer, on this CPU (issue #28's profile).

    .venv/bin/python benchmarks/profile.py                # the image and speech recipes
    .venv/bin/python benchmarks/profile.py --only mnist   # one dataset

For each image and speech recipe of ``swtwo_tf.models`` (the text models take strings, which
this cut-after-each-layer profile cannot feed), ``training.step_profile`` times one training
step at the recipe's batch size, layer by layer, on random inputs of the model's shape (the
cost of a step does not depend on what the pixels show). Rows add up the layers of one kind
(``Conv2D``, ``BatchNormalization``, the augmentation ``Sequential``, ...), with their share of
the step and what they cost per epoch of the full training set; the ``whole step`` row is
the sum. Writes ``benchmarks/results/profile.json``; compare CPU kinds there, not models of
different runs.
"""

from __future__ import annotations

import sys
from collections import defaultdict

import common
import numpy as np

from swtwo_tf import config, datasets, models, training

#: Training examples per full epoch (the 10 % validation held out), for the per-epoch column.
TRAIN_EXAMPLES = {"mnist": 54_000, "fashion_mnist": 54_000, "spoken_digit": 2_700}


def profile(dataset: str, model_name: str, *, steps: int) -> list[dict]:
    recipe = models.recipe_for(dataset, model_name)
    config.seed_everything(0)
    model = recipe.build()
    training.compile_classifier(model, learning_rate=recipe.learning_rate)
    rng = np.random.default_rng(0)
    shape = (recipe.batch_size, *model.inputs[0].shape[1:])
    batch = (rng.uniform(0, 1, shape) if datasets.get_spec(dataset).modality == "image"
             else rng.normal(0, 0.1, shape)).astype("float32")
    labels = rng.integers(0, 10, recipe.batch_size)
    print(f"\n== {dataset} / {model_name}: batch {recipe.batch_size}", flush=True)
    layers = training.step_profile(model, batch, labels, steps=steps)
    by_kind = defaultdict(float)
    for row in layers:
        kind = {"Sequential": "augmentation",
                "train_on_batch": "loss + optimizer"}.get(row["kind"], row["kind"])
        by_kind[kind] += row["ms"]
    total = sum(by_kind.values())
    epoch_steps = -(-TRAIN_EXAMPLES[dataset] // recipe.batch_size)
    rows = [{"dataset": dataset, "model": model_name, "part": kind, "ms_per_step": round(ms, 1),
             "share": round(ms / total, 3), "epoch_seconds": round(ms * epoch_steps / 1000, 1)}
            for kind, ms in sorted(by_kind.items(), key=lambda item: -item[1])]
    rows.append({"dataset": dataset, "model": model_name, "part": "whole step",
                 "ms_per_step": round(total, 1), "share": 1.0,
                 "epoch_seconds": round(total * epoch_steps / 1000, 1),
                 "batch_size": recipe.batch_size})
    for row in rows:
        print(f"  {row['part']:<22} {row['ms_per_step']:8.1f} ms {row['share']:6.1%} "
              f"{row['epoch_seconds']:7.1f} s/epoch", flush=True)
    return rows


def main() -> int:
    targets = [(d, m) for d, m in models.RECIPES if d in TRAIN_EXAMPLES]

    def more(parser):
        parser.add_argument("--steps", type=int, default=10,
                            help="timed steps per cut (the median is kept)")

    args = common.parse_args("profile", __doc__.splitlines()[0],
                             sorted({d for d, _ in targets}), add_arguments=more)
    rows = [row for d, m in targets if args.only in (None, d)
            for row in profile(d, m, steps=args.steps)]
    command = "python benchmarks/profile.py" + (f" --only {args.only}" if args.only else "")
    common.write_report(rows, command, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
