"""Chapter 10's code exercises (see :mod:`swtwo_tf.exercises`): late fusion from two models'
probabilities, the gated multimodal unit by hand, the CLIP loss in NumPy, and recall@1."""

from __future__ import annotations

import numpy as np

from swtwo_tf.exercises import Exercise, ExerciseError, close, register

# ---------------------------------------------------------------- 10.1 late fusion


def late_average(p_image, p_audio):
    """Late fusion with averaged logits, from the two models' probabilities: a model's log
    probabilities are its logits minus one number per row, which the softmax ignores, so
    ``softmax((log p_image + log p_audio) / 2)``."""
    z = (np.log(p_image) + np.log(p_audio)) / 2
    z = z - z.max(axis=1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


def _average_probabilities(p_image, p_audio):
    """A mistake: the probabilities averaged, not the logits."""
    return (np.asarray(p_image) + np.asarray(p_audio)) / 2


def _check_late_average(answer) -> None:
    import keras

    rng = np.random.default_rng(1)
    z_image, z_audio = rng.normal(0, 3, (6, 10)), rng.normal(0, 3, (6, 10))
    p_image = np.asarray(keras.ops.softmax(z_image))
    p_audio = np.asarray(keras.ops.softmax(z_audio))
    expected = np.asarray(keras.ops.softmax((z_image + z_audio) / 2))
    got = np.asarray(answer(p_image, p_audio))
    if got.shape == expected.shape and np.allclose(got, _average_probabilities(p_image, p_audio)):
        raise ExerciseError("you averaged the probabilities; late fusion here averages the "
                            "logits: take logs first, then a softmax of their mean")
    close(got, expected, "the fused probabilities (softmax of the mean logits)", atol=1e-5)


# ---------------------------------------------------------------- 10.2 the gated unit


def gated_mix(head, f_image, f_audio):
    """The mixed features of ``models.fusion.gated_fusion``'s head:
    ``g * tanh(f_image W_i + b_i) + (1 - g) * tanh(f_audio W_a + b_a)`` with
    ``g = sigmoid([f_image, f_audio] W_g + b_g)``, from the layers' weights."""
    gate, h_image, h_audio = _gate_and_hidden(head, f_image, f_audio)
    return gate * h_image + (1 - gate) * h_audio


def _gate_and_hidden(head, f_image, f_audio):
    def dense(name, x):
        kernel, bias = head.get_layer(name).get_weights()
        return x @ kernel + bias

    h_image = np.tanh(dense("image_hidden", f_image))
    h_audio = np.tanh(dense("audio_hidden", f_audio))
    gate = 1 / (1 + np.exp(-dense("gate", np.concatenate([f_image, f_audio], axis=1))))
    return gate, h_image, h_audio


def _swapped_gate(head, f_image, f_audio):
    """A mistake: the gate weighs the audio side instead of the image side."""
    gate, h_image, h_audio = _gate_and_hidden(head, f_image, f_audio)
    return (1 - gate) * h_image + gate * h_audio


def _check_gated_mix(answer) -> None:
    import keras

    from swtwo_tf.models import fusion

    keras.utils.set_random_seed(2)
    image = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    audio = keras.Sequential([keras.Input((20,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    head = fusion.gated_fusion(image, audio, units=5)
    rng = np.random.default_rng(2)
    f_image, f_audio = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    mixed = keras.Model(head.inputs, head.get_layer("mixed").output)
    expected = mixed.predict([f_image, f_audio], verbose=0)
    close(answer(head, f_image, f_audio), expected,
          "g * h_image + (1 - g) * h_audio (the gate g weighs the image side)", atol=1e-5)


# ---------------------------------------------------------------- 10.3 the CLIP loss


def clip_loss(similarity):
    """The CLIP loss in NumPy: the cross-entropy of each row of ``S`` against its diagonal
    entry (image ``i`` should pick recording ``i``) and of each column (recording ``j`` should
    pick image ``j``), averaged over rows, over columns, and the two halves."""
    def cross_entropy(s):
        s = s - s.max(axis=1, keepdims=True)
        return np.mean(np.log(np.exp(s).sum(axis=1)) - np.diag(s))

    similarity = np.asarray(similarity, dtype=np.float64)
    return (cross_entropy(similarity) + cross_entropy(similarity.T)) / 2


def _rows_only(similarity):
    """A mistake: only images choosing recordings, not recordings choosing images."""
    s = np.asarray(similarity, dtype=np.float64)
    s = s - s.max(axis=1, keepdims=True)
    return np.mean(np.log(np.exp(s).sum(axis=1)) - np.diag(s))


def _check_clip_loss(answer) -> None:
    from swtwo_tf.models import fusion

    rng = np.random.default_rng(3)
    for n in (2, 5, 16):
        s = rng.normal(0, 4, (n, n)).astype(np.float32)
        close(np.float64(answer(s)), float(fusion.clip_loss(s)), f"the loss of a {n}x{n} "
              "similarity matrix (compare rows and columns: both directions count)", atol=1e-4)


# ---------------------------------------------------------------- 10.4 recall@1


def recall_at_1(queries, query_labels, gallery, gallery_labels):
    """The fraction of queries whose most similar gallery row (the largest dot product of
    unit vectors: cosine similarity) has the query's label."""
    nearest = np.argmax(np.asarray(queries) @ np.asarray(gallery).T, axis=1)
    return float(np.mean(np.asarray(gallery_labels)[nearest] == np.asarray(query_labels)))


def _same_index(queries, query_labels, gallery, gallery_labels):
    """A mistake: a hit only when the nearest row is the query's own pair (same index)."""
    nearest = np.argmax(np.asarray(queries) @ np.asarray(gallery).T, axis=1)
    return float(np.mean(nearest == np.arange(len(queries))))


def _check_recall_at_1(answer) -> None:
    from swtwo_tf import evaluation

    rng = np.random.default_rng(4)
    labels = rng.integers(0, 10, 200)
    centres = rng.normal(size=(10, 6))

    def embed(noise):
        x = centres[labels] + rng.normal(0, noise, (200, 6))
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    for noise in (0.3, 1.0):
        queries, gallery = embed(noise), embed(noise)
        expected = evaluation.recall_at_k(queries, labels, gallery, labels, k=1)
        got = answer(queries, labels, gallery, labels)
        if not np.isclose(got, expected, atol=1e-9):
            raise ExerciseError(f"with noise {noise}: you give {got:.3f}, expected "
                                f"{expected:.3f}: a hit is a nearest image of the query's "
                                "digit, whichever image it is")


register(
    Exercise("10.1", "write late_average(p_image, p_audio) -> the late-fusion probabilities "
             "(softmax of the mean logits)", _check_late_average, late_average,
             _average_probabilities),
    Exercise("10.2", "write gated_mix(head, f_image, f_audio) -> the gated unit's mixed "
             "features, from the head's weights", _check_gated_mix, gated_mix, _swapped_gate),
    Exercise("10.3", "write clip_loss(similarity) in NumPy -> the CLIP loss of a batch",
             _check_clip_loss, clip_loss, _rows_only),
    Exercise("10.4", "write recall_at_1(queries, query_labels, gallery, gallery_labels) -> "
             "the fraction of spoken digits whose nearest image shows that digit",
             _check_recall_at_1, recall_at_1, _same_index),
)
