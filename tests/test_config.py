"""Quick-mode flag and reproducibility under a seed."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from swtwo_tf import config, datasets, training


@pytest.mark.parametrize("value, expected", [
    ("1", True), ("true", True), ("YES", True), ("0", False), ("", False), ("off", False),
])
def test_quick_mode_values(monkeypatch, value, expected):
    monkeypatch.setenv("SWTWO_QUICK", value)
    assert config.quick_mode() is expected
    assert config.mode_name() == ("quick" if expected else "full")


def test_quick_mode_typo_is_an_error(monkeypatch):
    monkeypatch.setenv("SWTWO_QUICK", "ture")
    with pytest.raises(ValueError, match="SWTWO_QUICK='ture' is not understood"):
        config.quick_mode()


@pytest.mark.parametrize("epochs, steps, budget, expected", [
    (10, 71, None, (3, 71)),     # quick MNIST: about 250 steps in all
    (10, 5, None, (10, 5)),      # an offline sample: small enough to run every epoch
    (10, 1000, None, (2, 125)),  # a big epoch is cut so that at least 2 epochs run
    (1, 1000, None, (1, 125)),   # never more epochs than asked for
    (10, None, None, (2, 125)),  # unknown size: the step cap applies
    (6, 36, 40, (2, 20)),        # a recipe with slow steps asks for a smaller budget
])
def test_quick_plan(epochs, steps, budget, expected):
    assert config.quick_plan(epochs, steps, budget) == expected


def test_quick_budget_must_allow_two_epochs():
    with pytest.raises(ValueError, match="quick budget must be an int >= 2"):
        config.quick_plan(5, 10, 1)


def test_seed_must_be_a_natural_number():
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        config.seed_everything(-1)


def _quick_run(seed: int):
    """Seed, build a small CNN, train it in quick mode on digits; return weights and logs."""
    config.seed_everything(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SampleDataWarning)
        train = datasets.load("mnist", "train", as_supervised=True)
    train = (train.take(2048).map(lambda x, y: (keras.ops.cast(x, "float32") / 255.0, y))
             .shuffle(2048, seed=seed).batch(64))
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Dropout(0.2),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = training.fit(model, train, epochs=5, verbose=0)
    return model.get_weights(), history.history


@pytest.mark.slow
def test_same_seed_same_weights_and_metrics(quick):
    weights_a, logs_a = _quick_run(7)
    weights_b, logs_b = _quick_run(7)
    assert len(logs_a["loss"]) == config.quick_plan(5, 2048 // 64)[0]
    assert logs_a == logs_b
    for a, b in zip(weights_a, weights_b, strict=True):
        np.testing.assert_array_equal(a, b)
    weights_c, _ = _quick_run(8)
    assert any(not np.array_equal(a, c) for a, c in zip(weights_a, weights_c, strict=True))


def test_environment_report_names_versions_mode_and_every_dataset(monkeypatch):
    from swtwo_tf import course, datasets

    env = config.environment()
    assert env["tensorflow"].startswith("2.21")
    assert env["cpu_model"] == config.cpu_info()["cpu_model"] and "avx512" in env
    monkeypatch.setenv("SWTWO_QUICK", "1")
    report = course.environment_report()
    assert "TensorFlow 2.21" in report and "Mode: quick (SWTWO_QUICK=1" in report
    assert env["cpu_model"] in report and "AVX-512: " in report
    for name in datasets.names(real=True):
        assert name in report


def test_cpu_info_reads_the_model_and_avx512(tmp_path, monkeypatch):
    info = config.cpu_info()
    assert info["cpu_model"] and info["avx512"] in (True, False, None)
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu avx2 avx512f\n")
    real_path = config.Path
    monkeypatch.setattr(config, "Path", lambda p: fake if p == "/proc/cpuinfo" else real_path(p))
    assert config.cpu_info() == {"cpu_model": "Test CPU 9000", "avx512": True,
                                 "cpu_flags": ["avx2", "avx512f"]}
    fake.write_text("model name\t: Other\nflags\t\t: fpu avx2 fma\n")
    assert config.cpu_info() == {"cpu_model": "Other", "avx512": False,
                                 "cpu_flags": ["avx2", "fma"]}


def test_cpu_kind_names_the_vector_units_timings_depend_on():
    assert config.cpu_kind(["avx2", "fma", "avx512f", "avx512_vnni"]) == "AVX-512"
    assert config.cpu_kind(["avx2", "fma"]) == "AVX2"
    assert config.cpu_kind([]) == "other"
    assert config.cpu_kind() == config.cpu_kind(config.cpu_info()["cpu_flags"])
