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
