"""A digit seen and heard: MNIST images paired with FSDD recordings of the same digit (chapter 10).

The kit builds the pairs itself, deterministically, from the two TFDS datasets:

- the recordings are cut by a spoken_digit split (``"documented"``: takes 0-4 are the test
  set; ``"speaker:<name>"``: one speaker is the test set and never heard in training), and a
  seeded 10 % of the rest is the validation set;
- the images are cut as chapter 01 cuts MNIST: a seeded 10 % of its training split validates,
  its test split tests;
- every image of a part is paired with a recording of the same digit from the same part, the
  recordings of each digit taken in a seeded order and reused in turn (an image appears in one
  pair, a recording in many). So train, validation and test pairs never share an image or a
  recording, and the test pairs cover the whole MNIST test set;
- ``extra`` recordings (the synthetic voices of ``voices.synthetic_recordings``, chapter 04)
  join the training recordings only, as they do in ``speech.speech_datasets``.

:func:`corrupt_images` and :func:`corrupt_audio` degrade one modality at a chosen severity in
[0, 1] (0 leaves it clean), so a chapter can draw accuracy against severity for each kind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from swtwo_tf.datasets import core, registry, speech

PARTS = ("train", "validation", "test")
IMAGE_CORRUPTIONS = ("noise", "blur", "occlusion")
AUDIO_CORRUPTIONS = ("noise", "clipping", "dropout")
#: Audio noise: severity 0 is this SNR (dB), severity 1 ``AUDIO_NOISE_SNR[1]``, linear between.
AUDIO_NOISE_SNR = (30.0, -10.0)
#: Image blur: the Gaussian's standard deviation in pixels at severity 1.
MAX_BLUR_SIGMA = 3.0


@dataclass
class Pairs:
    """One part of the paired data: ``images[i]`` and ``waves[i]`` show and say ``labels[i]``.

    The recordings are not copied per pair (54,000 one-second waveforms would take 1.7 GB):
    ``recording_ids`` are positions in ``recordings`` (:func:`speech.recordings`), and
    :attr:`waves` gathers them when asked. ``image_ids`` are positions in the MNIST split the
    images came from (``"train"`` for the train and validation parts, ``"test"`` for the test
    part), so a test can check that parts are disjoint.
    """

    images: np.ndarray  # (n, 28, 28, 1) float32 in [0, 1]
    labels: np.ndarray  # (n,) int64
    image_ids: np.ndarray
    recording_ids: np.ndarray
    recordings: speech.Recordings

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def waves(self) -> np.ndarray:
        """``(n, speech.LENGTH)`` float32: the recording of each pair (a new array)."""
        return self.recordings.waves[self.recording_ids]

    @property
    def speakers(self) -> np.ndarray:
        return self.recordings.speakers[self.recording_ids]

    def subset(self, idx) -> Pairs:
        """The pairs at positions ``idx``."""
        idx = np.asarray(idx)
        return Pairs(self.images[idx], self.labels[idx], self.image_ids[idx],
                     self.recording_ids[idx], self.recordings)


@dataclass
class PairedData:
    """Train/validation/test :class:`Pairs` of one split, and their ``tf.data`` pipelines of
    ``({"image": ..., "waveform": ...}, digit)`` (built by :func:`pipeline`)."""

    split: str
    parts: dict[str, Pairs]
    batch_size: int = 64
    seed: int = 42
    class_names: list[str] = field(default_factory=lambda: [str(d) for d in range(10)])
    source: str = "tfds"

    @property
    def sizes(self) -> dict[str, int]:
        return {part: len(pairs) for part, pairs in self.parts.items()}

    @property
    def train(self):
        return pipeline(self.parts["train"], self.batch_size, shuffle=True, seed=self.seed)

    @property
    def validation(self):
        return pipeline(self.parts["validation"], self.batch_size)

    @property
    def test(self):
        return pipeline(self.parts["test"], self.batch_size)


def pair_by_label(image_labels, recording_labels, seed: int = 42) -> np.ndarray:
    """For each image, the position of a recording with the same label.

    The recordings of each label are taken in a seeded random order and reused in turn, so
    every recording is used (as evenly as the counts allow) and the pairing is reproducible.
    ValueError when a label of the images has no recording.
    """
    image_labels = np.asarray(image_labels)
    recording_labels = np.asarray(recording_labels)
    rng = np.random.default_rng(seed)
    chosen = np.empty(len(image_labels), dtype=np.int64)
    for label in np.unique(image_labels):
        images = np.flatnonzero(image_labels == label)
        recordings = rng.permutation(np.flatnonzero(recording_labels == label))
        if recordings.size == 0:
            raise ValueError(f"no recording of digit {label} to pair its "
                             f"{images.size} images with")
        chosen[images] = recordings[np.arange(images.size) % recordings.size]
    return chosen


def paired_digits(split: str = "documented", *, batch_size: int = 64, seed: int = 42,
                  validation_fraction: float = 0.1, data_dir: str | os.PathLike | None = None,
                  recordings: speech.Recordings | None = None,
                  extra: speech.Recordings | None = None) -> PairedData:
    """The paired data of one split (see the module docstring).

    ``split`` is ``"documented"`` or ``"speaker:<name>"`` (a speaker held out of training,
    as in chapter 04); ``recordings`` (from :func:`speech.recordings`) skips reading them again.
    ``extra`` recordings are paired with training images only.
    """
    rec = recordings or speech.recordings(data_dir)
    rec_train, rec_test = speech.split_indices(rec, split)
    rec_val, rec_train = core.split_off_validation(rec_train, validation_fraction, seed)
    if extra is not None:  # after FSDD's recordings, so their positions stay as they were
        rec_train = np.concatenate([rec_train, len(rec.waves) + np.arange(len(extra.waves))])
        rec = rec + extra
    x, y = core.arrays("mnist", "train", data_dir)
    x_test, y_test = core.arrays("mnist", "test", data_dir)
    img_val, img_train = core.split_off_validation(len(x), validation_fraction, seed)
    parts = {}
    for part, (images, labels, image_ids, rec_ids) in {
            "train": (x[img_train], y[img_train], img_train, rec_train),
            "validation": (x[img_val], y[img_val], img_val, rec_val),
            "test": (x_test, y_test, np.arange(len(x_test)), rec_test)}.items():
        picked = rec_ids[pair_by_label(labels, rec.labels[rec_ids], seed)]
        if not np.array_equal(rec.labels[picked], labels):
            raise AssertionError(f"{part}: a pair's image and recording disagree on the digit")
        parts[part] = Pairs(images.astype(np.float32) / 255.0, labels.astype(np.int64),
                            image_ids, picked, rec)
    return PairedData(split, parts, batch_size, seed,
                      source=("tfds" if rec.source == "tfds" and core.source("mnist", data_dir)
                              == "tfds" else "samples"))


def pipeline(pairs: Pairs, batch_size: int = 64, *, shuffle: bool = False, seed: int = 42):
    """Batched ``({"image": ..., "waveform": ...}, digit)`` of ``pairs`` (see
    :func:`swtwo_tf.datasets.core.batched`); each batch gathers its recordings from one copy
    of them."""
    import tensorflow as tf

    waves = tf.constant(pairs.recordings.waves)

    def gather(inputs, labels):
        return {"image": inputs["image"],
                "waveform": tf.gather(waves, inputs["recording"])}, labels

    batched = core.batched({"image": pairs.images, "recording": pairs.recording_ids},
                           pairs.labels, batch_size, shuffle=shuffle, seed=seed)
    return batched.map(gather)


def _check(kind: str, kinds: tuple[str, ...], severity: float, what: str) -> float:
    if kind not in kinds:
        raise ValueError(f"{what} corruption must be one of {', '.join(kinds)}, got {kind!r}")
    if not isinstance(severity, int | float) or not 0 <= severity <= 1:
        raise ValueError(f"severity must be a number in [0, 1] (0: clean, 1: destroyed), "
                         f"got {severity!r}")
    return float(severity)


def corrupt_images(images, kind: str, severity: float, *, seed: int = 0) -> np.ndarray:
    """``images`` (float in [0, 1], ``(n, 28, 28, 1)``) degraded at ``severity`` in [0, 1].

    - ``"noise"``: Gaussian noise of standard deviation ``severity`` added, then clipped to
      [0, 1];
    - ``"blur"``: a Gaussian blur of ``severity * MAX_BLUR_SIGMA`` pixels;
    - ``"occlusion"``: a black square covering the fraction ``severity`` of the image, at a
      random place (the whole image at 1).

    Deterministic for a ``seed``.
    """
    severity = _check(kind, IMAGE_CORRUPTIONS, severity, "image")
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1:] != (28, 28, 1):
        raise ValueError(f"images must have shape (n, 28, 28, 1), got {images.shape}")
    rng = np.random.default_rng(seed)
    if severity == 0:
        return images.copy()
    if kind == "noise":
        return np.clip(images + rng.normal(0, severity, images.shape), 0, 1).astype(np.float32)
    if kind == "blur":
        from scipy.ndimage import gaussian_filter

        sigma = severity * MAX_BLUR_SIGMA
        return gaussian_filter(images, sigma=(0, sigma, sigma, 0), mode="constant")
    side = round(28 * np.sqrt(severity))
    out = images.copy()
    tops = rng.integers(0, 28 - side + 1, len(images))
    lefts = rng.integers(0, 28 - side + 1, len(images))
    for image, top, left in zip(out, tops, lefts, strict=True):
        image[top:top + side, left:left + side] = 0.0
    return out


def corrupt_audio(waves, kind: str, severity: float, *, seed: int = 0) -> np.ndarray:
    """``waves`` (``(n, samples)`` float in [-1, 1]) degraded at ``severity`` in [0, 1].

    - ``"noise"``: white noise at an SNR falling linearly from ``AUDIO_NOISE_SNR[0]`` dB
      (severity 0: no noise is added) to ``AUDIO_NOISE_SNR[1]`` dB at 1, over the whole
      second (a noisy room is noisy between words too), the SNR measured over it;
    - ``"clipping"``: every sample clipped at ``1 - severity`` times the recording's peak
      (at 1 nothing is left);
    - ``"dropout"``: the fraction ``severity`` of the recordings, drawn at random, silenced
      whole.

    Deterministic for a ``seed``.
    """
    severity = _check(kind, AUDIO_CORRUPTIONS, severity, "audio")
    waves = np.asarray(waves, dtype=np.float32)
    if waves.ndim != 2:
        raise ValueError(f"waves must have shape (n, samples), got {waves.shape}")
    rng = np.random.default_rng(seed)
    if severity == 0:
        return waves.copy()
    if kind == "noise":
        target = AUDIO_NOISE_SNR[0] + severity * (AUDIO_NOISE_SNR[1] - AUDIO_NOISE_SNR[0])
        return speech.with_noise(waves, target, seed=seed)
    if kind == "clipping":
        level = (1 - severity) * np.abs(waves).max(axis=1, keepdims=True)
        return np.clip(waves, -level, level).astype(np.float32)
    out = waves.copy()
    out[rng.permutation(len(waves))[:round(severity * len(waves))]] = 0.0
    return out


def _pipelines(*, split: str, batch_size: int, seed: int,
               recordings: speech.Recordings | None = None, **options) -> PairedData:
    """The registry's pipeline builder (see :func:`paired_digits`)."""
    return paired_digits(split, batch_size=batch_size, seed=seed, recordings=recordings,
                         **options)


registry.register(registry.DatasetSpec(
    "seen_and_heard", "MNIST images paired with FSDD recordings of the same digit (made by "
    "the kit)", "image+audio", class_names=tuple(str(d) for d in range(10)),
    # the chapter's main model; built from two trained models, so no recipe of swtwo train
    pipelines=_pipelines, default_model="gated_fusion",
    pipeline_splits=("documented", "speaker:"), licence="MNIST CC BY-SA 3.0; FSDD CC BY-SA 4.0",
    floors={
        # chapter 10: each modality's encoder alone and the fused model, speaker held out
        "image_alone": (0.99, 0.9, 0.3), "audio_alone": (0.8, 0.3, 0.1),
        "fused": (0.99, 0.9, 0.3),
        # cross-modal retrieval (recall@1) with the contrastive embedding
        "retrieval": (0.8, 0.3, 0.1)}))
