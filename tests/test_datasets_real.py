"""The data layer on the real TFDS datasets (skipped, naming the dataset, when absent)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import expected_spec, require_real, spec_of

from swtwo_tf import datasets
from swtwo_tf.datasets import core


@pytest.mark.parametrize("name", datasets.names(real=True))
def test_element_spec_and_split_sizes(name, full_mode):
    folder = require_real(name)
    assert core.split_sizes(name, folder) == core.get_spec(name).sizes
    for split, n in core.get_spec(name).sizes.items():
        ds = datasets.load(name, split)
        assert spec_of(ds) == expected_spec(name)
        assert int(ds.cardinality()) == n


@pytest.mark.parametrize("name", datasets.names(real=True))
def test_quick_mode_takes_a_subset(name, quick):
    require_real(name)
    spec = core.get_spec(name)
    for split in spec.splits:
        limit, size = spec.quick_limit(split), spec.sizes[split]
        expected = size if limit is None else min(limit, size)
        assert int(datasets.load(name, split).cardinality()) == expected, split


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_images_value_ranges(name, full_mode):
    require_real(name)
    batch = next(iter(datasets.load(name, "test").batch(1000)))
    images, labels = batch["image"].numpy(), batch["label"].numpy()
    assert images.dtype == np.uint8 and images.min() == 0 and images.max() == 255
    assert set(labels.tolist()) == set(range(10))
    # Objects are light on a dark background: most border pixels are black.
    assert np.median(images[:, 0, :, 0]) == 0 and images.mean() < 100


def test_spoken_digit_values_and_filenames(full_mode):
    require_real("spoken_digit")
    speakers, loudest = set(), 0
    for example in datasets.load("spoken_digit", "train").take(300):
        audio = example["audio"].numpy()
        assert audio.ndim == 1 and 800 < len(audio) < 8000 * 2.5
        assert -32768 <= audio.min() and audio.max() <= 32767 and np.abs(audio).max() > 100
        loudest = max(loudest, np.abs(audio).max())
        filename = example["audio/filename"].numpy().decode()
        match = re.fullmatch(r"(\d)_([a-z]+)_(\d+)\.wav", filename)
        assert match, example["audio/filename"]
        assert int(match.group(1)) == int(example["label"])
        speakers.add(match.group(2))
    assert speakers <= {"george", "jackson", "nicolas", "theo", "yweweler"}
    assert loudest > 10_000  # int16-range integers, not floats in [-1, 1]


def test_imdb_values(full_mode):
    require_real("imdb_reviews")
    test = datasets.load("imdb_reviews", "test", as_supervised=True)
    labels = [int(y) for _, y in test.take(500)]
    assert set(labels) == {0, 1}
    for example in datasets.load("imdb_reviews", "train").take(50):
        assert len(example["text"].numpy()) > 20
    unlabelled = next(iter(datasets.load("imdb_reviews", "unsupervised")))
    assert int(unlabelled["label"]) == -1


def test_split_slicing_and_supervised(full_mode):
    require_real("mnist")
    ds = datasets.load("mnist", "train[:1%]", as_supervised=True)
    assert int(ds.cardinality()) == 600
    image, label = next(iter(ds))
    assert image.shape == (28, 28, 1) and label.dtype.name == "int64"


def test_tfds_versions_match_the_catalog(tmp_path):
    import tensorflow_datasets as tfds

    for name in datasets.names(real=True):
        source = core.get_spec(name).tfds
        builder = tfds.builder(source.name, data_dir=str(tmp_path))
        assert str(builder.version) == source.version, name
