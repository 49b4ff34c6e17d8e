"""Chapter 03's code exercises (see :mod:`swtwo_tf.exercises`).

Each asks for one step of the audio front end as a NumPy function: framing, the power
spectrum of a frame, the mel band edges, mixing noise at a chosen SNR, delta features.
"""

from __future__ import annotations

import numpy as np

from swtwo_tf.exercises import Exercise, ExerciseError, close, register

# --- 03.1: frame a signal ---------------------------------------------------------------


def frame_solution(x, frame_length, frame_step):
    """``(frames, frame_length)``: frame ``t`` is ``x[t * frame_step : t * frame_step +
    frame_length]``; only whole frames, as ``tf.signal.frame`` without padding."""
    x = np.asarray(x)
    count = 1 + (len(x) - frame_length) // frame_step
    return np.stack([x[t * frame_step:t * frame_step + frame_length] for t in range(count)])


def frame_wrong(x, frame_length, frame_step):
    """Forgets the first frame in the count: ``(len(x) - frame_length) // frame_step``."""
    x = np.asarray(x)
    count = (len(x) - frame_length) // frame_step
    return np.stack([x[t * frame_step:t * frame_step + frame_length] for t in range(count)])


def check_frame(answer):
    import tensorflow as tf

    for samples, length, step in ((20, 8, 3), (8000, 256, 80), (30, 10, 10)):
        x = np.arange(samples, dtype="float32")
        expected = tf.signal.frame(x, length, step).numpy()
        got = np.asarray(answer(x, length, step))
        if got.shape != expected.shape:
            raise ExerciseError(
                f"{samples} samples in frames of {length} every {step} should give "
                f"{expected.shape[0]} frames of {length} samples, shape {expected.shape}; you "
                f"give shape {got.shape}. Count the frames: 1 + (samples - frame_length) // "
                "frame_step")
        close(got, expected, f"the frames of {samples} samples ({length} every {step})")


# --- 03.2: power spectrum of one frame --------------------------------------------------


def power_spectrum_solution(frame):
    """``|DFT(w * frame)|**2`` for bins ``0 .. N/2`` with the periodic Hann window ``w``."""
    frame = np.asarray(frame, dtype="float64")
    n = len(frame)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)  # periodic: / n, not n - 1
    return np.abs(np.fft.rfft(frame * window)) ** 2


def power_spectrum_wrong(frame):
    """NumPy's symmetric Hann window (``np.hanning``), not the periodic one of tf.signal."""
    frame = np.asarray(frame, dtype="float64")
    return np.abs(np.fft.rfft(frame * np.hanning(len(frame)))) ** 2


def check_power_spectrum(answer):
    import tensorflow as tf

    frame = np.random.default_rng(3).normal(size=64).astype("float32")
    expected = tf.abs(tf.signal.stft(frame[None], 64, 64, fft_length=64))[0, 0] ** 2
    got = np.asarray(answer(frame))
    if got.shape != (33,):
        raise ExerciseError(f"a frame of 64 samples has 64 // 2 + 1 = 33 frequency bins; you "
                            f"give shape {got.shape} (np.fft.rfft keeps just those)")
    if np.allclose(got, np.abs(np.fft.rfft(frame)) ** 2, rtol=1e-3):
        raise ExerciseError("your spectrum is that of the frame without a window: multiply "
                            "the frame by a Hann window first")
    if np.allclose(got, np.abs(np.fft.rfft(frame * np.hanning(64))) ** 2, rtol=1e-3):
        raise ExerciseError("you used the symmetric Hann window (np.hanning, cos(2 pi n / "
                            "(N - 1))); tf.signal.stft uses the periodic one, cos(2 pi n / N)")
    close(got, expected.numpy(), "the power spectrum", atol=1e-3, rtol=1e-3)


# --- 03.3: mel band edges ---------------------------------------------------------------


def _hz_to_mel(f):
    return 1127.0 * np.log1p(np.asarray(f, dtype="float64") / 700.0)


def _mel_to_hz(m):
    return 700.0 * np.expm1(np.asarray(m, dtype="float64") / 1127.0)


def mel_edges_solution(num_bands, fmin, fmax):
    """The ``num_bands + 2`` band edges in Hz, equally spaced on the mel scale (HTK formula,
    as ``tf.signal.linear_to_mel_weight_matrix``): band ``i`` rises from edge ``i``, peaks at
    edge ``i + 1`` and falls to zero at edge ``i + 2``."""
    def hz_to_mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)  # = 2595 * log10(1 + f / 700)

    def mel_to_hz(m):
        return 700.0 * (np.exp(m / 1127.0) - 1.0)

    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), num_bands + 2))


def mel_edges_wrong(num_bands, fmin, fmax):
    """Edges equally spaced in Hz: every band as wide as the next."""
    return np.linspace(fmin, fmax, num_bands + 2)


def check_mel_edges(answer):
    for bands, fmin, fmax in ((40, 20.0, 4000.0), (10, 0.0, 8000.0)):
        got = np.asarray(answer(bands, fmin, fmax), dtype="float64")
        expected = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), bands + 2))
        if got.shape != expected.shape:
            raise ExerciseError(f"{bands} triangular bands need {bands + 2} edges (each band "
                                f"spans three: left, peak, right); you give shape {got.shape}")
        if not np.isclose(got[0], fmin) or not np.isclose(got[-1], fmax):
            raise ExerciseError(f"the edges must run from fmin = {fmin:g} Hz to fmax = "
                                f"{fmax:g} Hz; yours run from {got[0]:.6g} to {got[-1]:.6g}")
        widths = np.diff(got)
        if np.allclose(widths, widths[0], rtol=1e-3):
            raise ExerciseError("your bands are all equally wide in Hz; space the edges "
                                "equally in mel (hz_to_mel, np.linspace, then mel_to_hz)")
        close(got, expected, f"the edges of {bands} bands from {fmin:g} to {fmax:g} Hz",
              atol=1e-3, rtol=1e-5)


# --- 03.4: add noise at a chosen SNR ----------------------------------------------------


def add_noise_solution(signal, noise, snr_db):
    """``signal + a * noise`` with ``a`` chosen so that ``10 log10(P_signal / P_noise) =
    snr_db``, the powers being mean squares."""
    signal, noise = np.asarray(signal, "float64"), np.asarray(noise, "float64")
    signal_power = np.mean(signal ** 2)
    noise_power = np.mean(noise ** 2)
    scale = np.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10)))
    return signal + scale * noise


def add_noise_wrong(signal, noise, snr_db):
    """Treats the dB as a power ratio but scales the amplitude by it: the SNR doubles."""
    signal, noise = np.asarray(signal, "float64"), np.asarray(noise, "float64")
    scale = np.sqrt(np.mean(signal ** 2) / np.mean(noise ** 2)) / 10 ** (snr_db / 10)
    return signal + scale * noise


def check_add_noise(answer):
    rng = np.random.default_rng(4)
    signal = np.sin(2 * np.pi * 440 * np.arange(800) / 8000) * 0.3
    noise = rng.normal(size=800)
    for snr_db in (10.0, 0.0, 25.0):
        mixed = np.asarray(answer(signal, noise, snr_db), dtype="float64")
        if mixed.shape != signal.shape:
            raise ExerciseError(f"the mix must have the signal's shape {signal.shape}, "
                                f"not {mixed.shape}")
        added = mixed - signal
        if np.allclose(added, 0):
            raise ExerciseError("your mix equals the signal: no noise was added")
        measured = 10 * np.log10(np.mean(signal ** 2) / np.mean(added ** 2))
        if not np.isclose(measured, snr_db, atol=1e-3):
            raise ExerciseError(f"asked for {snr_db:g} dB, your mix has an SNR of "
                                f"{measured:.2f} dB; the dB compare powers (mean squares), "
                                "and amplitude is the square root of power")
        close(mixed, add_noise_solution(signal, noise, snr_db),
              f"the mix at {snr_db:g} dB (signal plus a scaled copy of the noise)")


# --- 03.5: delta features ---------------------------------------------------------------


def deltas_solution(features, width=2):
    """Delta of ``(frames, coefficients)`` features along time:
    ``d_t = sum_{n=1}^{width} n (c_{t+n} - c_{t-n}) / (2 sum_{n=1}^{width} n^2)``, the first
    and last frames repeated beyond the edges."""
    features = np.asarray(features, dtype="float64")
    padded = np.pad(features, ((width, width), (0, 0)), mode="edge")
    frames = len(features)
    total = sum(n * (padded[width + n:width + n + frames] - padded[width - n:width - n + frames])
                for n in range(1, width + 1))
    return total / (2 * sum(n * n for n in range(1, width + 1)))


def deltas_wrong(features, width=2):
    """The same formula along the wrong axis: across coefficients instead of across time."""
    return deltas_solution(np.asarray(features).T, width).T


def check_deltas(answer):
    rng = np.random.default_rng(5)
    ramp = np.outer(np.arange(12.0), np.ones(3)) * 0.5  # each coefficient rises 0.5 a frame
    got = np.asarray(answer(ramp), dtype="float64")
    if got.shape != ramp.shape:
        raise ExerciseError(f"deltas keep the features' shape (frames, coefficients) = "
                            f"{ramp.shape}; you give {got.shape}")
    if not np.allclose(got[2:-2], 0.5):
        raise ExerciseError("on features that rise by 0.5 per frame the delta away from the "
                            f"edges must be 0.5; you give {got[2:-2, 0].round(4).tolist()}. "
                            "Take differences along time (axis 0) and divide by "
                            "2 * (1 + 4) for width 2")
    features = rng.normal(size=(9, 4))
    close(got, deltas_solution(ramp), "the deltas of a ramp (edges repeated)")
    close(answer(features), deltas_solution(features), "the deltas of random features")


register(
    Exercise("03.1", "frame(x, frame_length, frame_step): cut a 1-D signal into overlapping "
             "frames, shape (frames, frame_length), like tf.signal.frame.",
             check_frame, frame_solution, frame_wrong),
    Exercise("03.2", "power_spectrum(frame): |DFT of the Hann-windowed frame|^2 for bins "
             "0..N/2, as tf.signal.stft computes it.",
             check_power_spectrum, power_spectrum_solution, power_spectrum_wrong),
    Exercise("03.3", "mel_edges(num_bands, fmin, fmax): the num_bands + 2 band edges in Hz, "
             "equally spaced on the mel scale.",
             check_mel_edges, mel_edges_solution, mel_edges_wrong),
    Exercise("03.4", "add_noise(signal, noise, snr_db): signal plus the noise scaled so that "
             "the mix has the given signal-to-noise ratio in dB.",
             check_add_noise, add_noise_solution, add_noise_wrong),
    Exercise("03.5", "deltas(features, width=2): the regression delta of (frames, "
             "coefficients) features along time, edge frames repeated.",
             check_deltas, deltas_solution, deltas_wrong),
)
