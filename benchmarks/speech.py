"""Full-mode speech benchmark behind docs/results.md (chapter 04).

    .venv/bin/python benchmarks/speech.py                        # everything below, one run
    .venv/bin/python benchmarks/speech.py --only rnn_classifier  # one model
    .venv/bin/python benchmarks/speech.py --takes 0              # FSDD's voices only
    .venv/bin/python benchmarks/speech.py --seed 43 --loso-only \
        --out benchmarks/results/speech_seed43.json              # the held-out folds again

Trains, in one run on this machine, each recipe of ``swtwo_tf.models.speech.RECIPES`` on the
Free Spoken Digit Dataset, once per split:

- ``documented``: FSDD's own split (takes 0-4 of every speaker and digit are the test set);
- ``speaker:<name>`` for each of the five speakers: leave that speaker out of training and
  test on all 500 of their recordings (leave-one-speaker-out, LOSO).

Each recipe is trained twice per split: on FSDD's training recordings alone, and with the
kit's synthetic voices added to them (``swtwo_tf.datasets.voices``: every installed
text-to-speech voice saying each digit ``--takes`` times through a simulated room; model name
suffix ``+ synthetic voices``). On each split and training set the models are also averaged
(``swtwo_tf.models.ensemble``, no further training), and PocketSphinx (``models.sphinx``, a
speaker-independent recogniser with a ten-word grammar) is scored on the same recordings.

Every row is measured on two test sets: the clean FSDD clips (``test_accuracy``) and the same
recordings as people record a digit (``as_recorded_accuracy``: the word at a random offset in
1-3 s of room noise at a low level, ``speech.as_recorded``, then cut out again by the voice-
activity front end ``speech.endpoint`` that ``swtwo predict`` uses). Rows also carry the
accuracy per digit and, on the documented split, per speaker (the fairness view); LOSO
summaries give the mean, the worst speaker and the gap between the best and worst speaker.
10 % of the real training part is held out for validation (early stopping). Writes
``benchmarks/results/speech.json``.

``--seed`` changes every training's seed (weights, validation carve, augmentation, batch
order; the synthetic voices and the "as recorded" test sets stay the same). One fold is 500
recordings of one voice whose errors come in runs, so a single training's fold accuracy moves
by several points with the seed alone: ``--loso-only`` (the five held-out folds, without the
documented split and without PocketSphinx, which has no seed) measures the held-out comparison
again under another seed.
"""

from __future__ import annotations

import sys
import time

import common
import numpy as np

from swtwo_tf import config, tables
from swtwo_tf.datasets import speech, voices
from swtwo_tf.models import ensemble, sphinx
from swtwo_tf.models.speech import RECIPES

DATASET = "spoken_digit"
SYNTHETIC = " + synthetic voices"
#: Takes of each digit per synthetic voice (``voices.synthetic_recordings``).
TAKES = 2
#: Seed of every training (``training.train_recipe``).
SEED = 42


def options(parser) -> None:
    parser.add_argument("--takes", type=int, default=TAKES,
                        help=f"takes of each digit per synthetic voice (default {TAKES}; 0: none)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"training seed (default {SEED})")
    parser.add_argument("--loso-only", action="store_true",
                        help="only the leave-one-speaker-out folds, no PocketSphinx")


def main() -> int:
    args = common.parse_args("speech", __doc__.splitlines()[0], sorted(m for _, m in RECIPES),
                             options)
    rec = speech.recordings()
    if rec.source != "tfds":
        raise SystemExit("spoken_digit: the real dataset is needed "
                         "(swtwo datasets download spoken_digit)")
    synthetic, made = None, {}
    if args.takes:  # rendered afresh (not from the cache) to time the generator
        tic, cpu = time.perf_counter(), time.process_time() + config.children_cpu_seconds()
        synthetic = voices.synthetic_recordings(args.takes, cache=False)
        made = {"synthetic_voices": len(set(synthetic.speakers)),
                "synthetic_takes": len(synthetic.waves),
                "generator_seconds": round(time.perf_counter() - tic, 1),
                "generator_cpu_seconds": round(time.process_time() + config.children_cpu_seconds()
                                               - cpu, 1)}
        print(f"-> {made['synthetic_takes']:,} synthetic takes by {made['synthetic_voices']} "
              f"voices in {made['generator_seconds']:.0f} s "
              f"({made['generator_cpu_seconds']:.0f} CPU s)", flush=True)
    splits = [f"speaker:{s}" for s in sorted(set(rec.speakers))]
    splits = splits if args.loso_only else ["documented"] + splits
    chosen = [(d, m) for d, m in RECIPES if args.only in (None, m)]
    folds = []
    for split in splits:
        test = TestSets(rec, split)
        for suffix, extra in (("", None), (SYNTHETIC, synthetic)):
            if suffix and extra is None:
                continue
            runs = []
            for dataset, name in chosen:
                row, model, data = common.train(dataset, name, RECIPES[(dataset, name)],
                                                split=split, recordings=rec, extra=extra,
                                                seed=args.seed)
                runs.append(({**row, "model": name + suffix, **(made if suffix else {}),
                              **test.measure(model)}, model, data))
            folds += [row for row, _, _ in runs]
            if len(runs) > 1:
                folds.append(ensemble_row(runs, split, test.measure, suffix))
        if not args.loso_only:
            folds.append(test.pocketsphinx())
    rows = []
    for name in dict.fromkeys(r["model"] for r in folds):
        mine = [r for r in folds if r["model"] == name]
        rows += mine + [loso_summary(mine)]
    print_table(rows)
    command = "python benchmarks/speech.py" + (f" --only {args.only}" if args.only else "") + (
        f" --takes {args.takes}" if args.takes != TAKES else "") + (
        f" --seed {args.seed}" if args.seed != SEED else "") + (
        " --loso-only" if args.loso_only else "") + (
        f" --out {args.out}" if args.out != str(common.RESULTS / "speech.json") else "")
    common.write_report(rows, command, args.out)
    return 0


class TestSets:
    """One split's test recordings, clean and as people record them (see the docstring)."""

    def __init__(self, rec: speech.Recordings, split: str):
        _, idx = speech.split_indices(rec, split)
        self.split, self.labels, self.speakers = split, rec.labels[idx], rec.speakers[idx]
        self.clean = rec.waves[idx]
        noisy, _ = speech.as_recorded(self.clean, seed=0)
        self.recorded = np.stack([speech.fix_length(speech.endpoint(w)) for w in noisy])
        self.noisy = noisy

    def measure(self, model) -> dict:
        """Accuracy as recorded, and per digit and per speaker on the clean clips."""
        heard = model.predict(self.clean, batch_size=256, verbose=0).argmax(axis=1)
        recorded = model.predict(self.recorded, batch_size=256, verbose=0).argmax(axis=1)
        return self.views(heard, recorded)

    def views(self, heard, recorded) -> dict:
        right = np.asarray(heard) == self.labels
        row = {"as_recorded_accuracy": round(float(np.mean(np.asarray(recorded) == self.labels)),
                                             4),
               "per_digit": {str(d): round(float(right[self.labels == d].mean()), 4)
                             for d in sorted(set(self.labels.tolist()))}}
        if len(set(self.speakers)) > 1:
            row["per_speaker"] = {s: round(float(right[self.speakers == s].mean()), 4)
                                  for s in sorted(set(self.speakers))}
        print(f"   as people record: {row['as_recorded_accuracy']:.2%}; worst digit "
              f"{min(row['per_digit'], key=row['per_digit'].get)}", flush=True)
        return row

    def pocketsphinx(self) -> dict:
        print(f"\n== PocketSphinx / {self.split}: {len(self.labels)} recordings", flush=True)
        tic = time.perf_counter()
        heard = sphinx.transcribe([w[:np.flatnonzero(w)[-1] + 1] for w in self.clean],
                                  one_digit=True)
        seconds = time.perf_counter() - tic
        recorded = sphinx.transcribe([speech.endpoint(w) for w in self.noisy], one_digit=True)
        digits = [int(h) if len(h) == 1 else -1 for h in heard]
        accuracy = float(np.mean(np.array(digits) == self.labels))
        print(f"-> {accuracy:.2%} ({sum(len(h) != 1 for h in heard)} not heard as one digit)",
              flush=True)
        return {"dataset": DATASET, "model": "pocketsphinx (en-us, one-digit grammar)",
                "split": self.split, "test_accuracy": round(accuracy, 4),
                "decode_seconds": round(seconds, 1), "train_seconds": 0, "epochs": 0,
                "batch_size": 0, "parameters": 0,
                **self.views(digits, [int(h) if len(h) == 1 else -1 for h in recorded])}


def ensemble_row(runs: list, split: str, measure=None, suffix: str = "") -> dict:
    """The fold's models averaged (``swtwo_tf.models.ensemble``): no further training, so its
    time is the sum of its members'. ``measure(model)`` adds its views."""
    members = [row for row, _, _ in runs]
    averaged = ensemble([model for _, model, _ in runs])
    averaged.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _, accuracy = averaged.evaluate(runs[0][2].test, verbose=0)
    print(f"-> ensemble of {', '.join(r['model'] for r in members)}: {accuracy:.2%}", flush=True)
    return {"dataset": members[0]["dataset"], "model": "ensemble" + suffix, "split": split,
            "test_accuracy": round(float(accuracy), 4),
            "train_seconds": round(sum(r["train_seconds"] for r in members), 1),
            "epochs": 0, "batch_size": 0, "parameters": averaged.count_params(),
            **(measure(averaged) if measure else {})}


def loso_summary(folds: list[dict]) -> dict:
    """One model's leave-one-speaker-out folds as a mean, a worst speaker and the gap between
    the best and the worst speaker (points of accuracy)."""
    loso = [r for r in folds if r["split"].startswith("speaker:")]
    accuracies = [r["test_accuracy"] for r in loso]
    worst = min(loso, key=lambda r: r["test_accuracy"])
    summary = {**{k: loso[0][k] for k in ("dataset", "model", "batch_size", "parameters")},
               "split": "loso_mean", "test_accuracy": round(float(np.mean(accuracies)), 4),
               "worst_speaker": worst["split"], "worst_accuracy": worst["test_accuracy"],
               "speaker_gap": round(float(max(accuracies) - min(accuracies)), 4),
               "train_seconds": round(float(np.mean([r["train_seconds"] for r in loso])), 1),
               "epochs": round(float(np.mean([r["epochs"] for r in loso])), 1)}
    if all("as_recorded_accuracy" in r for r in loso):
        summary["as_recorded_accuracy"] = round(float(np.mean(
            [r["as_recorded_accuracy"] for r in loso])), 4)
    print(f"-> {summary['model']}: leave-one-speaker-out mean {summary['test_accuracy']:.2%}, "
          f"worst {summary['worst_speaker']} {summary['worst_accuracy']:.2%}", flush=True)
    return summary


def print_table(rows: list[dict]) -> None:
    print("\n" + tables.format_table(
        ["model", "split", "test acc", "as recorded", "train time", "epochs", "params", "note"],
        [[r["model"], r["split"], f"{r['test_accuracy']:.2%}",
          f"{r['as_recorded_accuracy']:.2%}" if "as_recorded_accuracy" in r else "",
          f"{r['train_seconds'] / 60:.1f} min", r["epochs"], f"{r['parameters']:,}",
          f"worst: {r['worst_speaker']} {r['worst_accuracy']:.2%}, gap "
          f"{r['speaker_gap']:.1%}; time is per fold"
          if r["split"] == "loso_mean" else ""] for r in rows], align="llrrrrrl"))


if __name__ == "__main__":
    sys.exit(main())
