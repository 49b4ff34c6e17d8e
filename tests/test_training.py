"""The training helper: quick-mode caps, falling loss on real data, atomic checkpoints."""

from __future__ import annotations

import types
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from swtwo_tf import config, datasets, training


def _digits(n=1024, batch=64):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SampleDataWarning)
        ds = datasets.load("mnist", "train", as_supervised=True)
    return ds.take(n).map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y)).batch(batch)


def _model():
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


@pytest.mark.slow
def test_loss_falls_on_real_digits(full_mode):
    config.seed_everything(0)
    history = training.fit(_model(), _digits(), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    assert history.seconds > 0 and history.cpu_seconds > 0


@pytest.mark.slow
def test_the_train_step_is_traced_once_and_trains_as_before(full_mode):
    """Keras (TensorFlow backend) creates the metrics' and the optimizer's variables in the
    first trace of the train step, so tf.function traces it twice; fit builds them first."""
    def counting(model):
        traces = {"n": 0}
        step = model.train_step

        def train_step(data):
            traces["n"] += 1  # Python runs only while tracing
            return step(data)

        model.train_step = train_step
        return traces

    config.seed_everything(0)
    ours = _model()
    traces = counting(ours)
    history = training.fit(ours, _digits(256), epochs=2, verbose=0)
    assert traces["n"] == 1
    config.seed_everything(0)
    plain = _model()
    plain_history = plain.fit(_digits(256), epochs=2, verbose=0, shuffle=False)
    np.testing.assert_allclose(history.history["loss"], plain_history.history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_fit_reads_wall_time_and_cpu_time_from_their_own_clocks(full_mode, monkeypatch):
    """Benchmarks report CPU time beside wall time, because the VM's host pauses it for whole
    seconds and a pause lengthens the wall time only. Fake clocks make this exact: each epoch
    here spends 2 CPU seconds inside 5 wall seconds, so a clock mix-up shows as a wrong sum."""
    clock = {"wall": 100.0, "cpu": 7.0}

    def epoch_passes(epoch, logs):
        clock["wall"] += 5.0
        clock["cpu"] += 2.0

    monkeypatch.setattr(training, "time", types.SimpleNamespace(
        perf_counter=lambda: clock["wall"], process_time=lambda: clock["cpu"]))
    config.seed_everything(0)
    history = training.fit(_model(), _digits(), epochs=3, verbose=0,
                           callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=epoch_passes)])
    assert history.seconds == pytest.approx(15.0)
    assert history.cpu_seconds == pytest.approx(6.0)


@pytest.mark.slow
def test_quick_mode_caps_epochs_and_steps(quick, monkeypatch, capsys):
    monkeypatch.setattr(config, "QUICK_MAX_STEPS", 3)
    monkeypatch.setattr(config, "QUICK_STEP_BUDGET", 6)
    seen = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    history = training.fit(_model(), _digits(), epochs=10, callbacks=[counter], verbose=0)
    assert len(history.history["loss"]) == 2  # 6 steps of budget, 3 per epoch
    assert len(seen) == 6
    assert "Quick mode" in capsys.readouterr().out


@pytest.mark.slow
def test_a_recipe_can_ask_for_a_smaller_quick_budget(quick):
    seen = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    history = training.fit(_model(), _digits(), epochs=10, callbacks=[counter], verbose=0,
                           quick_steps=8)
    assert len(history.history["loss"]) == 2 and len(seen) == 8  # 2 epochs of 4 steps


def _normalised(momentum=0.9):
    norm = keras.layers.BatchNormalization(momentum=momentum)
    model = keras.Sequential([keras.Input((4,)), keras.Sequential([norm]),  # nested, as a
                              keras.layers.Dense(2, activation="softmax")])  # Distiller's
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 0.1, (320, 4)).astype("float32")
    return model, norm, tf.data.Dataset.from_tensor_slices((x, np.zeros(320, "int32"))).batch(32)


def test_quick_mode_batch_norm_forgets_its_starting_statistics(quick):
    model, norm, data = _normalised()
    training.fit(model, data, epochs=1, quick_steps=10, verbose=0)
    # quick mode runs 5 of these steps: at momentum 0.9, 0.9^5 = 59 % of the start (0) stays
    assert np.allclose(norm.moving_mean.numpy(), 5.0, atol=0.1), norm.moving_mean.numpy()
    assert norm.momentum == 0.9  # restored after the run


def test_full_mode_leaves_batch_norm_momentum_alone(full_mode):
    model, norm, data = _normalised()
    training.fit(model, data, epochs=1, verbose=0)
    assert norm.momentum == 0.9
    assert np.all(norm.moving_mean.numpy() < 4.0)  # 0.9^10 of the start is still there


@pytest.mark.slow
def test_checkpoint_keeps_the_best_model_and_early_stopping(tmp_path, full_mode):
    config.seed_everything(0)
    path = tmp_path / "ckpt" / "best.keras"
    data = _digits(512)
    model = _model()
    history = training.fit(model, data, data, epochs=4, checkpoint=path, early_stopping=2,
                           verbose=0)
    assert path.is_file() and not list(path.parent.glob(".*partial*"))
    reloaded = keras.models.load_model(path)
    best = min(history.history["val_loss"])
    assert reloaded.evaluate(data, verbose=0)[0] == pytest.approx(best, rel=1e-4)


def test_a_resumed_checkpoint_keeps_the_better_model_of_before_the_interruption(tmp_path):
    path = tmp_path / "best.keras"
    first = training.AtomicCheckpoint(path, monitor="val_accuracy", mode="max")
    first.set_model(_model())
    first.on_epoch_end(0, {"val_accuracy": 0.9})
    saved = path.read_bytes()
    resumed = training.AtomicCheckpoint(path, monitor="val_accuracy", mode="max", resume=True)
    assert resumed.best == pytest.approx(0.9)
    resumed.set_model(_model())
    resumed.on_epoch_end(1, {"val_accuracy": 0.5})  # worse: the file stays
    assert path.read_bytes() == saved
    resumed.on_epoch_end(2, {"val_accuracy": 0.95})
    assert path.read_bytes() != saved
    # a new run starts over
    fresh = training.AtomicCheckpoint(path, monitor="val_accuracy", mode="max")
    assert fresh.best is None
    other = training.AtomicCheckpoint(path, monitor="val_loss", mode="min", resume=True)
    assert other.best is None  # a record of another metric is not comparable


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        training.fit(_model(), _digits(64), epochs=0)
    with pytest.raises(ValueError, match=r"checkpoint path must end in \.keras"):
        training.AtomicCheckpoint("model.h5")
    uncompiled = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compile the model"):
        training.fit(uncompiled, tf.data.Dataset.from_tensors((np.zeros((1, 2)), [0.0])),
                     epochs=1)


def test_compile_classifier_schedules(monkeypatch):
    monkeypatch.setenv("SWTWO_QUICK", "0")
    model = training.compile_classifier(_model(), learning_rate=3e-3, schedule="cosine",
                                        epochs=10, steps_per_epoch=100)
    schedule = model.optimizer.learning_rate_schedule if hasattr(
        model.optimizer, "learning_rate_schedule") else model.optimizer._learning_rate
    assert float(schedule(0)) == 0.0
    assert float(schedule(100)) == pytest.approx(3e-3, rel=1e-3)  # end of the 10 % warm-up
    assert float(schedule(1000)) == pytest.approx(0.0, abs=1e-9)
    monkeypatch.setenv("SWTWO_QUICK", "1")  # quick mode: the schedule ends with the short run
    quick = training.compile_classifier(_model(), learning_rate=3e-3, schedule="cosine",
                                        epochs=10, steps_per_epoch=1000)
    short = quick.optimizer._learning_rate
    epochs, steps = config.quick_plan(10, 1000)
    end = epochs * steps
    assert float(short(end)) == pytest.approx(0.0)
    assert float(short(end // 2)) > 1e-4
    with pytest.raises(ValueError, match="schedule must be None or 'cosine'"):
        training.compile_classifier(_model(), schedule="step")
    with pytest.raises(ValueError, match="needs epochs and steps_per_epoch"):
        training.compile_classifier(_model(), schedule="cosine")


def test_step_profile_times_every_layer_and_the_optimizer():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    training.compile_classifier(model)
    x = np.random.default_rng(0).normal(size=(16, 8, 8, 1)).astype("float32")
    rows = training.step_profile(model, x, np.zeros(16, "int64"), steps=2, warmup=1)
    assert [r["layer"] for r in rows] == [*(layer.name for layer in model.layers),
                                           "loss + optimizer"]
    assert [r["kind"] for r in rows] == ["Conv2D", "Flatten", "Dense", "train_on_batch"]
    assert all(isinstance(r["ms"], float) for r in rows)
    assert sum(r["ms"] for r in rows) > 0  # the whole step takes time
    with pytest.raises(ValueError, match="steps and warmup must be positive ints"):
        training.step_profile(model, x, steps=0)
    with pytest.raises(ValueError, match="compile the model"):
        uncompiled = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()])
        training.step_profile(uncompiled, x, np.zeros(16), steps=1)
