"""Two ways to help with unseen voices (chapter 04; docs/experiments.md): seed ensembles and
batch-norm statistics re-estimated on the new voice.

    .venv/bin/python benchmarks/speech_unseen.py        # nicolas and yweweler, 3 seeds
    .venv/bin/python benchmarks/speech_unseen.py --speakers george --seeds 42 43

On each held-out speaker's fold (``split="speaker:<name>"``: trained on the other four,
tested on all 500 of their recordings), train ``rnn_classifier`` (the CRNN) once per seed,
which changes its initial weights, its augmentation and the validation carve, and
``cnn_classifier`` with the first seed. Reported per fold:

- each model alone;
- the RNN seeds averaged, and the RNN seeds plus the CNN averaged
  (``swtwo_tf.models.ensemble``): if one training run's accidents caused the errors, several
  runs would cancel them;
- the first seed's RNN after *AdaBN*: the means and variances of its batch-norm layers
  re-estimated, layer by layer, on 20 and on all 500 of the new speaker's recordings,
  without their labels (a cheap test-time adaptation to a new microphone and voice).

Writes ``benchmarks/results/speech_unseen.json``; ``benchmarks/speech.py`` has the main table.
"""

from __future__ import annotations

import sys

import common
import keras
import numpy as np
import speech as speech_table

from swtwo_tf import tables
from swtwo_tf.datasets import speech
from swtwo_tf.models.speech import RECIPES

DATASET = "spoken_digit"


def adapt_batch_norm(model: keras.Model, waves: np.ndarray) -> None:
    """Set every ``BatchNormalization`` layer's moving mean and variance to those of its
    inputs on ``waves``, in order, each layer seeing the ones before it already adapted."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            inputs = keras.Model(model.inputs, layer.input).predict(waves, verbose=0,
                                                                    batch_size=128)
            axes = tuple(range(inputs.ndim - 1))
            layer.moving_mean.assign(inputs.mean(axis=axes))
            layer.moving_variance.assign(inputs.var(axis=axes))


def fold(rec, speaker: str, seeds: list[int]) -> list[dict]:
    split = f"speaker:{speaker}"
    rnns = []
    for seed in seeds:
        row, model, data = common.train(DATASET, "rnn_classifier",
                                        RECIPES[(DATASET, "rnn_classifier")], split=split,
                                        recordings=rec, seed=seed,
                                        model_options={"seed": seed, "name": f"rnn_{seed}"})
        rnns.append(({**row, "model": f"rnn_classifier seed {seed}"}, model, data))
    cnn_row, cnn, data = common.train(DATASET, "cnn_classifier",
                                      RECIPES[(DATASET, "cnn_classifier")], split=split,
                                      recordings=rec, seed=seeds[0],
                                      model_options={"seed": seeds[0]})
    rows = [row for row, _, _ in rnns] + [{**cnn_row, "model": f"cnn_classifier seed {seeds[0]}"}]
    if len(rnns) > 1:
        rows.append({**speech_table.ensemble_row(rnns, split),
                     "model": f"rnn_classifier x{len(rnns)} seeds"})
    rows.append({**speech_table.ensemble_row(rnns + [(cnn_row, cnn, data)], split),
                 "model": f"rnn_classifier x{len(rnns)} + cnn_classifier"})
    _, test = speech.split_indices(rec, split)
    first_row, model, first_data = rnns[0]
    order = np.random.default_rng(0).permutation(test)
    for count in (20, len(test)):
        adapt_batch_norm(model, rec.waves[order[:count]])
        _, accuracy = model.evaluate(first_data.test, verbose=0)
        print(f"-> rnn_classifier seed {seeds[0]} + AdaBN on {count} unlabelled recordings: "
              f"{accuracy:.2%}", flush=True)
        rows.append({**first_row, "model": f"rnn_classifier seed {seeds[0]} + AdaBN {count}",
                     "test_accuracy": round(float(accuracy), 4)})
    return rows


def main() -> int:
    def more(parser):
        parser.add_argument("--speakers", nargs="+", default=["nicolas", "yweweler"])
        parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])

    args = common.parse_args("speech_unseen", __doc__.splitlines()[0], [], add_arguments=more)
    rec = speech.recordings()
    if rec.source != "tfds":
        raise SystemExit("spoken_digit: the real dataset is needed "
                         "(swtwo datasets download spoken_digit)")
    unknown = sorted(set(args.speakers) - set(rec.speakers))
    if unknown:
        raise SystemExit(f"--speakers: no speaker {', '.join(unknown)} in FSDD; expected some "
                         f"of {', '.join(sorted(set(rec.speakers)))}")
    rows = [row for speaker in args.speakers for row in fold(rec, speaker, args.seeds)]
    print("\n" + tables.format_table(
        ["split", "model", "test acc"],
        [[r["split"], r["model"], f"{r['test_accuracy']:.2%}"] for r in rows], align="llr"))
    command = ("python benchmarks/speech_unseen.py --speakers " + " ".join(args.speakers)
               + " --seeds " + " ".join(map(str, args.seeds)))
    common.write_report(rows, command, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
