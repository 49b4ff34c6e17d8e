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
import re
import time
from pathlib import Path

import keras

from swtwo_tf import config
from swtwo_tf.files import atomic_save, write_json


class AtomicCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras's ``ModelCheckpoint`` (``save_best_only``), with the file written atomically and
    its best value kept beside it.

    Keras writes each better model to a hidden temporary name in the same folder, and it is
    renamed over ``path`` once complete (:func:`swtwo_tf.files.atomic_save`), so the checkpoint
    on disk is always a whole model, even if training is killed mid-save. The best value goes
    to ``<path>.best.json``, so that ``resume=True`` (a run picked up after an interruption,
    ``swtwo train``) keeps the better model of before the interruption instead of overwriting
    it with the first epoch after. ``mode`` is Keras's: ``"auto"`` reads the direction from
    the metric.
    """

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss", *,
                 mode: str = "auto", resume: bool = False):
        self.path = Path(path)
        if self.path.suffix != ".keras":
            raise ValueError(f"checkpoint path must end in .keras, got {str(path)!r}")
        self.record = self.path.with_name(self.path.name + ".best.json")
        best = None
        if resume and self.path.is_file() and self.record.is_file():
            saved = json.loads(self.record.read_text())
            if saved.get("monitor") == monitor:
                best = float(saved["best"])
        self.partial = self.path.with_name(f".{self.path.stem}.{os.getpid()}.partial.keras")
        super().__init__(self.partial, monitor=monitor, mode=mode, save_best_only=True,
                         initial_value_threshold=best)

    def on_epoch_end(self, epoch, logs=None):
        if (logs or {}).get(self.monitor) is None:
            raise KeyError(
                f"checkpoint monitors {self.monitor!r} but the epoch logged only "
                f"{sorted(logs or {})}; pass validation data or another monitor"
            )
        try:
            super().on_epoch_end(epoch, logs)
            if self.partial.is_file():  # Keras saved a better model
                atomic_save(self.path, lambda tmp: os.replace(self.partial, tmp))
                write_json(self.record, {"monitor": self.monitor, "best": float(self.best),
                                         "epoch": epoch + 1})
        finally:
            self.partial.unlink(missing_ok=True)


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
    mode: str = "auto",
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
            validation data, else ``loss``); ``mode`` ("auto", "min" or "max") says whether
            lower or higher is better (Keras's callbacks' argument; "auto" asks the metric).
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
        all_callbacks.append(AtomicCheckpoint(checkpoint, monitor=monitor, mode=mode,
                                              resume=resume))
    if early_stopping is not None:
        all_callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, patience=early_stopping, restore_best_weights=True, mode=mode))
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
        restore = quick_batch_norm(model, capped * steps)
    else:
        restore = {}
    start, cpu_start = time.perf_counter(), time.process_time()
    build_before_tracing(model, train)
    try:
        history = model.fit(train, validation_data=validation, epochs=epochs, shuffle=False,
                            callbacks=all_callbacks, verbose=verbose)
    finally:
        for layer, momentum in restore.items():
            layer.momentum = momentum
    history.seconds = time.perf_counter() - start
    history.cpu_seconds = time.process_time() - cpu_start
    return history


def quick_batch_norm(model: keras.Model, steps: int) -> dict:
    """Quick mode: lets each batch-norm layer's running statistics forget their starting
    values (mean 0, variance 1) within a run of ``steps`` steps.

    A running statistic moves as ``r <- m r + (1 - m) batch``, so after ``t`` steps the
    start still weighs ``m^t``: with the usual ``m = 0.9`` and a 30-step run, 4 %, enough to
    make a narrow layer's variance (often ~0.05) look twice its size, and a deep network
    evaluated in inference mode then guesses one class. Here ``m`` drops to
    ``0.01^(1/steps)`` where it is higher (0.86 for 30 steps), so the start weighs 1 %.
    Returns ``{layer: its momentum}`` to restore; full runs never call this."""
    target = 0.01 ** (1 / max(1, steps))
    restore, stack = {}, list(getattr(model, "layers", []))
    while stack:  # nested models too (a Distiller's student, a Sequential's layers)
        layer = stack.pop()
        stack.extend(getattr(layer, "layers", []))
        if isinstance(layer, keras.layers.BatchNormalization) and layer.momentum > target:
            restore[layer] = layer.momentum
            layer.momentum = target
    if restore:
        print(f"Quick mode: batch-norm momentum {target:.2f} for these {steps} steps, so the "
              "running statistics forget their start (restored after).")
    return restore


def build_before_tracing(model: keras.Model, data) -> None:
    """Create the metrics' and the optimizer's variables before ``fit`` traces the train step.

    With the TensorFlow backend, Keras leaves them to the first trace of the train step
    (unless a distribution strategy is set), and ``tf.function`` then traces the step twice:
    once creating variables, once more without. The second trace is a whole forward and
    backward graph built again, seconds for a recurrent model. This does what Keras does
    under a strategy (``Trainer._symbolic_build``, on the shapes of ``data.element_spec``,
    so the pipeline is not read); a compiled model already built is left as it is.
    """
    build = getattr(model, "_symbolic_build", None)
    if build is None or not getattr(model, "compiled", False):
        return
    specs = data.element_spec
    build(data_batch=tuple(specs) if isinstance(specs, (tuple, list)) else specs)


def compile_classifier(model: keras.Model, **optimizer_options) -> keras.Model:
    """Compile a softmax classifier with Adam, sparse cross-entropy and accuracy (chapter 01).

    ``optimizer_options`` (``learning_rate``, ``schedule``, ``epochs``, ``steps_per_epoch``,
    ``quick_steps``, ``accumulate``) choose the Adam optimizer; :func:`optimizer_for` says
    what each does."""
    model.compile(optimizer=optimizer_for(**optimizer_options),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def optimizer_for(
    *,
    learning_rate: float = 1e-3,
    schedule: str | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    quick_steps: int | None = None,
    accumulate: int | None = None,
) -> keras.optimizers.Optimizer:
    """The kit's Adam optimizer (what :func:`compile_classifier` compiles with; chapter 11's
    training loop uses it directly).

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
    return keras.optimizers.Adam(
        rate, gradient_accumulation_steps=accumulate if accumulate and accumulate > 1 else None)


def train_recipe(dataset: str, model_name: str, *, seed: int = 42, split: str | None = None,
                 epochs: int | None = None, callbacks: list | None = None,
                 checkpoint: str | os.PathLike | None = None, resume: bool = False,
                 quick_steps: int | None = None, model_options: dict | None = None,
                 wrap=None, verbose: int = 2, **data_options):
    """Seed, load, build, compile and train one recipe (``models.recipe_for``), exactly what
    ``benchmarks/`` runs, so a chapter's full-mode run reproduces the results table's number
    on the same machine.

    Returns ``(model, history, data)``; ``data`` is what ``datasets.pipelines(dataset,
    split=split, **data_options)`` gave (spoken_digit takes ``split="speaker:<name>"`` and
    ``recordings=`` to skip re-reading them). ``history.seconds`` and ``history.cpu_seconds``
    count building too (``history.build_seconds``: vocabularies, naive-Bayes counts, word
    vectors learned from unlabelled reviews), not loading the data.

    ``epochs`` overrides the recipe's (the learning-rate schedule follows); ``callbacks``,
    ``checkpoint``, ``resume`` and ``verbose`` go to :func:`fit` (``swtwo train`` passes Keras's
    ``BackupAndRestore`` to make a run resumable). ``quick_steps`` overrides the recipe's
    step budget in quick mode. ``model_options`` go to the builder on top of the recipe's.
    ``wrap(model)`` returns the model that is compiled and fitted in its place, one with its
    own ``train_step`` around the recipe's (chapter 09: ``models.trust.AdversarialTraining``);
    the wrapper is what is returned.
    """
    from swtwo_tf import datasets
    from swtwo_tf.models import recipe_for

    recipe = recipe_for(dataset, model_name)
    config.seed_everything(seed)
    data = datasets.pipelines(dataset, split=split, batch_size=recipe.batch_size, seed=seed,
                              **data_options)
    start, cpu_start = time.perf_counter(), time.process_time()
    model = recipe.build(data, **(model_options or {}))
    if wrap is not None:
        model = wrap(model)
    build_seconds = time.perf_counter() - start
    build_cpu_seconds = time.process_time() - cpu_start
    epochs = recipe.epochs if epochs is None else epochs
    quick_steps = recipe.quick_steps if quick_steps is None else quick_steps
    steps = -(-data.sizes["train"] // recipe.batch_size)
    options = dict(learning_rate=recipe.learning_rate, schedule=recipe.schedule,
                   epochs=epochs, steps_per_epoch=steps, quick_steps=quick_steps)
    if getattr(model, "own_loss", False):  # its train_step computes the loss (chapter 08)
        model.compile(optimizer=optimizer_for(**options))
    else:
        compile_classifier(model, **options)
    monitor, mode = getattr(model, "monitor", ("val_accuracy", "max"))
    history = fit(model, data.train, data.validation, epochs=epochs, callbacks=callbacks,
                  checkpoint=checkpoint, resume=resume, early_stopping=recipe.early_stopping,
                  quick_steps=quick_steps, verbose=verbose, mode=mode,
                  monitor=monitor if recipe.early_stopping or checkpoint else None)
    history.build_seconds = build_seconds
    history.seconds += build_seconds
    history.cpu_seconds += build_cpu_seconds
    return model, history, data


def with_settings(function: str, defaults: dict, overrides: dict) -> dict:
    """``defaults`` with ``overrides`` on top; ValueError naming ``function`` and the
    settings it has when an override is not one of them."""
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ValueError(f"{function}() has no setting {', '.join(unknown)}; "
                         f"it has {', '.join(defaults)}")
    return {**defaults, **overrides}


#: DP-SGD on MNIST (chapter 09, ``benchmarks/trust.py``): Poisson batches of 512 on average,
#: each example's gradient clipped to norm 0.1, noise 1.1 times that, SGD with momentum.
#: 30 epochs of it spend epsilon 2.84 at delta 1e-5 (``trust.privacy.epsilon``).
PRIVATE = {"batch_size": 512, "l2_clip": 0.1, "noise_multiplier": 1.1, "epochs": 30,
           "learning_rate": 2.0, "momentum": 0.9}
#: Quick mode: DP-SGD's steps are slow (one gradient per example), so a few dozen.
QUICK_PRIVATE_STEPS = 20


def train_private(dataset: str = "mnist", *, seed: int = 42, verbose: int = 2,
                  quick_steps: int = QUICK_PRIVATE_STEPS, **settings):
    """Train ``models.trust.private_cnn`` with DP-SGD (``models.trust.PrivateTraining``) on
    Poisson-sampled batches of ``dataset``'s training images (``datasets.images
    .poisson_batches``; a tenth is kept for validation, as ``datasets.pipelines`` does);
    ``settings`` replace those of :data:`PRIVATE`.

    Returns ``(classifier, history, (images, labels))``: the training images (uint8), the
    members of its training set; ``history.sample_rate`` and ``history.steps`` (the steps
    taken) are what the privacy accountant needs.
    """
    from swtwo_tf.datasets import core, images
    from swtwo_tf.models import trust

    s = with_settings("train_private", PRIVATE, settings)
    config.seed_everything(seed)
    x, y = core.arrays(dataset, "train")
    val_idx, train_idx = core.split_off_validation(len(x), 0.1, seed)
    rate = s["batch_size"] / len(train_idx)
    train = images.poisson_batches(x[train_idx], y[train_idx], sample_rate=rate,
                                   steps=round(1 / rate), seed=seed)
    validation = core.batched(x[val_idx], y[val_idx], 1000, preprocess=images.scale)
    model = trust.PrivateTraining(trust.private_cnn(), l2_clip=s["l2_clip"],
                                  noise_multiplier=s["noise_multiplier"],
                                  expected_batch=s["batch_size"], seed=seed)
    model.compile(optimizer=keras.optimizers.SGD(s["learning_rate"], momentum=s["momentum"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = fit(model, train, validation, epochs=s["epochs"], quick_steps=quick_steps,
                  verbose=verbose)
    history.sample_rate, history.steps = rate, int(model.optimizer.iterations)
    return model.classifier, history, (x[train_idx], y[train_idx])


#: Quick-mode steps of a model trained on features (:func:`fit_on_features`): a few dense
#: layers learn in a few dozen steps.
QUICK_FEATURE_STEPS = 60


def fit_on_features(model: keras.Model, features, labels, validation=None, *, epochs: int,
                    batch_size: int = 256, learning_rate: float = 3e-3, seed: int = 42,
                    loss: str | None = "sparse_categorical_crossentropy", verbose: int = 0):
    """Compile and train a model whose inputs are features computed once (chapter 10's fusion
    heads on ``models.fusion.encode``; ``loss=None`` for a model with its own ``train_step``,
    such as ``models.fusion.ContrastivePair``). Adam with the cosine schedule; returns
    :func:`fit`'s History. ``features`` is a list of arrays, one row per example;
    ``validation`` is ``(features, labels)`` or None. Quick mode runs
    :data:`QUICK_FEATURE_STEPS` steps."""
    from swtwo_tf.datasets import core

    train = core.batched(tuple(features), labels, batch_size, shuffle=True, seed=seed)
    val = (core.batched(tuple(validation[0]), validation[1], 2048)
           if validation is not None else None)
    optimizer = optimizer_for(learning_rate=learning_rate, schedule="cosine", epochs=epochs,
                              steps_per_epoch=-(-len(labels) // batch_size),
                              quick_steps=QUICK_FEATURE_STEPS)
    metrics = ["accuracy"] if loss else None
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return fit(model, train, val, epochs=epochs, verbose=verbose,
               quick_steps=QUICK_FEATURE_STEPS)


def train_heads(image_model: keras.Model, audio_model: keras.Model, features: dict,
                labels: dict, *, variants: dict | None = None, epochs: int | None = None,
                seed: int = 42) -> tuple[dict, dict]:
    """Build and train chapter 10's fusion heads on the encoders' features: ``features`` and
    ``labels`` map ``"train"`` and ``"validation"`` to what ``models.fusion.encode`` gave and
    to the digits. ``variants`` (default ``models.fusion.VARIANTS``) names each head's kind
    and modality dropout rate. Returns ``({name: head}, {name: seconds of training})``."""
    from swtwo_tf.models import fusion

    heads, seconds = {}, {}
    for name, (kind, rate) in (variants or fusion.VARIANTS).items():
        config.seed_everything(seed)
        heads[name] = fusion.HEADS[kind](image_model, audio_model, modality_dropout=rate,
                                         seed=seed)
        seconds[name] = 0.0
        if kind != "late_average":  # the plain average has nothing to learn
            history = fit_on_features(heads[name], features["train"], labels["train"],
                                      (features["validation"], labels["validation"]),
                                      epochs=epochs or fusion.EPOCHS, seed=seed)
            seconds[name] = history.seconds
    return heads, seconds


def fine_tune(model: keras.Model, train, validation=None, *, head_epochs: int, epochs: int,
              learning_rate: float = 1e-3, fine_tune_rate: float = 1e-4,
              quick_steps: int | None = None, verbose: int = 0):
    """Transfer learning's two phases on a model from ``models.modern.transfer`` (chapter 07):
    first the new head alone, its body frozen, for ``head_epochs`` at ``learning_rate`` (a
    random head would send large, random gradients into the body); then the body unfrozen
    and everything trained for ``epochs`` at the lower ``fine_tune_rate``, so the features
    move a little towards the new task without forgetting the old one. ``head_epochs=0``
    skips the first phase; ``epochs=0`` stops after it (a linear probe).
    Returns the two phases' Histories (None for a skipped phase)."""
    frozen = model.get_layer("body")
    histories = []
    for phase_epochs, trainable, rate in ((head_epochs, False, learning_rate),
                                          (epochs, True, fine_tune_rate)):
        if not phase_epochs:
            histories.append(None)
            continue
        frozen.trainable = trainable
        compile_classifier(model, learning_rate=rate)  # a change of trainable needs compile
        histories.append(fit(model, train, validation, epochs=phase_epochs, verbose=verbose,
                             quick_steps=quick_steps))
    return tuple(histories)


#: Chapter 07's transfer runs: each trains about this many steps whatever its label count
#: (at least ``TRANSFER_MIN_EPOCHS`` epochs); quick mode runs ``QUICK_TRANSFER_STEPS``.
TRANSFER_STEPS, TRANSFER_MIN_EPOCHS, QUICK_TRANSFER_STEPS = 600, 20, 8


def transfer_curve(base: keras.Model, dataset: str, classes, *, build,
                   counts=(10, 50, 200), augment: str = "clothes", seed: int = 42,
                   fine_tune_rate: float = 3e-4, log=print) -> list[dict]:
    """Chapter 07's transfer experiment: for each count ``n`` of labelled images per class of
    the new task (``classes`` of ``dataset``, ``datasets.images.class_subset``), the test
    accuracy of three ways to learn it, on the same images:

    - ``from scratch``: ``build(augment=augment, classes=k, name=...)`` (a builder, or a
      recipe's ``build``) trained on the ``n * k`` images alone;
    - ``frozen features``: ``base``'s body frozen, only a new softmax head trained (a
      *linear probe*, ``models.modern.transfer``);
    - ``fine-tuned``: that probe (its head has learned: the warm-up) with the body unfrozen,
      everything trained as long again at ``fine_tune_rate`` (a tenth of the head's 3e-3;
      :func:`fine_tune`), so it trains twice the steps of the others, half of them the probe's.

    Every model sees the images through the same ``augment`` (``"digits"`` for MNIST).
    Returns one row ``{"labels per class": n, method: accuracy, ...}`` per count. Quick mode
    measures the middle count only (each count trains three networks).
    """
    from swtwo_tf.datasets import images
    from swtwo_tf.models import modern

    rows = []
    counts = list(counts)
    if config.quick_mode() and len(counts) > 1:
        print(f"Quick mode (SWTWO_QUICK=1): {counts[len(counts) // 2]} labels per class only; "
              f"the full run measures {counts}.")
        counts = [counts[len(counts) // 2]]
    for n in counts:
        task = images.class_subset(dataset, classes, per_class=n, batch_size=32, seed=seed)
        steps = int(task.train.cardinality())
        epochs = max(TRANSFER_MIN_EPOCHS, TRANSFER_STEPS // steps)
        row = {"labels per class": n}
        config.seed_everything(seed)
        scratch = build(augment=augment, classes=len(classes), name="from_scratch")
        compile_classifier(scratch, learning_rate=3e-3, schedule="cosine", epochs=epochs,
                           steps_per_epoch=steps, quick_steps=QUICK_TRANSFER_STEPS)
        fit(scratch, task.train, epochs=epochs, verbose=0, quick_steps=QUICK_TRANSFER_STEPS)
        row["from scratch"] = scratch.evaluate(task.test, verbose=0)[1]
        config.seed_everything(seed)
        model = modern.transfer(base, len(classes), augment=augment, name="transferred")
        for method, phases in (("frozen features", (epochs, 0)), ("fine-tuned", (0, epochs))):
            fine_tune(model, task.train, head_epochs=phases[0], epochs=phases[1],
                      learning_rate=3e-3, fine_tune_rate=fine_tune_rate,
                      quick_steps=QUICK_TRANSFER_STEPS)
            row[method] = model.evaluate(task.test, verbose=0)[1]
        log(f"{n:>4} labels per class: " + ", ".join(
            f"{method} {accuracy:.1%}" for method, accuracy in list(row.items())[1:]))
        rows.append(row)
    return rows


#: Chapter 07's learning from few labels (MNIST, 10 labels per class): batches of 64
#: labelled images and ``unlabelled_ratio`` times as many unlabelled ones, ``steps`` per
#: epoch; quick mode runs ``QUICK_FEW_LABEL_STEPS`` steps.
FEW_LABELS = {"batch_size": 64, "unlabelled_ratio": 4, "epochs": 8, "steps": 250,
              "learning_rate": 3e-3}
QUICK_FEW_LABEL_STEPS = 16
FEW_LABEL_METHODS = ("labels only", "pseudo-labels", "FixMatch")


def train_few_labels(data, method: str, *, seed: int = 42, verbose: int = 0, **overrides):
    """Train chapter 01's MNIST CNN (without its own augmentation: the views are made by
    ``models.few_labels``) on ``data`` (``datasets.images.few_labels``) with ``method``:

    - ``"labels only"``: the labelled images, shifted a little (the weak view), nothing else;
    - ``"pseudo-labels"``: also each unlabelled image, labelled with the model's own
      confident guess (``SemiSupervised`` without a strong view);
    - ``"FixMatch"``: the guess on the weak view labels a strongly augmented view.

    ``overrides`` replace entries of :data:`FEW_LABELS`. Returns ``(classifier, history)``.
    """
    from swtwo_tf.models import few_labels, recipe_for

    if method not in FEW_LABEL_METHODS:
        raise ValueError(f"method must be one of {FEW_LABEL_METHODS}, got {method!r}")
    settings = with_settings("train_few_labels", FEW_LABELS, overrides)
    config.seed_everything(seed)
    classifier = recipe_for("mnist", "convnet").build(augment=None,
                                                      name=method.replace(" ", "_"))
    strong = few_labels.strong_augment(seed) if method == "FixMatch" else None
    model = few_labels.SemiSupervised(classifier, strong=strong, seed=seed)
    ratio = 0 if method == "labels only" else settings["unlabelled_ratio"]
    train = data.train(settings["batch_size"], unlabelled_ratio=ratio,
                       steps=settings["steps"], seed=seed)
    compile_classifier(model, learning_rate=settings["learning_rate"], schedule="cosine",
                       epochs=settings["epochs"], steps_per_epoch=settings["steps"],
                       quick_steps=QUICK_FEW_LABEL_STEPS)
    history = fit(model, train, data.test, epochs=settings["epochs"], verbose=verbose,
                  quick_steps=QUICK_FEW_LABEL_STEPS)
    return classifier, history


#: Quick-mode steps of each variant in :func:`compare_variants` (a chapter trains several).
QUICK_VARIANT_STEPS = 120


def compare_variants(variants: dict[str, dict], data, *, build, epochs: int, seed: int = 42,
                     checkpoint_dir: str | os.PathLike | None = None,
                     quick_steps: int = QUICK_VARIANT_STEPS, verbose: int = 0) -> dict:
    """Train one model per entry of ``variants`` under equal terms (chapter 02's remedies
    for overfitting; any comparison of architectures or settings).

    ``build`` is a model builder (such as ``vision.convnet``); ``variants`` maps a row name to
    its keyword arguments plus, optionally, ``learning_rate`` (default 1e-3) and ``schedule``
    (None or ``"cosine"``). Every variant starts from the same seed, sees the same batches of
    ``data`` (``datasets.pipelines`` or ``images.image_datasets``) in the same order and trains
    for the same ``epochs``, so a difference in the results is the variant's doing.

    With ``checkpoint_dir``, each variant's best epoch (by validation accuracy) is also kept
    as ``<checkpoint_dir>/<variant_slug>.keras``: reloading it is early stopping with
    checkpoint restore, measured without another run.

    In quick mode each variant trains ``quick_steps`` steps (default
    :data:`QUICK_VARIANT_STEPS`).

    Returns ``{name: (model, history)}`` in the order given; ``history.seconds`` is the wall
    time. Prints one line per finished variant.
    """
    if not variants:
        raise ValueError("variants is empty: give at least one name -> builder kwargs")
    steps = int(data.train.cardinality())
    trained = {}
    for index, (name, options) in enumerate(variants.items()):
        options = dict(options)
        rate = options.pop("learning_rate", 1e-3)
        schedule = options.pop("schedule", None)
        config.seed_everything(seed)
        try:
            model = build(**options, name=f"variant_{index}")
        except TypeError as exc:
            raise ValueError(f"variant {name!r}: {exc}") from None
        compile_classifier(model, learning_rate=rate, schedule=schedule, epochs=epochs,
                           steps_per_epoch=steps, quick_steps=quick_steps)
        checkpoint = Path(checkpoint_dir) / f"{slug(name)}.keras" if checkpoint_dir else None
        train = data.fresh_train() if getattr(data, "fresh_train", None) else data.train
        history = fit(model, train, data.validation, epochs=epochs, verbose=verbose,
                      checkpoint=checkpoint, monitor="val_accuracy",
                      quick_steps=quick_steps)
        print(f"{name:<22} trained in {history.seconds:5.1f} s: val accuracy "
              f"{history.history['val_accuracy'][-1]:.2%}", flush=True)
        trained[name] = (model, history)
    return trained


def slug(name: str) -> str:
    """A file-name-safe form of a variant name: ``"+ L2 weight decay"`` -> ``"l2_weight_decay"``."""
    cleaned = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not cleaned:
        raise ValueError(f"name {name!r} has no letters or digits to make a file name from")
    return cleaned


def step_profile(model: keras.Model, batch, labels=None, *, steps: int = 10,
                 warmup: int = 2) -> list[dict]:
    """Where one training step of ``model`` on ``batch`` spends its time, layer by layer.

    For each layer in the graph's order, the model cut after it runs forward and backward
    (the gradient of the mean squared output with respect to the weights before the cut, in
    training mode: augmentation, dropout and batch norm as in ``fit``); a layer's cost is
    what its cut adds to the one before, the median of ``steps`` timed steps after
    ``warmup`` (the first traces the graph). With ``labels`` the model, compiled, also runs
    whole ``train_on_batch`` steps: the last row is what the loss, the optimizer's update and
    Keras add. Timings of a noisy machine can make a cheap layer's cost slightly negative,
    and a cut between two ops TensorFlow would fuse (a convolution and its ReLU) costs more
    than the fused pair: compare layer groups ending at block boundaries, not single ops.

    Returns rows ``{"layer", "kind", "ms"}``; ``kind`` is the layer's class (a nested model,
    such as an augmentation ``Sequential``, counts as one layer). For models of one input
    whose layers each produce one output (the kit's image and speech models).
    """
    import numpy as np
    import tensorflow as tf

    if not isinstance(steps, int) or steps < 1 or not isinstance(warmup, int) or warmup < 1:
        raise ValueError(f"steps and warmup must be positive ints, got {steps!r}, {warmup!r}")
    if len(model.inputs) != 1:
        raise ValueError(f"model {model.name!r} has {len(model.inputs)} inputs; step_profile "
                         "times models of one input")
    x = tf.convert_to_tensor(batch)

    def median_ms(run) -> float:
        for _ in range(warmup):
            run()
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return float(np.median(times)) * 1000

    rows, before = [], 0.0
    logger, level = tf.get_logger(), tf.get_logger().level
    logger.setLevel("ERROR")  # one graph per cut is the point here, not a retracing bug
    try:
        for layer in model.layers:
            if not isinstance(layer, keras.layers.InputLayer):
                before = _time_cut(model, layer, x, median_ms, rows, before)
    finally:
        logger.setLevel(level)
    if labels is not None:
        if not getattr(model, "compiled", False):
            raise ValueError("compile the model before profiling its whole train step")
        whole = median_ms(lambda: model.train_on_batch(x, labels))
        rows.append({"layer": "loss + optimizer", "kind": "train_on_batch",
                     "ms": round(whole - before, 3)})
    return rows


def _time_cut(model, layer, x, median_ms, rows: list, before: float) -> float:
    """Time the model cut after ``layer`` (see :func:`step_profile`), append the layer's row
    and return the cut's time."""
    import tensorflow as tf

    part = keras.Model(model.inputs, layer.output)

    @tf.function
    def forward_backward(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(tf.cast(part(x, training=True), tf.float32)))
        return tape.gradient(loss, part.trainable_weights) if part.trainable_weights else loss

    total = median_ms(lambda: forward_backward(x))
    rows.append({"layer": layer.name, "kind": type(layer).__name__,
                 "ms": round(total - before, 3)})
    return total
