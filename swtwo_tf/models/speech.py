"""Spoken-digit classifiers for chapter 04: each takes a raw 8 kHz waveform (``LENGTH`` samples)
and returns 10 digit probabilities; features and augmentation are layers inside the model.

- :func:`rnn_classifier`: log-mel frames read in time order by a bidirectional GRU, the
  chapter's main model.
- :func:`cnn_classifier`: the TensorFlow "simple audio" tutorial's spectrogram CNN, the
  baseline.
"""

from __future__ import annotations

import keras
from keras import layers

from swtwo_tf.datasets.speech import LENGTH
from swtwo_tf.features import audio


def _front_end(augment: bool, seed: int | None):
    """Waveform -> (augmented) normalised log-mel frames, shared by both models."""
    inputs = keras.Input((LENGTH,), name="waveform")
    x = inputs
    if augment:
        x = audio.TimeShift(800, seed=seed)(x)
        x = audio.AddNoise(10.0, 30.0, seed=seed)(x)
    x = audio.LogMelSpectrogram(name="log_mel")(x)
    x = audio.UtteranceNormalization()(x)
    if augment:
        x = audio.SpecAugment(seed=seed)(x)
    return inputs, x


def rnn_classifier(*, units: int = 64, augment: bool = True, dropout: float = 0.3,
                   seed: int | None = 42, name: str = "speech_rnn") -> keras.Model:
    """Log-mel frames (97 x 40 for 1 s) -> BiGRU(units, sequences) -> BiGRU(units) -> softmax.

    The recurrent layers read the frames in time order; the first passes its whole sequence
    to the second, whose final states summarise the utterance.
    """
    inputs, x = _front_end(augment, seed)
    x = layers.Bidirectional(layers.GRU(units, return_sequences=True))(x)
    x = layers.Bidirectional(layers.GRU(units))(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def cnn_classifier(*, augment: bool = False, seed: int | None = 42,
                   name: str = "speech_cnn") -> keras.Model:
    """The TensorFlow simple_audio recipe on log-mel images: resize to 32x32, Conv32, Conv64,
    max-pool, dropout 0.25, Dense 128, dropout 0.5, softmax."""
    inputs, x = _front_end(augment, seed)
    x = layers.Reshape((-1, x.shape[-1], 1))(x)
    x = layers.Resizing(32, 32)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)
