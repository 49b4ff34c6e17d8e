"""Image pipelines, the user-image loader and the vision builders (chapters 01-02)."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import require_real
from PIL import Image

from swtwo_tf import config, datasets, models, training
from swtwo_tf.datasets import images
from swtwo_tf.features import images as image_files
from swtwo_tf.models import vision


def _data(name="mnist", **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SampleDataWarning)
        return images.image_datasets(name, **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_pipelines_specs_ranges_and_split(name):
    data = _data(name, batch_size=32)
    x, y = next(iter(data.train))
    assert x.shape == (32, 28, 28, 1) and x.dtype == tf.float32 and y.dtype == tf.int64
    assert float(tf.reduce_min(x)) >= 0.0 and 0.5 < float(tf.reduce_max(x)) <= 1.0
    assert set(data.sizes) == {"train", "validation", "test"}
    total = data.sizes["train"] + data.sizes["validation"]
    assert data.sizes["validation"] == round(total * 0.1)
    assert sum(int(b[1].shape[0]) for b in data.validation) == data.sizes["validation"]
    assert len(data.class_names) == 10


@pytest.mark.slow
def test_validation_split_is_fixed_by_the_seed_and_disjoint():
    def pixels(ds):
        return {bytes(img.numpy()) for batch, _ in ds for img in batch}

    a, b = _data(seed=1), _data(seed=1)
    val_a, val_b = pixels(a.validation), pixels(b.validation)
    assert val_a == val_b
    assert not val_a & pixels(a.train.take(20))
    assert pixels(_data(seed=2).validation) != val_a


@pytest.mark.slow
def test_training_batches_reshuffle_but_reproducibly():
    data = _data(batch_size=16)
    first = [y.numpy().tolist() for _, y in data.train.take(3)]
    second = [y.numpy().tolist() for _, y in data.train.take(3)]
    assert first != second  # a new order every epoch
    again = [y.numpy().tolist() for _, y in _data(batch_size=16).train.take(3)]
    assert again == first  # but the same sequence in a new run


@pytest.mark.slow
def test_real_mnist_sizes(full_mode):
    require_real("mnist")
    data = images.image_datasets("mnist")
    assert data.sizes == {"train": 54_000, "validation": 6_000, "test": 10_000}
    assert data.source == "tfds"


def test_bad_arguments():
    with pytest.raises(ValueError, match="takes one of mnist, fashion_mnist, got 'imdb_reviews'"):
        images.image_datasets("imdb_reviews")
    with pytest.raises(ValueError, match="validation_fraction must be in"):
        images.image_datasets("mnist", validation_fraction=1.5)


# ------------------------------------------------------------------ user image files
def test_sample_png_loads_like_mnist():
    arr = image_files.load_image_file(config.samples_dir() / "images" / "digit_7.png")
    assert arr.shape == (28, 28, 1) and arr.dtype == np.float32
    assert arr.max() == pytest.approx(1.0) and arr.min() == 0.0
    assert arr[:3].max() == 0 and arr[:, :3].max() == 0  # centred with an empty margin


def test_dark_ink_on_light_paper_is_inverted(tmp_path):
    canvas = np.full((200, 160), 240, np.uint8)
    canvas[40:160, 70:90] = 20  # a thick dark "1" on white paper
    Image.fromarray(canvas).save(tmp_path / "one.jpg")
    arr = image_files.load_image_file(tmp_path / "one.jpg")[..., 0]
    assert arr[14, 14] > 0.8  # the stroke is bright now
    assert arr[14, 2] == 0.0 and arr[2, 14] == 0.0  # the paper is black


@pytest.mark.parametrize("content, match", [
    (b"", "cannot be read as an image"),
    (b"hello, I am not a picture", "cannot be read as an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "cannot be read as an image"),
])
def test_bad_files_name_the_file(tmp_path, content, match):
    bad = tmp_path / "broken.png"
    bad.write_bytes(content)
    with pytest.raises(image_files.ImageFileError, match=match) as caught:
        image_files.load_image_file(bad)
    assert str(bad) in str(caught.value)


def test_missing_and_blank_files(tmp_path):
    with pytest.raises(image_files.ImageFileError, match="no such file"):
        image_files.load_image_file(tmp_path / "nope.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "blank.png")
    with pytest.raises(image_files.ImageFileError, match="blank"):
        image_files.load_image_file(tmp_path / "blank.png")


# ------------------------------------------------------------------ builders
@pytest.mark.parametrize("builder, params", [
    (vision.seed_cnn, 804_554),
    (vision.classic_convnet, 34_826),
    (vision.dense_baseline, 101_770),
])
def test_reference_builders_shapes_and_parameter_counts(builder, params):
    model = builder()
    assert model.count_params() == params
    out = model(np.zeros((3, 28, 28, 1), np.float32))
    assert out.shape == (3, 10)
    np.testing.assert_allclose(np.sum(out, axis=1), 1.0, rtol=1e-5)
    assert not model.compiled


def test_convnet_variants():
    assert vision.convnet().output_shape == (None, 10)
    plain = vision.convnet(None, batch_norm=False, dropout=0.0)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in plain.layers)
    with pytest.raises(ValueError, match="augment must be one of"):
        vision.convnet("rotate-a-lot")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["digits", "clothes"])
def test_augmentation_changes_training_batches_only(kind):
    model = vision.convnet(kind)
    augment = model.get_layer(f"augment_{kind}")
    x = _data().train.take(1).get_single_element()[0]
    assert not np.allclose(augment(x, training=True), x)
    np.testing.assert_array_equal(augment(x, training=False), x)
    np.testing.assert_allclose(model(x, training=False), model(x, training=False))


@pytest.mark.slow
def test_seed_cnn_loss_falls_on_a_real_batch():
    config.seed_everything(0)
    x, y = _data(batch_size=256).train.take(1).get_single_element()
    model = vision.seed_cnn()
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    batch = tf.data.Dataset.from_tensors((x, y)).repeat(15)
    history = training.fit(model, batch, epochs=1, verbose=0)
    first = model.evaluate(x, y, verbose=0)
    assert history.history["loss"][0] > first and first < 0.5


def test_recipes_build_uncompiled_models():
    for (dataset, name), recipe in vision.RECIPES.items():
        model = recipe.build()
        assert model.output_shape == (None, 10), (dataset, name)
        assert not model.compiled, (dataset, name)


# ------------------------------------------------------------------ chapter 02 helpers
@pytest.mark.slow
def test_train_size_keeps_a_fixed_subset_and_whole_eval_sets():
    whole, small = _data(batch_size=50), _data(batch_size=50, train_size=100)
    assert small.sizes["train"] == 100
    assert small.sizes["validation"] == whole.sizes["validation"]
    assert small.sizes["test"] == whole.sizes["test"]
    assert sum(int(b[1].shape[0]) for b in small.train) == 100
    with pytest.raises(ValueError, match="train_size must be a positive int"):
        _data(train_size=0)


def test_stem_batch_norm_only_drops_the_first_blocks_normalisation():
    def count(model):
        return sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)

    assert count(vision.convnet(None)) - count(vision.convnet(None, stem_batch_norm=False)) == 1


def test_convs_per_block_counts_per_block_and_rejects_a_mismatch():
    def convs(model):
        return [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]

    assert convs(vision.convnet(None, convs_per_block=2)) == [16, 16, 32, 32, 64, 64]
    assert convs(vision.convnet(None, convs_per_block=(1, 2, 2))) == [16, 32, 32, 64, 64]
    for bad in [(1, 2), (1, 0, 2), 0]:
        with pytest.raises(ValueError, match="convs_per_block must be"):
            vision.convnet(None, convs_per_block=bad)


def test_ensemble_averages_its_members():
    members = [vision.convnet(None, filters=(8,), name=f"m{i}") for i in range(2)]
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    averaged = models.ensemble(members)(x)
    expected = (members[0](x, training=False) + members[1](x, training=False)) / 2
    np.testing.assert_allclose(averaged, expected, atol=1e-6)
    assert models.ensemble(members).count_params() == 2 * members[0].count_params()
    with pytest.raises(ValueError, match="at least 2 models"):
        models.ensemble(members[:1])
    twin = vision.convnet(None, filters=(8,), name="m0")
    with pytest.raises(ValueError, match="more than one member is named 'm0'.*own name="):
        models.ensemble([members[0], members[1], twin])


@pytest.mark.slow
def test_compare_variants_equal_terms_checkpoints_and_table(tmp_path, full_mode):
    from swtwo_tf import evaluation

    data = _data(batch_size=64, train_size=512)
    variants = {"plain": dict(augment=None, filters=(8,), dropout=0.0, batch_norm=False),
                "+ dropout": dict(augment=None, filters=(8,), dropout=0.3, batch_norm=False)}
    trained = training.compare_variants(variants, data, build=vision.convnet, epochs=2,
                                        checkpoint_dir=tmp_path)
    again = training.compare_variants({"plain": variants["plain"]}, data, build=vision.convnet,
                                      epochs=2)
    np.testing.assert_array_equal(trained["plain"][0].get_weights()[0],
                                  again["plain"][0].get_weights()[0])  # same seed, same run
    assert sorted(p.name for p in tmp_path.glob("*.keras")) == ["dropout.keras", "plain.keras"]
    rows = evaluation.compare_models({k: m for k, (m, _) in trained.items()}, data)
    assert [r["model"] for r in rows] == ["plain", "+ dropout"]
    assert all(r["test_accuracy"] > 0.5 and abs(r["gap"]) < 0.5 for r in rows)
    assert "+ dropout" in evaluation.format_table(rows)
    with pytest.raises(ValueError, match="variant 'bad'"):
        training.compare_variants({"bad": {"kernel": 5}}, data, build=vision.convnet, epochs=1)


def test_slug_names_files_safely():
    assert training.slug("+ L2 weight decay") == "l2_weight_decay"
    with pytest.raises(ValueError, match="no letters or digits"):
        training.slug("+ !")
