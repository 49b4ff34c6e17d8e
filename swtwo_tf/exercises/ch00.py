"""Chapter 00's code exercises (see :mod:`swtwo_tf.exercises`): log-softmax, cross-entropy,
its gradient with respect to the logits, and one step of gradient descent, all in NumPy.

Labels are integer class ids, as Keras's ``sparse_categorical_crossentropy`` takes them (the
chapter's formulas use one-hot rows; the exercises ask for the step between the two)."""

from __future__ import annotations

import numpy as np

from swtwo_tf.exercises import Exercise, ExerciseError, close, register

# Fixed inputs: 4 samples, 3 classes; the last row's logits are large enough to overflow exp.
_LOGITS = np.array([[2.0, 1.0, 0.1],
                    [-1.0, 0.5, 3.0],
                    [0.0, 0.0, 0.0],
                    [1000.0, 1001.0, 999.0]])
_LABELS = np.array([0, 2, 1, 1])  # each sample's class


def _softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _as_array(value, what: str) -> np.ndarray:
    if value is None:
        raise ExerciseError(f"{what} is None: did you forget to `return` it?")
    return np.asarray(value, dtype=float)


# --- 00.1 log-softmax ---------------------------------------------------------------------

def log_softmax(z):
    """log(softmax(z)) over the last axis, computed without exp overflowing or log(0)."""
    z = np.asarray(z, dtype=float)
    shifted = z - z.max(axis=-1, keepdims=True)  # the largest entry becomes 0: exp <= 1
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _log_of_softmax(z):
    """Mistake: the log of a (stable) softmax; a probability that rounds to 0 gives -inf."""
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.log(e / e.sum(axis=-1, keepdims=True))


def _check_log_softmax(answer):
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        small = _as_array(answer(_LOGITS[:3].copy()), "log_softmax(z)")
        close(small, np.log(_softmax(_LOGITS[:3])), "log-softmax of three rows of small logits")
        large = _as_array(answer(_LOGITS.copy()), "log_softmax(z)")
        far = _as_array(answer(np.array([[0.0, -800.0]])), "log_softmax(z)")
    if not np.all(np.isfinite(large)):
        raise ExerciseError("for a batch whose last row is [1000, 1001, 999] you give nan or "
                            "inf: exp(1000) overflows. Subtract each row's own largest logit "
                            "first (max over axis=-1 with keepdims=True); log-softmax does not "
                            "change when every logit of a row moves by the same amount")
    close(large, log_softmax(_LOGITS), "log-softmax of 4 rows, the last one [1000, 1001, 999]")
    if not np.all(np.isfinite(far)):
        raise ExerciseError("for the logits [0, -800] you give -inf: the probability "
                            "exp(-800) rounds to 0 and log(0) = -inf. Do not take the log of "
                            "the softmax; use log softmax(z) = (z - m) - log sum exp(z - m), "
                            "with m the row's largest logit")
    close(far, [[0.0, -800.0]], "log-softmax of [0, -800]")
    one = _as_array(answer(np.array([3.0, 1.0])), "log-softmax of a single vector")
    close(one, log_softmax([3.0, 1.0]), "log-softmax of the 1-D vector [3, 1] (use axis=-1)")


# --- 00.2 cross-entropy over a batch, from integer labels --------------------------------

def cross_entropy(labels, probs):
    """Mean over the N samples of -log p[n, labels[n]]: the one-hot sum keeps one term."""
    labels = np.asarray(labels)
    probs = np.asarray(probs, dtype=float)
    picked = probs[np.arange(len(labels)), labels]  # each sample's probability of its class
    return -np.mean(np.log(picked))


def _cross_entropy_summed(labels, probs):
    """Mistake: sums over the batch instead of averaging (forgot the 1/N)."""
    probs = np.asarray(probs, dtype=float)
    return -np.sum(np.log(probs[np.arange(len(labels)), np.asarray(labels)]))


def _check_cross_entropy(answer):
    probs = _softmax(_LOGITS[:3])
    labels = _LABELS[:3].copy()
    expected = cross_entropy(labels, probs)
    got = _as_array(answer(labels.copy(), probs.copy()), "the loss")
    if got.shape != ():
        raise ExerciseError(f"the loss should be one number (the mean over the batch), you "
                            f"return shape {got.shape}")
    n = len(labels)
    onehot = np.eye(probs.shape[1])[labels]
    for wrong, hint in (
            (n * expected, "it is N = 3 times too large: divide by the number of samples "
                           "(the mean over samples, not the sum)"),
            (-expected, "its sign is flipped: log p is negative, the loss has a minus sign"),
            (-np.mean(onehot * np.log(probs)), "it is C = 3 times too small: only one class "
                                               "per sample counts, average over samples only"),
            (-np.mean(np.log(probs[:, labels])), "you averaged an N x N table: "
                                                 "probs[:, labels] pairs every sample with "
                                                 "every label; use probs[np.arange(N), labels]")):
        if np.isclose(got, wrong, rtol=1e-4) and not np.isclose(got, expected, rtol=1e-4):
            raise ExerciseError(f"your loss is {float(got):.4f}, expected {expected:.4f}: {hint}")
    close(got, expected, "the mean cross-entropy of 3 samples")
    perfect = np.clip(onehot, 1e-12, 1.0)
    close(_as_array(answer(labels.copy(), perfect), "the loss"), 0.0,
          "the loss of a perfect prediction (should be about 0)", atol=1e-6)


# --- 00.3 gradient of the mean cross-entropy with respect to the logits -------------------

def logit_gradient(labels, logits):
    """dL/dz of the mean cross-entropy of softmax(z): (softmax(z) - onehot(labels)) / N."""
    logits = np.asarray(logits, dtype=float)
    probs = np.exp(log_softmax(logits))
    onehot = np.eye(logits.shape[-1])[np.asarray(labels)]
    return (probs - onehot) / len(logits)


def _logit_gradient_no_mean(labels, logits):
    """Mistake: the per-sample gradient, without the 1/N of the mean."""
    logits = np.asarray(logits, dtype=float)
    return np.exp(log_softmax(logits)) - np.eye(logits.shape[-1])[np.asarray(labels)]


def _check_logit_gradient(answer):
    logits, labels = _LOGITS[:3], _LABELS[:3]
    n = len(labels)
    expected = logit_gradient(labels, logits)
    got = _as_array(answer(labels.copy(), logits.copy()), "the gradient")
    if got.shape != expected.shape:
        raise ExerciseError(f"the gradient has shape {got.shape}; it needs one entry per logit, "
                            f"shape {expected.shape} (N samples x C classes)")
    if np.allclose(got, n * expected, atol=1e-6):
        raise ExerciseError("your gradient is N = 3 times too large: the loss is a mean over "
                            "the N samples, so each sample's (p - y) is divided by N")
    if np.allclose(got, -expected, atol=1e-6):
        raise ExerciseError("your gradient has the wrong sign: it is p - y (predicted minus "
                            "one-hot true), divided by N")
    probs = _softmax(logits)
    onehot = np.eye(logits.shape[1])[labels]
    if np.allclose(got, -onehot / probs / n, atol=1e-6):
        raise ExerciseError("that is dL/dp, the gradient with respect to the probabilities; "
                            "through the softmax the gradient with respect to the logits is "
                            "(p - y) / N")
    close(got, expected, "dL/dz for 3 samples")


# --- 00.4 one step of gradient descent ----------------------------------------------------

def sgd_step(w, b, x, labels, learning_rate):
    """One gradient-descent step of softmax regression p = softmax(x @ w + b) on the mean
    cross-entropy; returns the new ``(w, b)``."""
    w, b, x = (np.asarray(a, dtype=float) for a in (w, b, x))
    dz = logit_gradient(labels, x @ w + b)  # dL/dlogits, (p - y) / N
    grad_w = x.T @ dz                       # dL/dw, the shape of w
    grad_b = dz.sum(axis=0)                 # dL/db, the shape of b
    return w - learning_rate * grad_w, b - learning_rate * grad_b


def _sgd_step_uphill(w, b, x, labels, learning_rate):
    """Mistake: adds the gradient (a step uphill) instead of subtracting it."""
    w, b, x = (np.asarray(a, dtype=float) for a in (w, b, x))
    dz = logit_gradient(labels, x @ w + b)
    return w + learning_rate * (x.T @ dz), b + learning_rate * dz.sum(axis=0)


def _check_sgd_step(answer):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 2))
    w = rng.normal(size=(2, 3))
    b = np.array([0.1, -0.2, 0.0])
    labels = np.array([0, 1, 2, 1, 0])
    rate = 0.5
    result = answer(w.copy(), b.copy(), x.copy(), labels.copy(), rate)
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise ExerciseError("return the pair (new_w, new_b)")
    new_w, new_b = (_as_array(v, "new_w / new_b") for v in result)
    expected_w, expected_b = sgd_step(w, b, x, labels, rate)

    def loss(w_, b_):
        return cross_entropy(labels, _softmax(x @ w_ + b_))

    if new_w.shape == w.shape and new_b.shape == b.shape and loss(new_w, new_b) > loss(w, b):
        raise ExerciseError(f"the loss went up, from {loss(w, b):.4f} to "
                            f"{loss(new_w, new_b):.4f}: the step must go against the gradient, "
                            "w - learning_rate * dL/dw")
    close(new_w, expected_w, "new w after one step")
    if np.allclose(new_b, b):
        raise ExerciseError("b did not change: the bias has a gradient too, dL/dz summed over "
                            "the samples")
    close(new_b, expected_b, "new b after one step")


register(
    Exercise("00.1", "write a numerically stable log-softmax over the last axis",
             _check_log_softmax, log_softmax, _log_of_softmax),
    Exercise("00.2", "write the mean cross-entropy of a batch from integer labels and "
             "predicted probabilities", _check_cross_entropy, cross_entropy,
             _cross_entropy_summed),
    Exercise("00.3", "write the gradient of the mean cross-entropy with respect to the "
             "logits", _check_logit_gradient, logit_gradient, _logit_gradient_no_mean),
    Exercise("00.4", "write one gradient-descent step of softmax regression",
             _check_sgd_step, sgd_step, _sgd_step_uphill),
)
