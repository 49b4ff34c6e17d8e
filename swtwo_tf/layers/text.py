"""The text classifiers' own Keras layers (chapter 05, :mod:`swtwo_tf.models.text`).

- :class:`NaiveBayesLogits`: class logits from n-gram features weighted by their naive-Bayes
  log-count ratios (``nb_ngrams``).
- :class:`MaskedGlobalMaxPooling1D`: maximum over the real tokens of a sequence
  (``rnn_classifier``).
- :class:`TokenAndPositionEmbedding`, :class:`TransformerBlock`: a Transformer encoder
  (``transformer_classifier``).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from swtwo_tf.layers import _checks


def _register(cls):
    return keras.saving.register_keras_serializable(package="swtwo")(cls)


@_register
class NaiveBayesLogits(layers.Layer):
    """Two class logits from binary n-gram features, each weighted by its naive-Bayes ratio.

    ``logits = x @ (scale * ratios[:, None] * (prior * [-1/2, +1/2] + kernel)) + bias``.
    ``ratios`` (not trained) are set once from the training counts
    (``swtwo_tf.models.text.naive_bayes_ratios``); ``kernel`` and ``bias`` start at zero
    and are trained. At the start the model is naive Bayes; training then corrects the
    n-grams naive Bayes over- or under-trusts (Wang & Manning 2012, "Baselines and bigrams",
    whose NBSVM this follows with a logistic loss).

    Args:
        vocabulary_size: Integer, the number of n-gram features.
        prior: Float >= 0, how far the naive-Bayes ratios alone move the logits at the start.
        scale: Float above 0, the factor of every weight: a smaller one makes the kernel's
            updates smaller.

    Example:

    >>> layer = NaiveBayesLogits(4)
    >>> tuple(layer(np.eye(4, dtype="float32")).shape)
    (4, 2)

    Input shape:
        ``(batch, vocabulary_size)``, dense or a ``tf.SparseTensor`` (a multi-hot
        ``TextVectorization`` with ``sparse=True``).

    Output shape:
        ``(batch, 2)``.
    """

    def __init__(self, vocabulary_size: int, prior: float = 0.4, scale: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = _checks.integer("vocabulary_size", vocabulary_size)
        self.prior = _checks.number("prior", prior)
        if self.prior < 0:
            raise ValueError(f"prior must be at least 0, got {prior!r}")
        self.scale = _checks.positive("scale", scale)

    def build(self, input_shape):
        self.ratios = self.add_weight(shape=(self.vocabulary_size,), initializer="zeros",
                                      trainable=False, name="ratios")
        self.kernel = self.add_weight(shape=(self.vocabulary_size, 2), initializer="zeros",
                                      name="kernel")
        self.bias = self.add_weight(shape=(2,), initializer="zeros", name="bias")

    def effective_kernel(self):
        """The (vocabulary, 2) weights the features are multiplied by."""
        direction = ops.convert_to_tensor([[-0.5, 0.5]]) * self.prior
        return self.scale * ops.expand_dims(self.ratios, 1) * (direction + self.kernel)

    def call(self, x):
        return ops.matmul(x, self.effective_kernel()) + self.bias

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "prior": self.prior, "scale": self.scale}


@_register
class MaskedGlobalMaxPooling1D(layers.Layer):
    """Maximum over time of each feature, over real tokens only (the padding is masked out).

    Takes the Keras mask of its input (an ``Embedding`` with ``mask_zero=True`` makes one).

    Example:

    >>> x = np.array([[[1.0], [5.0], [9.0]]], "float32")
    >>> MaskedGlobalMaxPooling1D()(x, mask=np.array([[True, True, False]])).numpy().tolist()
    [[5.0]]

    Input shape:
        ``(batch, steps, features)``.

    Output shape:
        ``(batch, features)``.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x, mask=None):
        if mask is not None:
            x = ops.where(ops.expand_dims(mask, -1), x, ops.full_like(x, -1e9))
        return ops.max(x, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@_register
class TokenAndPositionEmbedding(layers.Layer):
    """Sum of a learned token embedding and a learned embedding of each position.

    Args:
        max_tokens: Integer, the vocabulary size (token ids are below it).
        sequence_length: Integer, the longest sequence (positions are below it).
        dim: Integer, numbers per embedding vector.

    Example:

    >>> layer = TokenAndPositionEmbedding(max_tokens=100, sequence_length=8, dim=4)
    >>> tuple(layer(np.array([[5, 7, 0]])).shape)
    (1, 3, 4)

    Input shape:
        ``(batch, length)`` integer token ids, ``length <= sequence_length``.

    Output shape:
        ``(batch, length, dim)``.
    """

    def __init__(self, max_tokens: int, sequence_length: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.max_tokens = _checks.integer("max_tokens", max_tokens)
        self.sequence_length = _checks.integer("sequence_length", sequence_length)
        self.dim = _checks.integer("dim", dim)
        self.tokens = layers.Embedding(self.max_tokens, self.dim)
        self.positions = layers.Embedding(self.sequence_length, self.dim)

    def build(self, ids_shape):
        # The embeddings exist before the first call, so a saved model's weights load into them.
        self.tokens.build(ids_shape)
        self.positions.build(ids_shape[-1:])

    def call(self, ids):
        positions = ops.arange(ops.shape(ids)[-1])
        return self.tokens(ids) + self.positions(positions)

    def compute_output_shape(self, ids_shape):
        return (*ids_shape, self.dim)

    def get_config(self):
        return {**super().get_config(), "max_tokens": self.max_tokens,
                "sequence_length": self.sequence_length, "dim": self.dim}


@_register
class TransformerBlock(layers.Layer):
    """One Transformer encoder block: self-attention and a feed-forward net, each wrapped in
    dropout, a residual connection and layer normalisation ("Attention is all you need").

    Called as ``block(x, padding)``, where ``padding`` is a ``(batch, length)`` boolean
    tensor, true at real tokens: no position attends to padding.

    Args:
        dim: Integer, numbers per token, a multiple of ``heads``.
        heads: Integer, attention heads (each of ``dim // heads`` numbers).
        feed_forward: Integer, hidden units of the feed-forward net.
        dropout: Float in [0, 1), the dropout rate after attention and the feed-forward net.

    Example:

    >>> block = TransformerBlock(dim=8, heads=2, feed_forward=16)
    >>> x = np.zeros((1, 3, 8), "float32")
    >>> tuple(block(x, np.array([[True, True, False]])).shape)
    (1, 3, 8)

    Input shape:
        ``x``: ``(batch, length, dim)``; ``padding``: ``(batch, length)``.

    Output shape:
        ``(batch, length, dim)``.
    """

    def __init__(self, dim: int, heads: int, feed_forward: int, dropout: float = 0.1,
                 **kwargs):
        super().__init__(**kwargs)
        self.dim = _checks.integer("dim", dim)
        self.heads = _checks.integer("heads", heads)
        if self.dim % self.heads:
            raise ValueError(f"dim must be a multiple of heads, got dim={dim!r}, "
                             f"heads={heads!r}")
        self.feed_forward = _checks.integer("feed_forward", feed_forward)
        self.dropout = _checks.rate("dropout", dropout)
        self.attention = layers.MultiHeadAttention(self.heads, key_dim=self.dim // self.heads)
        self.ffn = keras.Sequential([layers.Dense(self.feed_forward, activation="relu"),
                                     layers.Dense(self.dim)])
        self.norm1, self.norm2 = layers.LayerNormalization(), layers.LayerNormalization()
        self.drop1, self.drop2 = layers.Dropout(self.dropout), layers.Dropout(self.dropout)

    def build(self, x_shape, padding_shape=None):
        # All weights exist before the first call, so a saved model's weights load into them.
        self.attention.build(x_shape, x_shape)
        self.ffn.build(x_shape)
        self.norm1.build(x_shape)
        self.norm2.build(x_shape)

    def attention_scores(self, x, padding):
        """The attention weights, (batch, heads, query, key), for a look inside (chapter 05)."""
        mask = ops.expand_dims(padding, 1)
        _, scores = self.attention(x, x, attention_mask=mask, return_attention_scores=True)
        return scores

    def call(self, x, padding, training=None):
        mask = ops.expand_dims(padding, 1)  # (batch, 1, key): every query sees real keys only
        attended = self.attention(x, x, attention_mask=mask, training=training)
        x = self.norm1(x + self.drop1(attended, training=training))
        return self.norm2(x + self.drop2(self.ffn(x), training=training))

    def compute_output_shape(self, x_shape, padding_shape=None):
        return x_shape

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "heads": self.heads,
                "feed_forward": self.feed_forward, "dropout": self.dropout}
