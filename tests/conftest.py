"""Shared fixtures: which real datasets are present, and the element specs they must have."""

from __future__ import annotations

import pytest
import tensorflow as tf

from swtwo_tf import datasets
from swtwo_tf.datasets import core


def expected_spec(name: str) -> dict:
    """The structure every loader of ``name`` must yield, real or sample, as its registry
    entry gives it: ``{feature: (shape, dtype)}``."""
    return {key: (shape, tf.as_dtype(dtype))
            for key, (shape, dtype) in datasets.get_spec(name).features.items()}


def spec_of(ds) -> dict:
    return {k: (tuple(v.shape.as_list()), v.dtype) for k, v in ds.element_spec.items()}


def require_real(name: str):
    """Skip the calling test, naming the dataset, when its real copy is not prepared here."""
    folder = core.locate(name)
    if folder is None:
        pytest.skip(
            f"real dataset '{name}' is not prepared in {', '.join(map(str, core.search_dirs()))}"
            f" (get it with: swtwo datasets download {name}, or set TFDS_DATA_DIR)"
        )
    return folder


@pytest.fixture
def offline(monkeypatch):
    """No network: downloads are impossible, as on a machine without internet."""
    monkeypatch.setenv("SWTWO_OFFLINE", "1")


@pytest.fixture
def full_mode(monkeypatch):
    monkeypatch.setenv("SWTWO_QUICK", "0")


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setenv("SWTWO_QUICK", "1")


def pytest_collection_modifyitems(config, items):
    """Every notebook cell runs in a kernel: mark them ``slow`` (``make test-fast`` skips them)."""
    for item in items:
        if str(item.path).endswith(".ipynb"):
            item.add_marker(pytest.mark.slow)
