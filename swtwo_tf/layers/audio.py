"""Audio features and augmentation as Keras layers built on ``tf.signal`` (chapters 03-04).

Because they are layers, the features travel inside a saved or exported model: it takes a
raw 8 kHz waveform. The layers take ``(batch, samples)`` float32 waveforms or
``(batch, frames, bins)`` spectrograms.

- :class:`LogMelSpectrogram`, :class:`MFCC`: the features; :class:`UtteranceNormalization`;
  :func:`with_spectrum` (a model whose log-mel spectrum is computed another way, for TFLite
  export); :func:`front_end_layers`.
- Training-only augmentation: :class:`AddNoise` (at a chosen SNR), :class:`TimeShift`,
  :class:`SpeedPerturb` (another voice, cheaply), :class:`SpecAugment` (time and frequency
  masking).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from swtwo_tf.layers import _checks

SAMPLE_RATE = 8_000
#: How :class:`LogMelSpectrogram` can compute the windowed DFT.
SPECTRA = ("fft", "matrix")


def _register(cls):
    return keras.saving.register_keras_serializable(package="swtwo")(cls)


def _check_spectrum(spectrum):
    if spectrum not in SPECTRA:
        raise ValueError(f"spectrum must be 'fft' or 'matrix', got {spectrum!r}")
    return spectrum


@_register
class LogMelSpectrogram(layers.Layer):
    """Waveform -> log-mel spectrogram, ``(batch, frames, num_mel_bins)``.

    Frames of ``frame_length`` samples every ``frame_step`` samples, a periodic Hann window,
    the magnitude of the DFT mapped onto ``num_mel_bins`` mel bands between ``fmin`` and
    ``fmax``, then ``log(mel + floor)``: silence gives ``log(floor)``.

    ``spectrum`` says how the windowed DFT is computed: ``"fft"`` with ``tf.signal.stft``
    (what training uses), or ``"matrix"``, one product of each frame with a
    ``(frame_length, 2 * bins)`` matrix of windowed cosines and minus sines. Both give the
    same magnitudes up to float32 rounding; TFLite runs the matrix product faster than its
    FFT op, so :func:`with_spectrum` switches a trained model to it for export (chapter 06).

    Args:
        sample_rate: Number, samples per second of the input waveform.
        frame_length: Integer, samples per frame (and DFT size).
        frame_step: Integer, samples between the starts of successive frames.
        num_mel_bins: Integer, mel bands of the output.
        fmin: Float, lower edge of the lowest mel band, in Hz.
        fmax: Float, upper edge of the highest mel band, in Hz, at most
            ``sample_rate / 2``. ``None`` means ``sample_rate / 2``.
        floor: Float above 0, added to the mel energies before the logarithm.
        spectrum: ``"fft"`` or ``"matrix"``, how the windowed DFT is computed.

    Examples:

    >>> layer = LogMelSpectrogram()
    >>> tuple(layer(np.zeros((2, 8000), "float32")).shape)
    (2, 97, 40)
    >>> layer.frames(8000)
    97

    Input shape:
        ``(batch, samples)`` float32 waveform.

    Output shape:
        ``(batch, frames, num_mel_bins)`` with ``frames = 1 + (samples - frame_length) //
        frame_step``.
    """

    def __init__(self, sample_rate: float = SAMPLE_RATE, frame_length: int = 256,
                 frame_step: int = 80, num_mel_bins: int = 40, fmin: float = 20.0,
                 fmax: float | None = None, floor: float = 1e-6, spectrum: str = "fft",
                 **kwargs):
        super().__init__(**kwargs)
        self.sample_rate = _checks.positive("sample_rate", sample_rate)
        self.frame_length = _checks.integer("frame_length", frame_length)
        self.frame_step = _checks.integer("frame_step", frame_step)
        self.num_mel_bins = _checks.integer("num_mel_bins", num_mel_bins)
        nyquist = self.sample_rate / 2
        self.fmin = _checks.number("fmin", fmin)
        self.fmax = nyquist if fmax is None else _checks.number("fmax", fmax)
        if not 0 <= self.fmin < self.fmax <= nyquist:
            raise ValueError(f"fmin and fmax must satisfy 0 <= fmin < fmax <= sample_rate / 2 "
                             f"= {nyquist:g}, got fmin={fmin!r}, fmax={fmax!r}")
        self.floor = _checks.positive("floor", floor)
        self.spectrum = _check_spectrum(spectrum)
        self.bins = bins = self.frame_length // 2 + 1
        self.dft_matrix = self._dft_matrix() if spectrum == "matrix" else None
        mel_matrix = tf.signal.linear_to_mel_weight_matrix(
            self.num_mel_bins, bins, self.sample_rate, self.fmin, self.fmax)
        # The filterbank is applied in blocks of under 1,024 weights: TFLite's dynamic-range
        # quantisation leaves constants that small in float. As one matrix it would become a
        # hybrid int8 op that quantises the spectrum itself, whose range eight bits cannot
        # hold (chapter 06). The sums are those of one product.
        width = max(1, 1023 // bins)
        sizes = [width] * (self.num_mel_bins // width)
        sizes += [self.num_mel_bins % width] if self.num_mel_bins % width else []
        self.mel_blocks = tf.split(mel_matrix, sizes, axis=1)

    def _dft_matrix(self):
        """``(frame_length, 2 * bins)``: the Hann-windowed cosines, then minus sines."""
        n = np.arange(self.frame_length)[:, None]
        angle = 2 * np.pi * n * np.arange(self.bins)[None, :] / self.frame_length
        waves = tf.constant(np.concatenate([np.cos(angle), -np.sin(angle)], axis=1), tf.float32)
        return waves * tf.signal.hann_window(self.frame_length)[:, None]  # as tf.signal.stft

    def frames(self, samples: int) -> int:
        """Number of frames for a waveform of ``samples`` samples."""
        return max(0, 1 + (samples - self.frame_length) // self.frame_step)

    def call(self, waves):
        if self.spectrum == "matrix":
            frames = tf.signal.frame(waves, self.frame_length, self.frame_step)
            spectrum = tf.tensordot(frames, self.dft_matrix, 1)
            # Slices, not tf.split: TFLite's selective quantiser cannot keep a two-output op
            # in float, and a quantised spectrum loses most of the model's accuracy.
            real, imaginary = spectrum[..., :self.bins], spectrum[..., self.bins:]
            magnitude = tf.sqrt(real * real + imaginary * imaginary)
        else:
            magnitude = tf.abs(tf.signal.stft(waves, self.frame_length, self.frame_step,
                                              fft_length=self.frame_length))
        mel = tf.concat([tf.tensordot(magnitude, block, 1) for block in self.mel_blocks], -1)
        return tf.math.log(mel + self.floor)

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        return (*input_shape[:-1], None if samples is None else self.frames(samples),
                self.num_mel_bins)

    def get_config(self):
        return {**super().get_config(), "sample_rate": self.sample_rate,
                "frame_length": self.frame_length, "frame_step": self.frame_step,
                "num_mel_bins": self.num_mel_bins, "fmin": self.fmin, "fmax": self.fmax,
                "floor": self.floor, "spectrum": self.spectrum}


def front_end_layers(model) -> list[layers.Layer]:
    """The feature layers of ``model`` (:class:`LogMelSpectrogram`, :class:`MFCC`,
    :class:`UtteranceNormalization`), searched inside nested models too (chapter 06)."""
    kinds = (LogMelSpectrogram, MFCC, UtteranceNormalization)
    return [layer for layer in model._flatten_layers(include_self=False)  # nested ones too
            if isinstance(layer, kinds)]


def _set_spectrum(config, name: str, spectrum: str) -> None:
    """Set ``spectrum`` in every serialised object registered as ``name`` within ``config``."""
    if isinstance(config, dict):
        if config.get("registered_name") == name:
            config["config"]["spectrum"] = spectrum
        for value in config.values():
            _set_spectrum(value, name, spectrum)
    elif isinstance(config, list | tuple):
        for value in config:
            _set_spectrum(value, name, spectrum)


def with_spectrum(model: keras.Model, spectrum: str) -> keras.Model:
    """``model`` with every :class:`LogMelSpectrogram` computing its DFT as ``spectrum``.

    Returns a new model with the same architecture and weights whose log-mel layers, nested
    models included, have ``spectrum`` (``"fft"`` or ``"matrix"``); ``model`` itself is left
    as it is. A model with no log-mel layer that needs the change is returned itself.

    ``deploy`` converts ``with_spectrum(model, "matrix")`` to TFLite, where the matrix
    product is faster than the FFT op and the numbers are the same up to float32 rounding,
    so the exported model answers as the trained one does; training keeps the FFT
    (chapter 06).

    Example:

    >>> waves = keras.Input((8000,))
    >>> model = keras.Model(waves, LogMelSpectrogram()(waves))
    >>> exported = with_spectrum(model, "matrix")
    >>> exported.layers[1].spectrum, model.layers[1].spectrum
    ('matrix', 'fft')
    >>> with_spectrum(exported, "matrix") is exported
    True
    """
    _check_spectrum(spectrum)
    if all(layer.spectrum == spectrum for layer in front_end_layers(model)
           if isinstance(layer, LogMelSpectrogram)):
        return model
    config = keras.saving.serialize_keras_object(model)
    _set_spectrum(config, keras.saving.get_registered_name(LogMelSpectrogram), spectrum)
    # The config comes from the model in memory, not from a file: nothing untrusted to refuse.
    new = keras.saving.deserialize_keras_object(config, safe_mode=False)
    new.set_weights(model.get_weights())
    return new


@_register
class MFCC(layers.Layer):
    """Log-mel spectrogram -> its first ``num_coefficients`` mel-frequency cepstral
    coefficients, a DCT-II along the mel axis as ``tf.signal`` computes it.

    Args:
        num_coefficients: Integer, coefficients kept, at least 1 and at most the number of
            mel bands of the input.

    Example:

    >>> log_mel = LogMelSpectrogram()(np.zeros((1, 8000), "float32"))
    >>> tuple(MFCC(13)(log_mel).shape)
    (1, 97, 13)

    Input shape:
        ``(batch, frames, bands)`` log-mel spectrogram.

    Output shape:
        ``(batch, frames, num_coefficients)``.
    """

    def __init__(self, num_coefficients: int = 13, **kwargs):
        super().__init__(**kwargs)
        self.num_coefficients = _checks.integer("num_coefficients", num_coefficients)

    def build(self, input_shape):
        bands = input_shape[-1]
        if bands is None:
            raise ValueError("MFCC needs the number of mel bands (the input's last axis) "
                             "to be known")
        if self.num_coefficients > bands:
            raise ValueError(f"num_coefficients must be at most the {bands} mel bands of the "
                             f"input, got {self.num_coefficients}")
        # The DCT is a linear map, so it is applied as a (bands, coefficients) matrix taken
        # from tf.signal itself: the same numbers, and a plain matmul that TFLite can convert
        # and quantise (chapter 06).
        self.dct = tf.signal.mfccs_from_log_mel_spectrograms(
            tf.eye(int(bands)))[:, :self.num_coefficients]

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
    0. Without it, the digital silence that pads every recording to a fixed length weighs in
    the mean and variance as much as the speech does, so they describe how long the
    recording is as much as its channel (chapter 04).

    Args:
        frame_length: Integer, samples per frame of the features (as in
            :class:`LogMelSpectrogram`).
        frame_step: Integer, samples between successive frames of the features.

    Example:

    >>> waves = np.zeros((1, 8000), "float32")
    >>> waves[0, 800:3200] = 0.1
    >>> features = LogMelSpectrogram()(waves)
    >>> tuple(UtteranceNormalization()(features, waves).shape)
    (1, 97, 40)

    Input shape:
        ``features``: ``(batch, frames, bins)``; ``waves``: ``(batch, samples)`` or ``None``.

    Output shape:
        Those of ``features``.
    """

    def __init__(self, frame_length: int = 256, frame_step: int = 80, **kwargs):
        super().__init__(**kwargs)
        self.frame_length = _checks.integer("frame_length", frame_length)
        self.frame_step = _checks.integer("frame_step", frame_step)

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


class _TrainingOnly(layers.Layer):
    """Base of the augmentation layers: identity unless ``training`` is true, and the output
    has the input's shape. ``seed`` (``None`` or an int) seeds the layer's random numbers."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = _checks.seed(seed)
        self.generator = keras.random.SeedGenerator(self.seed)

    def call(self, x, training=None):
        return self.augment(x) if training else x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@_register
class AddNoise(_TrainingOnly):
    """Add white noise at a random signal-to-noise ratio in [``min_snr_db``, ``max_snr_db``].

    The noise covers the recording only, not the digital silence that pads it: at inference
    that padding is exact zeros, and noise there in training would teach the model a silence
    it never meets. The SNR is measured over the recording too.

    Args:
        min_snr_db: Float, the lowest signal-to-noise ratio, in dB.
        max_snr_db: Float, the highest, at least ``min_snr_db``.
        seed: ``None`` or an integer seed.

    Example:

    >>> waves = np.ones((2, 8000), "float32")
    >>> noisy = AddNoise(20.0, 20.0, seed=1)(waves, training=True)
    >>> tuple(noisy.shape)
    (2, 8000)
    >>> bool(np.all(AddNoise()(waves) == waves))  # outside training: unchanged
    True
    """

    def __init__(self, min_snr_db: float = 10.0, max_snr_db: float = 30.0,
                 seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        self.min_snr_db, self.max_snr_db = _checks.interval("min_snr_db", min_snr_db,
                                                            "max_snr_db", max_snr_db)

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
    """Shift each waveform by up to ``max_shift`` samples either way (zeros fill the gap).

    Args:
        max_shift: Integer >= 0, the largest shift in samples.
        seed: ``None`` or an integer seed.

    Example:

    >>> waves = np.arange(1, 9, dtype="float32")[None]
    >>> shifted = TimeShift(2, seed=0)(waves, training=True)
    >>> tuple(shifted.shape)
    (1, 8)
    """

    def __init__(self, max_shift: int = 800, seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        self.max_shift = _checks.integer("max_shift", max_shift, minimum=0)

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
    the tempo: a cheap way to make a few voices sound like more speakers (Ko et al., "Audio
    augmentation for speech recognition", 2015). The output keeps the input's length: a
    sped-up recording ends in silence, a slowed one is cut at the end.

    Args:
        min_rate: Float above 0, the slowest playback rate (1 is unchanged).
        max_rate: Float, the fastest, at least ``min_rate``.
        seed: ``None`` or an integer seed.

    Example:

    >>> faster = SpeedPerturb(1.2, 1.2, seed=0)(np.ones((1, 8000), "float32"), training=True)
    >>> bool(np.all(faster[0, 6700:] == 0))  # played faster, it ends early
    True
    """

    def __init__(self, min_rate: float = 0.9, max_rate: float = 1.1, seed: int | None = None,
                 **kwargs):
        super().__init__(seed, **kwargs)
        self.min_rate, self.max_rate = _checks.interval(
            "min_rate", _checks.positive("min_rate", min_rate), "max_rate", max_rate)

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
    ``freq_masks`` bands of up to ``freq_width`` bins are set to the utterance mean.

    Args:
        time_masks: Integer >= 0, masks along time.
        time_width: Integer >= 0, the widest time mask, in frames.
        freq_masks: Integer >= 0, masks along frequency.
        freq_width: Integer >= 0, the widest frequency mask, in bins.
        seed: ``None`` or an integer seed.

    Example:

    >>> spectrogram = np.random.default_rng(0).normal(size=(1, 97, 40)).astype("float32")
    >>> masked = SpecAugment(seed=0)(spectrogram, training=True)
    >>> tuple(masked.shape)
    (1, 97, 40)
    """

    def __init__(self, time_masks: int = 2, time_width: int = 10, freq_masks: int = 2,
                 freq_width: int = 5, seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        self.time_masks = _checks.integer("time_masks", time_masks, minimum=0)
        self.time_width = _checks.integer("time_width", time_width, minimum=0)
        self.freq_masks = _checks.integer("freq_masks", freq_masks, minimum=0)
        self.freq_width = _checks.integer("freq_width", freq_width, minimum=0)

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
