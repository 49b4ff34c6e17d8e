"""Chapter 05's code exercises (see :mod:`swtwo_tf.exercises`).

- 05.1 TF-IDF of a count matrix, as Keras's ``TextVectorization(output_mode="tf_idf")``.
- 05.2 The naive-Bayes log-count ratio of every n-gram (``nb_ngrams``'s starting weights).
- 05.3 Scaled dot-product attention with a padding mask.
- 05.4 The mean over real tokens (the Transformer's masked average pooling).
- 05.5 Token plus position embeddings (the Transformer's first layer).
"""

from __future__ import annotations

import numpy as np

from swtwo_tf.exercises import Exercise, ExerciseError, close, register


def _array(value, what: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype="float64")
    except (TypeError, ValueError) as err:
        raise ExerciseError(f"{what} should be an array of numbers, got "
                            f"{type(value).__name__}: {err}") from None


def _mistakes(answer: np.ndarray, mistakes: dict[str, np.ndarray]) -> None:
    """Raise the hint of the first known mistake ``answer`` matches."""
    for hint, wrong in mistakes.items():
        if answer.shape == wrong.shape and np.allclose(answer, wrong, atol=1e-5, rtol=1e-4):
            raise ExerciseError(hint)


# 05.1 -------------------------------------------------------------------------------------

#: Token counts of 4 documents (rows) over a vocabulary of 5 tokens (columns).
COUNTS = np.array([[1, 2, 0, 0, 1],
                   [0, 1, 1, 0, 0],
                   [3, 0, 0, 1, 0],
                   [1, 1, 0, 0, 2]], dtype="float64")


def tfidf(counts):
    """TF-IDF as Keras computes it: count x log(1 + N / (1 + df))."""
    counts = np.asarray(counts, dtype="float64")
    n_documents = counts.shape[0]
    df = (counts > 0).sum(axis=0)  # documents that contain each token
    return counts * np.log(1 + n_documents / (1 + df))


def tfidf_textbook_idf(counts):
    """Mistake: the textbook idf log(N / df), not the smoothed one Keras uses."""
    counts = np.asarray(counts, dtype="float64")
    df = (counts > 0).sum(axis=0)
    return counts * np.log(counts.shape[0] / df)


def check_tfidf(answer):
    got = _array(answer(COUNTS.copy()), "my_tfidf(counts)")
    n = COUNTS.shape[0]
    df = (COUNTS > 0).sum(axis=0)
    _mistakes(got, {
        "your idf is the textbook log(N / df); Keras smooths it: log(1 + N / (1 + df)).":
            tfidf_textbook_idf(COUNTS),
        "df must count the documents that contain a token, not how often it occurs in all: "
        "use (counts > 0).sum(axis=0).": COUNTS * np.log(1 + n / (1 + COUNTS.sum(axis=0))),
        "multiply the idf by each count (tf), not by 0/1 presence.":
            (COUNTS > 0) * np.log(1 + n / (1 + df)),
        "the sum runs over documents (axis 0, the rows): df is one number per token.":
            COUNTS * np.log(1 + COUNTS.shape[1] / (1 + (COUNTS > 0).sum(axis=1, keepdims=True))),
    })
    close(got, tfidf(COUNTS), "my_tfidf(counts)")


# 05.2 -------------------------------------------------------------------------------------

#: Which of 6 n-grams occur (columns) in 5 reviews (rows), and the reviews' labels.
PRESENT = np.array([[1, 1, 0, 0, 1, 0],
                    [1, 0, 0, 1, 1, 1],
                    [0, 0, 1, 1, 1, 0],
                    [0, 1, 1, 0, 0, 0],
                    [0, 0, 1, 1, 0, 1]], dtype="float64")
LABELS = np.array([1, 1, 0, 0, 0])


def nb_ratios(x, y, alpha=1.0):
    """Log-count ratio r = log((p / |p|_1) / (q / |q|_1)), p and q smoothed by alpha."""
    x, y = np.asarray(x, dtype="float64"), np.asarray(y)
    p = alpha + x[y == 1].sum(axis=0)
    q = alpha + x[y == 0].sum(axis=0)
    return np.log((p / p.sum()) / (q / q.sum()))


def nb_ratios_unnormalised(x, y, alpha=1.0):
    """Mistake: log(p / q), the counts not divided by their class's total."""
    x, y = np.asarray(x, dtype="float64"), np.asarray(y)
    return np.log((alpha + x[y == 1].sum(axis=0)) / (alpha + x[y == 0].sum(axis=0)))


def check_nb_ratios(answer):
    for alpha in (1.0, 0.5):
        got = _array(answer(PRESENT.copy(), LABELS.copy(), alpha), "my_nb_ratios(x, y, alpha)")
        _mistakes(got, {
            "normalise each class's counts by their sum before the ratio: "
            "log((p / p.sum()) / (q / q.sum())); there are more negative reviews than "
            "positive ones here.": nb_ratios_unnormalised(PRESENT, LABELS, alpha),
            "the sign is flipped: r is positive for n-grams of positive reviews (label 1), "
            "log(p-hat / q-hat).": -nb_ratios(PRESENT, LABELS, alpha),
        })
        if alpha != 1.0:
            _mistakes(got, {f"use the smoothing argument alpha (called with alpha={alpha}); "
                            "you added 1.": nb_ratios(PRESENT, LABELS, 1.0)})
        close(got, nb_ratios(PRESENT, LABELS, alpha), f"my_nb_ratios(x, y, alpha={alpha})")


# 05.3 -------------------------------------------------------------------------------------

def _attention_inputs():
    rng = np.random.default_rng(5)
    q = rng.normal(size=(3, 4))
    k = rng.normal(size=(5, 4))
    v = rng.normal(size=(5, 2))
    mask = np.array([True, True, True, False, False])  # the last two keys are padding
    return q, k, v, mask


def _softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def attention(q, k, v, mask):
    """softmax(q k^T / sqrt(d_k)) v, with the padding keys (mask False) given no weight."""
    scores = q @ k.T / np.sqrt(q.shape[-1])
    scores = np.where(mask[None, :], scores, -np.inf)
    return _softmax(scores, axis=-1) @ v


def attention_unscaled(q, k, v, mask):
    """Mistake: the scores not divided by sqrt(d_k)."""
    scores = np.where(mask[None, :], q @ k.T, -np.inf)
    return _softmax(scores, axis=-1) @ v


def check_attention(answer):
    q, k, v, mask = _attention_inputs()
    got = _array(answer(q.copy(), k.copy(), v.copy(), mask.copy()), "my_attention(q, k, v, mask)")
    scores = q @ k.T / np.sqrt(q.shape[-1])
    _mistakes(got, {
        "divide the scores q k^T by sqrt(d_k) (d_k = q.shape[-1]) before the softmax.":
            attention_unscaled(q, k, v, mask),
        "the padding keys (mask False) still get weight: set their scores to -inf (or "
        "-1e9) before the softmax.": _softmax(scores) @ v,
        "the softmax runs over the keys (the last axis of the scores): each query's weights "
        "must sum to 1.": _softmax(np.where(mask[None, :], scores, -1e9), axis=0) @ v,
    })
    close(got, attention(q, k, v, mask), "my_attention(q, k, v, mask)")


# 05.4 -------------------------------------------------------------------------------------

def _pooling_inputs():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 4, 3))
    mask = np.array([[True, True, True, False], [True, False, False, False]])
    return x, mask


def masked_mean(x, mask):
    """The mean of each feature over the real steps (mask True) of each sequence."""
    weight = np.asarray(mask, dtype="float64")[..., None]
    return (x * weight).sum(axis=1) / weight.sum(axis=1)


def masked_mean_with_padding(x, mask):
    """Mistake: the padding steps are zeroed but still counted in the mean."""
    return (x * np.asarray(mask, dtype="float64")[..., None]).mean(axis=1)


def check_masked_mean(answer):
    x, mask = _pooling_inputs()
    got = _array(answer(x.copy(), mask.copy()), "my_masked_mean(x, mask)")
    _mistakes(got, {
        "your mean also counts the padding steps: divide the sum over real steps by the "
        "number of real steps of each sequence (mask.sum(axis=1)), not by the length.":
            masked_mean_with_padding(x, mask),
        "the padding steps (mask False) must not enter the mean.": x.mean(axis=1),
        "that is the sum over real steps: divide by how many there are.":
            (x * mask[..., None]).sum(axis=1),
    })
    close(got, masked_mean(x, mask), "my_masked_mean(x, mask)")


# 05.5 -------------------------------------------------------------------------------------

def _embedding_inputs():
    rng = np.random.default_rng(11)
    tokens = rng.normal(size=(10, 3))     # 10 tokens in the vocabulary, 3 numbers each
    positions = rng.normal(size=(6, 3))   # sequences of up to 6 tokens
    ids = np.array([[4, 2, 7, 0], [9, 9, 1, 3]])
    return ids, tokens, positions


def token_and_position(ids, token_table, position_table):
    """Each token's vector plus the vector of its position 0, 1, 2, ... in the sequence."""
    length = ids.shape[-1]
    return token_table[ids] + position_table[np.arange(length)]


def token_and_position_by_id(ids, token_table, position_table):
    """Mistake: looks the position table up with the token ids."""
    return token_table[ids] + position_table[ids % len(position_table)]


def check_token_and_position(answer):
    ids, tokens, positions = _embedding_inputs()
    got = _array(answer(ids.copy(), tokens.copy(), positions.copy()),
                 "my_token_and_position(ids, token_table, position_table)")
    _mistakes(got, {
        "add the position vectors too: the attention itself does not know the order.":
            tokens[ids],
        "positions are 0, 1, 2, ... along the sequence (np.arange(length)), not the "
        "token ids.": token_and_position_by_id(ids, tokens, positions),
    })
    close(got, token_and_position(ids, tokens, positions),
          "my_token_and_position(ids, token_table, position_table)")


register(
    Exercise("05.1", "write my_tfidf(counts): the TF-IDF of a (documents, tokens) count matrix "
             "as Keras's TextVectorization computes it, count * log(1 + N / (1 + df)).",
             check_tfidf, tfidf, tfidf_textbook_idf),
    Exercise("05.2", "write my_nb_ratios(x, y, alpha): the naive-Bayes log-count ratio of each "
             "n-gram from 0/1 features x (reviews, n-grams) and labels y.",
             check_nb_ratios, nb_ratios, nb_ratios_unnormalised),
    Exercise("05.3", "write my_attention(q, k, v, mask): scaled dot-product attention "
             "softmax(q k^T / sqrt(d_k)) v, where keys with mask False (padding) get no weight.",
             check_attention, attention, attention_unscaled),
    Exercise("05.4", "write my_masked_mean(x, mask): the mean over the real steps of each "
             "sequence, x (batch, steps, features), mask (batch, steps) True at real tokens.",
             check_masked_mean, masked_mean, masked_mean_with_padding),
    Exercise("05.5", "write my_token_and_position(ids, token_table, position_table): each "
             "token's vector plus the vector of its position in the sequence.",
             check_token_and_position, token_and_position, token_and_position_by_id),
)
