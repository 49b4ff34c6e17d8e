"""Text pipelines, the vectoriser and the four text classifiers (chapter 05)."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import require_real

from swtwo_tf import config, datasets, training
from swtwo_tf.datasets import text
from swtwo_tf.features import text as text_features
from swtwo_tf.models import text as text_models

TINY = np.array([b"A great film.<br /><br />Great acting!", b"A bad, bad film; awful.",
                 b"Not good at all", b"I loved it, a great story"])
TINY_LABELS = np.array([1, 0, 0, 1])


@pytest.fixture(scope="module")
def imdb():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SampleDataWarning)
        return text.text_datasets(batch_size=32)


@pytest.mark.slow
def test_pipelines_yield_raw_strings_and_a_fixed_disjoint_validation_split(imdb):
    reviews, labels = next(iter(imdb.train))
    assert reviews.dtype == tf.string and labels.dtype == tf.int64
    assert reviews.shape == (32,) and set(np.unique(labels.numpy())) <= {0, 1}
    total = imdb.sizes["train"] + imdb.sizes["validation"]
    assert imdb.sizes["validation"] == round(total * 0.1)
    assert len(imdb.train_texts) == len(imdb.train_labels) == imdb.sizes["train"]
    assert set(np.unique(imdb.train_labels)) == {0, 1}
    validation = {r for batch, _ in imdb.validation for r in batch.numpy()}
    # Disjoint by position; IMDB itself repeats a few hundred reviews word for word, so a
    # handful of validation texts also occur in training.
    assert len(validation & set(imdb.train_texts)) <= 0.02 * len(validation)
    again = text.text_datasets(batch_size=32)
    np.testing.assert_array_equal(again.train_texts, imdb.train_texts)


def test_standardize_strips_html_breaks_punctuation_and_odd_whitespace():
    out = text_features.standardize(tf.constant(["Great!<br /><br />Don't MISS\x85it.<br>End"]))
    words = out.numpy()[0].decode().split()
    assert words == ["great", "don't", "miss", "it", "end"]


def test_vocabulary_comes_from_the_training_texts_only():
    layer = text_features.vectorizer(TINY, max_tokens=100)
    vocabulary = set(layer.get_vocabulary()[2:])  # after padding and [UNK]
    train_words = {w for t in TINY for w in text_features.standardize(t).numpy().decode().split()}
    assert vocabulary == train_words
    assert "br" not in vocabulary and "great" in vocabulary
    ids = layer(tf.constant(["great zyzzyva"])).numpy()[0]
    assert ids[1] == 1  # a word the training texts never had is [UNK]
    with pytest.raises(ValueError, match="train_texts is empty"):
        text_features.vectorizer(np.array([], dtype=object))


@pytest.mark.parametrize("builder, kwargs", [
    (text_models.bag_of_ngrams, {"max_tokens": 200}),
    (text_models.rnn_classifier, {"max_tokens": 200, "sequence_length": 16}),
    (text_models.transformer_classifier, {"max_tokens": 200, "sequence_length": 16}),
    (text_models.nb_ngrams, {"max_tokens": 200}),
])
@pytest.mark.slow
def test_builders_take_raw_strings_and_survive_save_and_load(builder, kwargs, tmp_path):
    model = builder(TINY, TINY_LABELS, **kwargs)
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


@pytest.mark.slow
def test_bag_of_ngrams_loss_falls_on_real_reviews(imdb, full_mode):
    config.seed_everything(0)
    model = text_models.bag_of_ngrams(imdb.train_texts[:2000], max_tokens=5_000)
    training.compile_classifier(model)
    history = training.fit(model, imdb.train.take(40), epochs=3, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    ranked = text_models.top_ngrams(model, k=5)
    assert len(ranked["positive"]) == 5 and ranked["positive"][0][1] > ranked["negative"][0][1]


def test_naive_bayes_ratios_point_each_ngram_at_the_class_it_occurs_in():
    layer = text_features.vectorizer(TINY, max_tokens=100, output_mode="multi_hot", ngrams=2,
                            sparse=True)
    ratios = dict(zip(layer.get_vocabulary(),
                      text_models.naive_bayes_ratios(layer, TINY, TINY_LABELS), strict=True))
    # "great" is in both positive reviews only, "bad" in a negative one only, "a" in two
    # positive reviews and one negative, "film" in one of each (each class's counts are
    # normalised separately, so a neutral n-gram's ratio is near, not exactly, zero).
    assert ratios["great"] > ratios["a"] > ratios["film"] > ratios["bad"]
    assert ratios["great film"] > ratios["film"] > ratios["not good"]
    assert ratios["great"] > 0 > ratios["bad"]
    # Sparse and dense multi-hot vectors give the same counts.
    dense = text_features.vectorizer(TINY, max_tokens=100, output_mode="multi_hot", ngrams=2)
    np.testing.assert_allclose(text_models.naive_bayes_ratios(dense, TINY, TINY_LABELS),
                               list(ratios.values()), atol=1e-6)


@pytest.mark.slow
def test_nb_ngrams_starts_as_naive_bayes_and_learns_on_real_reviews(imdb, full_mode):
    config.seed_everything(0)
    texts, labels = imdb.train_texts[:3000], imdb.train_labels[:3000]
    model = text_models.nb_ngrams(texts, labels, max_tokens=50_000)
    training.compile_classifier(model, learning_rate=3e-3)
    held_out = imdb.validation.take(16)
    untrained = model.evaluate(held_out, verbose=0, return_dict=True)
    assert untrained["accuracy"] >= 0.7  # counting alone already classifies most reviews
    history = training.fit(model, imdb.train.take(40), epochs=4, verbose=0)
    trained = model.evaluate(held_out, verbose=0, return_dict=True)
    assert history.history["loss"][-1] < 0.9 * history.history["loss"][0]
    assert trained["loss"] < untrained["loss"]
    ranked = text_models.top_ngrams(model, k=20)
    positive = {ngram for ngram, _ in ranked["positive"]}
    negative = {ngram for ngram, _ in ranked["negative"]}
    assert {"excellent", "wonderful", "great", "perfect", "loved"} & positive
    assert {"worst", "waste", "awful", "boring", "terrible"} & negative


def test_nb_ngrams_refuses_missing_or_mismatched_labels():
    with pytest.raises(ValueError, match="nb_ngrams needs train_labels"):
        text_models.nb_ngrams(TINY)
    with pytest.raises(ValueError, match="one label per training text"):
        text_models.nb_ngrams(TINY, TINY_LABELS[:3])
    with pytest.raises(ValueError, match="both present"):
        text_models.nb_ngrams(TINY, np.ones(4, dtype=int))


@pytest.mark.slow
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
    with pytest.raises(text_features.TextInputError, match="text #0 is empty"):
        text_features.check_sentences("   ")
    with pytest.raises(text_features.TextInputError, match="text #1 is a int"):
        text_features.check_sentences(["fine", 42])
    with pytest.raises(text_features.TextInputError, match="non-empty list"):
        text_features.check_sentences([])
    rnn = text_models.rnn_classifier(TINY, max_tokens=50, sequence_length=8)
    with pytest.raises(ValueError, match="not a bag_of_ngrams or nb_ngrams model"):
        text_models.top_ngrams(rnn)
    with pytest.raises(ValueError, match="not a transformer_classifier"):
        text_models.attention_map(rnn, "a film")
    with pytest.raises(ValueError, match="cell must be one of"):
        text_models.rnn_classifier(TINY, cell="rnn")
    with pytest.raises(ValueError, match="multiple of heads"):
        text_models.transformer_classifier(TINY, dim=30, heads=4)
    with pytest.raises(ValueError, match="no recipe for imdb_reviews/svm"):
        training.train_recipe("imdb_reviews", "svm")


def _synthetic_reviews(n=600):
    """Reviews in which "good" and "great" share their contexts, and so do "bad" and "awful",
    between random filler words."""
    rng = np.random.default_rng(0)
    filler = [f"w{i}" for i in range(200)]
    texts = []
    for i in range(n):
        template = "a truly {} film that i loved" if i % 2 else "such an {} mess that i hated"
        word = (["good", "great"] if i % 2 else ["bad", "awful"])[rng.integers(2)]
        texts.append(" ".join([*rng.choice(filler, 3), template.format(word),
                               *rng.choice(filler, 3)]))
    return texts


@pytest.mark.slow
def test_word_vectors_place_words_used_alike_together_and_repeat_under_a_seed():
    texts = _synthetic_reviews()
    vectors = text_features.word_vectors(texts, dim=16, workers=1, epochs=10, verbose=False)
    assert vectors.vector_size == 16 and "great" in vectors and "zyzzyva" not in vectors
    assert vectors.similarity("good", "great") > vectors.similarity("good", "awful")
    assert vectors.similarity("bad", "awful") > vectors.similarity("bad", "great")
    again = text_features.word_vectors(texts, dim=16, workers=1, epochs=10, verbose=False)
    np.testing.assert_array_equal(again["great"], vectors["great"])
    with pytest.raises(ValueError, match="texts is empty"):
        text_features.word_vectors([])
    with pytest.raises(ValueError, match="no word occurs 3 times"):
        text_features.word_vectors(["one two three"], verbose=False)


def test_embedding_matrix_fills_known_words_and_keeps_the_rest():
    vectors = {"great": np.ones(4), "film": np.full(4, 2.0)}
    vocabulary = ["", "[UNK]", "great", "film", "odd"]
    initial = np.zeros((5, 4), dtype="float32")
    matrix, found = text_features.embedding_matrix(vocabulary, vectors, initial)
    assert found == 2 and not initial.any()  # the starting matrix is not modified
    np.testing.assert_array_equal(matrix[2:4], [[1] * 4, [2] * 4])
    assert not matrix[[0, 1, 4]].any()
    with pytest.raises(ValueError, match="word vectors have 4 numbers but the embedding has 3"):
        text_features.embedding_matrix(["great"], vectors, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="2 rows for a vocabulary of 3"):
        text_features.embedding_matrix(["a", "b", "c"], vectors, np.zeros((2, 4)))


@pytest.mark.parametrize("builder, layer", [
    (text_models.rnn_classifier, lambda m: m.get_layer("word_embedding")),
    (text_models.transformer_classifier, lambda m: m.get_layer("embedding").tokens),
])
@pytest.mark.slow
def test_text_models_start_from_word_vectors_learned_on_unlabelled_text(builder, layer):
    unlabelled = _synthetic_reviews()
    model = builder(TINY, TINY_LABELS, unlabelled, max_tokens=50, sequence_length=8)
    vectorize = model.get_layer("token_ids")
    great = vectorize.get_vocabulary().index("great")
    expected = text_features.word_vectors([*TINY, *unlabelled], dim=64, verbose=False)["great"]
    # Two word2vec threads interleave differently from run to run: close, not identical.
    row = np.asarray(layer(model).embeddings)[great]
    assert np.corrcoef(row, expected)[0, 1] > 0.9
    random_start = builder(TINY, TINY_LABELS, max_tokens=50, sequence_length=8)
    assert np.abs(np.asarray(layer(random_start).embeddings)[great]).max() <= 0.05
    with pytest.raises(ValueError, match="word vectors have 16 numbers but the embedding has 64"):
        builder(TINY, word_vectors={"great": np.ones(16)}, max_tokens=50, sequence_length=8)


@pytest.mark.slow
def test_word_vectors_from_real_reviews_know_which_words_are_used_alike(imdb):
    require_real("imdb_reviews")  # the offline sample has no unlabelled reviews
    texts = [*imdb.train_texts[:4000], *imdb.unlabelled_texts[:2500]]
    assert len(texts) == 6500  # even quick mode keeps 5,000 training and 2,500 unlabelled
    vectors = text_features.word_vectors(texts, verbose=False)
    assert "excellent" in vectors and "br" not in vectors  # standardised like the models
    neighbours = {word for word, _ in vectors.most_similar("excellent", topn=10)}
    assert neighbours & {"superb", "outstanding", "great", "wonderful", "brilliant", "terrific",
                         "fantastic", "exceptional", "fine", "good"}, neighbours
    assert vectors.similarity("excellent", "superb") > vectors.similarity("excellent", "minutes")
