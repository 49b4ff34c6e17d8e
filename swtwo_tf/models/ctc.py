"""Continuous digit recognition with CTC (chapter 08).

- :func:`ctc_recognizer`: log-mel frames through two small causal convolutions, read by GRUs
  (bidirectional, or one direction for streaming), a softmax over the ten digits and the CTC
  *blank* for every 20 ms frame.
- :class:`CTCRecognizer`: the ``keras.Model`` those builders return; its ``train_step``
  minimises ``keras.ops.ctc_loss`` and its ``test_step`` also reports the digit error rate of
  greedy decoding.
- :func:`collapse`, :func:`output_frames`, :func:`decode`, :func:`transcribe`: CTC's B,
  lengths, greedy and beam-search decoding with ``keras.ops.ctc_decode``, and digit strings
  from waveforms; :func:`frame_logits` and :func:`greedy_spans`: where each digit fires.
- :func:`band_statistics`: the mean and variance of each log-mel band over training audio,
  the fixed normalisation a streaming model needs (it cannot wait for a whole utterance).
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from swtwo_tf.layers import audio
from swtwo_tf.models.recipes import Recipe, register

#: Output index of the CTC blank; the digits keep their own indices 0-9.
BLANK = 10
#: Log-mel frames (10 ms apart) per output frame: the convolutions pool time by 2.
TIME_POOL = 2
#: Past log-mel frames each output frame depends on through the causal convolutions.
RECEPTIVE_FRAMES = 4
FRAME_LENGTH, FRAME_STEP = 256, 80


def output_frames(samples):
    """Output frames (20 ms each) of a waveform of ``samples`` samples (works on tensors)."""
    samples = tf.convert_to_tensor(samples, tf.int32)
    frames = tf.maximum(0, 1 + (samples - FRAME_LENGTH) // FRAME_STEP)
    return frames // TIME_POOL


def band_statistics(waves, *, limit: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, variance)`` of each log-mel band over the frames of up to ``limit`` of
    ``waves`` (a list of 1-D arrays): the input normalisation of :func:`ctc_recognizer`."""
    log_mel = audio.LogMelSpectrogram()
    frames = np.concatenate([np.asarray(log_mel(np.asarray(w, np.float32)[None]))[0]
                             for w in list(waves)[:limit]])
    return frames.mean(axis=0), frames.var(axis=0)


@keras.saving.register_keras_serializable(package="swtwo")
class CTCRecognizer(keras.Model):
    """A functional model from ``{"waveform", "samples"}`` to per-frame logits over the
    digits and the blank, trained with the CTC loss (:func:`ctc_loss`).

    Batches are ``({"waveform": (b, n) float32, "samples": (b,) int32}, digits)`` with the
    digits padded by -1 (``datasets.strings``). ``fit`` runs :meth:`train_step`;
    ``evaluate`` reports ``loss`` and ``der``, the digit error rate of greedy decoding:
    substitutions, insertions and deletions over the reference digits.
    """

    #: For ``training.train_recipe``: compile with an optimizer only (the loss is here), and
    #: keep the epoch with the lowest validation digit error rate.
    own_loss = True
    monitor = ("val_der", "min")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.errors = keras.metrics.Sum(name="errors")
        self.reference_digits = keras.metrics.Sum(name="digits")

    @property
    def metrics(self):
        return [self.loss_tracker, self.errors, self.reference_digits]

    def train_step(self, data):
        inputs, digits = data
        with tf.GradientTape() as tape:
            logits = self(inputs, training=True)
            loss = ctc_loss(digits, logits, inputs["samples"])
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        inputs, digits = data
        logits = self(inputs, training=False)
        self.loss_tracker.update_state(ctc_loss(digits, logits, inputs["samples"]))
        decoded = decode(logits, output_frames(inputs["samples"]))
        self.errors.update_state(tf.reduce_sum(edit_distance(decoded, digits)))
        self.reference_digits.update_state(tf.reduce_sum(tf.cast(digits >= 0, tf.float32)))
        return {"loss": self.loss_tracker.result(),
                "der": self.errors.result() / tf.maximum(self.reference_digits.result(), 1.0)}


def collapse(path, blank: int = BLANK) -> list[int]:
    """CTC's collapsing function B: merge runs of one symbol, then drop the blanks, so
    ``3 3 - 3 - 5 5`` says ``3 3 5`` (a blank keeps two equal digits apart)."""
    return [int(symbol) for symbol, _ in itertools.groupby(path) if symbol != blank]


def ctc_loss(digits, logits, samples):
    """Mean CTC loss of a batch: ``-log p(digits | audio)``, summed over every alignment of
    the digits to the frames (``keras.ops.ctc_loss``, blank :data:`BLANK`)."""
    digits = tf.cast(digits, tf.int32)
    digit_counts = tf.reduce_sum(tf.cast(digits >= 0, tf.int32), axis=1)
    losses = keras.ops.ctc_loss(tf.maximum(digits, 0), logits, digit_counts,
                                output_frames(samples), mask_index=BLANK)
    return tf.reduce_mean(losses)


def decode(logits, frames, *, strategy: str = "greedy", beam_width: int = 16):
    """Digits per utterance, ``(batch, frames)`` int32 padded with -1: ``"greedy"`` takes the
    likeliest symbol per frame, merges repeats and drops blanks; ``"beam_search"`` keeps the
    ``beam_width`` likeliest prefixes (``keras.ops.ctc_decode``)."""
    if strategy not in ("greedy", "beam_search"):
        raise ValueError(f"strategy must be 'greedy' or 'beam_search', got {strategy!r}")
    log_probs = tf.nn.log_softmax(logits)
    decoded, _ = keras.ops.ctc_decode(log_probs, frames, strategy=strategy,
                                      beam_width=beam_width, mask_index=BLANK)
    return decoded[0]


def edit_distance(decoded, digits):
    """Levenshtein distance of each decoded row to its reference (both padded with -1)."""
    def sparse(x):
        x = tf.cast(x, tf.int64)
        where = tf.where(x >= 0)
        return tf.SparseTensor(where, tf.gather_nd(x, where), tf.shape(x, tf.int64))
    return tf.edit_distance(sparse(decoded), sparse(digits), normalize=False)


def ctc_recognizer(mean, variance, *, bidirectional: bool = True, units: int = 96,
                   filters: int = 32, dropout: float = 0.2, noise: tuple = (10.0, 40.0),
                   seed: int | None = 42, name: str | None = None) -> CTCRecognizer:
    """Waveform -> per-frame logits over the digits and the blank (index :data:`BLANK`).

    - features: log-mel frames every 10 ms, normalised by each band's training ``mean`` and
      ``variance`` (:func:`band_statistics`), white noise added in training (``noise`` dB);
    - two 3x3 convolutions, *causal in time* (each frame sees itself and two before it, so a
      stream can be processed in chunks), max-pooled over frequency and, after the second,
      over time: one output frame per 20 ms;
    - two GRU layers of ``units`` (each way when ``bidirectional``), masked beyond each
      utterance's length, dropout, and a Dense layer of 11 logits.
    """
    waveform = keras.Input((None,), name="waveform")
    samples = keras.Input((), dtype="int32", name="samples")
    x = audio.AddNoise(*noise, seed=seed)(waveform)
    x = audio.LogMelSpectrogram(name="log_mel")(x)
    x = layers.Normalization(mean=mean, variance=variance, name="band_norm")(x)
    x = layers.Reshape((-1, x.shape[-1], 1))(x)
    for k, (width, pool) in enumerate(((filters, (1, 2)), (2 * filters, (TIME_POOL, 2)))):
        x = layers.ZeroPadding2D(((2, 0), (1, 1)))(x)  # two past frames; frequency 'same'
        x = layers.Conv2D(width, 3, activation="relu", name=f"conv{k + 1}")(x)
        x = layers.MaxPooling2D(pool)(x)
    x = layers.Reshape((-1, x.shape[2] * x.shape[3]), name="rnn_input")(x)
    mask = FrameMask(name="frame_mask")(x, samples)
    for k in range(2):
        gru = layers.GRU(units, return_sequences=True, name=f"gru{k + 1}")
        x = (layers.Bidirectional(gru, name=f"bigru{k + 1}") if bidirectional else gru)(
            x, mask=mask)
        x = layers.Dropout(dropout)(x)
    logits = layers.Dense(BLANK + 1, name="logits")(x)
    name = name or ("ctc_bidirectional" if bidirectional else "ctc_streaming")
    return CTCRecognizer({"waveform": waveform, "samples": samples}, logits, name=name)


@keras.saving.register_keras_serializable(package="swtwo")
class FrameMask(layers.Layer):
    """``(batch, frames)`` booleans: true for the output frames inside each utterance."""

    def call(self, x, samples):
        return tf.sequence_mask(output_frames(samples), tf.shape(x)[1])

    def compute_output_shape(self, x_shape, samples_shape):
        return x_shape[:2]


def transcribe(model: keras.Model, waves, *, strategy: str = "greedy", beam_width: int = 16,
               batch_size: int = 32) -> list[str]:
    """The digits ``model`` hears in each waveform of ``waves`` (a list of 1-D arrays), as
    strings such as ``"407"``; waveforms of similar length are batched together."""
    waves = [np.asarray(w, np.float32) for w in waves]
    order = np.argsort([len(w) for w in waves], kind="stable")
    out = [""] * len(waves)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        x = np.zeros((len(rows), max(len(waves[i]) for i in rows)), np.float32)
        for r, i in enumerate(rows):
            x[r, :len(waves[i])] = waves[i]
        samples = np.array([len(waves[i]) for i in rows], np.int32)
        logits = _predict(model)({"waveform": x, "samples": samples})
        digits = decode(logits, output_frames(samples), strategy=strategy,
                        beam_width=beam_width).numpy()
        for r, i in enumerate(rows):
            out[i] = "".join(str(d) for d in digits[r] if d >= 0)
    return out


def frame_logits(model: keras.Model, wave) -> np.ndarray:
    """``(frames, 11)`` logits of one waveform (every frame, 20 ms each)."""
    wave = np.asarray(wave, np.float32)
    return _predict(model)({"waveform": wave[None],
                            "samples": np.array([len(wave)], np.int32)}).numpy()[0]


def greedy_spans(logits) -> list[tuple[int, int, int]]:
    """Greedy decoding with times: ``(digit, first frame, end frame)`` for each run of frames
    whose likeliest symbol is the same digit (CTC fires on one or two frames per word;
    a blank between two runs of one digit keeps them two digits)."""
    path = np.asarray(logits).argmax(axis=-1)
    spans = []
    for t, symbol in enumerate(path):
        if symbol != BLANK and (t == 0 or symbol != path[t - 1]):
            spans.append([int(symbol), t, t + 1])
        elif symbol != BLANK:
            spans[-1][2] = t + 1
    return [tuple(span) for span in spans]


def _predict(model: keras.Model):
    """``model``'s inference call as one graph that takes any batch and length (traced once,
    not once per shape; eager GRUs step through time in Python, ~10x slower)."""
    if getattr(model, "_swtwo_predict", None) is None:
        def call(inputs):
            return model(inputs, training=False)

        signature = [{"waveform": tf.TensorSpec((None, None), tf.float32),
                      "samples": tf.TensorSpec((None,), tf.int32)}]
        model._swtwo_predict = tf.function(call, input_signature=signature, autograph=False)
    return model._swtwo_predict


def _statistics(data) -> tuple:
    """A recipe's ``from_data``: the band statistics of the first training strings."""
    strings = data.train_strings(0)
    return band_statistics(strings.waves)


#: How ``benchmarks/speech_ctc.py`` and chapter 08 train the recognisers
#: (``training.train_recipe``).
RECIPES = {
    ("digit_strings", "ctc_bidirectional"): Recipe(
        ctc_recognizer, batch_size=32, epochs=12, learning_rate=2e-3, schedule="cosine",
        quick_steps=40, from_data=_statistics),
    # one direction learns to align later than two (its all-blank stage lasts about twice as
    # long, docs/experiments.md), so it trains longer; its steps cost three quarters as much
    ("digit_strings", "ctc_streaming"): Recipe(
        ctc_recognizer, batch_size=32, epochs=20, learning_rate=2e-3, schedule="cosine",
        quick_steps=40, kwargs={"bidirectional": False}, from_data=_statistics),
}
register(RECIPES)
