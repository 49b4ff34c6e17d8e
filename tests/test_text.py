"""Text pipelines, the vectoriser and the three text classifiers (chapter 05)."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from swtwo_tf import config, datasets, training
from swtwo_tf.datasets import text
from swtwo_tf.models import text as text_models

TINY = np.array([b"A great film.<br /><br />Great acting!", b"A bad, bad film; awful.",
                 b"Not good at all", b"I loved it, a great story"])


@pytest.fixture(scope="module")
def imdb():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SampleDataWarning)
        return text.text_datasets(batch_size=32)


def test_pipelines_yield_raw_strings_and_a_fixed_disjoint_validation_split(imdb):
    reviews, labels = next(iter(imdb.train))
    assert reviews.dtype == tf.string and labels.dtype == tf.int64
    assert reviews.shape == (32,) and set(np.unique(labels.numpy())) <= {0, 1}
    total = imdb.sizes["train"] + imdb.sizes["validation"]
    assert imdb.sizes["validation"] == round(total * 0.1)
    assert len(imdb.train_texts) == imdb.sizes["train"]
    validation = {r for batch, _ in imdb.validation for r in batch.numpy()}
    # Disjoint by position; IMDB itself repeats a few hundred reviews word for word, so a
    # handful of validation texts also occur in training.
    assert len(validation & set(imdb.train_texts)) <= 0.02 * len(validation)
    again = text.text_datasets(batch_size=32)
    np.testing.assert_array_equal(again.train_texts, imdb.train_texts)


def test_standardize_strips_html_breaks_punctuation_and_odd_whitespace():
    out = text.standardize(tf.constant(["Great!<br /><br />Don't MISS\x85it.<br>End"]))
    words = out.numpy()[0].decode().split()
    assert words == ["great", "don't", "miss", "it", "end"]


def test_vocabulary_comes_from_the_training_texts_only():
    layer = text.vectorizer(TINY, max_tokens=100)
    vocabulary = set(layer.get_vocabulary()[2:])  # after padding and [UNK]
    train_words = {w for t in TINY for w in text.standardize(t).numpy().decode().split()}
    assert vocabulary == train_words
    assert "br" not in vocabulary and "great" in vocabulary
    ids = layer(tf.constant(["great zyzzyva"])).numpy()[0]
    assert ids[1] == 1  # a word the training texts never had is [UNK]
    with pytest.raises(ValueError, match="train_texts is empty"):
        text.vectorizer(np.array([], dtype=object))


@pytest.mark.parametrize("builder, kwargs", [
    (text_models.bag_of_ngrams, {"max_tokens": 200}),
    (text_models.rnn_classifier, {"max_tokens": 200, "sequence_length": 16}),
    (text_models.transformer_classifier, {"max_tokens": 200, "sequence_length": 16}),
])
def test_builders_take_raw_strings_and_survive_save_and_load(builder, kwargs, tmp_path):
    model = builder(TINY, **kwargs)
    assert not model.compiled
    sentences = tf.constant(["a great film", "awful", ""])
    out = model(sentences)
    assert out.shape == (3, 2)
    np.testing.assert_allclose(np.sum(out, axis=1), 1.0, rtol=1e-5)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)  # safe mode: only registered objects load
    np.testing.assert_allclose(reloaded.predict(sentences, verbose=0),
                               model.predict(sentences, verbose=0), atol=1e-6)


def test_bag_of_ngrams_loss_falls_on_real_reviews(imdb, full_mode):
    config.seed_everything(0)
    model = text_models.bag_of_ngrams(imdb.train_texts[:2000], max_tokens=5_000)
    training.compile_classifier(model)
    history = training.fit(model, imdb.train.take(40), epochs=3, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    ranked = text_models.top_ngrams(model, k=5)
    assert len(ranked["positive"]) == 5 and ranked["positive"][0][1] > ranked["negative"][0][1]


def test_an_ensemble_of_text_models_takes_raw_strings_and_refuses_mixed_inputs():
    from swtwo_tf import models
    from swtwo_tf.models import vision

    members = [text_models.bag_of_ngrams(TINY, max_tokens=50),
               text_models.rnn_classifier(TINY, max_tokens=50, sequence_length=8)]
    averaged = models.ensemble(members)
    sentences = tf.constant(["a great film", "awful"])
    expected = (members[0].predict(sentences, verbose=0)
                + members[1].predict(sentences, verbose=0)) / 2
    np.testing.assert_allclose(averaged.predict(sentences, verbose=0), expected, atol=1e-6)
    with pytest.raises(ValueError, match="takes"):
        models.ensemble([members[0], vision.dense_baseline()])


def test_attention_map_rows_are_distributions():
    model = text_models.transformer_classifier(TINY, max_tokens=50, sequence_length=8)
    tokens, weights = text_models.attention_map(model, "a great film")
    assert tokens == ["a", "great", "film"] and weights.shape == (3, 3)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)


def test_bad_inputs_are_named():
    with pytest.raises(text.TextInputError, match="text #0 is empty"):
        text.check_sentences("   ")
    with pytest.raises(text.TextInputError, match="text #1 is a int"):
        text.check_sentences(["fine", 42])
    with pytest.raises(text.TextInputError, match="non-empty list"):
        text.check_sentences([])
    rnn = text_models.rnn_classifier(TINY, max_tokens=50, sequence_length=8)
    with pytest.raises(text.TextInputError, match="empty"):
        text_models.classify(rnn, [""])
    assert text_models.classify(rnn, "a great film")[0]["label"] in text.CLASS_NAMES
    with pytest.raises(ValueError, match="not a bag_of_ngrams model"):
        text_models.top_ngrams(rnn)
    with pytest.raises(ValueError, match="not a transformer_classifier"):
        text_models.attention_map(rnn, "a film")
    with pytest.raises(ValueError, match="cell must be one of"):
        text_models.rnn_classifier(TINY, cell="rnn")
    with pytest.raises(ValueError, match="multiple of heads"):
        text_models.transformer_classifier(TINY, dim=30, heads=4)
    with pytest.raises(ValueError, match="no recipe for imdb_reviews/svm"):
        training.train_recipe("imdb_reviews", "svm")


def test_recipes_cover_the_three_models():
    assert {m for _, m in text_models.RECIPES} == {
        "bag_of_ngrams", "rnn_classifier", "transformer_classifier"}
    for recipe in text_models.RECIPES.values():
        assert recipe.early_stopping and recipe.quick_steps
