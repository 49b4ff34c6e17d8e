"""Trustworthy models (chapter 09), full mode: explanations checked, attacks, privacy.

Parts (``--only``):

- ``mnist`` and ``fashion_mnist``: the chapter-01/02 ``convnet`` recipe, and the same recipe
  adversarially trained (FGSM from a random start, epsilon 0.1, ``models.trust
  .AdversarialTraining``); clean test accuracy and accuracy under PGD-20 at epsilon 0.1 on
  the whole test set, and a PGD-20 curve over epsilon on its first 2,000 images. For MNIST
  also the model-randomisation sanity check (Spearman rank correlation between the trained
  model's maps on 100 test images and those with every weighted layer re-initialised) and
  the deletion curves on 500 test images.
- ``explanations``: the sanity check and deletion curves alone (the ``mnist`` part runs them
  too), for every method of ``trust.explain.METHODS``.
- ``privacy``: DP-SGD on MNIST (``training.train_private``, the ``training.PRIVATE``
  settings) with its epsilon at delta 1e-5; the loss-threshold membership-inference attack
  (attack AUC over 5,000 training and 5,000 test images) on the DP model and on the normally
  trained ``convnet``; and on a model built to leak (``overfit``, also alone): the small CNN
  without DP or any remedy, 40 epochs on 250 training images.
- ``speech``: chapter 04's speech CNN and CRNN (their recipes, FSDD's documented split) on
  the 250 test recordings: accuracy with white noise at 30 to 0 dB SNR (over the whole
  second, and over the recording only, its padding kept silent), under PGD-20 on the
  waveform at small epsilons (with the perturbation's median SNR), and per speaker. For the
  CNN also its explanations over log-mel features (``trust.explain.split_at``): the
  randomisation check on 50 recordings, deletion curves over time-frequency cells, and the
  share of each map on the frames that hold the word.
- ``text``: chapter 05's ``nb_ngrams`` on 1,000 IMDB test reviews: accuracy with random
  typos and neighbouring words swapped, under the targeted typo attack on 500 reviews, and
  the template test's spread.

Writes ``benchmarks/results/trust.json``.
"""

from __future__ import annotations

import functools
import sys
import time

import keras
import numpy as np
from common import parse_args, write_report

from swtwo_tf import config, datasets, evaluation, training
from swtwo_tf.datasets import core, speech
from swtwo_tf.models import trust as trust_models
from swtwo_tf.trust import explain, fairness, privacy, robustness

EPSILON = 0.1
CURVE = (0.0, 0.05, 0.1, 0.15, 0.2)
ADVERSARIAL = "convnet, adversarially trained"
OVERFIT = "private_cnn without DP, overfit"
SANITY_METHODS = ("gradient", "SmoothGrad", "integrated gradients",
                  "integrated gradients (grey baseline)", "Grad-CAM", "occlusion",
                  "occlusion (grey patch)")


def test_arrays(dataset: str):
    x, y = core.arrays(dataset, "test")
    return x.astype("float32") / 255, y


def timed(row: dict, history) -> dict:
    return {**row, "train_seconds": round(history.seconds, 1),
            "train_cpu_seconds": round(history.cpu_seconds, 1),
            "epochs": len(history.history["loss"])}


def robust_rows(dataset: str) -> tuple[list[dict], object]:
    x, y = test_arrays(dataset)
    rows, standard = [], None
    for name in ("convnet", ADVERSARIAL):
        print(f"\n== {dataset} / {name}", flush=True)
        wrap = ((lambda m: trust_models.AdversarialTraining(m, EPSILON)) if name != "convnet"
                else None)
        epochs = 8 if dataset == "fashion_mnist" and wrap else None  # its steps cost double
        model, history, _ = training.train_recipe(dataset, "convnet", wrap=wrap, verbose=2,
                                                  epochs=epochs)
        classifier = getattr(model, "classifier", model)
        start = time.process_time()
        attacked = robustness.accuracy_under_attack(classifier, x, y, [0.0, EPSILON])
        curve = robustness.accuracy_under_attack(classifier, x[:2000], y[:2000], CURVE)
        row = timed({"dataset": dataset, "model": name, "epsilon": EPSILON,
                     "test_accuracy": round(attacked[0.0], 4),
                     "pgd20_accuracy": round(attacked[EPSILON], 4),
                     "pgd20_curve": {str(e): round(a, 4) for e, a in curve.items()},
                     "attack_cpu_seconds": round(time.process_time() - start, 1),
                     "parameters": classifier.count_params()}, history)
        print(f"-> clean {row['test_accuracy']:.2%}, PGD-20 at {EPSILON}: "
              f"{row['pgd20_accuracy']:.2%}", flush=True)
        rows.append(row)
        standard = standard or classifier
    return rows, standard


FRACTIONS = (0.0, 0.05, 0.1, 0.2, 0.3)


def faithfulness(model, x, y, methods, checked, options=None) -> tuple[dict, dict, dict]:
    """``(spearman, deletion, maps)`` of each method: its rank correlation with all layers
    randomised (checked on the inputs ``checked``), its deletion curve over ``FRACTIONS`` on
    ``x`` (and ``deletion["random"]``), and its maps of ``x``."""
    options = options or {}
    checks = explain.sanity_check(model, checked, methods, options=options)
    spearman, deletion, maps = {}, {}, {}
    for method in methods:
        spearman[method] = round(checks[method][max(checks[method])], 3)
        maps[method] = explain.METHODS[method](model, x, **options.get(method, {}))
        deletion[method] = [round(a, 4) for a in explain.deletion_curve(
            model, x, y, maps[method], FRACTIONS)]
        print(f"-> {method}: Spearman with all layers randomised {spearman[method]:.3f}, "
              f"deletion {deletion[method]}", flush=True)
    deletion["random"] = [round(a, 4) for a in explain.deletion_curve(
        model, x, y, maps[method], FRACTIONS, seed=0)]
    return spearman, deletion, maps


def sanity_row(model) -> dict:
    x, y = test_arrays("mnist")
    x, y = x[:500], y[:500]
    spearman, deletion, _ = faithfulness(model, x, y, SANITY_METHODS, x[:100],
                                         {"SmoothGrad": {"samples": 10}})
    return {"dataset": "mnist", "model": "convnet", "part": "explanations",
            "spearman_randomised": spearman, "deletion_fractions": list(FRACTIONS),
            "deletion_accuracy": deletion}


def membership(model, name: str, members, history=None, **extra) -> dict:
    x, y = test_arrays("mnist")
    auc = privacy.membership_auc(model, members, (x[:len(members[0])], y[:len(members[0])]))
    print(f"-> {name}: membership-inference AUC {auc:.3f}", flush=True)
    row = {"dataset": "mnist", "model": name, "part": "membership",
           "attack_auc": round(auc, 4), "members": len(members[0]), **extra}
    return timed(row, history) if history is not None else row


def first(data, n: int):
    """The first ``n`` training examples the pipeline yields (members of the training set)."""
    x, y = next(iter(data.train.unbatch().batch(n)))
    return np.asarray(x), np.asarray(y)


def privacy_rows(standard) -> list[dict]:
    print("\n== mnist / DP-SGD", training.PRIVATE, flush=True)
    private, history, (x_train, y_train) = training.train_private("mnist")
    eps = privacy.epsilon(training.PRIVATE["noise_multiplier"], history.sample_rate,
                          history.steps)
    x, y = test_arrays("mnist")
    accuracy = float(np.mean(np.argmax(private.predict(x, verbose=0), axis=-1) == y))
    print(f"-> {accuracy:.2%} at epsilon {eps:.2f}", flush=True)
    members = x_train[:5000].astype("float32") / 255, y_train[:5000]
    rows = [timed({"dataset": "mnist", "model": "private_cnn, DP-SGD", "test_accuracy":
                   round(accuracy, 4), "epsilon": round(eps, 3), "delta": privacy.DELTA,
                   "steps": history.steps, **training.PRIVATE}, history),
            membership(private, "private_cnn, DP-SGD", members)]
    if standard is None:
        standard, _, _ = training.train_recipe("mnist", "convnet", verbose=0)
    rows.append(membership(standard, "convnet", members))
    return rows + [overfit_row()]


def overfit_row() -> dict:
    """Chapter 09's model built to leak: the small CNN without DP or any remedy, 40 epochs
    on 250 training images (the notebook writes the same compile and fit)."""
    print("\n== mnist / private_cnn without DP, overfit on 250 images", flush=True)
    data = datasets.pipelines("mnist", batch_size=256, seed=42)
    members = first(data, 250)
    config.seed_everything(42)
    model = trust_models.private_cnn(name="overfit_cnn")
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start, cpu_start = time.perf_counter(), time.process_time()
    model.fit(*members, batch_size=50, epochs=40, verbose=0)
    x, y = test_arrays("mnist")
    accuracy = float(np.mean(np.argmax(model.predict(x, verbose=0), axis=-1) == y))
    return membership(model, OVERFIT, members, test_accuracy=round(accuracy, 4),
                      train_seconds=round(time.perf_counter() - start, 1),
                      train_cpu_seconds=round(time.process_time() - cpu_start, 1), epochs=40)


SNRS = (None, 30, 20, 10, 5, 0)
WAVE_EPSILONS = (0.0, 0.0005, 0.001, 0.002, 0.005)
SPEECH_METHODS = ("gradient", "integrated gradients", "Grad-CAM", "occlusion")


def speech_rows() -> list[dict]:
    import tensorflow as tf

    rec = speech.recordings()
    _, test_idx = speech.split_indices(rec, "documented")
    waves, digits = rec.waves[test_idx], rec.labels[test_idx]
    rows = []
    for name in ("cnn_classifier", "rnn_classifier"):
        print(f"\n== spoken_digit / {name}", flush=True)
        model, history, _ = training.train_recipe("spoken_digit", name, verbose=2,
                                                  recordings=rec)
        start = time.process_time()
        noise = robustness.accuracy_under_noise(model, waves, digits, SNRS)
        tight = robustness.accuracy_under_noise(model, waves, digits, SNRS, padding=False)
        attack = tf.function(functools.partial(  # PGD-20, traced once for every epsilon
            trust_models.pgd, model, bounds=trust_models.SAMPLES))
        attacked, loudness = {0.0: noise[None]}, {}
        for epsilon in WAVE_EPSILONS[1:]:  # each attack once: its accuracy and its loudness
            moved = np.asarray(attack(waves, digits, tf.constant(epsilon, tf.float32)))
            attacked[epsilon] = float(np.mean(np.argmax(model.predict(moved, verbose=0),
                                                        axis=-1) == digits))
            loudness[str(epsilon)] = round(float(np.median(speech.snr_db(waves, moved))), 1)
        p = model.predict(waves, verbose=0)
        row = timed({"dataset": "spoken_digit", "model": name, "split": "documented",
                     "test_accuracy": round(noise[None], 4),
                     "noise_curve": {("clean" if k is None else f"{k} dB"): round(v, 4)
                                     for k, v in noise.items()},
                     "noise_in_recording_curve": {("clean" if k is None else f"{k} dB"):
                                                  round(v, 4) for k, v in tight.items()},
                     "pgd20_wave_curve": {str(e): round(a, 4) for e, a in attacked.items()},
                     "pgd20_wave_snr_db": loudness,
                     "per_speaker": {s: round(a, 4) for s, a in evaluation.accuracy_by_group(
                         digits, p, rec.speakers[test_idx]).items()},
                     "attack_cpu_seconds": round(time.process_time() - start, 1)}, history)
        print(f"-> clean {row['test_accuracy']:.2%}; noise {row['noise_curve']}, in the "
              f"recording only {row['noise_in_recording_curve']}; PGD-20 "
              f"{row['pgd20_wave_curve']} at SNR {loudness}", flush=True)
        rows.append(row)
        if name == "cnn_classifier":
            rows.append(speech_explanations(model, waves, digits))
    return rows


def speech_explanations(model, waves, digits) -> dict:
    features, head = explain.split_at(model, "mel_image")
    mel = np.asarray(features(waves, training=False))
    sample = np.arange(0, len(waves), 5)  # 50 recordings, every speaker and digit
    spearman, deletion, maps = faithfulness(head, mel, digits, SPEECH_METHODS, mel[sample])
    front = model.get_layer("log_mel")
    shares = {m: explain.share_on_recording(v, waves, front.frame_step, front.frame_length)
              for m, v in maps.items()}
    share = {m: round(mass, 3) for m, (mass, _) in shares.items()}
    frames = next(iter(shares.values()))[1]
    print(f"-> share of each map on the word's frames ({frames:.1%} of frames): "
          f"{share}", flush=True)
    return {"dataset": "spoken_digit", "model": "cnn_classifier", "part": "explanations",
            "spearman_randomised": spearman, "deletion_fractions": list(FRACTIONS),
            "deletion_accuracy": deletion, "share_on_word_frames": share,
            "word_frames": round(frames, 3)}


TYPO_RATES = (0.05, 0.1, 0.2)
TYPO_BUDGETS = (1, 2, 4, 8)


def text_rows() -> list[dict]:
    import tensorflow as tf

    print("\n== imdb_reviews / nb_ngrams", flush=True)
    model, history, data = training.train_recipe("imdb_reviews", "nb_ngrams", verbose=2)
    pairs = list(data.test.unbatch().shuffle(25_000, seed=0).take(1000).as_numpy_iterator())
    texts, labels = [t.decode() for t, _ in pairs], np.array([y for _, y in pairs])

    def predict(batch):
        return model.predict(tf.constant(batch), verbose=0, batch_size=1024)

    def accuracy(batch):
        return round(float(np.mean(np.argmax(predict(batch), axis=-1) == labels)), 4)

    start, cpu = time.perf_counter(), time.process_time()
    targeted = robustness.typo_attack(predict, texts[:500], labels[:500], TYPO_BUDGETS)
    attack_seconds = (time.perf_counter() - start, time.process_time() - cpu)
    row = timed({"dataset": "imdb_reviews", "model": "nb_ngrams", "reviews": len(texts),
                 "test_accuracy": accuracy(texts),
                 "typos": {str(r): accuracy(robustness.typos(texts, r)) for r in TYPO_RATES},
                 "word_swaps": {str(r): accuracy(robustness.swap_words(texts, r))
                                for r in TYPO_RATES},
                 "typo_attack": {str(k): round(a, 4) for k, a in targeted.items()},
                 "typo_attack_reviews": 500,
                 "typo_attack_seconds": round(attack_seconds[0], 1),
                 "typo_attack_cpu_seconds": round(attack_seconds[1], 1),
                 "template_spread": round(fairness.template_scores(
                     lambda s: predict(s)[:, 1])["spread"], 4)}, history)
    print(f"-> {row}", flush=True)
    return [row]


def main() -> int:
    args = parse_args("trust", __doc__.splitlines()[0],
                      ["mnist", "fashion_mnist", "explanations", "privacy", "overfit",
                       "speech", "text"])
    config.seed_everything(42)
    rows, standard = [], None
    if args.only == "overfit":  # the leaking model alone
        rows.append(overfit_row())
    if args.only == "explanations":  # the sanity check and deletion curves alone
        print("\n== mnist / convnet", flush=True)
        standard, _, _ = training.train_recipe("mnist", "convnet", verbose=0)
        rows.append(sanity_row(standard))
    for dataset in ("mnist", "fashion_mnist"):
        if args.only in (None, dataset):
            found, model = robust_rows(dataset)
            rows += found
            if dataset == "mnist":
                standard = model
                rows.append(sanity_row(model))
    if args.only in (None, "privacy"):
        rows += privacy_rows(standard)
    if args.only in (None, "speech"):
        rows += speech_rows()
    if args.only in (None, "text"):
        rows += text_rows()
    for row in rows:
        print({k: v for k, v in row.items() if not isinstance(v, dict | list)})
    command = "python benchmarks/trust.py" + (f" --only {args.only}" if args.only else "")
    write_report(rows, command, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
