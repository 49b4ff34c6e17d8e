"""Recording results and drawing figures."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest

from swtwo_tf import evaluation, plots

matplotlib.use("Agg")


def test_record_results_writes_json_with_context(tmp_path, monkeypatch):
    monkeypatch.setenv("SWTWO_BUILD_DIR", str(tmp_path))
    monkeypatch.setenv("SWTWO_QUICK", "1")
    path = evaluation.record_results("01_x", {"accuracy": np.float32(0.75), "model": "cnn"})
    record = json.loads(path.read_text())
    assert path == tmp_path / "results" / "01_x.json"
    assert record["metrics"] == {"accuracy": 0.75, "model": "cnn"}
    assert record["mode"] == "quick" and record["cpu_cores"] >= 1
    assert not list(path.parent.glob("*.tmp")) and len(list(path.parent.iterdir())) == 1


def test_record_results_rejects_non_scalars(tmp_path, monkeypatch):
    monkeypatch.setenv("SWTWO_BUILD_DIR", str(tmp_path))
    with pytest.raises(TypeError, match="metric 'curve' must be a number or string"):
        evaluation.record_results("01_x", {"curve": [1, 2]})


def test_plot_history_panels():
    fig = plots.plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [.5, .8]})
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 2  # train and validation
    with pytest.raises(ValueError, match="history has none of"):
        plots.plot_history({"mae": [1.0]})


def test_decision_boundary_checks_its_input():
    x = np.random.default_rng(0).normal(size=(50, 2))
    fig = plots.plot_decision_boundary(lambda p: p[:, 0] > 0, x, (x[:, 0] > 0).astype(int))
    assert fig.axes
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        plots.plot_decision_boundary(lambda p: p, np.zeros((5, 3)), np.zeros(5))


def test_predictions_keep_inputs_labels_and_probabilities_aligned():
    import keras
    import tensorflow as tf

    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.array([0, 1, 0, 1, 1, 0])
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    xs, ys, ps = evaluation.predictions(model, tf.data.Dataset.from_tensor_slices((x, y)).batch(4))
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_array_equal(ys, y)
    np.testing.assert_allclose(ps, model.predict(x, verbose=0), rtol=1e-5)
    with pytest.raises(ValueError, match="empty"):
        evaluation.predictions(model, tf.data.Dataset.from_tensor_slices((x, y)).take(0).batch(2))


def test_most_confident_mistakes_and_report():
    labels = np.array([0, 1, 2, 0])
    probs = np.array([[0.9, 0.05, 0.05],   # right
                      [0.6, 0.3, 0.1],     # wrong, 60 % sure
                      [0.05, 0.9, 0.05],   # wrong, 90 % sure
                      [0.2, 0.7, 0.1]])    # wrong, 70 % sure
    assert evaluation.most_confident_mistakes(labels, probs, k=2).tolist() == [2, 3]
    report = evaluation.per_class_report(labels, probs, ["zero", "one", "two"])
    assert "zero" in report and "precision" in report and "recall" in report


def test_accuracy_floor_follows_mode_and_source(monkeypatch):
    monkeypatch.setenv("SWTWO_QUICK", "1")
    quick = evaluation.accuracy_floor("mnist", "convnet", "tfds")
    sample = evaluation.accuracy_floor("mnist", "convnet", "samples")
    monkeypatch.setenv("SWTWO_QUICK", "0")
    full = evaluation.accuracy_floor("mnist", "convnet", "tfds")
    assert sample < quick < full < 1


def test_image_grid_marks_wrong_predictions_red():
    imgs = np.zeros((3, 28, 28, 1))
    fig = plots.image_grid(imgs, [1, 2, 3], predictions=np.eye(10)[[1, 2, 4]], columns=3)
    colours = [ax.title.get_color() for ax in fig.axes]
    assert colours == ["black", "black", "red"]
    with pytest.raises(ValueError, match="no images"):
        plots.image_grid(np.zeros((0, 28, 28, 1)))


def test_confusion_matrix_figure():
    fig = plots.confusion_matrix([0, 1, 1], [0, 1, 0], ["a", "b"])
    assert fig.axes[0].get_title().startswith("rows: true class")


def test_compare_with_benchmark_reads_the_committed_results():
    text = evaluation.compare_with_benchmark("images", "mnist", {"convnet": 0.9, "new": 0.5})
    assert "benchmarks/images.py" in text and "CPU cores" in text
    convnet_row = next(line for line in text.splitlines() if line.startswith("convnet"))
    assert "%" in convnet_row.split()[1] and convnet_row.split()[-1] == "90.00%"
    assert "no reference yet" in evaluation.compare_with_benchmark("nope", "mnist", {})


def test_compare_curves_one_line_per_run_and_named_errors():
    fig = plots.compare_curves({"a": {"val_accuracy": [0.5, 0.6]}, "b": {"val_accuracy": [0.4]}})
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(ValueError, match="run 'a' logged no 'val_loss'"):
        plots.compare_curves({"a": {"val_accuracy": [0.5]}}, metric="val_loss")
    with pytest.raises(ValueError, match="empty"):
        plots.compare_curves({})
