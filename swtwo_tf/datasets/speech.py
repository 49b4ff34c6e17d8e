"""Spoken digits as tf.data pipelines, the two evaluation splits, and your own WAV files.

Used by chapters 03 (audio features) and 04 (speech recognition) and ``swtwo predict``.
The dataset is the Free Spoken Digit Dataset (TFDS ``spoken_digit``, 1.0.9): 2,500 recordings
at 8 kHz, 5 speakers x 10 digits x 50 takes, named ``{digit}_{speaker}_{index}.wav``.

Two deterministic splits:

- ``"documented"``: FSDD's own split, takes 0-4 of every speaker and digit are the test set
  (250 recordings); the model has heard every test speaker in training.
- ``"speaker:<name>"``: leave one speaker out; all of that speaker's recordings are the test
  set and none of them is seen in training. This says whether a model recognises speech or
  memorises voices.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from swtwo_tf.datasets import core, registry, samples

SAMPLE_RATE = 8_000
#: Fixed input length in samples (1 s): 99.8 % of FSDD recordings are shorter.
LENGTH = 8_000
#: Peak level of your own recordings after endpointing (FSDD's median peak is about 0.22).
LEVEL = 0.25
#: Your own files may be at most this long before trimming (seconds).
MAX_SECONDS = 10.0
FSDD_NAME = re.compile(r"^(?P<digit>\d)_(?P<speaker>[A-Za-z0-9-]+)_(?P<index>\d+)\.wav$")


class AudioFileError(ValueError):
    """A WAV file that cannot be used: missing, unreadable, empty, silent or too long."""


@dataclass
class Recordings:
    """All recordings of a dataset as arrays: float32 waveforms in [-1, 1] (``LENGTH`` long)."""

    waves: np.ndarray  # (n, LENGTH) float32
    labels: np.ndarray  # (n,) int64 digit
    speakers: np.ndarray  # (n,) str
    indices: np.ndarray  # (n,) int take number from the file name
    source: str = "tfds"

    def subset(self, idx) -> Recordings:
        """The recordings at positions ``idx`` (for example one split's training part)."""
        idx = np.asarray(idx)
        return Recordings(self.waves[idx], self.labels[idx], self.speakers[idx],
                          self.indices[idx], self.source)

    def __add__(self, other: Recordings) -> Recordings:
        """Both sets of recordings, ``self``'s first (its ``source`` is kept)."""
        if not isinstance(other, Recordings):
            return NotImplemented
        return Recordings(*(np.concatenate([getattr(self, k), getattr(other, k)])
                            for k in ("waves", "labels", "speakers", "indices")), self.source)


@dataclass
class SpeechData:
    """Train/validation/test pipelines of ``(waveform, digit)`` for one split."""

    split: str
    train: object
    validation: object
    test: object
    test_speakers: np.ndarray  # speaker of each test example, in order
    class_names: list[str] = field(
        default_factory=lambda: list(registry.get_spec("spoken_digit").class_names))
    sizes: dict[str, int] = field(default_factory=dict)
    source: str = "tfds"


def fix_length(wave: np.ndarray, length: int = LENGTH) -> np.ndarray:
    """Crop ``wave`` to ``length`` samples or pad it with silence at the end."""
    wave = np.asarray(wave, dtype=np.float32)[:length]
    return np.pad(wave, (0, length - len(wave)))


def parse_name(name: str) -> tuple[int, str, int]:
    """``"7_theo_23.wav"`` -> ``(7, "theo", 23)``; ValueError for other names."""
    match = FSDD_NAME.match(Path(name).name)
    if not match:
        raise ValueError(f"{name!r} is not an FSDD-style name "
                         "({digit}_{speaker}_{index}.wav)")
    return int(match["digit"]), match["speaker"], int(match["index"])


def recordings(data_dir: str | os.PathLike | None = None) -> Recordings:
    """Every spoken_digit recording, scaled from int16 range to float32 in [-1, 1]."""
    ds = core.load("spoken_digit", "train", data_dir=data_dir)
    waves, labels, speakers, indices = [], [], [], []
    for example in ds.as_numpy_iterator():
        waves.append(fix_length(example["audio"] / 32768.0))
        digit, speaker, index = parse_name(example["audio/filename"].decode())
        if digit != int(example["label"]):
            raise ValueError(f"{example['audio/filename']!r}: label {example['label']} "
                             f"disagrees with the file name")
        labels.append(digit)
        speakers.append(speaker)
        indices.append(index)
    order = np.lexsort((indices, labels, speakers))  # a fixed order, whatever TFDS yields
    return Recordings(np.stack(waves)[order], np.array(labels, np.int64)[order],
                      np.array(speakers)[order], np.array(indices)[order],
                      core.source("spoken_digit", data_dir))


def split_indices(rec: Recordings, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` positions in ``rec`` for ``"documented"`` or ``"speaker:<name>"``."""
    if split == "documented":
        test = rec.indices < 5
    elif split.startswith("speaker:"):
        speaker = split.split(":", 1)[1]
        if speaker not in set(rec.speakers):
            raise ValueError(f"split {split!r}: no speaker {speaker!r}; the speakers are "
                             f"{sorted(set(rec.speakers))}")
        test = rec.speakers == speaker
    else:
        raise ValueError(f"split must be 'documented' or 'speaker:<name>', got {split!r}")
    return np.flatnonzero(~test), np.flatnonzero(test)


def training_indices(rec: Recordings, split: str, validation_fraction: float = 0.1,
                     seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """``(train, validation)`` positions of a split's training part, the validation share
    carved with ``seed`` exactly as :func:`speech_datasets` carves it (chapter 04 replays the
    training part and scores the validation part when it personalises a model)."""
    val_idx, train_idx = core.split_off_validation(split_indices(rec, split)[0],
                                                   validation_fraction, seed)
    return train_idx, val_idx


def speech_datasets(
    split: str = "documented",
    *,
    batch_size: int = 32,
    validation_fraction: float = 0.1,
    seed: int = 42,
    data_dir: str | os.PathLike | None = None,
    rec: Recordings | None = None,
    extra: Recordings | None = None,
) -> SpeechData:
    """Batched pipelines of fixed-length waveforms for one split (see the module docstring).

    The validation set is carved from the training part with a fixed ``seed``; training
    batches are reshuffled every epoch with the same seed. Pass ``rec`` (from
    :func:`recordings`) to build several splits without reading the data again.

    ``extra`` recordings (for example ``voices.synthetic_recordings()``, voices made by the
    kit) join the training part only; validation and test stay real recordings.
    """
    rec = rec or recordings(data_dir)
    train_idx, val_idx = training_indices(rec, split, validation_fraction, seed)
    test_idx = split_indices(rec, split)[1]
    n_val = len(val_idx)
    train = rec
    if extra is not None:
        train = rec.subset(train_idx) + extra
        train_idx = np.arange(len(train.waves))
    return SpeechData(split, pipeline(train, train_idx, batch_size, shuffle=True, seed=seed),
                      pipeline(rec, val_idx, batch_size), pipeline(rec, test_idx, batch_size),
                      rec.speakers[test_idx],
                      sizes={"train": len(train_idx), "validation": n_val,
                             "test": len(test_idx)},
                      source=rec.source)


def pipeline(rec: Recordings, idx, batch_size: int = 32, *, shuffle: bool = False,
             seed: int = 42):
    """Batched ``(waveform, digit)`` pairs of the recordings at positions ``idx``, cached;
    with ``shuffle``, reshuffled every epoch from ``seed``."""
    idx = np.asarray(idx)
    if idx.size == 0:
        raise ValueError("no recordings selected: idx is empty")
    return core.batched(rec.waves[idx], rec.labels[idx], batch_size, shuffle=shuffle, seed=seed)


def personal_datasets(voice: Recordings, *, tune_takes: int = 3, replay: Recordings | None = None,
                      replay_size: int = 200, batch_size: int = 32,
                      seed: int = 42) -> SpeechData:
    """Pipelines to personalise a recogniser to a new voice (chapter 04).

    - ``train``: the new voice's first ``tune_takes`` takes of every digit, plus
      ``replay_size`` recordings drawn from ``replay`` (the data the model was trained on),
      so that fine-tuning on a handful of files does not make it forget the voices it knew;
    - ``validation``: another ``replay_size`` recordings of ``replay`` (the old voices), to
      watch for forgetting (or the tuning takes again when there is no ``replay``);
    - ``test``: the new voice's remaining takes, never used for tuning.
    """
    tune = np.flatnonzero(voice.indices < tune_takes)
    held = np.flatnonzero(voice.indices >= tune_takes)
    if tune.size == 0 or held.size == 0:
        raise ValueError(f"the voice has takes {sorted(set(voice.indices.tolist()))}: "
                         f"tune_takes={tune_takes} must leave takes on both sides")
    if replay is None:
        mixed, validation = voice, pipeline(voice, tune, batch_size)
        train_idx = tune
    else:
        picked = np.random.default_rng(seed).permutation(len(replay.waves))[:2 * replay_size]
        old_train, old_val = picked[:replay_size], picked[replay_size:]
        mixed = voice.subset(tune) + replay.subset(old_train)
        train_idx = np.arange(len(mixed.waves))
        validation = pipeline(replay, old_val, batch_size)
    return SpeechData(f"personal:{tune_takes}",
                      pipeline(mixed, train_idx, batch_size, shuffle=True, seed=seed),
                      validation, pipeline(voice, held, batch_size), voice.speakers[held],
                      sizes={"train": len(train_idx), "tune": len(tune), "test": len(held)},
                      source=voice.source)


def snr_db(clean, noisy) -> np.ndarray:
    """The signal-to-noise ratio of each row of ``noisy`` against ``clean``, in dB: the
    power of ``clean`` over the power of ``noisy - clean``, powers being mean squares."""
    clean, noisy = np.asarray(clean, np.float64), np.asarray(noisy, np.float64)
    noise = np.sum((noisy - clean) ** 2, axis=-1)
    return 10 * np.log10(np.sum(clean ** 2, axis=-1) / np.maximum(noise, 1e-20))


def with_noise(waves, snr: float, *, seed: int = 0, padding: bool = True) -> np.ndarray:
    """``waves`` (``(n, samples)``) plus white Gaussian noise at ``snr`` dB for each row;
    deterministic for a ``seed``. A silent row stays silent.

    ``padding=True``: noise over the whole window, the SNR measured over it (a noisy room
    is noisy between words too). ``padding=False``: noise only from each recording's first
    to its last non-zero sample, the digital silence that pads it kept exact, the SNR
    measured over the recording (as if the clip had been cut from a noisy room tightly).
    """
    waves = np.asarray(waves, dtype=np.float32)
    if waves.ndim != 2:
        raise ValueError(f"waves must have shape (n, samples), got {waves.shape}")
    if isinstance(snr, bool) or not isinstance(snr, int | float | np.number) or not np.isfinite(
            snr):
        raise ValueError(f"snr must be a finite number of dB, got {snr!r}")
    inside = np.ones(waves.shape, bool)
    if not padding:
        nonzero = waves != 0
        first = np.argmax(nonzero, axis=1)[:, None]
        last = waves.shape[1] - 1 - np.argmax(nonzero[:, ::-1], axis=1)[:, None]
        position = np.arange(waves.shape[1])[None]
        inside = (position >= first) & (position <= last) & nonzero.any(axis=1, keepdims=True)
    count = np.maximum(inside.sum(axis=1, keepdims=True), 1)
    power = np.sum(np.square(waves, dtype=np.float64) * inside, axis=1, keepdims=True) / count
    noise = np.random.default_rng(seed).normal(0, 1, waves.shape) * inside
    noise_power = np.maximum(np.sum(noise ** 2, axis=1, keepdims=True) / count, 1e-30)
    noise *= np.sqrt(power / noise_power / 10 ** (snr / 10))
    return (waves + noise).astype(np.float32)


def trim_silence(wave: np.ndarray, threshold_db: float = 40.0, frame: int = 160) -> np.ndarray:
    """Drop leading and trailing frames quieter than ``threshold_db`` below the loudest frame."""
    frames = len(wave) // frame
    if frames == 0:
        return wave
    rms = np.sqrt(np.mean(wave[:frames * frame].reshape(frames, frame) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(20 * np.log10(rms / rms.max()) > -threshold_db)
    return wave[loud[0] * frame:(loud[-1] + 1) * frame]


def endpoint_span(wave: np.ndarray, *, aggressiveness: int = 2, frame_ms: int = 30,
                  gap: float = 0.2, margin: float = 0.1, floor_db: float = 6.0,
                  edge: float = 0.05) -> tuple[int, int]:
    """Where the spoken word is in a longer 8 kHz recording (endpointing): ``(start, end)``
    samples, as ``load_wav`` and ``swtwo predict`` cut your own recordings (:func:`endpoint`).

    1. WebRTC's voice-activity detector (``webrtcvad``, ``aggressiveness`` 0-3) marks each
       ``frame_ms`` frame speech or not; runs of speech frames less than ``gap`` seconds apart
       are one segment; the segment with the most energy is the word (the detector also fires
       on noise now and then, but more weakly), widened by ``margin`` seconds either side,
       since the detector misses weak sounds at a word's edges (the "s" of "six").
    2. The cut is then tightened by energy: the room's noise floor is the median level of the
       10 ms frames outside it, and frames at its edges less than ``floor_db`` above that floor
       are dropped, ``edge`` seconds kept beyond the first and last louder frame. A model
       trained on tightly cut clips (FSDD's) hears noise before a word as part of it.

    With no speech frame at all, the energy rule :func:`trim_silence` decides.
    """
    import webrtcvad

    wave = np.asarray(wave, np.float32)
    if wave.ndim != 1:
        raise ValueError(f"wave must be 1-D (one recording), got shape {wave.shape}")
    vad, size = webrtcvad.Vad(aggressiveness), SAMPLE_RATE * frame_ms // 1000
    pcm = (np.clip(wave, -1, 1) * 32767).astype("<i2")
    speech_frames = [i for i in range(len(wave) // size)
                     if vad.is_speech(pcm[i * size:(i + 1) * size].tobytes(), SAMPLE_RATE)]
    if not speech_frames:
        kept = trim_silence(wave)
        start = (kept.ctypes.data - wave.ctypes.data) // wave.itemsize if kept.size else 0
        return start, start + len(kept)
    runs = np.split(np.array(speech_frames),
                    np.flatnonzero(np.diff(speech_frames) > 1 + gap * 1000 / frame_ms) + 1)
    energy = [np.sum(np.square(wave[r[0] * size:(r[-1] + 1) * size])) for r in runs]
    best = runs[int(np.argmax(energy))]
    pad = int(margin * SAMPLE_RATE)
    start, end = max(best[0] * size - pad, 0), min((best[-1] + 1) * size + pad, len(wave))
    tick = SAMPLE_RATE // 100  # 10 ms frames for the level
    count = len(wave) // tick
    level = np.sqrt(np.mean(np.square(wave[:count * tick]).reshape(count, tick), axis=1))
    first, last = start // tick, min(-(-end // tick), count)
    outside = np.concatenate([level[:first], level[last:]])
    if outside.size < 5:  # no room noise to measure: keep the detector's cut
        return start, end
    loud = np.flatnonzero(level[first:last] > np.median(outside) * 10 ** (floor_db / 20))
    if loud.size == 0:
        return start, end
    keep = round(edge * SAMPLE_RATE)
    return (max((first + loud[0]) * tick - keep, start),
            min((first + loud[-1] + 1) * tick + keep, end))


def endpoint(wave: np.ndarray, **options) -> np.ndarray:
    """The spoken word cut out of a longer recording: ``wave`` between the two samples
    :func:`endpoint_span` finds (``options`` go to it)."""
    wave = np.asarray(wave, np.float32)
    start, end = endpoint_span(wave, **options)
    return wave[start:end]


def as_recorded(waves, *, seed: int = 0, around: tuple[float, float] = (1.0, 3.0),
                snr: tuple[float, float] = (10.0, 30.0),
                peak: tuple[float, float] = (0.05, 0.2)) -> tuple[list, np.ndarray]:
    """FSDD clips as people record a digit: each word (its zero padding dropped) at a random
    offset inside ``around`` seconds of room noise (pink: power falling 3 dB per octave, at an
    SNR drawn from ``snr`` dB against the word), the whole at a peak level drawn from ``peak``.

    Returns ``(recordings, spans)``: the variable-length waveforms and each word's
    ``(start, end)`` sample. Deterministic for a ``seed``.
    """
    rng = np.random.default_rng(seed)
    out, spans = [], []
    for wave in np.asarray(waves, np.float32):
        word = wave[:np.flatnonzero(wave)[-1] + 1] if wave.any() else wave
        total = len(word) + int(rng.uniform(*around) * SAMPLE_RATE)
        start = int(rng.integers(0, total - len(word) + 1))
        spectrum = np.fft.rfft(rng.normal(size=total))
        noise = np.fft.irfft(spectrum / np.sqrt(np.maximum(np.arange(len(spectrum)), 1)), total)
        power = np.mean(np.square(word, dtype=np.float64)) if len(word) else 1e-6
        noise *= np.sqrt(power / np.mean(noise ** 2) / 10 ** (rng.uniform(*snr) / 10))
        noise[start:start + len(word)] += word
        out.append((noise * rng.uniform(*peak) / np.abs(noise).max()).astype(np.float32))
        spans.append((start, start + len(word)))
    return out, np.array(spans)


def load_wav(path: str | os.PathLike, *, max_seconds: float = MAX_SECONDS,
             trim: bool = True) -> np.ndarray:
    """Read your own recording as the models expect it: mono float32 at 8 kHz, the word cut
    out by :func:`endpoint` (``trim=False`` keeps the whole file, so times in the result are
    times in the file), its peak scaled to ``LEVEL``.

    Stereo is averaged to mono; any sample rate is resampled to 8 kHz with soxr (high
    quality). Raises :class:`AudioFileError` naming the file when it is missing, unreadable,
    empty, silent, or longer than ``max_seconds``.
    """
    import soundfile
    import soxr

    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file (expected a WAV recording)")
    try:
        info = soundfile.info(str(path))
        if info.frames / info.samplerate > max_seconds:
            raise AudioFileError(f"{path}: {info.frames / info.samplerate:.1f} s long; "
                                 f"at most {max_seconds:g} s is accepted"
                                 + (" (one spoken digit)" if max_seconds == MAX_SECONDS else ""))
        wave, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as exc:
        raise AudioFileError(f"{path}: cannot be read as audio ({exc}); "
                             "expected a WAV file") from None
    if wave.size == 0:
        raise AudioFileError(f"{path}: the recording is empty")
    wave = wave.mean(axis=1)
    if rate != SAMPLE_RATE:
        wave = soxr.resample(wave, rate, SAMPLE_RATE).astype(np.float32)
    if np.abs(wave).max() < 1e-4:
        raise AudioFileError(f"{path}: the recording is silent")
    if not trim:
        return wave
    wave = endpoint(wave)
    return wave * np.float32(LEVEL / np.abs(wave).max())


def load_wav_folder(folder: str | os.PathLike) -> Recordings:
    """Your own labelled recordings, in either layout, as :class:`Recordings` (chapter 04).

    - ``keras.utils.audio_dataset_from_directory`` layout: one sub-folder per digit
      (``folder/7/anything.wav``); the speaker is recorded as ``"you"``;
    - FSDD names in one folder (``folder/7_ana_0.wav``), which also give the speaker.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AudioFileError(f"{folder}: no such folder (expected WAV recordings)")
    files = sorted(folder.rglob("*.wav"))
    if not files:
        raise AudioFileError(f"{folder}: no .wav files found")
    digits = registry.get_spec("spoken_digit").class_names
    waves, labels, speakers, indices = [], [], [], []
    for i, path in enumerate(files):
        if path.parent != folder and path.parent.name in digits:
            digit, speaker, index = int(path.parent.name), "you", i
        else:
            try:
                digit, speaker, index = parse_name(path.name)
            except ValueError:
                raise AudioFileError(
                    f"{path}: cannot tell its digit; put it in a folder named after the "
                    "digit (7/take1.wav) or name it {digit}_{speaker}_{index}.wav") from None
        waves.append(fix_length(load_wav(path)))
        labels.append(digit)
        speakers.append(speaker)
        indices.append(index)
    return Recordings(np.stack(waves), np.array(labels, np.int64), np.array(speakers),
                      np.array(indices), source=str(folder))


def _pipelines(*, split: str, batch_size: int, seed: int, recordings: Recordings | None = None,
               **options) -> SpeechData:
    """The registry's pipeline builder; ``recordings`` from :func:`recordings` skips reading
    them again (see :func:`speech_datasets`)."""
    return speech_datasets(split, batch_size=batch_size, seed=seed, rec=recordings, **options)


registry.register(registry.DatasetSpec(
    "spoken_digit", "Free Spoken Digit Dataset (8 kHz speech, 10 digits, 5 speakers)", "audio",
    class_names=tuple(str(d) for d in range(10)), pipelines=_pipelines,
    default_model="rnn_classifier", pipeline_splits=("documented", "speaker:"),
    tfds=registry.TfdsSource("spoken_digit", "1.0.9", "github.com"),
    features={"audio": ((None,), "int64"), "audio/filename": ((), "string"),
              "label": ((), "int64")},
    supervised_keys=("audio", "label"), splits=("train",), sizes={"train": 2_500},
    sample=samples.LabelledWavs("spoken_digit"), licence="CC BY-SA 4.0",
    floors={"rnn_classifier": (0.98, 0.5, 0.2), "cnn_classifier": (0.92, 0.3, 0.2),
            "rnn_unseen_speaker": (0.8, 0.4, 0.1),
            # chapter 06: a briefly trained CRNN after TFLite conversion
            "rnn_tflite": (0.97, 0.3, 0.15)}))
