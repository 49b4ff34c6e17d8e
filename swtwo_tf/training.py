"""The training helper every chapter calls instead of ``model.fit`` (introduced in chapter 00).

It is the one place that reads quick mode for training: with ``SWTWO_QUICK=1`` it runs epochs
of at most :data:`config.QUICK_MAX_STEPS` batches, about :data:`config.QUICK_STEP_BUDGET`
steps in all (see :func:`config.quick_plan`), and says so. It also wires the callbacks a
learner should not have to re-type: a best-model checkpoint written atomically (so an
interrupted run never leaves a half-written file), early stopping that restores the best
weights, and the wall time of the run.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import keras

from swtwo_tf import config


class AtomicCheckpoint(keras.callbacks.Callback):
    """Save the model to ``path`` (``.keras``) whenever ``monitor`` improves.

    The file is written to a temporary name in the same folder and then renamed, so the
    checkpoint on disk is always a complete model, even if training is killed mid-save. The
    best value goes beside it (``<path>.best.json``), so that ``resume=True`` (a run picked
    up after an interruption, ``swtwo train``) keeps the better model of before the
    interruption instead of overwriting it with the first epoch after.
    """

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss", *,
                 resume: bool = False):
        super().__init__()
        self.path = Path(path)
        if self.path.suffix != ".keras":
            raise ValueError(f"checkpoint path must end in .keras, got {str(path)!r}")
        self.monitor = monitor
        self.mode = "max" if "acc" in monitor else "min"
        self.best: float | None = None
        self.record = self.path.with_name(self.path.name + ".best.json")
        if resume and self.path.is_file() and self.record.is_file():
            saved = json.loads(self.record.read_text())
            if saved.get("monitor") == monitor:
                self.best = float(saved["best"])

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise KeyError(
                f"checkpoint monitors {self.monitor!r} but the epoch logged only "
                f"{sorted(logs or {})}; pass validation data or another monitor"
            )
        better = self.best is None or (value > self.best if self.mode == "max"
                                       else value < self.best)
        if better:
            self.best = float(value)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".keras", dir=self.path.parent)
            os.close(fd)
            try:
                self.model.save(tmp)
                os.chmod(tmp, 0o644)  # mkstemp makes it private; a model file is for sharing
                os.replace(tmp, self.path)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
            record = self.record.with_suffix(".tmp")
            record.write_text(json.dumps({"monitor": self.monitor, "best": self.best,
                                          "epoch": epoch + 1}))
            os.replace(record, self.record)


def fit(
    model: keras.Model,
    train,
    validation=None,
    *,
    epochs: int,
    callbacks: list | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    monitor: str | None = None,
    early_stopping: int | None = None,
    quick_steps: int | None = None,
    verbose: int = 2,
) -> keras.callbacks.History:
    """Train a compiled ``model`` on batched ``tf.data`` datasets; returns the History.

    Args:
        train, validation: batched datasets of ``(inputs, targets)``.
        epochs: epochs of the full run (quick mode caps them).
        checkpoint: a ``.keras`` path; the best model so far is saved there atomically.
        resume: this run continues an interrupted one (Keras's ``BackupAndRestore`` in
            ``callbacks``): the checkpoint must beat the best of before the interruption.
        monitor: metric for the checkpoint and early stopping (default ``val_loss`` with
            validation data, else ``loss``).
        early_stopping: patience in epochs; stops and restores the best weights.
        quick_steps: the step budget of this run in quick mode (default
            :data:`config.QUICK_STEP_BUDGET`; see :func:`config.quick_plan`).
        verbose: Keras verbosity; 2 prints one line per epoch, readable in logs and notebooks.

    Shuffling is the pipeline's job (``Dataset.shuffle``), so Keras's own is turned off.

    The returned History has two extra attributes: ``seconds``, the wall time of training,
    and ``cpu_seconds``, the CPU time this process spent on it (all threads). On a shared
    machine the wall time also counts the moments the machine was busy elsewhere; the CPU
    time does not, so it is the steadier measure of what a recipe costs.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not getattr(model, "compiled", False):
        raise ValueError("compile the model (optimizer, loss, metrics) before calling fit()")
    monitor = monitor or ("val_loss" if validation is not None else "loss")
    all_callbacks = list(callbacks or [])
    if checkpoint is not None:
        all_callbacks.append(AtomicCheckpoint(checkpoint, monitor=monitor, resume=resume))
    if early_stopping is not None:
        all_callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, patience=early_stopping, restore_best_weights=True,
            mode="max" if "acc" in monitor else "min"))
    if config.quick_mode():
        cardinality = int(train.cardinality())
        capped, steps = config.quick_plan(epochs, cardinality if cardinality > 0 else None,
                                          quick_steps)
        print(f"Quick mode (SWTWO_QUICK=1): {capped} of {epochs} epochs, at most "
              f"{steps} batches each. Unset SWTWO_QUICK for the full run.")
        epochs = capped
        train = train.take(steps)
        if validation is not None:
            validation = validation.take(config.QUICK_MAX_STEPS)
    start, cpu_start = time.perf_counter(), time.process_time()
    history = model.fit(train, validation_data=validation, epochs=epochs, shuffle=False,
                        callbacks=all_callbacks, verbose=verbose)
    history.seconds = time.perf_counter() - start
    history.cpu_seconds = time.process_time() - cpu_start
    return history


def compile_classifier(
    model: keras.Model,
    *,
    learning_rate: float = 1e-3,
    schedule: str | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    quick_steps: int | None = None,
    accumulate: int | None = None,
) -> keras.Model:
    """Compile a softmax classifier with Adam, sparse cross-entropy and accuracy (chapter 01).

    ``accumulate=k`` sums the gradients of ``k`` batches before each weight update (Keras's
    ``gradient_accumulation_steps``): the update sees ``k * batch_size`` examples, the
    memory holds one batch (chapter 06).

    ``schedule="cosine"`` warms the learning rate up linearly over the first 10 % of the
    ``epochs * steps_per_epoch`` steps, then decays it to zero along a cosine (chapter 02
    explains why). Quick mode shortens the schedule along with the run (pass the same
    ``quick_steps`` as to :func:`fit`).
    """
    if schedule not in (None, "cosine"):
        raise ValueError(f"schedule must be None or 'cosine', got {schedule!r}")
    rate = learning_rate
    if schedule == "cosine":
        if not epochs or not steps_per_epoch:
            raise ValueError("a cosine schedule needs epochs and steps_per_epoch")
        if config.quick_mode():
            epochs, steps_per_epoch = config.quick_plan(epochs, steps_per_epoch, quick_steps)
        total = epochs * steps_per_epoch
        warmup = max(1, total // 10)
        rate = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total - warmup, warmup_target=learning_rate, warmup_steps=warmup)
    if accumulate is not None and (not isinstance(accumulate, int) or accumulate < 1):
        raise ValueError(f"accumulate must be a positive int (batches per update), "
                         f"got {accumulate!r}")
    optimizer = keras.optimizers.Adam(
        rate, gradient_accumulation_steps=accumulate if accumulate and accumulate > 1 else None)
    model.compile(optimizer=optimizer,
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def train_recipe(dataset: str, model_name: str, *, seed: int = 42, split: str = "documented",
                 recordings=None, epochs: int | None = None, callbacks: list | None = None,
                 checkpoint: str | os.PathLike | None = None, resume: bool = False,
                 quick_steps: int | None = None, model_options: dict | None = None,
                 verbose: int = 2):
    """Seed, load, build, compile and train one recipe (chapters 01, 02, 04 and 05).

    Image datasets use ``vision.RECIPES``, ``spoken_digit`` uses ``speech.RECIPES`` (on
    ``split``: ``"documented"`` or ``"speaker:<name>"``; pass ``recordings`` from
    ``speech.recordings()`` to skip re-reading them), ``imdb_reviews`` uses ``text.RECIPES``.
    Exactly what ``benchmarks/`` runs, so a chapter's full-mode run reproduces the README's
    number on the same machine. Returns ``(model, history, data)``; ``data`` is the
    ``ImageData``, ``SpeechData`` or ``TextData`` the model was trained on.
    ``history.seconds`` and ``history.cpu_seconds`` count building too
    (``history.build_seconds``: vocabularies, naive-Bayes counts, word vectors learned from
    unlabelled reviews), not loading the data.

    ``epochs`` overrides the recipe's (the learning-rate schedule follows); ``callbacks``,
    ``checkpoint``, ``resume`` and ``verbose`` go to :func:`fit` (``swtwo train`` passes Keras's
    ``BackupAndRestore`` to make a run resumable). ``quick_steps`` overrides the recipe's
    step budget in quick mode (chapter 06 trains three models and needs them only briefly).
    ``model_options`` go to the builder on top of the recipe's (chapter 05 passes the word
    vectors it learned once to both the RNN and the Transformer).
    """
    from swtwo_tf.datasets import pipelines
    from swtwo_tf.models import recipe_for

    recipe = recipe_for(dataset, model_name)
    config.seed_everything(seed)
    data = pipelines(dataset, split=split, batch_size=recipe.batch_size, seed=seed,
                     recordings=recordings)
    start, cpu_start = time.perf_counter(), time.process_time()
    if dataset == "imdb_reviews":
        model = recipe.build(data.train_texts, data.train_labels, data.unlabelled_texts,
                             **(model_options or {}))
    else:
        model = recipe.build(**(model_options or {}))
    build_seconds = time.perf_counter() - start
    build_cpu_seconds = time.process_time() - cpu_start
    epochs = recipe.epochs if epochs is None else epochs
    quick_steps = recipe.quick_steps if quick_steps is None else quick_steps
    steps = -(-data.sizes["train"] // recipe.batch_size)
    compile_classifier(model, learning_rate=recipe.learning_rate, schedule=recipe.schedule,
                       epochs=epochs, steps_per_epoch=steps, quick_steps=quick_steps)
    history = fit(model, data.train, data.validation, epochs=epochs, callbacks=callbacks,
                  checkpoint=checkpoint, resume=resume, early_stopping=recipe.early_stopping,
                  quick_steps=quick_steps, verbose=verbose,
                  monitor="val_accuracy" if recipe.early_stopping or checkpoint else None)
    history.build_seconds = build_seconds
    history.seconds += build_seconds
    history.cpu_seconds += build_cpu_seconds
    return model, history, data


#: The dtype policies :func:`build_with_policy` accepts (chapter 06).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def build_with_policy(build, precision: str = "float32"):
    """Build a model under a Keras dtype policy, then restore the global policy (chapter 06).

    ``"mixed_float16"`` / ``"mixed_bfloat16"`` compute in 16 bits and keep the weights in
    float32: twice the speed and half the activation memory on GPUs with tensor cores (float16)
    or TPUs and recent CPUs with bfloat16 units. Keras adds loss scaling for float16 itself
    when the model is compiled. ``build`` is a no-argument callable returning the model.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        return build()
    finally:
        keras.config.set_dtype_policy(previous)


def step_time(build, train, *, batch_size: int = 64, precision: str = "float32",
              accumulate: int | None = None, steps: int = 30, warmup: int = 3,
              seed: int = 42) -> dict:
    """Seconds per training step of a freshly built model, its mean training loss over the
    timed steps, and how many weight updates the optimizer made (chapter 06's measured
    comparison of precisions and gradient accumulation).

    ``build`` is a no-argument model builder, ``train`` a batched ``(inputs, labels)``
    dataset, re-batched to ``batch_size``. Trains ``warmup`` steps (graph tracing) and then
    ``steps`` steps, timed. Not capped by quick mode: ``steps`` is already small.
    """
    config.seed_everything(seed)
    model = build_with_policy(build, precision)
    compile_classifier(model, learning_rate=1e-3, accumulate=accumulate)
    batches = train.unbatch().batch(batch_size, drop_remainder=True).repeat().take(
        warmup + steps)
    model.fit(batches.take(warmup), epochs=1, verbose=0, shuffle=False)
    start = time.perf_counter()
    history = model.fit(batches.skip(warmup), epochs=1, verbose=0, shuffle=False)
    seconds = (time.perf_counter() - start) / steps
    return {"precision": precision, "accumulate": accumulate or 1, "seconds_per_step": seconds,
            "train_loss": float(history.history["loss"][-1]),
            "weight_updates": int(model.optimizer.iterations.numpy())}


def fine_tune(model: keras.Model, data, *, epochs: int = 10, learning_rate: float = 3e-4,
              quick_steps: int | None = 30, verbose: int = 2) -> keras.callbacks.History:
    """Keep training an already trained ``model`` on new data, gently (chapter 04).

    Personalising a recogniser: a fresh Adam at a small ``learning_rate`` (a tenth or so of
    the first training's) nudges the weights toward the new examples in ``data.train``
    instead of overwriting what they learnt. Watch ``data.validation`` (the old data) for
    forgetting. Returns the History, like :func:`fit`.
    """
    compile_classifier(model, learning_rate=learning_rate)
    return fit(model, data.train, data.validation, epochs=epochs, quick_steps=quick_steps,
               verbose=verbose)


#: Quick-mode steps of each variant in :func:`compare_variants` (a chapter trains several).
QUICK_VARIANT_STEPS = 120


def compare_variants(variants: dict[str, dict], data, *, epochs: int, seed: int = 42,
                     checkpoint_dir: str | os.PathLike | None = None,
                     verbose: int = 0) -> dict:
    """Train one :func:`vision.convnet` per entry of ``variants`` under equal terms (chapter 02).

    ``variants`` maps a row name to the builder's keyword arguments (``augment``, ``filters``,
    ``dropout``, ``batch_norm``, ``l2``, ...) plus, optionally, ``learning_rate`` (default
    1e-3) and ``schedule`` (None or ``"cosine"``). Every variant starts from the same seed,
    sees the same batches of ``data`` (an ``images.ImageData``) in the same order and trains
    for the same ``epochs``, so a difference in the results is the technique's doing.

    With ``checkpoint_dir``, each variant's best epoch (by validation accuracy) is also kept
    as ``<checkpoint_dir>/<variant_slug>.keras``: reloading it is early stopping with
    checkpoint restore, measured without another run.

    In quick mode each variant trains :data:`QUICK_VARIANT_STEPS` steps.

    Returns ``{name: (model, history)}`` in the order given; ``history.seconds`` is the wall
    time. Prints one line per finished variant.
    """
    from swtwo_tf.models.vision import convnet

    if not variants:
        raise ValueError("variants is empty: give at least one name -> convnet kwargs")
    steps = int(data.train.cardinality())
    trained = {}
    for index, (name, options) in enumerate(variants.items()):
        options = dict(options)
        rate = options.pop("learning_rate", 1e-3)
        schedule = options.pop("schedule", None)
        config.seed_everything(seed)
        try:
            model = convnet(**options, name=f"variant_{index}")
        except TypeError as exc:
            raise ValueError(f"variant {name!r}: {exc}") from None
        compile_classifier(model, learning_rate=rate, schedule=schedule, epochs=epochs,
                           steps_per_epoch=steps, quick_steps=QUICK_VARIANT_STEPS)
        checkpoint = Path(checkpoint_dir) / f"{slug(name)}.keras" if checkpoint_dir else None
        train = data.fresh_train() if getattr(data, "fresh_train", None) else data.train
        history = fit(model, train, data.validation, epochs=epochs, verbose=verbose,
                      checkpoint=checkpoint, monitor="val_accuracy",
                      quick_steps=QUICK_VARIANT_STEPS)
        print(f"{name:<22} trained in {history.seconds:5.1f} s: val accuracy "
              f"{history.history['val_accuracy'][-1]:.2%}", flush=True)
        trained[name] = (model, history)
    return trained


def slug(name: str) -> str:
    """A file-name-safe form of a variant name: ``"+ L2 weight decay"`` -> ``"l2_weight_decay"``."""
    import re

    cleaned = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not cleaned:
        raise ValueError(f"name {name!r} has no letters or digits to make a file name from")
    return cleaned
