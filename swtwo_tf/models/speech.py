"""Spoken-digit classifiers for chapter 04: each takes a raw 8 kHz waveform (``LENGTH`` samples)
and returns 10 digit probabilities; features and augmentation are layers inside the model.

- :func:`rnn_classifier`: log-mel frames through three small convolutions, read in time
  order by bidirectional GRUs (a CRNN), the chapter's main model.
- :func:`cnn_classifier`: the TensorFlow "simple audio" tutorial's spectrogram CNN, the
  baseline.
- ``RECIPES``: how ``benchmarks/speech.py`` and the chapter train them.
"""

from __future__ import annotations

import keras
from keras import layers

from swtwo_tf.datasets.speech import LENGTH
from swtwo_tf.layers import audio
from swtwo_tf.models.recipes import Recipe, register


def front_end(augment: bool, seed: int | None, *, speed: float = 0.0,
               noise: tuple[float, float] = (10.0, 30.0), masked: bool = False):
    """Waveform -> (augmented) per-utterance normalised log-mel frames; ``masked``
    normalises over the recording's frames only (see ``audio.UtteranceNormalization``)."""
    inputs = keras.Input((LENGTH,), name="waveform")
    x = inputs
    if augment:
        if speed:
            x = audio.SpeedPerturb(1 - speed, 1 + speed, seed=seed)(x)
        x = audio.TimeShift(800, seed=seed)(x)
        x = audio.AddNoise(*noise, seed=seed)(x)
    waves = x
    x = audio.LogMelSpectrogram(name="log_mel")(x)
    x = audio.UtteranceNormalization()(x, waves if masked else None)
    if augment:
        x = audio.SpecAugment(seed=seed)(x)
    return inputs, x


def rnn_classifier(*, units: int = 64, conv_filters: int = 16, augment: bool = True,
                   speed: float = 0.15, dropout: float = 0.3, seed: int | None = 42,
                   name: str = "speech_rnn") -> keras.Model:
    """Log-mel frames through a small 2-D convolutional front end, then read in time order by
    two bidirectional GRUs (a convolutional recurrent network, CRNN).

    - augmentation in training only: speed (another voice, cheaply), time shift, noise at
      20-40 dB SNR, SpecAugment time and frequency masks;
    - features: the log-mel spectrogram (97 frames x 40 bands per second), normalised per
      utterance over the recording's frames only (the padding set to 0);
    - three 3x3 convolutions (``conv_filters``, then twice as many) with batch norm, each
      max-pooled over frequency (40 -> 5 bands) and the last also over time (48 frames).
      A 3x3 kernel slides along the frequency axis too, so a formant pattern is recognised
      a few bands higher or lower: another vocal tract, the main difference between voices.
      A 1-D convolution over MFCCs cannot do that: it treats each coefficient as a channel
      of its own;
    - BiGRU(``units``, whole sequence) -> BiGRU(``units``, final states) -> dropout -> softmax.

    ``conv_filters=0`` drops the convolutions: the GRUs then read the 40 bands directly.
    """
    inputs, x = front_end(augment, seed, speed=speed, noise=(20.0, 40.0), masked=True)
    if conv_filters:
        x = layers.Reshape((-1, x.shape[-1], 1), name="mel_image")(x)
        for filters, pool in ((conv_filters, (1, 2)), (2 * conv_filters, (1, 2)),
                              (2 * conv_filters, (2, 2))):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
            x = layers.MaxPooling2D(pool)(x)
        x = layers.Reshape((-1, x.shape[2] * x.shape[3]))(x)
    x = layers.Bidirectional(layers.GRU(units, return_sequences=True))(x)
    x = layers.Bidirectional(layers.GRU(units))(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def cnn_classifier(*, augment: bool = False, seed: int | None = 42,
                   name: str = "speech_cnn") -> keras.Model:
    """The TensorFlow simple_audio recipe on log-mel images: resize to 32x32, Conv32, Conv64,
    max-pool, dropout 0.25, Dense 128, dropout 0.5, softmax."""
    inputs, x = front_end(augment, seed)
    x = layers.Reshape((-1, x.shape[-1], 1), name="mel_image")(x)
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


#: How each builder is trained for docs/results.md (``benchmarks/speech.py``, chapter 04).
#: The CNN keeps the simple_audio tutorial's recipe: no augmentation.
RECIPES = {
    ("spoken_digit", "rnn_classifier"): Recipe(
        rnn_classifier, batch_size=32, epochs=30, learning_rate=3e-3, schedule="cosine",
        quick_steps=150),
    ("spoken_digit", "cnn_classifier"): Recipe(
        cnn_classifier, batch_size=32, epochs=30, learning_rate=2e-3, schedule="cosine",
        quick_steps=120),
}
register(RECIPES)
