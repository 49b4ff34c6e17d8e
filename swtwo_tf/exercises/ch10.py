"""Chapter 10's code exercises (see :mod:`swtwo_tf.exercises`): late fusion with weights from
two models' probabilities, the gated multimodal unit by hand, a CLIP loss that counts every
pair of the same digit as right, and recall@1. (The notebook's own checks write the equal-weight
average and the plain CLIP loss; the exercises ask for one step beyond each.)"""

from __future__ import annotations

import numpy as np

from swtwo_tf.exercises import Exercise, ExerciseError, close, register

# ---------------------------------------------------------------- 10.1 late fusion


def late_weighted(p_image, p_audio, w_image, w_audio):
    """Late fusion with weighted logits, from the two models' probabilities: a model's log
    probabilities are its logits minus one number per row, and a weight times that number is
    still one number per row, which the softmax ignores; so
    ``softmax(w_image log p_image + w_audio log p_audio)``."""
    z = w_image * np.log(p_image) + w_audio * np.log(p_audio)
    z = z - z.max(axis=1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


def _weighted_probabilities(p_image, p_audio, w_image, w_audio):
    """A mistake: the probabilities weighted and added, not the logits."""
    mixed = w_image * np.asarray(p_image) + w_audio * np.asarray(p_audio)
    return mixed / mixed.sum(axis=1, keepdims=True)


def _check_late_weighted(answer) -> None:
    import keras

    rng = np.random.default_rng(1)
    z_image, z_audio = rng.normal(0, 3, (6, 10)), rng.normal(0, 3, (6, 10))
    p_image = np.asarray(keras.ops.softmax(z_image))
    p_audio = np.asarray(keras.ops.softmax(z_audio))
    for w_image, w_audio in ((0.5, 0.5), (0.8, 0.3), (1.5, 0.0)):
        expected = np.asarray(keras.ops.softmax(w_image * z_image + w_audio * z_audio))
        got = np.asarray(answer(p_image, p_audio, w_image, w_audio))
        mistake = _weighted_probabilities(p_image, p_audio, w_image, w_audio)
        if got.shape == expected.shape and np.allclose(got, mistake):
            raise ExerciseError("you weighted the probabilities; late fusion weighs the "
                                "logits: take logs first, then a softmax of the weighted sum")
        close(got, expected, f"the fused probabilities with weights ({w_image}, {w_audio})",
              atol=1e-5)


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


# ---------------------------------------------------------------- 10.3 same digit, same answer


def clip_loss_same_digit(similarity, labels):
    """The CLIP loss with every pair of the same digit counted right: each row of ``S`` is
    compared (cross-entropy) with a target spread evenly over the columns whose digit is the
    row's, each column likewise over the rows, and the two means averaged. With all digits
    different it is the CLIP loss."""
    s = np.asarray(similarity, dtype=np.float64)
    labels = np.asarray(labels)
    same = (labels[:, None] == labels[None, :]).astype(np.float64)
    targets = same / same.sum(axis=1, keepdims=True)

    def cross_entropy(m):
        m = m - m.max(axis=1, keepdims=True)
        log_softmax = m - np.log(np.exp(m).sum(axis=1, keepdims=True))
        return np.mean(-(targets * log_softmax).sum(axis=1))

    return (cross_entropy(s) + cross_entropy(s.T)) / 2  # same is symmetric: one target


def _diagonal_only(similarity, labels):
    """A mistake: the plain CLIP loss, other pairs of the same digit still counted wrong."""
    from swtwo_tf.models import fusion

    return float(fusion.clip_loss(np.asarray(similarity, dtype=np.float32)))


def _check_clip_loss_same_digit(answer) -> None:
    import keras

    from swtwo_tf.models import fusion

    rng = np.random.default_rng(3)
    distinct = rng.normal(0, 4, (5, 5)).astype(np.float32)
    close(np.float64(answer(distinct, np.arange(5))), float(fusion.clip_loss(distinct)),
          "with five different digits, your loss should be the CLIP loss", atol=1e-4)
    for n in (6, 16):
        s = rng.normal(0, 4, (n, n)).astype(np.float32)
        labels = rng.integers(0, 3, n)
        same = (labels[:, None] == labels[None, :]).astype(np.float32)
        targets = same / same.sum(axis=1, keepdims=True)
        expected = np.mean([float(np.mean(keras.losses.categorical_crossentropy(
            targets, m, from_logits=True))) for m in (s, s.T)])
        close(np.float64(answer(s, labels)), expected, f"the loss of a {n}x{n} matrix with "
              "digits repeated (the target of a row spreads over all its digit's columns)",
              atol=1e-4)


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
    Exercise("10.1", "write late_weighted(p_image, p_audio, w_image, w_audio) -> the "
             "late-fusion probabilities with weighted logits", _check_late_weighted,
             late_weighted, _weighted_probabilities),
    Exercise("10.2", "write gated_mix(head, f_image, f_audio) -> the gated unit's mixed "
             "features, from the head's weights", _check_gated_mix, gated_mix, _swapped_gate),
    Exercise("10.3", "write clip_loss_same_digit(similarity, labels) -> the CLIP loss with "
             "every pair of the same digit counted right", _check_clip_loss_same_digit,
             clip_loss_same_digit, _diagonal_only),
    Exercise("10.4", "write recall_at_1(queries, query_labels, gallery, gallery_labels) -> "
             "the fraction of spoken digits whose nearest image shows that digit",
             _check_recall_at_1, recall_at_1, _same_index),
)
