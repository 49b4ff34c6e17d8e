"""One registry: a new dataset and its model are one entry each plus their code.

The ``toy`` fixture below is everything a new dataset needs (no other module changes): a
pipeline builder, a ``DatasetSpec`` and a recipe. The tests then use it through every path a
course dataset takes: ``datasets.pipelines``, ``training.train_recipe``, the chapters' floors
and the ``swtwo`` command.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from swtwo_tf import cli, datasets, evaluation, models, training
from swtwo_tf.datasets import core
from swtwo_tf.models import recipes


def toy_pipelines(*, split, batch_size, seed, size=600):
    """8x8 images, bright in the top half (class 0, "up") or the bottom half (1, "down")."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size)
    images = rng.uniform(0, 0.3, (size, 8, 8, 1)).astype("float32")
    for image, label in zip(images, labels, strict=True):
        image[4 * label:4 * label + 4] += 0.7
    parts = {"train": slice(0, 400), "validation": slice(400, 500), "test": slice(500, size)}
    return SimpleNamespace(
        **{name: core.batched(images[part], labels[part], batch_size, shuffle=name == "train",
                              seed=seed) for name, part in parts.items()},
        class_names=["up", "down"], sizes={"train": 400, "validation": 100, "test": 100},
        source="toy")


def tiny(name="tiny"):
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(2, activation="softmax")], name=name)


@pytest.fixture
def toy():
    spec = datasets.register(datasets.DatasetSpec(
        "toy", "Toy images (8x8: bright top or bottom)", "image", class_names=("up", "down"),
        pipelines=toy_pipelines, default_model="tiny",
        floors={"tiny": (0.95, 0.9, 0.5)}))
    recipes.register({("toy", "tiny"): recipes.Recipe(tiny, batch_size=32, epochs=5,
                                                      learning_rate=1e-2)})
    yield spec
    recipes.unregister("toy", "tiny")
    datasets.unregister("toy")


def test_a_registered_dataset_is_known_everywhere(toy):
    assert "toy" in datasets.names("image") and "toy" not in datasets.names(real=True)
    assert models.recipe_for("toy", "tiny").batch_size == 32
    assert models.models_for("toy") == ["tiny"]
    assert evaluation.accuracy_floor("toy", "tiny", "samples") == 0.5
    data = datasets.pipelines("toy", batch_size=50)
    assert data.sizes["train"] == 400 and next(iter(data.train))[0].shape == (50, 8, 8, 1)
    with pytest.raises(ValueError, match="split 'speaker:ann' does not apply to toy"):
        datasets.pipelines("toy", split="speaker:ann")
    with pytest.raises(ValueError, match="toy's pipelines do not take"):
        datasets.pipelines("toy", recordings=None)
    with pytest.raises(ValueError, match="is made by the kit, not loaded from TFDS"):
        datasets.load("toy")
    assert "toy" not in {row["name"] for row in datasets.status()}


def test_the_registry_refuses_what_it_cannot_use(toy):
    with pytest.raises(ValueError, match="a dataset named 'toy' is registered already"):
        datasets.register(toy)
    with pytest.raises(ValueError, match="modality must be one of image, audio, text"):
        datasets.DatasetSpec("x", "x", "video", ("a", "b"), toy_pipelines, "tiny")
    with pytest.raises(ValueError, match="floors\\['tiny'\\] must be three accuracies"):
        datasets.DatasetSpec("x", "x", "image", ("a", "b"), toy_pipelines, "tiny",
                             floors={"tiny": (0.9, 0.8)})
    with pytest.raises(ValueError, match="quick_examples\\['test'\\] must be a positive int"):
        datasets.DatasetSpec("x", "x", "image", ("a", "b"), toy_pipelines, "tiny",
                             quick_examples={"train": 100, "test": 0})
    with pytest.raises(ValueError, match="quick_examples\\['every split'\\] must be a positive"):
        datasets.DatasetSpec("x", "x", "image", ("a", "b"), toy_pipelines, "tiny",
                             quick_examples="many")
    with pytest.raises(ValueError, match="a recipe for toy/tiny is registered already"):
        recipes.register({("toy", "tiny"): recipes.Recipe(tiny, batch_size=8, epochs=1)})
    with pytest.raises(ValueError, match="recipe toy/other: tiny takes no argument depth"):
        recipes.register({("toy", "other"): recipes.Recipe(tiny, batch_size=8, epochs=1,
                                                           quick_kwargs={"depth": 2})})
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        datasets.unregister("nope")


def test_quick_kwargs_change_the_build_in_quick_mode_only(monkeypatch, capsys):
    recipe = recipes.Recipe(tiny, batch_size=8, epochs=1, kwargs={"name": "full"},
                            quick_kwargs={"name": "quick"})
    monkeypatch.setenv("SWTWO_QUICK", "0")
    assert recipe.build().name == "full" and capsys.readouterr().out == ""
    monkeypatch.setenv("SWTWO_QUICK", "1")
    assert recipe.build().name == "quick"
    assert "Quick mode (SWTWO_QUICK=1): tiny(name='quick')" in capsys.readouterr().out
    assert recipe.build(name="mine").name == "mine"  # what the caller asks for wins
    assert capsys.readouterr().out == ""


def test_quick_caps_apply_per_split_by_the_base_split_name():
    def spec(caps):
        return datasets.DatasetSpec("x", "x", "text", ("a", "b"), toy_pipelines, "tiny",
                                    quick_examples=caps)

    per_split = spec({"train": 500, "test": 200})
    assert per_split.quick_limit("train") == 500 and per_split.quick_limit("train[:90%]") == 500
    assert per_split.quick_limit("test") == 200 and per_split.quick_limit("unsupervised") is None
    assert spec(300).quick_limit("test[10%:]") == 300 and spec(None).quick_limit("train") is None


def test_every_course_dataset_has_a_default_recipe_and_floors():
    for name in datasets.names(real=True):
        spec = datasets.get_spec(name)
        assert spec.default_model in models.models_for(name), name
        assert spec.default_model in spec.floors, name
        assert spec.sample is not None and spec.sample.available(), name


@pytest.mark.slow
def test_train_recipe_trains_the_toy_from_its_entry(toy, full_mode):
    model, history, data = training.train_recipe("toy", "tiny", verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    accuracy = model.evaluate(data.test, verbose=0, return_dict=True)["accuracy"]
    assert accuracy >= evaluation.accuracy_floor("toy", "tiny", "toy")


@pytest.mark.slow
def test_swtwo_trains_and_evaluates_the_toy(toy, tmp_path, quick, capsys):
    assert cli.main(["train", "toy", "--quick", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["model"] == "tiny" and report["class_names"] == ["up", "down"]
    assert report["split"] == "documented" and report["test_accuracy"] > 0.8
    capsys.readouterr()
    assert cli.main(["evaluate", str(tmp_path / "model.keras"), "--dataset", "toy"]) == 0
    assert "toy test set (100 examples, toy)" in capsys.readouterr().out
    assert cli.main(["evaluate", str(tmp_path / "model.keras"), "--dataset",
                     "imdb_reviews"]) == 2
    assert "a model for image input cannot be used with imdb_reviews" in capsys.readouterr().err
