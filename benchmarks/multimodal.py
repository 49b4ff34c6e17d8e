"""Multimodal benchmark behind chapter 10 and docs/results.md: a digit seen and heard, fused.

    .venv/bin/python benchmarks/multimodal.py
    .venv/bin/python benchmarks/multimodal.py --only speaker:theo

For each split of the paired data (``seen_and_heard``: ``documented``, FSDD's takes 0-4 as
test recordings; ``speaker:theo``, the speaker chapters 04 and 10 hold out), in one run on
this machine, exactly as chapter 10 does:

- trains the image model (``mnist``/``convnet``, once) and the speech CRNN
  (``spoken_digit``/``rnn_classifier`` on the split's training recordings) with their recipes;
- encodes every pair once and trains the fusion heads of ``models.fusion.VARIANTS``;
- measures each model on the test pairs: clean, with the image removed (black), with the
  speech removed (silence), and as each image corruption (noise, blur, occlusion) and each
  speech corruption (noise, clipping, dropout) goes from severity 0 to 1;
- trains the contrastive embedding and measures recall@1 and recall@5 of every test recording
  against every test image;
- also trains ``models.fusion.NOISY_VARIANTS`` (early and gated fusion with modality dropout)
  on the training features plus those of noisy copies of the training pairs
  (``fusion.with_noisy_copies``: image noise or speech noise at severities 0.25, 0.5 and 1), and
  measures them like the others: what it takes to survive a sense that is *wrong*, which
  modality dropout alone does not teach;
- with ``--scratch``, only this: contrastive embeddings whose encoders learn from the raw
  pairs, two pairs per training recording an epoch, ``SCRATCH_EPOCHS`` epochs: the speech
  CRNN from scratch beside the trained image CNN, locked (locked-image tuning, "LiT",
  Zhai et al. 2022: no label reaches the speech side), and both encoders from scratch (the
  kit's CNN and CRNN architectures, no digit label anywhere), once on FSDD's recordings and
  once with the kit's synthetic voices (``voices.synthetic_recordings``, chapter 04) added to
  the training recordings;
- with ``--control``, only the control of that last row: both encoders from scratch on FSDD's
  recordings alone for as many steps as the run with the synthetic voices took (their pairs
  make each epoch longer), so that what the voices add is not mistaken for what more steps add.

Prints the tables and the chapter's targets (met or not, with the numbers), and writes one row
per model and split to ``benchmarks/results/multimodal.json`` (``--scratch``: to
``multimodal_scratch.json``, a report of its own, as does ``--control``, so that either run can
be repeated on another machine without dropping the other's rows).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import common
import numpy as np

from swtwo_tf import config, datasets, evaluation, tables, training
from swtwo_tf.datasets import multimodal, speech, voices
from swtwo_tf.models import fusion

SPLITS = ("documented", "speaker:theo")
#: Epochs of the contrastive embedding learned from scratch (``--scratch``).
SCRATCH_EPOCHS = 20
#: ``--scratch`` also trains both encoders with the kit's synthetic voices (chapter 04) added to
#: the training recordings: this many takes of each digit by each voice.
TAKES = 2
SYNTHETIC = " + synthetic voices"
CONTROL = ", as many steps as with the voices"
SEVERITIES = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0]
#: The models a target reads: the fused models trained with modality dropout.
FUSED = {**fusion.VARIANTS, **fusion.NOISY_VARIANTS}
WITH_MD = [name for name, (_, rate) in FUSED.items() if rate]
#: Accuracy with one input removed: a black image, or every recording silenced.
REMOVED = {"accuracy_image_removed": {"image": ("occlusion", 1.0)},
           "accuracy_audio_removed": {"audio": ("dropout", 1.0)}}


def encoders(split: str, rec, image_model) -> tuple:
    """The split's speech model, trained with its recipe; its seconds."""
    config.seed_everything(42)
    print(f"\n== {split}: speech CRNN without the test recordings", flush=True)
    audio_model, history, _ = training.train_recipe(
        "spoken_digit", "rnn_classifier", split=split, recordings=rec, verbose=0)
    print(f"-> trained in {history.seconds:.0f} s ({history.cpu_seconds:.0f} CPU s)", flush=True)
    return audio_model, history


def measure(split: str, rec, image_model, image_history) -> list[dict]:
    audio_model, audio_history = encoders(split, rec, image_model)
    data = datasets.pipelines("seen_and_heard", split=split, recordings=rec)
    if data.source != "tfds":
        raise SystemExit("seen_and_heard needs the real mnist and spoken_digit")
    start = time.perf_counter()
    features = {part: fusion.encode(image_model, audio_model, pairs)
                for part, pairs in data.parts.items()}
    labels = {part: pairs.labels for part, pairs in data.parts.items()}
    encode_seconds = time.perf_counter() - start
    heads, head_seconds = training.train_heads(image_model, audio_model, features, labels)
    start = time.perf_counter()
    more, more_labels = fusion.with_noisy_copies(image_model, audio_model, data.parts["train"],
                                                 features, labels)
    encode_seconds += time.perf_counter() - start
    noisy_heads, noisy_seconds = training.train_heads(
        image_model, audio_model, more, more_labels, variants=fusion.NOISY_VARIANTS)
    heads, head_seconds = {**heads, **noisy_heads}, {**head_seconds, **noisy_seconds}
    print(f"-> {len(heads) - 1} heads trained in {sum(head_seconds.values()):.0f} s",
          flush=True)
    test = data.parts["test"]
    clean = evaluation.fusion_accuracies(heads, image_model, audio_model, features["test"],
                                         test.labels)
    removed = {condition: evaluation.fusion_accuracies(
        heads, image_model, audio_model, fusion.encode(image_model, audio_model, test, **arg),
        test.labels) for condition, arg in REMOVED.items()}
    curves = {}
    for modality, kinds in (("image", multimodal.IMAGE_CORRUPTIONS),
                            ("audio", multimodal.AUDIO_CORRUPTIONS)):
        for kind in kinds:
            curves[f"{modality} {kind}"] = evaluation.corruption_sweep(
                heads, image_model, audio_model, test, modality, kind, SEVERITIES)
            print(f"   {modality} {kind} swept", flush=True)
    seconds = {"image alone": image_history.seconds, "audio alone": audio_history.seconds,
               **head_seconds}
    rows = []
    for name in clean:
        rows.append({
            "dataset": "seen_and_heard", "model": name, "split": split,
            "test_accuracy": round(clean[name], 4),
            **{c: round(removed[c][name], 4) for c in REMOVED},
            "train_seconds": round(seconds[name], 1),
            "severities": SEVERITIES,
            "curves": {c: [round(a, 4) for a in v[name]] for c, v in curves.items()},
            "test_pairs": len(test), "test_recordings": int(len(set(test.recording_ids)))})
    rows.append(contrastive(split, features, labels, test))
    rows.append({"dataset": "seen_and_heard", "model": "all training", "split": split,
                 "train_seconds": round(image_history.seconds + audio_history.seconds
                                        + encode_seconds + sum(head_seconds.values())
                                        + rows[-1]["train_seconds"], 1),
                 "train_cpu_seconds": round(image_history.cpu_seconds
                                            + audio_history.cpu_seconds, 1)})
    return rows


def contrastive(split: str, features: dict, labels: dict, test) -> dict:
    config.seed_everything(42)
    pair = fusion.ContrastivePair()
    history = training.fit_on_features(pair, features["train"], labels["train"], (
        features["validation"], labels["validation"]), epochs=fusion.EPOCHS, loss=None)
    _, one = np.unique(test.recording_ids, return_index=True)
    images = np.asarray(pair.embed(features["test"][0], "image"))
    queries = np.asarray(pair.embed(features["test"][1][one], "audio"))
    recall = {k: evaluation.recall_at_k(queries, test.labels[one], images, test.labels, k=k)
              for k in (1, 5)}
    print(f"-> contrastive: recall@1 {recall[1]:.2%}, recall@5 {recall[5]:.2%}", flush=True)
    return {"dataset": "seen_and_heard", "model": "contrastive", "split": split,
            "recall_at_1": round(recall[1], 4), "recall_at_5": round(recall[5], 4),
            "train_seconds": round(history.seconds, 1), "queries": int(len(one)),
            "gallery": int(len(images))}


def _two_per_recording(pairs):
    """The pairs an epoch sees: each recording twice, with two images."""
    _, first = np.unique(pairs.recording_ids, return_index=True)
    second = np.setdiff1d(np.arange(len(pairs)), first)[:len(first)]
    return pairs.subset(np.sort(np.concatenate([first, second])))


def _scratch_pairs(split: str, rec, extra=None):
    config.seed_everything(42)
    data = datasets.pipelines("seen_and_heard", split=split, recordings=rec, batch_size=128,
                              extra=extra)
    return data, _two_per_recording(data.parts["train"])


def control_epochs(split: str, rec, extra) -> int:
    """Epochs that give FSDD's pairs alone as many steps as ``SCRATCH_EPOCHS`` epochs of the
    pairs with ``extra`` recordings."""
    steps = [-(-len(_scratch_pairs(split, rec, e)[1]) // 128) for e in (extra, None)]
    return round(SCRATCH_EPOCHS * steps[0] / steps[1])


def contrastive_from_scratch(split: str, rec, image_model=None, extra=None, *,
                             epochs: int = SCRATCH_EPOCHS, suffix: str = "") -> dict:
    """The contrastive embedding with an untrained speech encoder, learned from the pairs
    alone; beside ``image_model``'s encoder, locked, or with an untrained image encoder too.
    ``extra`` recordings (the synthetic voices) join the training pairs; ``suffix`` ends the
    row's model name."""
    from swtwo_tf import models

    data, train = _scratch_pairs(split, rec, extra)
    validation = _two_per_recording(data.parts["validation"])
    if image_model is None:
        image_encoder = fusion.encoder(models.recipe_for("mnist", "convnet").build())
        name = "contrastive, encoders from scratch"
    else:
        image_encoder = fusion.encoder(image_model)
        image_encoder.trainable = False  # its batch norm runs in inference mode too
        name = "contrastive, speech encoder from scratch, image locked"
    name += (SYNTHETIC if extra is not None else "") + suffix
    audio_encoder = fusion.encoder(models.recipe_for("spoken_digit", "rnn_classifier").build())
    pair = fusion.ContrastivePair(image_encoder=image_encoder, audio_encoder=audio_encoder)
    steps = -(-len(train) // 128)
    pair.compile(optimizer=training.optimizer_for(
        learning_rate=2e-3, schedule="cosine", epochs=epochs, steps_per_epoch=steps))
    print(f"\n== {split}: {name}, {len(train)} pairs an epoch, {epochs} epochs", flush=True)
    history = training.fit(pair, multimodal.pipeline(train, 128, shuffle=True),
                           multimodal.pipeline(validation, 256), epochs=epochs)
    test = data.parts["test"]
    _, one = np.unique(test.recording_ids, return_index=True)
    images = np.concatenate([np.asarray(pair.embed(test.images[i:i + 500], "image"))
                             for i in range(0, len(test), 500)])
    queries = np.asarray(pair.embed(test.recordings.waves[test.recording_ids[one]], "audio"))
    recall = {k: evaluation.recall_at_k(queries, test.labels[one], images, test.labels, k=k)
              for k in (1, 5)}
    print(f"-> {name}: recall@1 {recall[1]:.2%}, recall@5 {recall[5]:.2%} in "
          f"{history.seconds:.0f} s", flush=True)
    return {"dataset": "seen_and_heard", "model": name, "split": split,
            "recall_at_1": round(recall[1], 4),
            "recall_at_5": round(recall[5], 4), "train_seconds": round(history.seconds, 1),
            "train_cpu_seconds": round(history.cpu_seconds, 1), "epochs": epochs,
            "queries": int(len(one)), "gallery": int(len(images))}


def targets(rows: list[dict]) -> list[list]:
    """Chapter 10's targets: for each split and condition, what each fused model trained with
    modality dropout reaches, and which of them meet the target (none is picked after the
    fact: every one is shown)."""
    by = {(r["model"], r["split"]): r for r in rows}
    out = []

    def row(split, target, values: dict, wanted) -> None:
        met = [m for m, v in values.items() if wanted(v)]
        out.append([split, target, ", ".join(f"{m} {v:.1%}" for m, v in values.items()),
                    ", ".join(met) or "none"])

    for split in sorted({r["split"] for r in rows}):
        image, audio = by[("image alone", split)], by[("audio alone", split)]
        better = max(image["test_accuracy"], audio["test_accuracy"])
        fused = {m: r["test_accuracy"] for (m, s), r in by.items()
                 if s == split and m in FUSED}
        row(split, f"clean >= better single ({better:.2%})", fused,
            lambda v, b=better: v >= b)
        for modality, other in (("image", audio), ("audio", image)):
            alone = by[(f"{modality} alone", split)]
            for curve in (c for c in alone["curves"] if c.startswith(modality)):
                heavy = evaluation.severity_below(alone["severities"], alone["curves"][curve])
                if heavy is None:
                    out.append([split, f"{curve}: never below 50 % alone", "-", "-"])
                    continue
                i = alone["severities"].index(heavy)
                lost, kept = alone["curves"][curve][i], other["curves"][curve][i]
                row(split, f"{curve} at {heavy}: {modality} alone {lost:.1%}; >= 95 % of "
                    f"{kept:.1%} and >= {lost + 0.2:.1%}",
                    {m: by[(m, split)]["curves"][curve][i] for m in WITH_MD},
                    lambda v, lost=lost, kept=kept: v >= 0.95 * kept and v >= lost + 0.2)
        for removed, other in zip(REMOVED, (audio, image), strict=True):
            want = other["test_accuracy"]
            row(split, f"{removed.split('_', 1)[1].replace('_', ' ')}: >= {want:.2%} - 1 point",
                {m: by[(m, split)][removed] for m in WITH_MD}, lambda v, w=want: v >= w - 0.01)
        retrieval = {m: r["recall_at_1"] for (m, s), r in by.items()  # --scratch adds three
                     if s == split and m.startswith("contrastive") and not m.endswith(CONTROL)}
        if split == "documented":
            row(split, "recall@1 >= 95 %", retrieval, lambda v: v >= 0.95)
        else:
            out.append([split, "recall@1", ", ".join(f"{m} {v:.1%}" for m, v in
                                                     retrieval.items()), "(reported)"])
        total = by[("all training", split)]["train_seconds"]
        out.append([split, "training <= 10 min", f"{total / 60:.1f} min",
                    "met" if total <= 600 else "NOT met"])
    return out


def add_options(parser) -> None:
    parser.add_argument("--targets", action="store_true",
                        help="only print the targets of the report already written")
    parser.add_argument("--scratch", action="store_true",
                        help="only the contrastive embedding with encoders from scratch")
    parser.add_argument("--control", action="store_true",
                        help="only both encoders from scratch on FSDD alone, as many steps as "
                             "with the synthetic voices")


def main() -> int:
    args = common.parse_args("multimodal", __doc__.splitlines()[0], list(SPLITS),
                             add_options)
    scratch_out = Path(args.out).with_name(Path(args.out).stem + "_scratch.json")
    if args.targets:
        print_targets(args.out, scratch_out)
        return 0
    if args.control:
        rec, synthetic = speech.recordings(), voices.synthetic_recordings(TAKES)
        rows = [contrastive_from_scratch(split, rec, epochs=control_epochs(split, rec, synthetic),
                                         suffix=CONTROL)
                for split in SPLITS if args.only in (None, split)]
        common.write_report(rows, "python benchmarks/multimodal.py --control"
                            + (f" --only {args.only}" if args.only else ""), scratch_out)
        return 0
    if args.scratch:
        rec = speech.recordings()
        config.seed_everything(42)
        print("== image model: mnist/convnet (to be locked)", flush=True)
        image_model, _, _ = training.train_recipe("mnist", "convnet", verbose=0)
        synthetic = voices.synthetic_recordings(TAKES)
        rows = [contrastive_from_scratch(split, rec, locked, extra) for split in SPLITS
                if args.only in (None, split)
                for locked, extra in ((image_model, None), (None, None), (None, synthetic))]
        common.write_report(rows, "python benchmarks/multimodal.py --scratch"
                            + (f" --only {args.only}" if args.only else ""), scratch_out)
        return 0
    rec = speech.recordings()
    config.seed_everything(42)
    print("== image model: mnist/convnet", flush=True)
    image_model, image_history, image_data = training.train_recipe("mnist", "convnet",
                                                                   verbose=0)
    print(f"-> trained in {image_history.seconds:.0f} s", flush=True)
    rows = []
    for split in SPLITS:
        if args.only in (None, split):
            rows += measure(split, rec, image_model, image_history)
    print("\n" + tables.format_table(
        ["split", "model", "clean", "image removed", "speech removed"],
        [[r["split"], r["model"], f"{r['test_accuracy']:.2%}",
          *(f"{r[c]:.1%}" for c in REMOVED)] for r in rows if "test_accuracy" in r],
        align="llrrr"))
    command = "python benchmarks/multimodal.py" + (f" --only {args.only}" if args.only else "")
    report = common.write_report(rows, command, args.out)
    print_targets(report, scratch_out)
    return 0


def print_targets(path, scratch=None) -> None:
    """The targets of every split in the report (this run's and those kept from before), with
    the recall of the ``--scratch`` report's embeddings where it exists."""
    rows = json.loads(Path(path).read_text())["results"]
    if scratch is not None and Path(scratch).is_file():
        rows += json.loads(Path(scratch).read_text())["results"]
    print("\n" + tables.format_table(["split", "target", "measured", "met by"], targets(rows),
                                     align="llll"))


if __name__ == "__main__":
    sys.exit(main())
