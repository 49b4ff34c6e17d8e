"""Text classifiers for chapter 05: each takes raw review strings and returns 2 class probabilities.

Every builder takes the training texts, second their labels (only :func:`nb_ngrams` reads
them) and third unlabelled texts (only :func:`rnn_classifier` and
:func:`transformer_classifier` read them: word vectors learned from them and the training
texts start the embedding, see :mod:`swtwo_tf.features.text`). It adapts its own
``TextVectorization`` on the training texts and puts it inside the model, so a saved
``.keras`` file classifies text end to end.

- :func:`bag_of_ngrams`: TF-IDF of unigrams and bigrams into a small dense network, the strong
  classic baseline (word order only within a bigram).
- :func:`nb_ngrams`: logistic regression on which of 400,000 uni- and bigrams occur, each
  scaled by its naive-Bayes log-count ratio (the NBSVM family); the chapter's best model.
- :func:`rnn_classifier`: embedding with masking and a bidirectional GRU or LSTM that reads
  the review in order.
- :func:`transformer_classifier`: token and position embeddings and Transformer encoder
  blocks (self-attention), built from Keras layers.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from swtwo_tf.features.text import vectorizer
from swtwo_tf.layers.text import (
    MaskedGlobalMaxPooling1D,
    NaiveBayesLogits,
    TokenAndPositionEmbedding,
    TransformerBlock,
)
from swtwo_tf.models.recipes import Recipe, register

CELLS = {"gru": layers.GRU, "lstm": layers.LSTM}


def _text_input() -> keras.KerasTensor:
    return keras.Input(shape=(), dtype="string", name="text")


def _head(x, dropout: float, hidden: int | None = None):
    if hidden:
        x = layers.Dense(hidden, activation="relu")(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return layers.Dense(2, activation="softmax", name="probabilities")(x)


def bag_of_ngrams(
    train_texts, train_labels=None, unlabelled_texts=None, *,
    max_tokens: int = 50_000,
    ngrams: int = 2,
    hidden: int | None = None,
    dropout: float = 0.5,
    name: str = "bag_of_ngrams",
) -> keras.Model:
    """TF-IDF of the ``max_tokens`` most frequent uni- and bigrams -> dropout -> softmax.

    Without ``hidden`` units this is logistic regression on TF-IDF, whose weights say which
    n-grams push a review towards each class (:func:`top_ngrams`). It ignores word order
    beyond ``ngrams`` words and is still hard to beat on reviews: "not good" and "must see"
    are bigrams it can weigh.
    """
    vectorize = vectorizer(train_texts, max_tokens=max_tokens, output_mode="tf_idf",
                           ngrams=ngrams, name="tfidf")
    inputs = _text_input()
    x = vectorize(inputs)
    if dropout:
        x = layers.Dropout(dropout)(x)
    return keras.Model(inputs, _head(x, dropout if hidden else 0.0, hidden), name=name)


def top_ngrams(model: keras.Model, k: int = 15) -> dict[str, list[tuple[str, float]]]:
    """The ``k`` n-grams that push a :func:`bag_of_ngrams` or :func:`nb_ngrams` model most
    towards each class.

    Reads the logistic-regression weights: positive minus negative logit per n-gram.
    Returns ``{"positive": [(ngram, weight), ...], "negative": [...]}`` (chapter 05).
    """
    import numpy as np

    names = {layer.name for layer in model.layers}
    if {"ngrams", "naive_bayes"} <= names:
        vocabulary = model.get_layer("ngrams").get_vocabulary()
        weights = np.asarray(model.get_layer("naive_bayes").effective_kernel())
    elif {"tfidf", "probabilities"} <= names:
        vocabulary = model.get_layer("tfidf").get_vocabulary()
        weights = model.get_layer("probabilities").get_weights()[0]
    else:
        raise ValueError(f"model {model.name!r} is not a bag_of_ngrams or nb_ngrams model")
    if weights.shape[0] != len(vocabulary):
        raise ValueError("top_ngrams() reads a bag_of_ngrams model built without hidden units")
    score = weights[:, 1] - weights[:, 0]
    order = np.argsort(score)
    return {"positive": [(vocabulary[i], float(score[i])) for i in order[::-1][:k]],
            "negative": [(vocabulary[i], float(score[i])) for i in order[:k]]}


def naive_bayes_ratios(vectorize, texts, labels, *, smoothing: float = 1.0,
                       batch_size: int = 1_000):
    """Log-count ratio of every n-gram: ``log P(ngram | positive) - log P(ngram | negative)``.

    ``vectorize`` is a multi-hot ``TextVectorization`` (sparse or dense output); each review
    counts once per n-gram it contains, and ``smoothing`` is added to every count so an n-gram
    seen in one class only gets a large but finite ratio. Positive ratios mark n-grams of
    positive reviews ("7 10", "well worth"), negative ones of negative reviews ("waste", "avoid").
    Used by :func:`nb_ngrams` (chapter 05).
    """
    import numpy as np
    import tensorflow as tf

    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(texts):
        raise ValueError(f"train_labels must hold one label per training text: got shape "
                         f"{labels.shape} for {len(texts)} texts")
    if set(np.unique(labels).tolist()) != {0, 1}:
        raise ValueError(f"train_labels must be 0 (negative) and 1 (positive), both present; "
                         f"got the values {sorted(np.unique(labels).tolist())}")
    size = vectorize.vocabulary_size()
    counts = np.full((2, size), smoothing, dtype=np.float64)
    for start in range(0, len(texts), batch_size):
        x = vectorize(tf.constant(texts[start:start + batch_size]))
        if isinstance(x, tf.SparseTensor):
            rows, cols = x.indices.numpy().T
        else:
            rows, cols = np.nonzero(np.asarray(x))
        label_of_entry = labels[start:start + batch_size][rows]
        for label in (0, 1):
            counts[label] += np.bincount(cols[label_of_entry == label], minlength=size)
    log_p = np.log(counts / counts.sum(axis=1, keepdims=True))
    return (log_p[1] - log_p[0]).astype("float32")


def nb_ngrams(
    train_texts, train_labels=None, unlabelled_texts=None, *,
    max_tokens: int = 400_000, ngrams: int = 2, prior: float = 0.4, scale: float = 0.1,
    name: str = "nb_ngrams",
) -> keras.Model:
    """Which of ``max_tokens`` uni- and bigrams occur -> naive-Bayes-weighted logits -> softmax.

    Unlike :func:`bag_of_ngrams` it keeps a far larger vocabulary (a sparse multi-hot vector:
    only the n-grams a review contains cost anything) and starts from what counting alone says
    each n-gram is worth (:class:`~swtwo_tf.layers.text.NaiveBayesLogits`), so a few epochs
    of training suffice. ``train_labels`` (0/1, one per text) are required: the counts need
    them.
    """
    if train_labels is None:
        raise ValueError("nb_ngrams needs train_labels (0/1, one per training text): its "
                         "naive-Bayes weights count each n-gram in positive and negative reviews")
    vectorize = vectorizer(train_texts, max_tokens=max_tokens, output_mode="multi_hot",
                           ngrams=ngrams, sparse=True, name="ngrams")
    ratios = naive_bayes_ratios(vectorize, train_texts, train_labels)
    inputs = _text_input()
    weigh = NaiveBayesLogits(vectorize.vocabulary_size(), prior, scale, name="naive_bayes")
    logits = weigh(vectorize(inputs))
    weigh.ratios.assign(ratios)
    outputs = layers.Activation("softmax", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name=name)


def _start_from_word_vectors(embedding, vectorize, train_texts, unlabelled_texts, word_vectors):
    """Overwrite ``embedding``'s rows with pretrained vectors of the vocabulary's words.

    ``word_vectors`` when given; else word2vec trained on the training and ``unlabelled_texts``;
    with neither the random start stays.
    """
    from swtwo_tf.features import text as text_features

    if word_vectors is None and unlabelled_texts is None:
        return
    if word_vectors is None:
        word_vectors = text_features.word_vectors(
            [*train_texts, *unlabelled_texts], dim=embedding.output_dim)
    matrix, _ = text_features.embedding_matrix(
        vectorize.get_vocabulary(), word_vectors, ops.convert_to_numpy(embedding.embeddings))
    embedding.embeddings.assign(matrix)


def _token_ids(train_texts, max_tokens: int, sequence_length: int):
    """``(inputs, vectorize, ids)``: the string input, a ``token_ids`` vectoriser adapted on
    ``train_texts`` and the ids it gives the input, where the RNN and the Transformer start."""
    vectorize = vectorizer(train_texts, max_tokens=max_tokens, sequence_length=sequence_length,
                           name="token_ids")
    inputs = _text_input()
    return inputs, vectorize, vectorize(inputs)


def rnn_classifier(
    train_texts, train_labels=None, unlabelled_texts=None, *,
    max_tokens: int = 20_000,
    sequence_length: int = 400,
    embedding_dim: int = 64,
    units: int = 32,
    cell: str = "gru",
    bidirectional: bool = True,
    dropout: float = 0.4,
    word_vectors=None,
    name: str = "rnn_classifier",
) -> keras.Model:
    """Token ids -> Embedding (``mask_zero``: padding is skipped) -> (Bi)GRU/LSTM -> max -> softmax.

    The recurrent layer reads the first ``sequence_length`` tokens in order, keeping a state
    of ``units`` numbers per direction (the bidirectional version also reads backwards). Its
    output at every token is max-pooled over the review, so a strong phrase anywhere counts,
    not only what the state remembers at the end. Dropout on the embeddings and before the
    output fights the overfitting that a large embedding trained on a few thousand reviews
    invites.

    The embedding starts from pretrained word vectors when you pass ``word_vectors`` (from
    :func:`swtwo_tf.features.text.word_vectors`, ``embedding_dim`` numbers each) or
    ``unlabelled_texts`` (word2vec is then trained on them and the training texts);
    otherwise from random numbers.
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
    inputs, vectorize, ids = _token_ids(train_texts, max_tokens, sequence_length)
    embed = layers.Embedding(max_tokens, embedding_dim, mask_zero=True, name="word_embedding")
    x = embed(ids)
    if dropout:
        x = layers.Dropout(dropout)(x)
    recurrent = CELLS[cell](units, return_sequences=True)
    x = layers.Bidirectional(recurrent)(x) if bidirectional else recurrent(x)
    x = MaskedGlobalMaxPooling1D()(x)
    model = keras.Model(inputs, _head(x, dropout), name=name)
    _start_from_word_vectors(embed, vectorize, train_texts, unlabelled_texts, word_vectors)
    return model


def _padding_mask(ids):
    """True at real tokens. The first position always counts, so a text with no known token
    (say "!!!") still has something to attend to and average, instead of dividing by zero."""
    real = ops.not_equal(ids, 0)
    return ops.concatenate([ops.ones_like(real[:, :1]), real[:, 1:]], axis=1)


def transformer_classifier(
    train_texts, train_labels=None, unlabelled_texts=None, *,
    max_tokens: int = 20_000, sequence_length: int = 400,
    dim: int = 64, heads: int = 2, feed_forward: int = 128, blocks: int = 1,
    dropout: float = 0.25,
    word_vectors=None,
    name: str = "transformer_classifier",
) -> keras.Model:
    """Token + position embeddings -> Transformer encoder blocks -> masked mean -> softmax.

    Every token looks at every other token of the review at once (self-attention) instead of
    reading them one by one like the RNN. ``word_vectors`` or ``unlabelled_texts`` start the
    token embedding from pretrained word vectors, as in :func:`rnn_classifier`.
    """
    if dim % heads:
        raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
    inputs, vectorize, ids = _token_ids(train_texts, max_tokens, sequence_length)
    padding = _padding_mask(ids)
    embed = TokenAndPositionEmbedding(max_tokens, sequence_length, dim, name="embedding")
    x = embed(ids)
    for i in range(blocks):
        x = TransformerBlock(dim, heads, feed_forward, dropout, name=f"encoder_{i}")(x, padding)
    x = layers.GlobalAveragePooling1D()(x, mask=padding)
    model = keras.Model(inputs, _head(x, dropout), name=name)
    _start_from_word_vectors(embed.tokens, vectorize, train_texts, unlabelled_texts, word_vectors)
    return model


def attention_map(model: keras.Model, text: str, block: int = 0):
    """Tokens of ``text`` and the attention weights of encoder ``block``, averaged over heads.

    Returns ``(tokens, weights)`` with ``weights[i, j]`` = how much token i attends to token j,
    cut to the review's real tokens (chapter 05's look inside the Transformer).
    """
    import numpy as np

    try:
        vectorize = model.get_layer("token_ids")
        embed = model.get_layer("embedding")
        encoder = model.get_layer(f"encoder_{block}")
    except ValueError:
        raise ValueError(f"model {model.name!r} is not a transformer_classifier with "
                         f"encoder block {block}") from None
    ids = vectorize(ops.convert_to_tensor([text]))
    padding = _padding_mask(ids)
    x = embed(ids)
    for i in range(block):
        x = model.get_layer(f"encoder_{i}")(x, padding, training=False)
    scores = np.asarray(encoder.attention_scores(x, padding))[0].mean(axis=0)
    n = max(1, int(np.asarray(ops.not_equal(ids, 0)).sum()))
    vocabulary = vectorize.get_vocabulary()
    tokens = [vocabulary[int(t)] for t in np.asarray(ids)[0, :n]]
    return tokens, scores[:n, :n]


def reviews(data) -> tuple:
    """What every text builder takes from ``datasets.pipelines("imdb_reviews")``: the
    training texts, their labels and the unlabelled texts (``Recipe.from_data``)."""
    return data.train_texts, data.train_labels, data.unlabelled_texts


#: (dataset, model) -> the recipe behind docs/results.md (``benchmarks/text.py``).
#: ``quick_steps`` keeps quick mode short for the slow recurrent and attention steps; 80 are
#: the fewest that let the word-vector-started RNN and Transformer learn. In quick mode those
#: two read the first ``QUICK_TOKENS`` tokens of a review, about half the cost of a step.
QUICK_TOKENS = 200
RECIPES: dict[tuple[str, str], Recipe] = {
    ("imdb_reviews", "bag_of_ngrams"): Recipe(bag_of_ngrams, batch_size=128, epochs=8,
                                              early_stopping=2, quick_steps=80,
                                              from_data=reviews),
    ("imdb_reviews", "rnn_classifier"): Recipe(rnn_classifier, batch_size=128, epochs=5,
                                               early_stopping=2, quick_steps=80,
                                               quick_kwargs={"sequence_length": QUICK_TOKENS},
                                               from_data=reviews),
    ("imdb_reviews", "transformer_classifier"): Recipe(
        transformer_classifier, batch_size=64, epochs=4, learning_rate=5e-4, early_stopping=2,
        quick_steps=80, quick_kwargs={"sequence_length": QUICK_TOKENS}, from_data=reviews),
    ("imdb_reviews", "nb_ngrams"): Recipe(nb_ngrams, batch_size=128, epochs=10,
                                          learning_rate=3e-3, early_stopping=2, quick_steps=80,
                                          from_data=reviews),
}
register(RECIPES)
