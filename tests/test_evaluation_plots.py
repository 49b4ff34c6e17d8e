"""Recording results and drawing figures."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest

from swtwo_tf import config, evaluation, plots

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


def test_confusion_matrix_counts_true_classes_in_rows():
    fig = plots.confusion_matrix([0, 1, 1, 1], [0, 1, 0, 0], ["a", "b"])
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), [[1, 0], [2, 1]])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b"]


def test_compare_with_benchmark_reads_the_committed_results():
    text = evaluation.compare_with_benchmark("images", "mnist", {"convnet": 0.9, "new": 0.5})
    assert "benchmarks/images.py" in text and "CPU cores" in text
    assert "2026-" not in text  # dates live in docs/results.md, not in a lesson
    convnet_row = next(line for line in text.splitlines() if line.startswith("convnet"))
    assert "%" in convnet_row.split()[1] and convnet_row.split()[-1] == "90.00%"
    assert "no reference yet" in evaluation.compare_with_benchmark("nope", "mnist", {})


def test_compare_with_benchmark_picks_the_rows_of_one_split(tmp_path, monkeypatch):
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    row = {"dataset": "spoken_digit", "model": "rnn", "train_seconds": 60.0}
    (results / "speech.json").write_text(json.dumps({
        "command": "python benchmarks/speech.py", "date": "2026-11-26",
        "machine": {"cpu_cores": 2, "gpus": 0},
        "results": [{**row, "split": "documented", "test_accuracy": 0.99},
                    {**row, "split": "loso_mean", "test_accuracy": 0.93}]}))
    monkeypatch.setattr(evaluation.config, "REPO_ROOT", tmp_path)
    for split, expected in (("documented", "99.00%"), ("loso_mean", "93.00%")):
        text = evaluation.compare_with_benchmark("speech", "spoken_digit", {"rnn": 0.5},
                                                 split=split)
        assert f"{split} split" in text
        assert next(x for x in text.splitlines() if x.startswith("rnn")).split()[1] == expected


def test_compare_curves_one_line_per_run_and_named_errors():
    fig = plots.compare_curves({"a": {"val_accuracy": [0.5, 0.6]}, "b": {"val_accuracy": [0.4]}})
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(ValueError, match="run 'a' logged no 'val_loss'"):
        plots.compare_curves({"a": {"val_accuracy": [0.5]}}, metric="val_loss")
    with pytest.raises(ValueError, match="empty"):
        plots.compare_curves({})


def test_accuracy_by_group_counts_each_group_alone():
    labels = np.array([0, 1, 1, 0])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert evaluation.accuracy_by_group(labels, probabilities, ["b", "a", "a", "b"]) == {
        "a": 0.5, "b": 0.5}
    assert evaluation.accuracy_by_group(labels, probabilities, ["x", "x", "y", "y"]) == {
        "x": 1.0, "y": 0.0}
    with pytest.raises(ValueError, match="one entry per example"):
        evaluation.accuracy_by_group(labels, probabilities, ["x"])


def test_accuracy_bars_draws_one_bar_per_run_and_group():
    fig = plots.accuracy_bars({"ann": {"RNN": 0.9, "CNN": 0.8}, "bob": {"RNN": 0.7, "CNN": 0.95}},
                              floor=0.9)
    assert len(fig.axes[0].patches) == 4
    with pytest.raises(ValueError, match="empty"):
        plots.accuracy_bars({})


def test_predictions_work_for_string_inputs():
    import tensorflow as tf

    from swtwo_tf.models import text as text_models

    model = text_models.bag_of_ngrams(["a good film", "a bad film"] * 4)
    texts = tf.constant(["good", "bad", "a good film", "meh", "bad film"])
    dataset = tf.data.Dataset.from_tensor_slices((texts, [1, 0, 1, 0, 0])).batch(2)
    inputs, labels, probabilities = evaluation.predictions(model, dataset)
    assert inputs.tolist()[:2] == [b"good", b"bad"] and labels.tolist() == [1, 0, 1, 0, 0]
    assert probabilities.shape == (5, 2)
    np.testing.assert_allclose(probabilities, model.predict(texts, verbose=0), atol=1e-6)


def test_block_diagram_draws_one_box_per_layer_and_the_skips():
    import keras

    from swtwo_tf import plots
    from swtwo_tf.models import vision

    fig = plots.block_diagram(vision.seed_cnn())
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts[0] == "Input (28, 28, 1)"
    assert texts[1].startswith("Conv2D 32, 3x3, relu")
    assert texts[-1] == "Dense 10, softmax  -> (10,)"
    assert "804,554 parameters" in fig.axes[0].get_title()
    inputs = keras.Input((8,))
    a = keras.layers.Dense(8)(inputs)
    joined = keras.layers.Add()([a, keras.layers.Dense(8)(a)])
    fig = plots.block_diagram(keras.Model(inputs, keras.layers.Dense(2)(joined)))
    arrows = fig.axes[0].patches[-4:]
    assert len(fig.axes[0].texts) == 5  # input, dense, dense, add, dense
    assert any(p.get_edgecolor()[:3] != (0.0, 0.0, 0.0) for p in arrows)  # the skip in red


def test_remedy_chart_writes_each_gap():
    from swtwo_tf import plots

    rows = [{"model": "plain", "train_accuracy": 0.99, "test_accuracy": 0.90},
            {"model": "+ dropout", "train_accuracy": 0.95, "test_accuracy": 0.92}]
    fig = plots.remedy_chart(rows)
    assert [t.get_text() for t in fig.axes[0].texts] == ["gap 9.0p", "gap 3.0p"]
    with pytest.raises(ValueError, match="empty"):
        plots.remedy_chart([])


def test_scaling_chart_stacks_the_all_reduce_on_the_step():
    from swtwo_tf import plots

    rows = [{"split": "1 worker", "startup_seconds": 20.0, "ms_per_step": 100.0,
             "all_reduce_ms": 1.0},
            {"split": "2 replicas", "startup_seconds": None, "ms_per_step": 90.0,
             "all_reduce_ms": 8.0}]
    fig = plots.scaling_chart(rows)
    startup, step = fig.axes
    assert [p.get_height() for p in startup.patches] == [20.0, 0]
    assert "in this" in startup.texts[0].get_text()
    heights = [p.get_height() for p in step.patches]  # the rest, then the all-reduce
    assert heights == [99.0, 82.0, 1.0, 8.0]
    with pytest.raises(ValueError, match="empty"):
        plots.scaling_chart([])


def test_reference_reads_one_row_of_the_benchmark_results():
    from swtwo_tf import evaluation

    row = evaluation.reference("images", "mnist", "seed_cnn")
    assert 0.9 < row["test_accuracy"] < 1 and row["epochs"] == 10
    assert "cpu_cores" in row["machine"]
    speech = evaluation.reference("speech", "spoken_digit", "rnn_classifier", split="documented")
    assert speech["split"] == "documented"
    with pytest.raises(KeyError, match="has no row mnist/nope; it has: .*mnist/seed_cnn"):
        evaluation.reference("images", "mnist", "nope")


@pytest.mark.parametrize("report, command", [
    ("images", "benchmarks/images.py"),
    ("multimodal_scratch", "benchmarks/multimodal.py --scratch"),
    ("speech_seed43", "benchmarks/speech.py --seed 43 --loso-only")])
def test_a_missing_report_names_the_command_that_writes_it(monkeypatch, report, command):
    from swtwo_tf import evaluation

    monkeypatch.setattr(evaluation, "_benchmark", lambda name: None)
    with pytest.raises(FileNotFoundError, match=f"{report}.json is missing: run {command}"):
        evaluation.reference(report, "spoken_digit", "ensemble")
    script = config.REPO_ROOT / command.split()[0]
    assert script.is_file()
