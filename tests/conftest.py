"""Shared fixtures: which real datasets are present, and the element specs they must have."""

from __future__ import annotations

import pytest
import tensorflow as tf

from swtwo_tf.datasets import core

#: The structure every loader must yield, real or sample: {feature: (shape, dtype)}.
EXPECTED_SPECS = {
    "mnist": {"image": ((28, 28, 1), tf.uint8), "label": ((), tf.int64)},
    "fashion_mnist": {"image": ((28, 28, 1), tf.uint8), "label": ((), tf.int64)},
    "spoken_digit": {
        "audio": ((None,), tf.int64),
        "audio/filename": ((), tf.string),
        "label": ((), tf.int64),
    },
    "imdb_reviews": {"label": ((), tf.int64), "text": ((), tf.string)},
}


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
