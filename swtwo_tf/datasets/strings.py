"""Connected digit strings made from FSDD recordings, for continuous speech recognition (ch. 08).

A phone number or a PIN is a stream of words of unknown count and timing. The kit assembles
such utterances itself, deterministically, from the Free Spoken Digit Dataset
(``datasets.speech``):

- one speaker per string, 1 to :data:`MAX_DIGITS` digits, each digit a recording of that
  speaker saying it, trimmed of its leading and trailing silence;
- a pause before, between and after the words: between words none at all (the words touch)
  with probability ``touch``, else a random length up to ``max_pause`` seconds;
- optionally a speed change per string (another voice, cheaply: ``speed``), a random peak
  level (``level``), and background noise at ``snr`` dB over the whole string;
- each string keeps its transcript and each word's start and end time.

Splits cut the *recordings* first, so a recording is used by strings of one part only:

- ``"documented"``: FSDD's test takes (0-4 of every speaker and digit) make the test strings
  and appear in no other part; a seeded 10 % of the other recordings make the validation
  strings and the rest the training strings.
- ``"speaker:<name>"``: that speaker's recordings make the test strings and nobody else's;
  the other four speakers' recordings are cut into validation and training as above.

Training strings are made anew every epoch (seeded by ``seed`` and the epoch), so the model
hears thousands of different strings; validation and test strings are fixed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from swtwo_tf import config
from swtwo_tf.datasets import core, registry, speech

SAMPLE_RATE = speech.SAMPLE_RATE
MAX_DIGITS = 7
#: Strings made per part by :func:`digit_strings` (quick mode: ``QUICK_COUNTS``).
COUNTS = {"train": 4000, "validation": 300, "test": 500}
QUICK_COUNTS = {"train": 480, "validation": 64, "test": 96}
#: How strings are made unless a call says otherwise (see :func:`assemble`).
MAKE = {"max_digits": MAX_DIGITS, "touch": 0.25, "max_pause": 0.5, "edge": (0.05, 0.3),
        "speed": 0.0, "level": (0.1, 0.9), "snr": 40.0}
#: Recordings are trimmed where they fall this many dB below their loudest 10 ms frame.
TRIM_DB = 35.0
#: Samples of each trimmed recording's edge kept (20 ms), so no word starts mid-consonant.
MARGIN = 160


@dataclass
class DigitStrings:
    """Utterances of digit strings: ``waves[i]`` (float32, 8 kHz, its own length) says the
    digits ``digits[i]``; ``words[i]`` holds each word's ``(digit, start, end)`` in seconds."""

    waves: list[np.ndarray]
    digits: list[tuple[int, ...]]
    words: list[list[tuple[int, float, float]]]
    speakers: np.ndarray
    recordings: list[tuple[int, ...]]  # positions in the Recordings each string is made from

    def __len__(self) -> int:
        return len(self.waves)

    @property
    def transcripts(self) -> list[str]:
        """Each string's digits as text, ``"4 0 7"`` (words separated by spaces)."""
        return [" ".join(str(d) for d in digits) for digits in self.digits]

    @property
    def seconds(self) -> np.ndarray:
        return np.array([len(w) / SAMPLE_RATE for w in self.waves])

    def subset(self, idx) -> DigitStrings:
        idx = [int(i) for i in np.asarray(idx).ravel()]
        return DigitStrings([self.waves[i] for i in idx], [self.digits[i] for i in idx],
                            [self.words[i] for i in idx], self.speakers[idx],
                            [self.recordings[i] for i in idx])


def trimmed(wave: np.ndarray) -> np.ndarray:
    """A recording without its leading and trailing silence (:data:`TRIM_DB` below its
    loudest frame), keeping :data:`MARGIN` samples either side; the digital padding of a
    fixed-length recording goes too."""
    wave = np.asarray(wave, np.float32)
    nonzero = np.flatnonzero(wave)
    if nonzero.size == 0:
        raise ValueError("a silent recording cannot be trimmed to a word")
    wave = wave[:nonzero[-1] + 1]
    frames = max(1, len(wave) // 80)
    padded_wave = np.pad(wave, (0, frames * 80 - len(wave))) if len(wave) < 80 else wave
    rms = np.sqrt(np.mean(padded_wave[:frames * 80].reshape(frames, 80) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(20 * np.log10(rms / rms.max()) > -TRIM_DB)
    start = max(0, loud[0] * 80 - MARGIN)
    end = min(len(wave), (loud[-1] + 1) * 80 + MARGIN)
    return wave[start:end]


class StringMaker:
    """Makes digit strings from a pool of recordings (:func:`assemble` with its pool ready).

    ``rec`` are the recordings and ``idx`` the positions this part may use; every speaker
    in the pool must have a recording of every digit."""

    def __init__(self, rec: speech.Recordings, idx, **make):
        unknown = sorted(set(make) - set(MAKE))
        if unknown:
            raise ValueError(f"unknown string settings {unknown}; they are {sorted(MAKE)}")
        self.make = {**MAKE, **make}
        _check_make(self.make)
        idx = np.asarray(idx)
        if idx.size == 0:
            raise ValueError("no recordings to make strings from: idx is empty")
        self.rec = rec
        self.speakers = sorted(set(rec.speakers[idx]))
        self.pool = {}
        for speaker in self.speakers:
            for digit in range(10):
                mine = idx[(rec.speakers[idx] == speaker) & (rec.labels[idx] == digit)]
                if mine.size == 0:
                    raise ValueError(f"speaker {speaker!r} has no recording of {digit} in "
                                     "this part: every speaker needs all ten digits")
                self.pool[speaker, digit] = np.sort(mine)
        self._words = {}

    def word(self, position: int) -> np.ndarray:
        if position not in self._words:
            self._words[position] = trimmed(self.rec.waves[position])
        return self._words[position]

    def strings(self, count: int, seed: int) -> DigitStrings:
        """``count`` strings, the same for the same ``seed``."""
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive int, got {count!r}")
        rng = np.random.default_rng(seed)
        out = DigitStrings([], [], [], np.array([], dtype=object), [])
        speakers = []
        for _ in range(count):
            wave, digits, words, used, speaker = self._one(rng)
            out.waves.append(wave)
            out.digits.append(digits)
            out.words.append(words)
            out.recordings.append(used)
            speakers.append(speaker)
        out.speakers = np.array(speakers)
        return out

    def recording(self, seconds: float, seed: int, *, gap: tuple = (0.6, 1.5)) -> DigitStrings:
        """One long recording of one speaker saying digit groups (strings of up to
        ``max_digits``) with ``gap`` seconds between the groups, about ``seconds`` long: a
        stream to transcribe as it goes (chapter 08's streaming demo)."""
        if not 1 <= seconds <= 600:
            raise ValueError(f"seconds must be 1..600, got {seconds!r}")
        rng = np.random.default_rng(seed)
        speaker = self.speakers[rng.integers(len(self.speakers))]
        waves, digits, words, used, t = [], (), [], (), 0
        while t < seconds * SAMPLE_RATE:
            if waves:
                waves.append(np.zeros(int(rng.uniform(*gap) * SAMPLE_RATE), np.float32))
                t += len(waves[-1])
            wave, ds, ws, us, _ = self._one(rng, speaker, noise=False)
            words += [(d, a + t / SAMPLE_RATE, b + t / SAMPLE_RATE) for d, a, b in ws]
            waves.append(wave)
            digits, used, t = digits + ds, used + us, t + len(wave)
        wave = self._noisy(np.concatenate(waves), words, rng)  # one room: noise in the gaps too
        return DigitStrings([wave], [digits], [words], np.array([speaker]), [used])

    def _one(self, rng, speaker=None, noise: bool = True):
        m = self.make
        if speaker is None:
            speaker = self.speakers[rng.integers(len(self.speakers))]
        digits = tuple(int(d) for d in rng.integers(0, 10, rng.integers(1, m["max_digits"] + 1)))
        used = tuple(int(rng.choice(self.pool[speaker, d])) for d in digits)
        factor = 1.0 + rng.uniform(-m["speed"], m["speed"]) if m["speed"] else 1.0
        pieces, words, t = [], [], 0
        edge = lambda: int(rng.uniform(*m["edge"]) * SAMPLE_RATE)  # noqa: E731
        pieces.append(np.zeros(edge(), np.float32))
        t += len(pieces[-1])
        for k, (digit, position) in enumerate(zip(digits, used, strict=True)):
            if k:
                pause = 0 if rng.random() < m["touch"] else int(
                    rng.uniform(0.05, m["max_pause"]) * SAMPLE_RATE)
                pieces.append(np.zeros(pause, np.float32))
                t += pause
            word = _speed(self.word(position), factor)
            words.append((digit, t / SAMPLE_RATE, (t + len(word)) / SAMPLE_RATE))
            pieces.append(word)
            t += len(word)
        pieces.append(np.zeros(edge(), np.float32))
        wave = np.concatenate(pieces)
        wave *= rng.uniform(*m["level"]) / max(float(np.abs(wave).max()), 1e-9)
        if noise:
            wave = self._noisy(wave, words, rng)
        return wave.astype(np.float32), digits, words, used, speaker

    def _noisy(self, wave, words, rng):
        """``wave`` with white noise at the ``snr`` setting against the words' power (drawn
        from its own generator, so the strings are the same at any snr)."""
        noise_rng = np.random.default_rng(rng.integers(2**63))
        if self.make["snr"] is None:
            return wave
        speech_power = np.mean(np.concatenate(
            [wave[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)] for _, s, e in words]) ** 2)
        noise = noise_rng.normal(0, 1, len(wave)) * np.sqrt(
            speech_power / 10 ** (self.make["snr"] / 10))
        return (wave + noise).astype(np.float32)


def _speed(wave: np.ndarray, factor: float) -> np.ndarray:
    """``wave`` played ``factor`` times faster (pitch and tempo together, as a tape would)."""
    if factor == 1.0:
        return wave
    import soxr

    return soxr.resample(wave, SAMPLE_RATE * factor, SAMPLE_RATE).astype(np.float32)


def _check_make(make: dict) -> None:
    if not isinstance(make["max_digits"], int) or not 1 <= make["max_digits"] <= 20:
        raise ValueError(f"max_digits must be an int in 1..20, got {make['max_digits']!r}")
    if not 0 <= make["touch"] <= 1:
        raise ValueError(f"touch is a probability in [0, 1], got {make['touch']!r}")
    if not 0.05 <= make["max_pause"] <= 5:
        raise ValueError(f"max_pause must be 0.05..5 seconds, got {make['max_pause']!r}")
    low, high = make["edge"]
    if not 0 <= low <= high <= 5:
        raise ValueError(f"edge must be (low, high) seconds with 0 <= low <= high <= 5, "
                         f"got {make['edge']!r}")
    if not 0 <= make["speed"] < 0.5:
        raise ValueError(f"speed must be in [0, 0.5) (0.1 plays at 0.9-1.1x), "
                         f"got {make['speed']!r}")
    low, high = make["level"]
    if not 0 < low <= high <= 1:
        raise ValueError(f"level must be (low, high) peaks with 0 < low <= high <= 1, "
                         f"got {make['level']!r}")
    snr = make["snr"]
    if snr is not None and (isinstance(snr, bool) or not isinstance(snr, int | float)
                            or not np.isfinite(snr)):
        raise ValueError(f"snr must be None (no noise) or a finite number of dB, got {snr!r}")


def assemble(rec: speech.Recordings, idx, count: int, *, seed: int = 0, **make) -> DigitStrings:
    """``count`` digit strings from the recordings at positions ``idx`` of ``rec``.

    ``make`` overrides :data:`MAKE`: ``max_digits`` (1..), ``touch`` (probability that two
    words have no pause between them), ``max_pause`` (seconds), ``edge`` (silence before the
    first and after the last word, seconds), ``speed`` (0.1 plays each string at a random
    0.9-1.1x), ``level`` (the string's peak, drawn in this range) and ``snr`` (dB of white
    background noise against the words' power; None for none)."""
    return StringMaker(rec, idx, **make).strings(count, seed)


# --- Splits and pipelines ------------------------------------------------------------------


@dataclass
class StringData:
    """One split's strings: ``train`` is a pipeline that makes new strings every epoch;
    ``validation`` and ``test`` are pipelines of the fixed ``validation_strings`` and
    ``test_strings``. Batches are ``({"waveform", "samples"}, digits)``, the waveforms
    zero-padded to the batch's longest and the digits padded with -1."""

    split: str
    train: object
    validation: object
    test: object
    validation_strings: DigitStrings
    test_strings: DigitStrings
    makers: dict[str, StringMaker]  # each part's, over that part's recordings only
    class_names: list[str] = field(default_factory=lambda: [str(d) for d in range(10)])
    sizes: dict[str, int] = field(default_factory=dict)
    source: str = "tfds"
    seed: int = 42

    def train_strings(self, epoch: int = 0) -> DigitStrings:
        """The training strings of ``epoch`` (what ``train`` yields then, before batching)."""
        return self.makers["train"].strings(self.sizes["train"], _seed(self.seed, "train", epoch))


#: What each kind of draw mixes into the seed, so the parts never share random numbers.
_STREAMS = {"train": 1, "order": 2, "validation": 3, "test": 4}


def _seed(seed: int, stream: str, epoch: int = 0) -> int:
    return int(np.random.SeedSequence([seed, _STREAMS[stream], epoch]).generate_state(1)[0])


def split_recordings(rec: speech.Recordings, split: str, *, validation_fraction: float = 0.1,
                     seed: int = 42) -> dict[str, np.ndarray]:
    """``{"train", "validation", "test"}`` recording positions of a split (module docstring):
    disjoint, the validation part a seeded fraction of the non-test recordings."""
    train, test = speech.split_indices(rec, split)
    validation, train = core.split_off_validation(train, validation_fraction, seed)
    return {"train": np.sort(train), "validation": np.sort(validation), "test": np.sort(test)}


def padded(strings: DigitStrings, order=None):
    """``({"waveform": (n, longest), "samples": (n,)}, digits (n, most digits))`` arrays of
    ``strings`` (in ``order`` if given): waveforms padded with 0, digits with -1."""
    order = range(len(strings)) if order is None else order
    waves = [strings.waves[i] for i in order]
    digits = [strings.digits[i] for i in order]
    x = np.zeros((len(waves), max(len(w) for w in waves)), np.float32)
    y = np.full((len(waves), max(len(d) for d in digits)), -1, np.int32)
    for row, (wave, ds) in enumerate(zip(waves, digits, strict=True)):
        x[row, :len(wave)] = wave
        y[row, :len(ds)] = ds
    return {"waveform": x, "samples": np.array([len(w) for w in waves], np.int32)}, y


def length_batches(strings: DigitStrings, batch_size: int, *, seed: int | None = None):
    """Positions of ``strings`` in batches of similar length (little padding): sorted by
    length, cut into ``batch_size`` runs; with ``seed``, the batches come in a seeded order."""
    order = np.argsort([len(w) for w in strings.waves], kind="stable")
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if seed is not None:
        batches = [batches[i] for i in np.random.default_rng(seed).permutation(len(batches))]
    return batches


def _signature():
    import tensorflow as tf

    return ({"waveform": tf.TensorSpec((None, None), tf.float32),
             "samples": tf.TensorSpec((None,), tf.int32)},
            tf.TensorSpec((None, None), tf.int32))


def fixed_pipeline(strings: DigitStrings, batch_size: int = 32):
    """Batches of fixed strings, similar lengths together (``length_batches``)."""
    import tensorflow as tf

    batches = [padded(strings, b) for b in length_batches(strings, batch_size)]
    ds = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=_signature())
    return core.ready(ds.apply(tf.data.experimental.assert_cardinality(len(batches))))


def training_pipeline(maker: StringMaker, count: int, batch_size: int, seed: int):
    """``count`` new strings every epoch (epoch ``e`` seeded by ``(seed, e)``), batched by
    length in a seeded order; ``ceil(count / batch_size)`` batches an epoch."""
    import tensorflow as tf

    epoch = [0]

    def batches():
        strings = maker.strings(count, _seed(seed, "train", epoch[0]))
        order_seed = _seed(seed, "order", epoch[0])
        epoch[0] += 1
        for b in length_batches(strings, batch_size, seed=order_seed):
            yield padded(strings, b)

    ds = tf.data.Dataset.from_generator(batches, output_signature=_signature())
    ds = ds.apply(tf.data.experimental.assert_cardinality(-(-count // batch_size)))
    return core.ready(ds)


def digit_strings(split: str = "documented", *, batch_size: int = 32, seed: int = 42,
                  counts: dict | None = None, validation_fraction: float = 0.1,
                  data_dir: str | os.PathLike | None = None,
                  recordings: speech.Recordings | None = None, **make) -> StringData:
    """Train/validation/test pipelines of digit strings for one split (module docstring).

    ``counts`` overrides :data:`COUNTS` (strings per part; the training count is per epoch;
    quick mode uses :data:`QUICK_COUNTS`); ``make`` overrides :data:`MAKE` for every part.
    Pass ``recordings`` (``speech.recordings()``) to skip reading them again."""
    rec = recordings or speech.recordings(data_dir)
    parts = split_recordings(rec, split, validation_fraction=validation_fraction, seed=seed)
    default = QUICK_COUNTS if config.quick_mode() else COUNTS
    counts = {**default, **(counts or {})}
    if set(counts) != set(COUNTS) or not all(isinstance(n, int) and n > 0
                                             for n in counts.values()):
        raise ValueError(f"counts must give positive ints for {sorted(COUNTS)}, got {counts}")
    makers = {part: StringMaker(rec, idx, **make) for part, idx in parts.items()}
    validation = makers["validation"].strings(counts["validation"], _seed(seed, "validation"))
    test = makers["test"].strings(counts["test"], _seed(seed, "test"))
    return StringData(
        split, training_pipeline(makers["train"], counts["train"], batch_size, seed),
        fixed_pipeline(validation, batch_size), fixed_pipeline(test, batch_size),
        validation, test, makers, sizes=dict(counts), source=rec.source, seed=seed)


def _pipelines(*, split: str, batch_size: int, seed: int,
               recordings: speech.Recordings | None = None, **options) -> StringData:
    """The registry's pipeline builder (see :func:`digit_strings`)."""
    return digit_strings(split, batch_size=batch_size, seed=seed, recordings=recordings,
                         **options)


registry.register(registry.DatasetSpec(
    "digit_strings", "Connected digit strings assembled from FSDD recordings (made by the kit)",
    "audio", class_names=tuple(str(d) for d in range(10)), pipelines=_pipelines,
    default_model="ctc_bidirectional", pipeline_splits=("documented", "speaker:"),
    licence="FSDD CC BY-SA 4.0",
    # chapter 08: 1 - digit error rate of greedy decoding on the test strings. Quick mode's
    # few dozen steps end before CTC leaves its all-blank stage, so there the chapter checks
    # the loss and the plumbing instead (a floor of 0 here).
    floors={"ctc_bidirectional": (0.97, 0.0, 0.0), "ctc_streaming": (0.95, 0.0, 0.0)}))
