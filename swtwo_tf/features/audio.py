"""Audio features and augmentation as Keras layers built on ``tf.signal`` (chapters 03-04).

Because they are layers, the features travel inside a saved or exported model: it takes a
raw 8 kHz waveform. All layers take ``(batch, samples)`` float32 waveforms or
``(batch, frames, bins)`` spectrograms and are registered with Keras, so ``.keras`` files
that use them load by name.

- :class:`LogMelSpectrogram`, :class:`MFCC`: the features; :class:`UtteranceNormalization`;
  :func:`matrix_dft` (the spectrum as one matrix product, for TFLite export).
- Training-only augmentation: :class:`AddNoise` (at a chosen SNR), :class:`TimeShift`,
  :class:`SpeedPerturb` (another voice, cheaply), :class:`SpecAugment` (time and frequency
  masking).
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import tensorflow as tf
from keras import layers

SAMPLE_RATE = 8_000


def _register(cls):
    return keras.saving.register_keras_serializable(package="swtwo")(cls)


@_register
class LogMelSpectrogram(layers.Layer):
    """Waveform -> log-mel spectrogram, ``(batch, frames, num_mel_bins)``.

    Frames of ``frame_length`` samples every ``frame_step`` (32 ms every 10 ms at 8 kHz), a
    Hann window, the magnitude of the FFT mapped onto ``num_mel_bins`` mel bands between
    ``fmin`` and ``fmax``, then ``log(mel + floor)``: silence gives ``log(floor)``.

    ``spectrum`` says how the windowed DFT is computed: ``"fft"`` (``tf.signal.stft``, the
    default, used in training) or ``"matrix"``: one product with a ``(frame_length, 2 * bins)``
    matrix of windowed cosines and minus sines. Both give the same magnitudes within 3e-6;
    the matrix runs 2.5x faster in TFLite, whose RFFT op took 0.19 of the speech CNN's
    0.43 ms, so :func:`matrix_dft` switches to it while a model is converted (chapter 06).
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, frame_length: int = 256,
                 frame_step: int = 80, num_mel_bins: int = 40, fmin: float = 20.0,
                 fmax: float | None = None, floor: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.sample_rate, self.frame_length, self.frame_step = sample_rate, frame_length, frame_step
        self.num_mel_bins, self.fmin, self.floor = num_mel_bins, fmin, floor
        self.fmax = fmax or sample_rate / 2
        self.spectrum = "fft"
        self.bins = bins = frame_length // 2 + 1
        n = np.arange(frame_length)[:, None]
        angle = 2 * np.pi * n * np.arange(bins)[None, :] / frame_length
        window = 0.5 - 0.5 * np.cos(2 * np.pi * n / frame_length)  # = tf.signal.hann_window
        self.dft_matrix = tf.constant(
            np.concatenate([np.cos(angle), -np.sin(angle)], axis=1) * window, tf.float32)
        self.mel_matrix = tf.signal.linear_to_mel_weight_matrix(
            num_mel_bins, bins, sample_rate, fmin, self.fmax)
        # The filterbank is applied in blocks of under 1,024 weights: TFLite's dynamic-range
        # quantisation leaves constants that small in float. As one matrix it became a hybrid
        # int8 op that quantised the spectrum itself and cost the speech RNN 3 points
        # (chapter 06). The sums are those of one product.
        width = max(1, 1023 // bins)
        sizes = [width] * (num_mel_bins // width) + ([num_mel_bins % width]
                                                     if num_mel_bins % width else [])
        self.mel_blocks = tf.split(self.mel_matrix, sizes, axis=1)

    def frames(self, samples: int) -> int:
        """Number of frames for a waveform of ``samples`` samples."""
        return 1 + (samples - self.frame_length) // self.frame_step

    def call(self, waves):
        if self.spectrum == "matrix":
            frames = tf.signal.frame(waves, self.frame_length, self.frame_step)
            spectrum = tf.tensordot(frames, self.dft_matrix, 1)
            # Slices, not tf.split: TFLite's selective quantiser cannot keep a two-output op
            # float, and the int8 speech CNN fell from 96 % to 53 % when it quantised one.
            real, imaginary = spectrum[..., :self.bins], spectrum[..., self.bins:]
            magnitude = tf.sqrt(real * real + imaginary * imaginary)
        elif self.spectrum == "fft":
            magnitude = tf.abs(tf.signal.stft(waves, self.frame_length, self.frame_step,
                                              fft_length=self.frame_length))
        else:
            raise ValueError(f"spectrum must be 'fft' or 'matrix'; got {self.spectrum!r}")
        mel = tf.concat([tf.tensordot(magnitude, block, 1) for block in self.mel_blocks], -1)
        return tf.math.log(mel + self.floor)

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        return (input_shape[0], self.frames(samples) if samples else None, self.num_mel_bins)

    def get_config(self):
        return {**super().get_config(), "sample_rate": self.sample_rate,
                "frame_length": self.frame_length, "frame_step": self.frame_step,
                "num_mel_bins": self.num_mel_bins, "fmin": self.fmin, "fmax": self.fmax,
                "floor": self.floor}


def front_end_layers(model) -> list[layers.Layer]:
    """The feature layers of ``model`` (:class:`LogMelSpectrogram`, :class:`MFCC`,
    :class:`UtteranceNormalization`), searched inside nested models too (chapter 06)."""
    kinds = (LogMelSpectrogram, MFCC, UtteranceNormalization)
    return [layer for layer in model._flatten_layers(include_self=False)  # as deploy does
            if isinstance(layer, kinds)]


@contextlib.contextmanager
def matrix_dft(model):
    """Within the block, every :class:`LogMelSpectrogram` of ``model`` computes its spectrum
    as one matrix product instead of an FFT; restored on leaving (chapter 06).

    ``deploy.to_tflite`` converts inside it: TFLite's RFFT is slow on a CPU, the matrix
    product fast, and the numbers are the same within 3e-6, so the exported model answers
    as the trained one does. Training keeps ``tf.signal.stft``.
    """
    found = [layer for layer in front_end_layers(model) if isinstance(layer, LogMelSpectrogram)]
    before = [layer.spectrum for layer in found]
    try:
        for layer in found:
            layer.spectrum = "matrix"
        yield model
    finally:
        for layer, spectrum in zip(found, before, strict=True):
            layer.spectrum = spectrum


@_register
class MFCC(layers.Layer):
    """Log-mel spectrogram -> the first ``num_coefficients`` mel-frequency cepstral coefficients."""

    def __init__(self, num_coefficients: int = 13, **kwargs):
        super().__init__(**kwargs)
        self.num_coefficients = num_coefficients

    def build(self, input_shape):
        # tf.signal's MFCC is a DCT-II along the mel axis: a linear map, so it is applied as
        # a (bands, coefficients) matrix obtained from tf.signal itself. Same numbers, and
        # a plain matmul that TFLite can convert and quantise (chapter 06).
        bands = int(input_shape[-1])
        self.dct = tf.signal.mfccs_from_log_mel_spectrograms(
            tf.eye(bands))[:, :self.num_coefficients]

    def call(self, log_mel):
        return tf.tensordot(log_mel, tf.cast(self.dct, log_mel.dtype), 1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_coefficients)

    def get_config(self):
        return {**super().get_config(), "num_coefficients": self.num_coefficients}


@_register
class UtteranceNormalization(layers.Layer):
    """Zero mean and unit variance per utterance and feature bin, over time.

    Removes what is constant over a recording (loudness, microphone colour), which differs
    from speaker to speaker more than from digit to digit.

    Called as ``layer(features, waves)`` with the waveform the features were computed from,
    the statistics come from the frames of the recording only and the padding frames become
    0. Without it, the digital silence that pads every recording to one second (often half
    of it) dominates the mean and variance, which then measure the recording's length more
    than its channel; chapter 04's RNN generalised to a new speaker far better with the mask
    (``benchmarks/speech.py``). ``frame_length`` and ``frame_step`` must match the features'.
    """

    def __init__(self, frame_length: int = 256, frame_step: int = 80, **kwargs):
        super().__init__(**kwargs)
        self.frame_length, self.frame_step = frame_length, frame_step

    def frame_mask(self, waves):
        """``(batch, frames, 1)``: 1.0 for frames that overlap the recording, else 0.0."""
        span = tf.cast(recording_span(waves), tf.float32)
        frames = tf.signal.frame(span, self.frame_length, self.frame_step)
        return tf.expand_dims(tf.cast(tf.reduce_max(frames, axis=-1) > 0, tf.float32), -1)

    def call(self, features, waves=None):
        if waves is None:
            mean, variance = tf.nn.moments(features, axes=[1], keepdims=True)
            return (features - mean) / tf.sqrt(variance + 1e-5)
        mask = self.frame_mask(waves)
        count = tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)
        mean = tf.reduce_sum(features * mask, axis=1, keepdims=True) / count
        variance = tf.reduce_sum(tf.square(features - mean) * mask, axis=1, keepdims=True) / count
        return (features - mean) / tf.sqrt(variance + 1e-5) * mask

    def compute_output_shape(self, features_shape, waves_shape=None):
        return features_shape

    def get_config(self):
        return {**super().get_config(), "frame_length": self.frame_length,
                "frame_step": self.frame_step}


class _TrainingOnly(layers.Layer):
    """Base of the augmentation layers: identity unless ``training`` is true."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        return self.augment(x) if training else x

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def recording_span(waves):
    """Boolean mask, ``(batch, samples)``: true from each waveform's first non-zero sample to
    its last. Outside it is the digital silence that pads a recording to a fixed length."""
    nonzero = tf.cast(tf.not_equal(waves, 0.0), tf.int32)
    length = tf.shape(waves)[-1]
    first = tf.argmax(nonzero, axis=-1, output_type=tf.int32)
    last = length - 1 - tf.argmax(tf.reverse(nonzero, axis=[-1]), axis=-1,
                                  output_type=tf.int32)
    positions = tf.expand_dims(tf.range(length), 0)
    return (positions >= tf.expand_dims(first, 1)) & (positions <= tf.expand_dims(last, 1))


@_register
class AddNoise(_TrainingOnly):
    """Add white noise at a random signal-to-noise ratio in [``min_snr_db``, ``max_snr_db``].

    The noise covers the recording only, not the digital silence that pads it: at inference
    that padding is exact zeros, and noise there in training would teach the model a
    silence it never meets (the RNN then scored 17 % on validation while training at 90 %).
    The SNR is measured over the recording too.
    """

    def __init__(self, min_snr_db: float = 10.0, max_snr_db: float = 30.0, **kwargs):
        super().__init__(**kwargs)
        self.min_snr_db, self.max_snr_db = min_snr_db, max_snr_db

    def augment(self, waves):
        batch = tf.shape(waves)[0]
        span = tf.cast(recording_span(waves), waves.dtype)
        snr = keras.random.uniform((batch, 1), self.min_snr_db, self.max_snr_db,
                                   seed=self.generator)
        power = (tf.reduce_sum(tf.square(waves), axis=-1, keepdims=True)
                 / tf.maximum(tf.reduce_sum(span, axis=-1, keepdims=True), 1.0))
        noise_power = power / tf.pow(10.0, snr / 10.0)
        noise = keras.random.normal(tf.shape(waves), seed=self.generator)
        return waves + noise * tf.sqrt(noise_power) * span

    def get_config(self):
        return {**super().get_config(), "min_snr_db": self.min_snr_db,
                "max_snr_db": self.max_snr_db}


@_register
class TimeShift(_TrainingOnly):
    """Shift each waveform by up to ``max_shift`` samples either way (zeros fill the gap)."""

    def __init__(self, max_shift: int = 800, **kwargs):
        super().__init__(**kwargs)
        self.max_shift = max_shift

    def augment(self, waves):
        batch, length = tf.shape(waves)[0], tf.shape(waves)[1]
        shifts = keras.random.randint((batch,), -self.max_shift, self.max_shift + 1,
                                      seed=self.generator)
        positions = tf.range(length)[None, :] - shifts[:, None]
        valid = (positions >= 0) & (positions < length)
        gathered = tf.gather(waves, tf.clip_by_value(positions, 0, length - 1), batch_dims=1)
        return tf.where(valid, gathered, tf.zeros_like(waves))

    def get_config(self):
        return {**super().get_config(), "max_shift": self.max_shift}


@_register
class SpeedPerturb(_TrainingOnly):
    """Play each waveform faster or slower by a random factor in [``min_rate``, ``max_rate``].

    Like a tape played at another speed, it moves pitch and formants together and changes
    the tempo: the cheapest way to make a few voices sound like more speakers (Ko et al.,
    "Audio augmentation for speech recognition", 2015). The output keeps the input's length:
    a sped-up recording ends in silence, a slowed one is cut at the end.
    """

    def __init__(self, min_rate: float = 0.9, max_rate: float = 1.1, **kwargs):
        super().__init__(**kwargs)
        if not 0 < min_rate <= max_rate:
            raise ValueError(f"need 0 < min_rate <= max_rate, got {min_rate}, {max_rate}")
        self.min_rate, self.max_rate = min_rate, max_rate

    def augment(self, waves):
        batch, length = tf.shape(waves)[0], tf.shape(waves)[1]
        rate = keras.random.uniform((batch, 1), self.min_rate, self.max_rate,
                                    seed=self.generator)
        source = tf.cast(tf.range(length), tf.float32)[None, :] * rate
        left = tf.cast(tf.floor(source), tf.int32)
        frac = source - tf.floor(source)
        inside = left < length - 1
        left = tf.minimum(left, length - 2)
        a = tf.gather(waves, left, batch_dims=1)
        b = tf.gather(waves, left + 1, batch_dims=1)
        return tf.where(inside, a + (b - a) * frac, tf.zeros_like(waves))

    def get_config(self):
        return {**super().get_config(), "min_rate": self.min_rate, "max_rate": self.max_rate}


@_register
class SpecAugment(_TrainingOnly):
    """SpecAugment masking: ``time_masks`` bands of up to ``time_width`` frames and
    ``freq_masks`` bands of up to ``freq_width`` bins are set to the utterance mean."""

    def __init__(self, time_masks: int = 2, time_width: int = 10, freq_masks: int = 2,
                 freq_width: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.time_masks, self.time_width = time_masks, time_width
        self.freq_masks, self.freq_width = freq_masks, freq_width

    def _mask(self, size, count, width, batch):
        keep = tf.ones((batch, size), dtype=tf.bool)
        for _ in range(count):
            w = keras.random.randint((batch, 1), 0, width + 1, seed=self.generator)
            room = tf.cast(tf.maximum(size - w + 1, 1), tf.float32)
            start = tf.cast(keras.random.uniform((batch, 1), seed=self.generator) * room,
                            tf.int32)
            pos = tf.range(size)[None, :]
            keep &= ~((pos >= start) & (pos < start + w))
        return keep

    def augment(self, spec):
        batch, frames, bins = tf.shape(spec)[0], tf.shape(spec)[1], tf.shape(spec)[2]
        keep = (self._mask(frames, self.time_masks, self.time_width, batch)[:, :, None]
                & self._mask(bins, self.freq_masks, self.freq_width, batch)[:, None, :])
        mean = tf.reduce_mean(spec, axis=[1, 2], keepdims=True)
        return tf.where(keep, spec, mean)

    def get_config(self):
        return {**super().get_config(), "time_masks": self.time_masks,
                "time_width": self.time_width, "freq_masks": self.freq_masks,
                "freq_width": self.freq_width}
