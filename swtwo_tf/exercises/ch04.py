"""Chapter 04's code exercises (see :mod:`swtwo_tf.exercises`): a recurrent step, a GRU step,
masking of padded sequences, and accuracy per speaker.

Each check runs the learner's function on small fixed arrays and compares it with the Keras
layer (``SimpleRNN``, ``GRU``) given the same weights, so a passing answer computes exactly
what the chapter's model computes. Keras is imported inside the checks: importing the
exercises stays cheap.
"""

from __future__ import annotations

import numpy as np

from swtwo_tf.exercises import Exercise, ExerciseError, close, register

BATCH, STEPS, FEATURES, UNITS = 2, 5, 3, 4


def _arrays(seed: int, *shapes) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(scale=0.5, size=shape).astype("float32") for shape in shapes]


def _keras_layer(layer, x, weights, mask=None) -> np.ndarray:
    """``layer``'s output on ``x`` after ``set_weights(weights)``."""
    layer.build(x.shape)
    layer.set_weights(weights)
    return np.asarray(layer(x, mask=mask))


def _run(step, x, h, *weights) -> np.ndarray:
    """The learner's step applied frame by frame: states of shape (batch, steps, units)."""
    states = []
    for t in range(x.shape[1]):
        h = np.asarray(step(x[:, t], h, *weights), dtype="float32")
        if h.shape != (x.shape[0], UNITS):
            raise ExerciseError(f"your step returns shape {h.shape}; the new state must have "
                                f"one row per example and one column per unit: "
                                f"{(x.shape[0], UNITS)}")
        states.append(h)
    return np.stack(states, axis=1)


def _hint(check, hints):
    """Run ``check()``; on failure, add the first hint whose test matches."""
    try:
        check()
    except ExerciseError as err:
        for matches, text in hints:
            try:
                found = bool(matches())
            except Exception:  # the learner's function fails on the probe: no hint
                found = False
            if found:
                raise ExerciseError(f"{err}. {text}") from None
        raise


# 04.1 -------------------------------------------------------------------------------------

def rnn_step(x, h, W, U, b):
    """One step of a simple RNN: the new state from this frame and the previous state."""
    return np.tanh(x @ W + h @ U + b)


def _rnn_step_no_bias(x, h, W, U, b):
    return np.tanh(x @ W + h @ U)


def check_rnn_step(step) -> None:
    import keras

    x, W, U, b = _arrays(41, (BATCH, STEPS, FEATURES), (FEATURES, UNITS), (UNITS, UNITS),
                         (UNITS,))
    h0 = np.zeros((BATCH, UNITS), "float32")
    first = np.asarray(step(x[:, 0], h0, W, U, b))
    _hint(lambda: close(first, rnn_step(x[:, 0], h0, W, U, b), "the state after the first "
                        "frame (starting from h = 0)"),
          [(lambda: np.allclose(first, np.tanh(x[:, 0] @ W), atol=1e-4),
            "Did you add the bias b?"),
           (lambda: np.allclose(first, x[:, 0] @ W + b, atol=1e-4),
            "Did you squash the sum with tanh?")])
    expected = _keras_layer(keras.layers.SimpleRNN(UNITS, return_sequences=True), x, [W, U, b])
    ours = _run(step, x, h0, W, U, b)
    _hint(lambda: close(ours, expected, "the states over 5 frames (keras.layers.SimpleRNN with "
                        "the same W, U, b)"),
          [(lambda: np.allclose(ours[:, 1:], np.tanh(x[:, 1:] @ W + b), atol=1e-4),
            "The previous state h must enter through U: h @ U.")])


# 04.2 -------------------------------------------------------------------------------------

def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def gru_step(x, h, kernel, recurrent_kernel, bias):
    """One step of Keras's GRU (``reset_after=True``): gates in the order z, r, candidate."""
    xz, xr, xh = np.split(x @ kernel + bias[0], 3, axis=-1)
    hz, hr, hh = np.split(h @ recurrent_kernel + bias[1], 3, axis=-1)
    z = _sigmoid(xz + hz)                   # update gate: how much of the old state to keep
    r = _sigmoid(xr + hr)                   # reset gate: how much of the old state to read
    candidate = np.tanh(xh + r * hh)        # reset applied after the recurrent matmul
    return z * h + (1 - z) * candidate


def _gru_step_reset_before(x, h, kernel, recurrent_kernel, bias):
    """The textbook GRU (``reset_after=False``): reset the state before the matmul."""
    units = h.shape[-1]
    xz, xr, xh = np.split(x @ kernel + bias[0], 3, axis=-1)
    hz, hr, _ = np.split(h @ recurrent_kernel + bias[1], 3, axis=-1)
    z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
    candidate = np.tanh(xh + (r * h) @ recurrent_kernel[:, 2 * units:] + bias[1, 2 * units:])
    return z * h + (1 - z) * candidate


def _gru_step_swapped(x, h, kernel, recurrent_kernel, bias):
    """z on the wrong side: (1 - z) keeps the old state (in Keras and d2l, z keeps it)."""
    xz, xr, xh = np.split(x @ kernel + bias[0], 3, axis=-1)
    hz, hr, hh = np.split(h @ recurrent_kernel + bias[1], 3, axis=-1)
    z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
    return (1 - z) * h + z * np.tanh(xh + r * hh)


def check_gru_step(step) -> None:
    import keras

    x, kernel, recurrent, bias, h0 = _arrays(42, (BATCH, STEPS, FEATURES), (FEATURES, 3 * UNITS),
                                             (UNITS, 3 * UNITS), (2, 3 * UNITS),
                                             (BATCH, UNITS))
    expected = _keras_layer(keras.layers.GRU(UNITS, return_sequences=True), x,
                            [kernel, recurrent, bias])
    ours = _run(step, x, np.zeros((BATCH, UNITS), "float32"), kernel, recurrent, bias)
    first = ours[:, 0]

    def same_as(mistake):
        return lambda: np.allclose(np.asarray(step(x[:, 1], first, kernel, recurrent, bias)),
                                   mistake(x[:, 1], first, kernel, recurrent, bias), atol=1e-4)

    _hint(lambda: close(ours, expected, "the states over 5 frames (keras.layers.GRU with the "
                        "same kernel, recurrent_kernel and bias)"),
          [(same_as(_gru_step_reset_before),
            "You reset the state before the recurrent matmul, (r * h) @ U_h; Keras's default "
            "(reset_after=True) multiplies r with (h @ U_h + b_h), after the matmul"),
           (same_as(_gru_step_swapped),
            "z is the share of the OLD state kept: h_new = z * h + (1 - z) * candidate"),
           (lambda: True, "Check the order of the gates in the columns (z, then r, then the "
            "candidate) and the bias rows (bias[0] goes with x, bias[1] with h)")])
    start = np.asarray(step(x[:, 0], h0, kernel, recurrent, bias))
    close(start, gru_step(x[:, 0], h0, kernel, recurrent, bias),
          "the new state from a non-zero previous state")


# 04.3 -------------------------------------------------------------------------------------

MASK = np.array([[1, 1, 1, 0, 0],
                 [1, 1, 1, 1, 1]], bool)  # the first sequence is 3 frames long, then padding


def masked_rnn(x, mask, W, U, b):
    """A simple RNN over padded sequences: on a padded frame (mask False) the state is kept.
    Returns the final state of each sequence, shape (batch, units)."""
    h = np.zeros((x.shape[0], U.shape[0]), x.dtype)
    for t in range(x.shape[1]):
        new = np.tanh(x[:, t] @ W + h @ U + b)
        h = np.where(mask[:, t, None], new, h)
    return h


def _rnn_ignoring_mask(x, mask, W, U, b):
    h = np.zeros((x.shape[0], U.shape[0]), x.dtype)
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W + h @ U + b)
    return h


def check_masked_rnn(answer) -> None:
    import keras

    x, W, U, b = _arrays(43, (BATCH, STEPS, FEATURES), (FEATURES, UNITS), (UNITS, UNITS),
                         (UNITS,))
    x = np.where(MASK[..., None], x, 0).astype("float32")  # padding frames are zeros
    expected = _keras_layer(keras.layers.SimpleRNN(UNITS), x, [W, U, b], mask=MASK)
    ours = np.asarray(answer(x, MASK, W, U, b))
    _hint(lambda: close(ours, expected, "the final states (keras.layers.SimpleRNN given "
                        "mask=...)"),
          [(lambda: np.allclose(ours[0], _rnn_ignoring_mask(x, MASK, W, U, b)[0], atol=1e-4),
            "The first sequence is 3 frames long: on its 2 padded frames the state must stay "
            "what it was after frame 3, but yours changed (zeros still pass through U and b)"),
           (lambda: ours.ndim == 3, "Return only the final state, one row per sequence")])
    close(np.asarray(answer(x, np.ones_like(MASK), W, U, b)),
          _keras_layer(keras.layers.SimpleRNN(UNITS), x, [W, U, b]),
          "the final states with no padding at all (mask all True)")


# 04.4 -------------------------------------------------------------------------------------

def accuracy_by_speaker(labels, probabilities, speakers):
    """``{speaker: accuracy}``: the share of each speaker's recordings classified right."""
    labels, speakers = np.asarray(labels), np.asarray(speakers)
    correct = np.asarray(probabilities).argmax(axis=1) == labels
    return {str(s): float(correct[speakers == s].mean()) for s in sorted(set(speakers))}


def _accuracy_over_everyone(labels, probabilities, speakers):
    labels, speakers = np.asarray(labels), np.asarray(speakers)
    correct = np.asarray(probabilities).argmax(axis=1) == labels
    return {str(s): float(correct[speakers == s].sum() / len(labels))
            for s in sorted(set(speakers))}


def check_accuracy_by_speaker(answer) -> None:
    rng = np.random.default_rng(44)
    speakers = np.array(["ava"] * 4 + ["ben"] * 2 + ["cal"] * 6)
    labels = rng.integers(0, 10, len(speakers))
    probabilities = rng.dirichlet(np.ones(10), len(speakers))
    for i in (0, 1, 2, 4, 6, 7, 8):  # make these right: ava 3/4, ben 1/2, cal 3/6
        probabilities[i, labels[i]] = 2.0
    expected = accuracy_by_speaker(labels, probabilities, speakers)
    ours = answer(labels, probabilities, speakers)
    if not isinstance(ours, dict):
        raise ExerciseError(f"return a dict {{speaker: accuracy}}, got a {type(ours).__name__}")
    if sorted(map(str, ours)) != sorted(expected):
        raise ExerciseError(f"the keys must be the speakers {sorted(expected)}, "
                            f"got {sorted(map(str, ours))}")
    for speaker, accuracy in expected.items():
        theirs = ours.get(speaker, ours.get(np.str_(speaker)))
        hint = (" Divide by the number of that speaker's recordings, not by all of them."
                if np.isclose(theirs, accuracy * (speakers == speaker).sum() / len(speakers))
                else "")
        if not np.isclose(theirs, accuracy):
            raise ExerciseError(f"{speaker}: you give {theirs:.3f}, expected {accuracy:.3f} "
                                f"(right answers / recordings of {speaker}).{hint}")


register(
    Exercise("04.1", "one step of a simple RNN, h_t = tanh(x_t W + h_{t-1} U + b)",
             check_rnn_step, rnn_step, _rnn_step_no_bias),
    Exercise("04.2", "one step of Keras's GRU (reset_after=True) from its three weight arrays",
             check_gru_step, gru_step, _gru_step_reset_before),
    Exercise("04.3", "a simple RNN over padded sequences that keeps its state on padded frames",
             check_masked_rnn, masked_rnn, _rnn_ignoring_mask),
    Exercise("04.4", "accuracy per speaker from labels, probabilities and speaker names",
             check_accuracy_by_speaker, accuracy_by_speaker, _accuracy_over_everyone),
)
